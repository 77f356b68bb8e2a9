"""Path confinement, authentication and process hygiene of the companion server."""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import requests

from conftest import REAL_ROOT, ServerProcess, assert_content_length, assert_json_error

DENIED = {403, 404}


@pytest.fixture(scope="module")
def layout():
    """base/root (served) with data.h5, links inside; base/outside/secret.h5 outside the root."""
    base = Path(tempfile.mkdtemp(prefix="nexus-pytest-sec-")).resolve()
    root = base / "root"
    outside = base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    for p in (root / "data.h5", root / "sub" / "inner.h5", outside / "secret.h5"):
        with h5py.File(p, "w") as f:
            f["v"] = np.arange(3)
            f.attrs["who"] = p.stem
    # root-prefix sibling: /base/root-evil must not count as inside /base/root
    (base / "root-evil").mkdir()
    with h5py.File(base / "root-evil" / "x.h5", "w") as f:
        f["v"] = np.arange(2)
    os.symlink(outside / "secret.h5", root / "link_out.h5")
    os.symlink(outside, root / "dirlink_out")
    os.symlink("../outside/secret.h5", root / "rel_link_out.h5")
    os.symlink(root / "sub" / "inner.h5", root / "link_in.h5")
    yield base, root, outside
    import shutil

    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def sec_server(layout):
    _, root, _ = layout
    srv = ServerProcess(root, token=secrets.token_hex(20))
    yield srv
    died = not srv.alive()
    srv.stop()
    assert not died, "\n".join(srv.stderr_lines[-30:])


def test_inside_files_are_served(sec_server):
    for f in ("data.h5", "sub/inner.h5", "link_in.h5"):
        r = sec_server.get("attr", file=f, path="/")
        assert r.status_code == 200, (f, r.status_code, r.content)
        assert_content_length(r)
    assert sec_server.get("attr", file="link_in.h5", path="/").json() == {"who": "inner"}


ESCAPES = [
    "../outside/secret.h5",
    "sub/../../outside/secret.h5",
    "./../outside/secret.h5",
    "sub/../sub/../../outside/secret.h5",
    "../root-evil/x.h5",
    "../root/../outside/secret.h5",
    "link_out.h5",
    "rel_link_out.h5",
    "dirlink_out/secret.h5",
    "../../../../../../../../etc/passwd",
    "..",
    "../",
    "sub/..",
]


@pytest.mark.parametrize("file", ESCAPES)
@pytest.mark.parametrize("endpoint", ["meta", "attr", "data", "paths", "stats"])
def test_escape_rejected(sec_server, file, endpoint):
    path = "/v" if endpoint in ("data", "stats") else "/"
    r = sec_server.get(endpoint, file=file, path=path)
    assert_json_error(r, statuses=DENIED)
    assert_content_length(r)
    assert b"secret" not in r.content and b"root:" not in r.content


@pytest.mark.parametrize("which", ["secret", "inside_abs", "etc", "real"])
def test_absolute_paths_rejected(sec_server, layout, which):
    _, root, outside = layout
    file = {
        "secret": str(outside / "secret.h5"),
        "inside_abs": str(root / "data.h5"),  # absolute, even if it points inside
        "etc": "/etc/passwd",
        "real": str(REAL_ROOT / "nexpy_nexpy/src/nexpy/examples/chopper.nxs"),
    }[which]
    r = sec_server.get("meta", file=file)
    assert_json_error(r, statuses=DENIED)


