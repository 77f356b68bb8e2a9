"""jupyter-server-proxy entry point for the companion Node server.

The server listens on a unix socket inside a fresh 0700 directory created by
jupyter-server-proxy, so other users on a shared login node cannot reach it;
all browser traffic goes through Jupyter's authenticated ``/nexus`` route.
"""

from __future__ import annotations

import os
import shutil
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


def _root_dir() -> str:
    # jupyter-server-proxy does not hand the ServerApp's root_dir to entry points; the
    # server is started from its root_dir by default, and NEXUS_ROOT overrides it.
    return os.path.abspath(os.environ.get("NEXUS_ROOT") or os.getcwd())


def _literal(value: str) -> str:
    # jupyter-server-proxy runs str.format() over every argument.
    return value.replace("{", "{{").replace("}", "}}")


def _command() -> list[str]:
    # Resolved at launch time (callable), so env changes after import are honoured.
    return [
        _literal(_node_executable()),
        _literal(str(BUNDLE)),
        "--root",
        _literal(_root_dir()),
        "--socket",
        "{unix_socket}",
        "--exit-on-stdin-close",
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
