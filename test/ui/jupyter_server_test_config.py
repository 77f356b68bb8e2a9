"""JupyterLab for the galata tests: galata's settings, but with token auth and XSRF on.

The token and port come from the Playwright config (env NEXUS_UI_TOKEN/NEXUS_UI_PORT).
"""

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821
configure_jupyter_server(c)

c.IdentityProvider.token = os.environ["NEXUS_UI_TOKEN"]
c.ServerApp.disable_check_xsrf = False
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = int(os.environ["NEXUS_UI_PORT"])
c.ServerApp.allow_root = True
# The companion server keeps its job state here, not in the user's Jupyter data directory.
os.environ["NEXUS_STATE_DIR"] = tempfile.mkdtemp(prefix="nexus-ui-state-")

root = Path(c.ServerApp.root_dir)
with h5py.File(root / "sample.nxs", "w") as f:
    entry = f.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    data = entry.create_group("data")
    data.attrs["NX_class"] = "NXdata"
    data.attrs["signal"] = "counts"
    data.create_dataset(
        "counts", data=np.arange(4 * 32 * 48, dtype="float32").reshape(4, 32, 48)
    )
    entry.create_dataset("title", data="galata sample")

# Real-world files for real-files.spec.ts: copies only, the originals stay untouched.
import shutil  # noqa: E402

from jupyterlab_nexus import demo  # noqa: E402

real = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "real"
chopper = real / "nexpy_nexpy/src/nexpy/examples/chopper.nxs"
for source in (
    chopper,
    real / "silx-kit_hdf5plugin/test/bitshuffle.h5",
    real / "DiamondLightSource_httomo/tests/test_data/k11_diad/k11-18014/k11-18014-imaging.h5",
):
    target = root / source.name
    shutil.copyfile(source, target)
    target.chmod(0o644)
(root / "truncated.nxs").write_bytes(chopper.read_bytes()[:4096])
demo.main([str(root), "--frames", "30", "--size", "128"])
# slabs.spec.ts: half a rotation, so that the L = 0 and H = K planes hold several Bragg peaks
demo.main([str(root), "--frames", "360", "--size", "128", "--name", "slab_scan.nxs"])

# Pipeline experiments for pipelines.spec.ts: TIFF-frame scans of the synthetic crystal (truth.json
# holds the true UB and lattice). `broken-experiment` has a truncated frame; the intact frame is
# kept outside the experiment so the test can put it back before retrying.
# The generator's default scan (120 frames of 256x256) gives refine about 90 peaks; a few seconds
# per step here.
for scan in ("scan_01", "scan_02"):
    demo.main([str(root / "crystal-experiment" / scan), "--tiff-scan"])
broken = root / "broken-experiment" / "scan_01"
demo.main([str(broken), "--tiff-scan", "--frames", "30", "--size", "128"])
intact = root / "intact-frames"
intact.mkdir()
frame = broken / "frame_00002.tif"
shutil.copyfile(frame, intact / frame.name)
frame.write_bytes(frame.read_bytes()[:1000])
# An experiment without scans yet, and a scan staged outside it: the auto-run test moves it in
# with one rename, the way an acquisition that writes elsewhere first would drop it.
(root / "auto-experiment").mkdir()
demo.main([str(root / "staging" / "scan_01"), "--tiff-scan", "--frames", "60", "--size", "192"])