@pytest.mark.parametrize("query", [
    "file=%2e%2e/outside/secret.h5",
    "file=%2e%2e%2foutside%2fsecret.h5",
    "file=%2E%2E%2Foutside%2Fsecret.h5",
    "file=sub%2f%2e%2e%2f%2e%2e%2foutside%2fsecret.h5",
    "file=%2Fetc%2Fpasswd",
    "file=//etc/passwd",
    "file=sub//..//..//outside//secret.h5",
    "file=..%5coutside%5csecret.h5",
    "file=data.h5%00",
    "file=data.h5%00.txt",
    "file=%00",
    "file=sub%00/../../outside/secret.h5",
    "file=%252e%252e%252foutside%252fsecret.h5",
    "file=%c0%ae%c0%ae/outside/secret.h5",
])
def test_encoded_escapes_rejected(sec_server, query):
    r = sec_server.raw(f"/meta?{query}&path=/")
    # 400 is acceptable for undecodable input (NUL, invalid UTF-8), never 200/5xx
    assert_json_error(r, statuses=DENIED | {400})
    assert int(r.headers["content-length"]) == len(r.content)
    assert b"secret" not in r.content


def test_double_slash_inside_is_harmless(sec_server):
    # `sub//inner.h5` stays inside the root: either served or refused, never a crash
    r = sec_server.get("attr", file="sub//inner.h5", path="/")
    if r.status_code == 200:
        assert r.json() == {"who": "inner"}
    else:
        assert_json_error(r, statuses=DENIED)


def test_url_path_traversal_in_route(sec_server):
    r = sec_server.raw("/../../meta?file=data.h5")
    assert r.status_code in (200, 400, 404), r.status_code
    if r.status_code != 200:
        assert_json_error(r, statuses={400, 404})
    r = sec_server.raw("/meta/..%2f..%2fmeta?file=data.h5")
    assert r.status_code != 200 or r.json().get("kind") == "group"


def test_newly_created_escape_symlink_rejected(sec_server, layout):
    """Confinement is re-checked per request: a symlink added later is not trusted."""
    _, root, outside = layout
    p = root / "late.h5"
    with h5py.File(p, "w") as f:
        f["v"] = np.arange(1)
    assert sec_server.get("meta", file="late.h5").status_code == 200
    p.unlink()
    os.symlink(outside / "secret.h5", p)
    try:
        assert_json_error(sec_server.get("meta", file="late.h5"), statuses=DENIED)
        assert_json_error(sec_server.get("attr", file="late.h5", path="/"), statuses=DENIED)
    finally:
        p.unlink()


# --------------------------------------------------------------- auth


AUTH_CASES = {
    "none": {},
    "wrong": {"Authorization": "token " + "0" * 40},
    "empty": {"Authorization": "token "},
    "bearer-wrong": {"Authorization": "Bearer nothing"},
    "prefix": None,  # filled with a prefix of the real token
    "suffix": None,  # real token plus a character
}


@pytest.mark.parametrize("case", list(AUTH_CASES))
@pytest.mark.parametrize("endpoint", ["meta", "data", "attr", "paths", "stats"])
def test_tcp_requires_token(sec_server, case, endpoint):
    headers = AUTH_CASES[case]
    if case == "prefix":
        headers = {"Authorization": "token " + sec_server.token[:-1]}
    if case == "suffix":
        headers = {"Authorization": "token " + sec_server.token + "x"}
    path = "/v" if endpoint in ("data", "stats") else "/"
    r = requests.get(f"{sec_server.base_url}/{endpoint}", params={"file": "data.h5", "path": path},
                     headers=headers, timeout=30)
    assert r.status_code in (401, 403), (r.status_code, r.content[:200])
    assert_json_error(r, statuses={401, 403})
    assert_content_length(r)
    assert b"who" not in r.content


def test_token_in_query_string_is_not_accepted(sec_server):
    r = requests.get(f"{sec_server.base_url}/meta",
                     params={"file": "data.h5", "token": sec_server.token}, timeout=30)
    assert r.status_code in (401, 403)


def test_right_token_accepted(sec_server):
    r = requests.get(f"{sec_server.base_url}/meta", params={"file": "data.h5"},
                     headers={"Authorization": f"token {sec_server.token}"}, timeout=30)
    assert r.status_code == 200


def test_token_not_on_command_line(sec_server):
    cmdline = Path(f"/proc/{sec_server.proc.pid}/cmdline").read_bytes()
    assert b"nexus-server.mjs" in cmdline  # it is really the server's process
    assert sec_server.token.encode() not in cmdline
    # nor in any of its threads'/children's command lines
    for task in Path(f"/proc/{sec_server.proc.pid}/task").iterdir():
        assert sec_server.token.encode() not in (task / "cmdline").read_bytes()


