"""`aiq daemon`: keep every practice's data fresh on a schedule and raise alerts.

- ``runner``: the foreground loop (`aiq daemon run`): the ``schedule`` library times a sync of
  each org every interval (with jitter) and a daily deep re-read at a quiet local hour; signals
  stop it between batches (SIGTERM, SIGINT) or reload the config (SIGHUP).
- ``pidfile``: the single-instance lock, an exclusive ``flock`` on a pidfile held for the life of
  the process (so a stale pidfile is harmless), and the status file `aiq daemon status` reads.
- ``sdnotify``: systemd's ``Type=notify`` protocol (READY, STOPPING, WATCHDOG) over
  ``$NOTIFY_SOCKET``.
- ``background``: `aiq daemon start|stop` for people without systemd.
- ``service``: the systemd unit, timer and crontab line `aiq daemon install` writes.
"""
