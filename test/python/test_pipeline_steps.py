"""The built-in pipeline steps (`nexus-reduce`), through the bundled CLI.

Oracles: tifffile and fabio (TIFF/CBF pixels), numpy (max, sums, merge), the independent numpy
forward mapping of transform_oracle.py (peak HKL), and the synthetic scan's true UB and lattice
(truth.json, written by jupyterlab_nexus.demo --tiff-scan next to a perturbed scan.json).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import fabio
import fabio.cbfimage
import h5py
import numpy as np
import pytest
import tifffile

from jupyterlab_nexus.demo import GAP_ROWS, ScanGeometry, render_frames, write_tiff_scan
from transform_oracle import REPO, direct_lattice, oracle_hkl

CLI = REPO / "jupyterlab_nexus" / "server" / "nexus-reduce.mjs"
REAL = REPO.parent / "shared" / "testdata" / "real"
SAVU_TIFFS = REAL / "DiamondLightSource_Savu" / "test_data" / "data" / "image_test" / "tiffs"
DXTBX_CBF = REAL / "cctbx_dxtbx" / "tests" / "phi_scan_001.cbf"
PARTS = 3
CELL_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")


def reduce(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if not CLI.is_file():
        pytest.fail(f"{CLI} is missing: run `npm run build:server` first", pytrace=False)
    full_env = {k: v for k, v in os.environ.items() if k != "NEXUS_TASK_INDEX"} | (env or {})
    result = subprocess.run(
        ["node", str(CLI), *args], capture_output=True, text=True, timeout=600, env=full_env
    )
    if check and result.returncode != 0:
        raise AssertionError(f"nexus-reduce {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def assert_process(group: h5py.Group, step: str) -> None:
    process = group["process"]
    assert process.attrs["NX_class"] == "NXprocess"
    assert process["program"].asstr()[()] == "nexus-reduce"
    assert process["step"].asstr()[()] == step
    assert process["version"].asstr()[()]
    assert process["date"].asstr()[()].startswith("20")
    json.loads(process["parameters/json"].asstr()[()])
    assert json.loads(process["inputs"].asstr()[()])


def rotation_between(ub_a, cell_a, ub_b, cell_b) -> float:
    """Angle (deg) between the orientations U = polar(UB·B⁻¹) of two UBs."""

    def u_of(ub, cell):
        b = np.linalg.inv(direct_lattice(*cell)).T
        left, _, right = np.linalg.svd(np.asarray(ub) @ np.linalg.inv(b))
        return left @ right

    r = u_of(ub_a, cell_a) @ u_of(ub_b, cell_b).T
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))


# --- stack on real frames ---------------------------------------------------------------------


def test_stack_of_the_savu_tiff_folder_equals_tifffile_pixel_for_pixel(tmp_path):
    files = sorted(SAVU_TIFFS.glob("*.tiff"))
    assert len(files) == 91
    reduce("stack", "--scan", str(tmp_path), "--frames", f"{SAVU_TIFFS}/*.tiff")
    with h5py.File(tmp_path / "nexus" / "raw.nxs", "r") as f:
        data = f["entry/data/data"]
        expected = np.stack([tifffile.imread(p) for p in files])
        assert data.shape == expected.shape == (91, 135, 160)
        assert data.dtype == expected.dtype == np.uint16
        assert data.chunks == (1, 135, 160)
        assert data.compression == "gzip"
        np.testing.assert_array_equal(data[()], expected)
        assert f["entry/data"].attrs["signal"] == "data"
        assert list(f["entry/data"].attrs["axes"]) == ["frame_number", "y_pixel", "x_pixel"]
        assert f.attrs["default"] == "entry"
        assert_process(f["entry"], "stack")
        assert json.loads(f["entry/process/inputs"].asstr()[()]) == [str(p) for p in files]


def test_stack_of_the_dxtbx_byte_offset_cbf_equals_fabio(tmp_path):
    reduce("stack", "--scan", str(tmp_path), "--frames", str(DXTBX_CBF))
    expected = fabio.open(str(DXTBX_CBF)).data
    with h5py.File(tmp_path / "nexus" / "raw.nxs", "r") as f:
        data = f["entry/data/data"][()]
    assert data.shape == (1, 619, 487) and data.dtype == np.int32
    np.testing.assert_array_equal(data[0], expected)
    assert expected.min() < 0  # Pilatus gaps: the first delta of a row is negative


def test_byte_offset_escapes_to_16_and_32_bit_deltas(tmp_path):
    """fabio writes the CBF; deltas beyond ±127 and ±32767 need the 2- and 4-byte escapes."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(-(2**31) + 1, 2**31 - 1, size=(7, 9), dtype=np.int32), np.arange(63, dtype=np.int32).reshape(7, 9) * 40000 - 5]
    for z, frame in enumerate(frames):
        fabio.cbfimage.CbfImage(data=frame).write(str(tmp_path / f"f_{z}.cbf"))
    reduce("stack", "--scan", str(tmp_path))
    with h5py.File(tmp_path / "nexus" / "raw.nxs", "r") as f:
        np.testing.assert_array_equal(f["entry/data/data"][()], np.stack(frames))