def test_token_not_printed(sec_server):
    out = "\n".join(sec_server.stdout_lines + sec_server.stderr_lines)
    assert sec_server.token not in out


@pytest.mark.parametrize("env", [None, ""])
def test_tcp_without_token_refuses_to_start(layout, env):
    _, root, _ = layout
    srv = ServerProcess(root, token=env, wait_ready=False)
    try:
        deadline = time.monotonic() + 30
        while srv.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not srv.alive(), "server kept running on TCP without NEXUS_SERVER_TOKEN"
        assert srv.proc.returncode != 0
        assert not any("NEXUS_SERVER_READY" in l for l in srv.stdout_lines)
        # and nothing listens on the port
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{srv.base_url}/", timeout=5)
    finally:
        srv.stop()


# -------------------------------------------------------------- socket


def test_socket_mode_permissions(layout):
    _, root, _ = layout
    sockdir = Path(tempfile.mkdtemp(prefix="nexus-sock-"))
    sock = sockdir / "nexus.sock"
    old = os.umask(0o022)  # a permissive umask must not leak into the socket mode
    try:
        srv = ServerProcess(root, token=None, socket_path=sock)
    finally:
        os.umask(old)
    try:
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode)
        sock_mode = stat.S_IMODE(st.st_mode)
        dir_mode = stat.S_IMODE(os.stat(sockdir).st_mode)
        assert sock_mode & 0o077 == 0 or dir_mode & 0o077 == 0, (oct(sock_mode), oct(dir_mode))
        r = srv.raw("/meta?file=data.h5&path=/", token=None)
        assert r.status_code == 200, r.content
        assert r.json()["kind"] == "group"
        r = srv.raw("/meta?file=../outside/secret.h5", token=None)
        assert_json_error(r, statuses=DENIED)
    finally:
        srv.stop()
        import shutil

        shutil.rmtree(sockdir, ignore_errors=True)


def test_socket_mode_with_token_checks_it(layout):
    """If a token is given in socket mode too, a wrong one must not be accepted."""
    _, root, _ = layout
    sockdir = Path(tempfile.mkdtemp(prefix="nexus-sock-"))
    tok = secrets.token_hex(16)
    srv = ServerProcess(root, token=tok, socket_path=sockdir / "s")
    try:
        assert srv.raw("/meta?file=data.h5", token=tok).status_code == 200
        r = srv.raw("/meta?file=data.h5", token="wrong")
        assert_json_error(r, statuses={401, 403})
        assert tok.encode() not in Path(f"/proc/{srv.proc.pid}/cmdline").read_bytes()
    finally:
        srv.stop()
        import shutil

        shutil.rmtree(sockdir, ignore_errors=True)


def test_external_link_out_of_root_is_explicit(sec_server, layout):
    """§9.4: an external link leaving the root is either served (documented choice) or shown
    as an unresolved external_link; never a crash, never a non-JSON error."""
    _, root, outside = layout
    with h5py.File(root / "extout.h5", "w") as f:
        f["abs"] = h5py.ExternalLink(str(outside / "secret.h5"), "/v")
        f["rel"] = h5py.ExternalLink("../outside/secret.h5", "/v")
    for name in ("abs", "rel"):
        r = sec_server.get("meta", file="extout.h5", path=f"/{name}")
        assert r.status_code == 200, r.content
        kind = r.json()["kind"]
        assert kind in ("dataset", "external_link"), kind
        d = sec_server.get("data", file="extout.h5", path=f"/{name}", format="bin")
        if kind == "dataset":
            assert d.status_code == 200
        else:
            assert_json_error(d, statuses=range(400, 600))
        kids = {c["name"]: c["kind"] for c in sec_server.get("meta", file="extout.h5").json()["children"]}
        assert kids[name] == kind, (kids, kind)
