"""The companion server as jupyter-server-proxy runs it: the command from
``jupyterlab_nexus.proxy``, a unix socket, Jupyter's stdin (a pipe) and stdio inherited.

simpervisor restarts the process only on a non-zero exit, and its stderr is Jupyter's: a client
must never kill it, and every exit must leave its reason on stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import require_bundle
from jupyterlab_nexus import proxy

UPGRADE = (
    b"GET /events HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s


def get_status(path: str, route: str) -> int:
    with connect(path) as s:
        s.sendall(f"GET {route} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        return int(s.recv(64).split(b" ")[1])


def test_proxied_server_survives_clients_and_says_why_it_exits(monkeypatch):
    require_bundle()
    base = Path(tempfile.mkdtemp(prefix="nexus-proxy-proc-"))
    sock = str(base / "nexus.sock")
    monkeypatch.setenv("NEXUS_ROOT", str(base))
    monkeypatch.setenv("NEXUS_STATE_DIR", str(base / "state"))
    monkeypatch.delenv("NEXUS_SERVER_TOKEN", raising=False)
    # The child gets a pipe as stdin below, as under `jupyter lab` started by a launcher.
    monkeypatch.setattr(proxy, "_stdin_is_pipe", lambda: True)
    config = proxy.setup_nexus()
    # jupyter-server-proxy formats every argument with the process arguments.
    command = [arg.format(unix_socket=sock) for arg in config["command"]()]
    assert "--exit-on-stdin-close" in command
    child = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        assert child.stdout.readline().strip() == b"NEXUS_SERVER_READY"
        # The proxy stops reading the server's stdout: later writes there must not matter.
        child.stdout.close()
        assert get_status(sock, "/jobs") == 200

        # An /events client sending a frame with reserved bits set (a protocol error).
        with connect(sock) as ws:
            ws.sendall(UPGRADE)
            assert ws.recv(4096).startswith(b"HTTP/1.1 101")
            ws.sendall(bytes([0xA1, 0x80, 0, 0, 0, 0]))
            ws.recv(4096)
        # Clients that reset refused upgrades while the server answers them.
        for _ in range(50):
            s = connect(sock)
            s.sendall(UPGRADE.replace(b"/events", b"/elsewhere"))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        time.sleep(0.5)
        assert child.poll() is None, child.stderr.read().decode()
        assert get_status(sock, "/jobs") == 200

        # Jupyter goes away: its stdin pipe closes, the server leaves cleanly and says why.
        child.stdin.close()
        assert child.wait(timeout=30) == 0
        stderr = child.stderr.read().decode()
        assert "shutting down: stdin closed" in stderr
        assert "exited with code 0" in stderr
        assert not os.path.exists(sock)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
