// The notebook cell behind "Insert code": a raw-scan slab is recomputed with the nexus-transform
// CLI on the same thin grid (every frame, so it equals the finished slab); a cut through a volume
// is redone with h5py and numpy (trilinear interpolation of v/n at the pixel centres).
import type { SlabEntry } from './slab-service.js';

const py = (value: unknown): string => JSON.stringify(value);

export function slabCode(entry: SlabEntry): string {
  const { grid, file, source } = entry;
  if (source.kind === 'raw') {
    return `import json, os, shutil, subprocess, tempfile
from pathlib import Path

import h5py
import numpy as np
import jupyterlab_nexus

# The slab on the same thin grid, recomputed from every frame by nexus-transform.
BUNDLE = Path(jupyterlab_nexus.__file__).resolve().parent / "server"
NODE = os.environ.get("NEXUS_NODE") or shutil.which("node")
RAW = ${py(`${file.realPath}#${source.path}`)}
GRID = ${py(grid)}
work = Path(tempfile.mkdtemp())
(work / "grid.json").write_text(json.dumps(GRID))
subprocess.run(
    [NODE, str(BUNDLE / "nexus-transform.mjs"), RAW, "--grid", str(work / "grid.json"),
     "--output", f"{work / 'slab.nxs'}#/entry/slab"],
    check=True,
)
with h5py.File(work / "slab.nxs", "r") as f:
    v = f["entry/slab/v"][0]
    n = f["entry/slab/n"][0]
# rows follow the plane's v axis, columns its u axis
slab = np.where(n > 0, v / np.where(n > 0, n, 1), np.nan)
slab`;
  }
  return `import h5py
import numpy as np

# A plane through the transformed volume: trilinear interpolation of v/n at the pixel centres.
FILE = ${py(file.realPath)}
GROUP = ${py(source.path)}
ORIGIN = np.array(${py(grid.origin)})
STEPS = np.array(${py(grid.steps)})
N0, N1 = ${grid.dims[0]}, ${grid.dims[1]}
with h5py.File(FILE, "r") as f:
    g = f[GROUP]
    v, n = g["v"][()], g["n"][()]
    axes = [g[name][()] for name in ("Ql", "Qk", "Qh")]
data = np.where(n > 0, v / np.where(n > 0, n, 1), 0.0)
i, j = np.meshgrid(np.arange(N0) + 0.5, np.arange(N1) + 0.5)
hkl = ORIGIN + i[..., None] * STEPS[0] + j[..., None] * STEPS[1] + 0.5 * STEPS[2]
# fractional voxel-centre index along L, K, H
t = np.stack([(hkl[..., 2 - a] - ax[0]) / ((ax[-1] - ax[0]) / (len(ax) - 1)) - 0.5 for a, ax in enumerate(axes)])
size = np.array(data.shape)[:, None, None]
inside = np.all((t >= 0) & (t <= size - 1), axis=0)
base = np.clip(np.floor(t), 0, size - 2).astype(int)
frac = t - base
slab = np.zeros((N1, N0))
for corner in range(8):
    bits = [(corner >> 2) & 1, (corner >> 1) & 1, corner & 1]
    weight = np.prod([frac[a] if b else 1 - frac[a] for a, b in enumerate(bits)], axis=0)
    idx = [np.clip(base[a] + b, 0, data.shape[a] - 1) for a, b in enumerate(bits)]
    slab += weight * data[idx[0], idx[1], idx[2]]
slab = np.where(inside, slab, np.nan)
slab`;
}