def test_unsigned_cbf_keeps_values_above_2_to_the_31(tmp_path):
    frame = np.array([[0, 4_000_000_000, 5, 3_000_000_000, 2**32 - 1]], dtype=np.uint32)
    fabio.cbfimage.CbfImage(data=frame).write(str(tmp_path / "u.cbf"))
    reduce("stack", "--scan", str(tmp_path))
    with h5py.File(tmp_path / "nexus" / "raw.nxs", "r") as f:
        data = f["entry/data/data"][()]
    assert data.dtype == np.uint32
    np.testing.assert_array_equal(data[0], fabio.open(str(tmp_path / "u.cbf")).data)


def test_stack_refuses_frames_it_cannot_stack_and_leaves_no_output(tmp_path):
    multi, sizes = tmp_path / "multi", tmp_path / "sizes"
    multi.mkdir()
    sizes.mkdir()
    tifffile.imwrite(multi / "a.tif", np.zeros((3, 6, 7), np.uint16), photometric="minisblack")
    tifffile.imwrite(sizes / "a.tif", np.zeros((6, 7), np.uint16))
    tifffile.imwrite(sizes / "b.tif", np.zeros((6, 8), np.uint16))
    for folder, reason in ((multi, "3 images in one TIFF"), (sizes, "b.tif is 8×6 pixels")):
        result = reduce("stack", "--scan", str(folder), check=False)
        assert result.returncode == 2 and reason in result.stderr.strip().splitlines()[-1], result.stderr
        assert list((folder / "nexus").iterdir()) == []


# --- the pipeline on a synthetic scan -----------------------------------------------------------

GEOMETRY = ScanGeometry(frames=180, shape=(195, 487), beam_center=(243.5, 97.5))


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> Path:
    """A scan folder run through every step, in pipeline order (transform as 3 array tasks)."""
    folder = tmp_path_factory.mktemp("pipeline") / "scan_001"
    write_tiff_scan(folder, GEOMETRY)
    for step in ("stack", "max", "find", "refine"):
        reduce(step, "--scan", str(folder))
    reduce("prepare", "--scan", str(folder), "--step", "0.1")
    for index in range(PARTS):
        reduce("transform", "--scan", str(folder), "--parts", str(PARTS), env={"NEXUS_TASK_INDEX": str(index)})
    reduce("combine", "--scan", str(folder))
    return folder


@pytest.fixture(scope="module")
def frames(scan) -> np.ndarray:
    return np.stack([tifffile.imread(p) for p in sorted(scan.glob("frame_*.tif"))])


def test_synthetic_stack_holds_the_frames_and_the_scan_geometry(scan, frames):
    settings = json.loads((scan / "scan.json").read_text())
    with h5py.File(scan / "nexus" / "raw.nxs", "r") as f:
        np.testing.assert_array_equal(f["entry/data/data"][()], frames)
        np.testing.assert_array_equal(f["entry/sample/ub_matrix"][()], settings["ub_matrix"])
        assert f["entry/sample/unitcell_a"][()] == settings["lattice"]["a"]
        assert f["entry/instrument/monochromator/wavelength"][()] == settings["wavelength"]
        assert f["entry/instrument/goniometer/phi"].attrs["step"] == settings["phi_step"]
        assert f["entry/instrument/detector/detector_orientation"].asstr()[()] == settings["detector_orientation"]


def test_max_and_frame_sums_equal_numpy(scan, frames):
    with h5py.File(scan / "nexus" / "max.nxs", "r") as f:
        np.testing.assert_array_equal(f["entry/maximum/data"][()], frames.max(axis=0))
        np.testing.assert_array_equal(f["entry/summed/data"][()], frames.sum(axis=(1, 2), dtype=np.int64))
        assert f["entry/maximum"].attrs["maximum"] == frames.max()
        assert_process(f["entry"], "max")


