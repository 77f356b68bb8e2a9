"""jupyter-server-proxy entry point for the companion Node server.

The server listens on a unix socket inside a fresh 0700 directory created by
jupyter-server-proxy, so other users on a shared login node cannot reach it;
all browser traffic goes through Jupyter's authenticated ``/nexus`` route.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

SERVER_NAME = "nexus"
BUNDLE = Path(__file__).resolve().parent / "server" / "nexus-server.mjs"


def _node_executable() -> str:
    node = os.environ.get("NEXUS_NODE") or shutil.which("node")
    if not node:
        raise RuntimeError(
            "jupyterlab-nexus needs Node.js >= 20: put `node` on PATH or set NEXUS_NODE"
        )
    return node


def _server_root_dir() -> str | None:
    # jupyter-server-proxy passes neither the ServerApp nor its root_dir to entry points,
    # but the command callable runs inside the server process, after start-up, so the
    # ServerApp singleton is there (`jupyter lab --ServerApp.root_dir=demo` must not
    # serve the cwd).
    try:
        from jupyter_server.serverapp import ServerApp
    except ImportError:
        return None
    if not ServerApp.initialized():
        return None
    root = getattr(ServerApp.instance(), "root_dir", None)
    return os.path.expanduser(root) if root else None


def _root_dir() -> str:
    """The directory file paths from the browser are relative to (the Jupyter root)."""
    root = os.environ.get("NEXUS_ROOT") or _server_root_dir() or os.getcwd()
    return os.path.abspath(root)


def _literal(value: str) -> str:
    # jupyter-server-proxy runs str.format() over every argument.
    return value.replace("{", "{{").replace("}", "}}")


def _stdin_is_pipe() -> bool:
    # jupyter-server-proxy (simpervisor) gives the child Jupyter's own stdin. Only a pipe
    # reaches EOF when the process holding its write end dies; on /dev/null (nohup,
    # systemd, batch spawners) EOF is immediate and a tty never closes, so
    # --exit-on-stdin-close would kill the server at once or do nothing.
    try:
        return stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        return False


def _state_dir() -> str:
    """Job database, sites file and job directories: <Jupyter data dir>/nexus."""
    from jupyter_core.paths import jupyter_data_dir

    return os.environ.get("NEXUS_STATE_DIR") or os.path.join(jupyter_data_dir(), "nexus")


def _command() -> list[str]:
    # Resolved at launch time (callable), so env changes after import are honoured.
    return [
        _literal(_node_executable()),
        _literal(str(BUNDLE)),
        "--root",
        _literal(_root_dir()),
        "--socket",
        "{unix_socket}",
        "--state-dir",
        _literal(_state_dir()),
        *(["--exit-on-stdin-close"] if _stdin_is_pipe() else []),
    ]


def setup_nexus() -> dict[str, Any]:
    return {
        "command": _command,
        "unix_socket": True,
        "timeout": 30,
        "absolute_url": False,
        "launcher_entry": {"enabled": False},
        "new_browser_tab": False,
    }
