"""Cuts through a transformed volume (POST /slabs on an NXdata with v, n, Qh, Qk, Ql) against
scipy.ndimage.map_coordinates (order 1, i.e. trilinear) of v/n at the slab's pixel centres."""

from __future__ import annotations

import json
import struct

import h5py
import numpy as np
import pytest
import requests
from scipy.ndimage import map_coordinates


def write_volume(path, rng):
    """A volume as nexus-transform writes it: v, n (NL, NK, NH), axes at the voxels' lower edges."""
    nl, nk, nh = 12, 20, 24
    v = rng.uniform(0, 100, (nl, nk, nh))
    n = rng.integers(0, 4, (nl, nk, nh)).astype(float)
    with h5py.File(path, "w") as f:
        g = f.create_group("entry/transform")
        g.attrs["NX_class"] = "NXdata"
        g["v"], g["n"] = v, n
        g["Qh"] = -2 + 0.2 * np.arange(nh)
        g["Qk"] = -1 + 0.125 * np.arange(nk)
        g["Ql"] = 0.5 + 0.25 * np.arange(nl)
    data = np.where(n > 0, v / np.where(n > 0, n, 1), 0.0)
    return data, [(-2, 0.2), (-1, 0.125), (0.5, 0.25)]


def post_slab(server, body):
    return requests.post(
        server.base_url + "/slabs", data=json.dumps(body), headers=server.headers(), timeout=30
    )


def snapshot(server, slab_id):
    r = requests.get(f"{server.base_url}/slabs/{slab_id}", headers=server.headers(), timeout=30)
    assert r.status_code == 200
    (length,) = struct.unpack_from("<I", r.content)
    header = json.loads(r.content[4 : 4 + length])
    values = np.frombuffer(r.content[4 + length :], dtype="<f4")
    v, n = np.split(values, 2)
    return header, v, n


@pytest.mark.parametrize(
    "plane",
    [
        {"preset": "L", "value": 1.7},
        {"preset": "H=K"},
        {"preset": "free", "origin": [0.1, 0.2, 2.0], "u": [1, 0.3, 0.2], "v": [-0.2, 1, 0.4]},
    ],
)
def test_cut_matches_trilinear_oracle(tmp_server, tmp_root, plane):
    data, axes = write_volume(tmp_root / "volume.nxs", np.random.default_rng(7))
    resolution = [37, 29]
    r = post_slab(
        tmp_server,
        {"file": "volume.nxs", "plane": plane, "thickness": 0.1,
         "range": {"u": [-1.5, 2.8], "v": [-0.9, 1.1]}, "resolution": resolution},
    )
    assert r.status_code == 202, r.text
    info = r.json()
    assert info["kind"] == "volume"
    header, v, n = snapshot(tmp_server, info["id"])
    assert header["state"] == "done" and header["complete"]

    grid = info["grid"]
    origin, steps = np.array(grid["origin"]), np.array(grid["steps"])
    i, j = np.meshgrid(np.arange(resolution[0]) + 0.5, np.arange(resolution[1]) + 0.5)
    hkl = origin + i[..., None] * steps[0] + j[..., None] * steps[1] + 0.5 * steps[2]
    # voxel centres sit half a step above the lower edges; array axes are (L, K, H)
    index = np.stack(
        [(hkl[..., 2 - a] - axes[2 - a][0]) / axes[2 - a][1] - 0.5 for a in range(3)]
    )
    shape = np.array(data.shape)[:, None, None]
    inside = np.all((index >= 0) & (index <= shape - 1), axis=0)
    expected = map_coordinates(data, index.reshape(3, -1), order=1, mode="nearest").reshape(i.shape)

    assert inside.sum() > 50, "the plane crosses the volume"
    assert (~inside).sum() > 0, "and leaves it"
    np.testing.assert_array_equal(n.reshape(i.shape), inside.astype(np.float32))
    np.testing.assert_allclose(v.reshape(i.shape)[inside], expected[inside], rtol=1e-5, atol=1e-4)


def test_files_without_geometry_or_volume_are_refused(tmp_server, tmp_root):
    with h5py.File(tmp_root / "plain.nxs", "w") as f:
        f["entry/data/data"] = np.zeros((2, 3, 4))
    source = tmp_server.get("slabs/source", file="plain.nxs").json()
    assert source["kind"] is None and source["reason"]
    r = post_slab(
        tmp_server,
        {"file": "plain.nxs", "plane": {"preset": "L", "value": 0}, "thickness": 0.1,
         "range": {"u": [-1, 1], "v": [-1, 1]}, "resolution": [4, 4]},
    )
    assert r.status_code == 422
    assert "plain.nxs" in r.json()["message"]