def placed_reflections(threshold: float, margin: int = 12) -> dict[tuple[int, int, int], tuple[float, float, float, float]]:
    """Each integer HKL's noise-free peak value and its (x, y, frame), kept where its whole
    neighbourhood is recorded: inside the scan, off the detector edges and the gap rows."""
    g = GEOMETRY
    q = g.q_lab()
    best: dict[tuple[int, int, int], tuple[float, float, float, float]] = {}
    for z in range(g.frames):
        hkl = g.hkl_of_frame(q, z)
        nearest = np.rint(hkl)
        bragg = 5000.0 * np.exp(-np.sum((hkl - nearest) ** 2, axis=-1) / (2 * 0.06**2))
        ys, xs = np.nonzero(bragg > threshold)
        for y, x in zip(ys, xs):
            key = tuple(int(v) for v in nearest[y, x])
            if key != (0, 0, 0) and bragg[y, x] > best.get(key, (0,))[0]:
                best[key] = (bragg[y, x], x, y, z)
    rows, cols = g.shape
    return {
        k: v
        for k, v in best.items()
        if margin <= v[3] < g.frames - margin and margin <= v[1] < cols - margin and margin <= v[2] < rows - margin
        and not (GAP_ROWS.start - margin <= v[2] < GAP_ROWS.stop + margin)
    }


def test_find_recovers_the_placed_bragg_peaks(scan):
    truth = json.loads((scan / "truth.json").read_text())
    geometry = json.loads((scan / "scan.json").read_text()) | {"ub_matrix": truth["ub_matrix"]}
    with h5py.File(scan / "nexus" / "peaks.nxs", "r") as f:
        x, y, z, intensity = (f["entry/peaks"][n][()] for n in ("x", "y", "z", "intensity"))
        threshold = f["entry/peaks"].attrs["threshold"]
        assert_process(f["entry"], "find")
    assert len(x) > 50 and np.all(intensity > 0)
    hkl = oracle_hkl(geometry, z, x, y)
    offset = np.abs(hkl - np.rint(hkl)).max(axis=1)
    assert np.median(offset) < 0.01
    found = {tuple(int(v) for v in h) for h in np.rint(hkl[offset < 0.05])}
    placed = {k for k, v in placed_reflections(threshold).items() if v[0] > 2 * threshold}
    assert len(placed) > 30
    missed = placed - found
    assert len(missed) <= 0.1 * len(placed), f"missed {sorted(missed)} of {len(placed)}"


def test_refine_recovers_the_true_orientation_and_lattice(scan):
    truth = json.loads((scan / "truth.json").read_text())
    start = json.loads((scan / "scan.json").read_text())
    refined = json.loads((scan / "nexus" / "geometry.json").read_text())
    true_cell = [truth["lattice"][n] for n in CELL_NAMES]
    start_cell = [start["lattice"][n] for n in CELL_NAMES]
    refined_cell = [refined["lattice"][n] for n in CELL_NAMES]
    # the starting point is really off: refine had work to do
    assert rotation_between(start["ub_matrix"], start_cell, truth["ub_matrix"], true_cell) > 0.45
    assert abs(start_cell[0] / true_cell[0] - 1) > 0.002
    assert rotation_between(refined["ub_matrix"], refined_cell, truth["ub_matrix"], true_cell) < 0.05
    np.testing.assert_allclose(refined_cell, true_cell, rtol=1e-3)
    # the rest of geometry.json is scan.json's instrument, and it is a valid GEOM.json + lattice
    assert {k: v for k, v in refined.items() if k not in ("ub_matrix", "lattice")} == {
        k: v for k, v in start.items() if k not in ("ub_matrix", "lattice")
    }
    with h5py.File(scan / "nexus" / "refine.nxs", "r") as f:
        r = f["entry/refinement"]
        np.testing.assert_allclose(r["ub_matrix"][()], refined["ub_matrix"], rtol=0, atol=1e-15)
        assert r["indexed"][()] >= 50 and r["indexed"][()] <= r["peaks"][()]
        assert 0 < r["rms_delta_hkl"][()] < 0.02
        assert r["lattice_system"].asstr()[()] == "cubic"
        assert f["entry/sample/unitcell_a"][()] == refined["lattice"]["a"]
        assert_process(f["entry"], "refine")


