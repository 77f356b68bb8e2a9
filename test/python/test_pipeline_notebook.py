"""The whole nxrefine pipeline on a synthetic TIFF scan through the server's runner (local
executor), then the exported notebook executed by ``jupyter nbconvert --execute`` in a plain
Python kernel against the same files: it must reproduce the merged volume.

Needs the bundle (``npm run build:server``); nothing is skipped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import nbformat
import numpy as np
import requests

from conftest import REPO, ServerProcess

RUN_TIMEOUT = 600.0


def signal_of(path: Path) -> np.ndarray:
    """The plotted signal of a NeXus file, found through its `default` attributes."""
    with h5py.File(path, "r") as f:
        group = f
        while "default" in group.attrs:
            group = group[group.attrs["default"]]
        return group[group.attrs["signal"]][...]


def api(server: ServerProcess, method: str, route: str, body=None):
    response = requests.request(
        method, server.base_url + route, json=body, headers=server.headers(), timeout=60
    )
    assert response.status_code < 300, (response.status_code, response.text)
    return response.json()


def test_exported_notebook_reproduces_the_run(tmp_path: Path):
    root = tmp_path / "root"
    scan = root / "experiment" / "scan1"
    subprocess.run(
        [sys.executable, "-m", "jupyterlab_nexus.demo", str(scan), "--tiff-scan"],
        check=True, cwd=REPO,
    )
    server = ServerProcess(
        root, token=secrets.token_hex(16), extra_env={"JUPYTER_DATA_DIR": str(tmp_path / "data")}
    )
    try:
        api(server, "PUT", "/jobs/sites", {
            "sites": [{"name": "local", "scheduler": "local", "pollIntervalSeconds": 0.2}]
        })
        run = api(server, "POST", "/pipelines/runs", {"experiment": "experiment"})
        deadline = time.monotonic() + RUN_TIMEOUT
        while run["state"] not in ("done", "failed", "canceled"):
            assert time.monotonic() < deadline, f"run still {run['state']}: {run['events']}"
            time.sleep(0.5)
            run = api(server, "GET", f"/pipelines/runs/{run['id']}")
        assert run["state"] == "done", json.dumps(run["events"], indent=1)
        assert run["steps"] == ["stack", "max", "find", "refine", "prepare", "transform", "combine"]
        by_server = signal_of(scan / "nexus" / "transform.nxs")
        assert np.nansum(by_server) > 0
        notebook = api(server, "POST", "/pipelines/notebook", {"runId": run["id"]})["path"]
    finally:
        server.stop()

    # The notebook starts from the raw frames alone: every output of the run is set aside.
    shutil.move(scan / "nexus", tmp_path / "nexus-by-server")
    env = dict(os.environ, PATH=f"{Path(shutil.which('node')).parent}:{os.environ['PATH']}")
    executed = tmp_path / "executed.ipynb"
    subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=600", "--output", str(executed), str(root / notebook)],
        check=True, env=env, cwd=tmp_path,
    )
    by_notebook = signal_of(scan / "nexus" / "transform.nxs")
    assert by_notebook.shape == by_server.shape
    np.testing.assert_allclose(by_notebook, by_server, rtol=1e-6, equal_nan=True)

    cells = nbformat.read(executed, as_version=4).cells  # joins multi-line sources and outputs
    code = [c for c in cells if c["cell_type"] == "code"]
    # setup, one cell per step, the result
    assert len(code) == 1 + 7 + 1
    shown = "".join(o.get("text", "") for o in code[-1]["outputs"])
    assert "middle slice" in shown, shown
    markdown = cells[0]["source"]
    assert run["id"] in markdown and "jupyterlab-nexus" in markdown
