"""AR over HTTPS, as the real AR is: TLS with trusted and untrusted certificates.

A local server with a certificate made for the test stands in for AR; SSL_CERT_FILE makes this
machine trust it, exactly as a practice behind a TLS-inspecting proxy would configure aiq.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from aiq.ar.client import ARClient
from aiq.errors import UpstreamError, UpstreamUnavailable
from tests.alerts.servers import self_signed
from tests.ar.test_http import Handler

OK = {"status": 200, "data": {"ok": True}}


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ThreadingHTTPServer, Path]]:
    # Made for the name localhost only, so that asking for 127.0.0.1 is a name mismatch.
    cert_file, key_file = self_signed(tmp_path, names=("localhost",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.seen = []  # type: ignore[attr-defined]
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv, cert_file
    finally:
        srv.shutdown()
        srv.server_close()


def client_for(srv: ThreadingHTTPServer, host: str = "localhost") -> ARClient:
    port = srv.server_address[1]
    client = ARClient(f"https://{host}:{port}", max_retries=2, backoff_base=0.01)
    client._token = "t0ken"  # signed in, as far as these requests go
    return client


def test_a_trusted_certificate_serves_pages_on_kept_alive_connections(
    tls_server: tuple[ThreadingHTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    with client_for(srv) as client:
        for path in ("/page", "/gzip", "/chunked", "/page"):
            assert client.request_json("POST", path, json_body={"page_number": 1}) == OK
    seen = srv.seen  # type: ignore[attr-defined]
    assert [s[0] for s in seen] == ["/page", "/gzip", "/chunked", "/page"]
    assert len({s[2] for s in seen}) == 1  # one TLS connection, kept alive
    assert seen[0][3]["host"] == f"localhost:{srv.server_address[1]}"


def test_an_untrusted_certificate_is_one_clear_error_and_not_retried(
    tls_server: tuple[ThreadingHTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, _cert = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with client_for(srv) as client, pytest.raises(UpstreamError) as caught:
        client.request_json("POST", "/page", json_body={})
    assert not isinstance(caught.value, UpstreamUnavailable)
    assert "certificate of localhost could not be verified" in str(caught.value)
    assert "SSL_CERT_FILE" in (caught.value.hint or "")
    assert client.stats.retries == 0


def test_a_certificate_for_another_name_is_refused(
    tls_server: tuple[ThreadingHTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    # Trusted, but made for the name localhost, not for the address the client asks for.
    with client_for(srv, host="127.0.0.1") as client, pytest.raises(UpstreamError) as caught:
        client.request_json("POST", "/page", json_body={})
    assert "certificate of 127.0.0.1 could not be verified" in str(caught.value)
    assert client.stats.retries == 0
