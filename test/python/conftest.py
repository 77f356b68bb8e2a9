"""Fixtures that start the bundled companion server and talk h5grove 4 to it.

The server is never built here: run ``npm run build:server`` first.  Nothing is
skipped; a missing bundle is a hard failure.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
REAL_ROOT = (REPO.parent / "shared" / "testdata" / "real").resolve()
BUNDLE = REPO / "jupyterlab_nexus" / "server" / "nexus-server.mjs"
READY = "NEXUS_SERVER_READY"
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_bundle() -> Path:
    if not BUNDLE.is_file():
        pytest.fail(
            f"companion server bundle {BUNDLE} is missing: run `npm run build:server` "
            "in the repository root before the Python tests",
            pytrace=False,
        )
    return BUNDLE


class ServerProcess:
    """One running ``nexus-server.mjs`` (TCP or unix socket)."""

    def __init__(self, root: Path, *, token: str | None = None, socket_path: Path | None = None,
                 extra_env: dict[str, str] | None = None, wait_ready: bool = True):
        require_bundle()
        self.root = Path(root)
        self.token = token
        self.socket_path = socket_path
        self.port = None if socket_path else free_port()
        args = ["node", str(BUNDLE), "--root", str(self.root)]
        if socket_path:
            args += ["--socket", str(socket_path)]
        else:
            args += ["--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if k != "NEXUS_SERVER_TOKEN"}
        if token is not None:
            env["NEXUS_SERVER_TOKEN"] = token
        env.update(extra_env or {})
        self.args = args
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            args, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines, True),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines, False),
                         daemon=True).start()
        if wait_ready:
            self.wait_ready()

    def _pump(self, stream, sink, watch_ready):
        for line in stream:
            sink.append(line.rstrip("\n"))
            if watch_ready and READY in line:
                self._ready.set()

    def wait_ready(self, timeout: float = START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                return
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(
            f"server did not print {READY} (exit code {self.proc.returncode}); "
            f"args={self.args}\nstdout:\n" + "\n".join(self.stdout_lines[-30:])
            + "\nstderr:\n" + "\n".join(self.stderr_lines[-30:])
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def headers(self, token: str | None = ...) -> dict[str, str]:
        tok = self.token if token is ... else token
        return {"Authorization": f"token {tok}"} if tok else {}

    def get(self, endpoint: str, _token=..., _headers=None, **params) -> requests.Response:
        """GET ``/<endpoint>`` with the auth header. List values repeat the key."""
        assert self.socket_path is None, "use raw() for socket servers"
        url = self.base_url + "/" + endpoint.lstrip("/")
        headers = self.headers(_token)
        headers.update(_headers or {})
        return requests.get(url, params=params, headers=headers, timeout=REQUEST_TIMEOUT)

    def raw(self, target: str, method: str = "GET", token=...) -> "RawResponse":
        """Send ``target`` (path + query) byte-for-byte, with no client normalisation."""
        if self.socket_path is not None:
            conn = UnixHTTPConnection(str(self.socket_path), timeout=REQUEST_TIMEOUT)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for k, v in self.headers(token).items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], content: bytes):
        self.status_code = status
        self.headers = headers
        self.content = content

    def json(self):
        import json

        return json.loads(self.content)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def assert_json_error(resp, statuses=range(400, 500), phrase: str | None = None):
    """Status in ``statuses``, JSON body ``{"message": str}``, optional phrase in it."""
    status = resp.status_code
    ctype = resp.headers.get("content-type", "")
    assert status in statuses, f"status {status} not in {statuses}; body={resp.content[:300]!r}"
    assert "application/json" in ctype, f"error content-type {ctype!r}; body={resp.content[:300]!r}"
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {resp.content[:300]!r}")
    assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], body
    if phrase is not None:
        assert phrase in body["message"], f"{phrase!r} not in message {body['message']!r}"
    return body["message"]


def assert_content_length(resp):
    cl = resp.headers.get("content-length")
    assert cl is not None, f"no Content-Length (status {resp.status_code})"
    assert int(cl) == len(resp.content), f"Content-Length {cl} != body length {len(resp.content)}"


def _start(root: Path) -> ServerProcess:
    return ServerProcess(root, token=secrets.token_hex(24))


@pytest.fixture(scope="session")
def real_root() -> Path:
    assert REAL_ROOT.is_dir(), f"real test data folder missing: {REAL_ROOT}"
    return REAL_ROOT


@pytest.fixture(scope="session")
def real_server(real_root):
    """Server whose root is the read-only real facility test data."""
    srv = _start(real_root)
    yield srv
    died = not srv.alive()
    srv.stop()
    assert not died, "real-data server died during the session:\n" + "\n".join(srv.stderr_lines[-40:])


@pytest.fixture(scope="session")
def tmp_root():
    d = Path(tempfile.mkdtemp(prefix="nexus-pytest-root-")).resolve()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tmp_server(tmp_root):
    """Server whose root is a temporary folder for generated files."""
    srv = _start(tmp_root)
    yield srv
    died = not srv.alive()
    srv.stop()
    assert not died, "tmp-root server died during the session:\n" + "\n".join(srv.stderr_lines[-40:])


@pytest.fixture
def get(real_server):
    """``get(endpoint, **params)`` against the real-data server, with auth."""
    return real_server.get