def test_prepare_chooses_a_grid_with_integer_hkl_at_voxel_centres_and_masks_the_gap(scan, frames):
    preparation = json.loads((scan / "nexus" / "prepare.json").read_text())
    assert preparation["step"] == 0.1
    axes = [part.split(":") for part in preparation["grid"].split(",")]
    for (lo, hi, n), (first, last) in zip(axes, preparation["ranges"].values()):
        assert float(lo) == pytest.approx(first - 0.05) and float(hi) == pytest.approx(last + 0.05)
        assert int(n) == round((last - first) / 0.1) + 1
    assert preparation["maskedPixels"] == np.count_nonzero(frames[0] < 0) > 0
    with h5py.File(preparation["mask"].split("#")[0], "r") as f:
        np.testing.assert_array_equal(f["entry/mask/data"][()], (frames[0] < 0).astype(np.uint8))


def test_combined_volume_is_the_sum_of_the_parts_with_bragg_peaks_at_integer_hkl(scan):
    nexus = scan / "nexus"
    v_sum = n_sum = 0
    for index in range(PARTS):
        with h5py.File(nexus / f"transform-part-{index}-of-{PARTS}.nxs", "r") as f:
            v_sum = v_sum + f["entry/transform/v"][()]
            n_sum = n_sum + f["entry/transform/n"][()]
            assert_process(f["entry"], "transform")
    with h5py.File(nexus / "transform.nxs", "r") as f:
        t = f["entry/transform"]
        np.testing.assert_allclose(t["v"][()], v_sum, rtol=1e-12)
        np.testing.assert_allclose(t["n"][()], n_sum, rtol=1e-12)
        data = t["data"][()]
        axes = [t[name][()] for name in ("Ql", "Qk", "Qh")]
        assert f.attrs["default"] == "entry" and f["entry"].attrs["default"] == "transform"
        assert_process(f["entry"], "combine")
    filled = np.where(np.isnan(data), 0, data)
    strongest = np.argsort(filled, axis=None)[::-1][:400]
    peaks = []
    for flat in strongest:
        idx = np.unravel_index(flat, data.shape)
        box = filled[tuple(slice(max(i - 2, 0), i + 3) for i in idx)]
        if filled[idx] == box.max():
            peaks.append(idx)
    assert len(peaks) >= 10
    for idx in peaks[:20]:
        centre = np.array([axes[a][idx[a]] + 0.05 for a in range(3)])  # lower edge + half a voxel
        assert np.abs(centre - np.rint(centre)).max() < 0.1 + 1e-9, f"peak at L,K,H {centre}"


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, env, reason",
    [
        (["find", "--scan", "{empty}"], None, "run the stack step first"),
        (["max", "--scan", "{empty}"], None, "run the stack step first"),
        (["stack", "--scan", "{empty}"], None, "no frame files"),
        (["refine", "--scan", "{empty}"], None, "scan.json"),
        (["find", "--scan", "{empty}", "--threshold", "-3"], None, "threshold"),
        (["prepare", "--scan", "{empty}", "--h", "4:1"], None, "--h"),
        (["transform", "--scan", "{empty}", "--parts", "2"], None, "run the prepare step first"),
        (["combine", "--scan", "{empty}"], None, "run the prepare step first"),
        (["frobnicate", "--scan", "{empty}"], None, "frobnicate"),
    ],
)
def test_a_failing_step_exits_non_zero_with_a_one_line_reason(tmp_path, args, env, reason):
    result = reduce(*[a.replace("{empty}", str(tmp_path)) for a in args], check=False, env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr


def test_transform_and_combine_refuse_a_wrong_task_index_and_missing_parts(scan, tmp_path):
    bad_index = reduce("transform", "--scan", str(scan), "--parts", "2", check=False, env={"NEXUS_TASK_INDEX": "2"})
    assert bad_index.returncode == 2 and "NEXUS_TASK_INDEX=2" in bad_index.stderr
    no_index = reduce("transform", "--scan", str(scan), "--parts", "2", check=False)
    assert no_index.returncode == 2 and "needs NEXUS_TASK_INDEX" in no_index.stderr
    missing = reduce("combine", "--scan", str(scan), "--parts", "5", check=False)
    assert missing.returncode == 2 and "parts 0, 1, 2, 3, 4 of 5 are missing" in missing.stderr
    assert (scan / "nexus" / "transform.nxs").is_file()  # a refused combine leaves the result alone
