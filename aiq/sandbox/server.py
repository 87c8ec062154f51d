"""Running the sandbox: in the foreground (`aiq sandbox serve`) or in a thread (tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aiq.sandbox.core import Sandbox

HOST = "127.0.0.1"


@dataclass
class RunningSandbox:
    """A sandbox being served: where, and the sandbox itself (for truth, faults, the clock)."""

    sandbox: Sandbox
    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The URL to point an AR client at, e.g. "http://127.0.0.1:54321"."""
        return f"http://{self.host}:{self.port}"


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP must be explicit: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says it is TCP, and without it every keep-alive response waits ~40 ms
    # for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.set_inheritable(True)
    except OSError:
        sock.close()  # a port in use: no socket left for the garbage collector to complain of
        raise
    return sock


@contextlib.contextmanager
def serve_in_thread(
    sb: Sandbox, port: int = 0, host: str = HOST, warm: bool = True
) -> Iterator[RunningSandbox]:
    """Serve `sb` with uvicorn in a background thread on `host`, on a free port when `port=0`.

    The data is generated before the server starts (`warm`), so the first request is not slow.
    The server is stopped, and the port released, when the block ends.
    """
    import uvicorn

    if warm:
        sb.warm()
    sock = _bind(host, port)
    config = uvicorn.Config(
        sb.asgi_app(), log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only in the main thread; a background server has none.
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        name=f"aiq-sandbox-{sock.getsockname()[1]}",
        daemon=True,
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the sandbox server failed to start")
            threading.Event().wait(0.01)
        yield RunningSandbox(sb, host, sock.getsockname()[1])
    finally:
        sb.faults.release_holds()  # a held request would keep the server from stopping
        # At once: answers still in flight (a slow fault's, a client that went away) are cut.
        server.should_exit = server.force_exit = True
        thread.join(timeout=60)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the sandbox server did not stop")


def serve_forever(
    sb: Sandbox,
    port: int,
    host: str = HOST,
    on_ready: Callable[[RunningSandbox], None] | None = None,
) -> None:
    """Generate the data, bind, call `on_ready`, then serve in the foreground until Ctrl-C."""
    import uvicorn

    sb.warm()
    sock = _bind(host, port)
    if on_ready is not None:
        on_ready(RunningSandbox(sb, host, sock.getsockname()[1]))
    config = uvicorn.Config(
        sb.asgi_app(), log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
    )
    uvicorn.Server(config).run(sockets=[sock])
