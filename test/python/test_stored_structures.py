"""The server's own readers of HDF5 structures, against h5py and h5grove 4 (independent oracles).

Gzip/unfiltered chunks are read from the file's chunk index and inflated only as far as a
selection needs (server/hdf5/direct-chunk-read.ts); children of large classic groups are
described from their object headers (server/hdf5/child-headers.ts). Both must give exactly what
h5py reads and what h5grove's /meta says, for every chunk index kind and for the cases left to
HDF5 (other filters, byte orders, unwritten chunks, growing datasets, external links).
"""

from __future__ import annotations

import h5py
import numpy as np
import orjson
import pytest
from h5grove.content import create_content
from h5grove.encoders import orjson_encode
from h5grove.models import LinkResolution

STACK = ((np.arange(9 * 41 * 23, dtype="<i4").reshape(9, 41, 23) * 37) % 1001 - 300).astype("<i4")
LIBVERS = {"earliest": ("earliest", "v110"), "v110": ("v110", "v110")}
DATASETS = ["gzip", "plain", "single", "bytes", "shuffled", "big_endian", "sparse", "growing", "g/deep",
            "soft", "outside/deep"]
SELECTIONS = ["", "0", "4,20,7", ":,20,:", ":,40,:", "1:8:2,::3,5:", "-1", ":,:,22", "2:7,10:30,8:20",
              "::4,17,::5", ":,0,:", "8,40,22"]


def write(path, libver):
    with h5py.File(path, "w", libver=libver) as f:
        f.create_dataset("gzip", data=STACK, chunks=(2, 10, 8), compression="gzip")
        f.create_dataset("plain", data=STACK.astype("<f8") / 3, chunks=(3, 7, 23))
        f.create_dataset("single", data=STACK, chunks=STACK.shape, compression="gzip")
        f.create_dataset("bytes", data=(STACK % 256).astype("u1"), chunks=(1, 41, 23), compression="gzip",
                         compression_opts=9)
        f.create_dataset("shuffled", data=STACK, chunks=(2, 10, 8), compression="gzip", shuffle=True)
        f.create_dataset("big_endian", data=STACK.astype(">i4"), chunks=(2, 10, 8), compression="gzip")
        s = f.create_dataset("sparse", shape=STACK.shape, dtype="<i2", chunks=(2, 10, 8), compression="gzip",
                             fillvalue=-3)
        s[0:2, 0:10, 0:8] = 5
        f.create_dataset("growing", data=STACK, chunks=(2, 10, 8), compression="gzip", maxshape=(None, 41, 23))
        f.create_dataset("g/deep", data=STACK + 1, chunks=(2, 10, 8), compression="gzip")
        f["soft"] = h5py.SoftLink("/g/deep")
        f["outside"] = h5py.ExternalLink("target.h5", "/g")


@pytest.fixture(scope="module")
def stored(tmp_root):
    folder = tmp_root / "stored"
    folder.mkdir(exist_ok=True)
    for name, libver in LIBVERS.items():
        write(folder / f"{name}.h5", libver)
    # same layout as the linking files: an address looked up in the wrong file would look valid
    write(folder / "target.h5", ("earliest", "v110"))
    with h5py.File(folder / "target.h5", "a") as f:
        f["g/deep"][...] = -STACK
    with h5py.File(folder / "group.h5", "w") as f:
        g = f.create_group("many")
        for i in range(3000):
            g[f"item_{i:04d}"] = np.int64(i) if i % 3 else np.arange(i % 7, dtype=">f4")
        g["half"] = np.float16(1.5)
        g["text"] = "text"
        g["flag"] = np.bool_(True)
        g["empty"] = h5py.Empty("f4")
        g.create_dataset("chunked", data=np.arange(10), chunks=(5,), compression="gzip")
        g["item_0001"].attrs["units"] = "mm"
        g.create_group("sub").attrs["NX_class"] = "NXcollection"
        g["soft"] = h5py.SoftLink("/many/item_0002")
        g["dangling"] = h5py.SoftLink("/nowhere")
    with h5py.File(folder / "group_v110.h5", "w", libver=("v110", "v110")) as f:
        g = f.create_group("many")
        for i in range(3000):
            g[f"item_{i:04d}"] = np.float64(i)
    return folder


def expected(folder, name, dataset, selection):
    with h5py.File(folder / f"{name}.h5", "r") as f:
        arr = f[dataset][()]
    index = tuple(int(m) if ":" not in m else slice(*[int(x) if x else None for x in m.split(":")])
                  for m in selection.split(",")) if selection else ()
    # an all-index selection gives a NumPy scalar in native byte order: keep the stored one
    return np.ascontiguousarray(arr[index], dtype=arr.dtype)


@pytest.mark.parametrize("name", list(LIBVERS))
@pytest.mark.parametrize("dataset", DATASETS)
def test_data_bin_equals_h5py(tmp_server, stored, name, dataset):
    for selection in SELECTIONS:
        exp = expected(stored, name, dataset, selection)
        params = {"file": f"stored/{name}.h5", "path": f"/{dataset}", "format": "bin", "dtype": "origin"}
        if selection:
            params["selection"] = selection
        r = tmp_server.get("data", **params)
        assert r.status_code == 200, r.content[:300]
        # dtype=origin: the bytes as stored, big-endian ones too
        got = np.frombuffer(r.content, dtype=exp.dtype)
        assert np.array_equal(got, exp.ravel()), f"{name} {dataset} [{selection}]"


@pytest.mark.parametrize("name", ["group", "group_v110"])
def test_meta_of_large_group_equals_h5grove(tmp_server, stored, name):
    r = tmp_server.get("meta", file=f"stored/{name}.h5", path="/many")
    assert r.status_code == 200, r.content[:300]
    with h5py.File(stored / f"{name}.h5", "r") as f:
        exp = orjson.loads(orjson_encode(create_content(f, "/many", LinkResolution("only_valid")).metadata()))
    assert r.json() == exp
