"""nexus-transform binning, end to end through the bundled CLI on synthetic crystals:
numpy binning oracle, Bragg peaks at integer HKL, masks, frame weights, --subset + merge,
slab = slice, output layout, and refusals."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from jupyterlab_nexus.demo import ScanGeometry, render_frames, write_scan
from transform_oracle import cli_json, oracle_hkl, run_cli, write_json

TILTED_TRICLINIC = dict(
    cell=(5.0, 5.5, 6.0, 85.0, 95.0, 100.0), yaw=0.5, pitch=-0.4, roll=0.3, theta=1.0, omega=3.0, u_angles=(20.0, -15.0, 40.0)
)


class Scan:
    def __init__(self, folder, geometry: ScanGeometry, frames: np.ndarray | None = None, name: str = "scan.nxs"):
        self.geometry = geometry
        self.frames = np.stack(list(render_frames(geometry))) if frames is None else frames
        self.path = folder / name
        write_scan(self.path, geometry, iter(self.frames))
        self.raw = f"{self.path}#/entry/data/data"
        self.geometry_json = write_json(folder / f"{name}.geom.json", geometry.geometry_json())

    def variant(self, folder, frames: np.ndarray, name: str) -> "Scan":
        return Scan(folder, self.geometry, frames, name)


def transform(scan: Scan, grid: str, out, *extra: str, group: str = "/entry/transform") -> dict[str, np.ndarray]:
    run_cli(scan.raw, "--geometry", scan.geometry_json, f"--grid={grid}", "--output", f"{out}#{group}", *extra)
    return read_result(out, group)


def read_result(path, group="/entry/transform") -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: ds[()] for name, ds in f[group].items() if isinstance(ds, h5py.Dataset)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("transform")


@pytest.fixture(scope="module")
def small(folder) -> Scan:
    """64×80 pixels, 40 frames of 1°: small enough for a per-sample numpy oracle."""
    return Scan(folder, ScanGeometry(shape=(64, 80), beam_center=(41.3, 30.7), frames=40, phi_step=1.0, distance=25.0, **TILTED_TRICLINIC), name="small.nxs")


@pytest.fixture(scope="module")
def crystal(folder) -> Scan:
    """A triclinic crystal on a tilted detector, 160×192 pixels, 120 frames of 0.5°."""
    return Scan(folder, ScanGeometry(shape=(160, 192), beam_center=(96.0, 80.0), frames=120, phi_step=0.5, **TILTED_TRICLINIC), name="crystal.nxs")


def numpy_binning(scan: Scan, lo, hi, dims, mask=None, weights=None):
    """v, n shaped (NL, NK, NH) from every pixel of every frame, floor binning (the oracle)."""
    g = scan.geometry.geometry_json()
    nz, ny, nx = scan.frames.shape
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    hkl = oracle_hkl(g, z, x, y).reshape(-1, 3)
    lo, hi, dims = (np.asarray(a, float) for a in (lo, hi, dims))
    index = np.floor((hkl - lo) / ((hi - lo) / dims)).astype(np.int64)
    weight = np.ones(nz) if weights is None else np.asarray(weights, float)
    keep = np.all((index >= 0) & (index < dims.astype(int)), axis=1) & (np.repeat(weight, ny * nx) > 0)
    if mask is not None:
        keep &= np.tile(mask.ravel() == 0, nz)
    nh, nk, nl = dims.astype(int)
    linear = (index[keep, 2] * nk + index[keep, 1]) * nh + index[keep, 0]
    v = np.bincount(linear, weights=scan.frames.reshape(-1)[keep].astype(float), minlength=nh * nk * nl)
    n = np.bincount(linear, weights=np.repeat(weight, ny * nx)[keep], minlength=nh * nk * nl)
    return v.reshape(nl, nk, nh), n.reshape(nl, nk, nh)


def test_binning_equals_numpy_oracle_on_a_non_cubic_grid(small, folder):
    lo, hi, dims = (-2.0, -1.5, -1.0), (1.0, 2.5, 1.5), (24, 20, 10)
    spec = ",".join(f"{a}:{b}:{n}" for a, b, n in zip(lo, hi, dims))
    got = transform(small, spec, folder / "oracle.nxs")
    v, n = numpy_binning(small, lo, hi, dims)
    assert got["v"].shape == (10, 20, 24)
    assert n.sum() > 10000, "the grid should catch a good share of the samples"
    np.testing.assert_array_equal(got["n"], n)
    np.testing.assert_array_equal(got["v"], v)


def test_chunks_no_pixel_reached_are_not_written_and_read_back_like_the_oracle(small, folder):
    """v, n and data are stored in 3-D chunks; chunks of v and n where n = 0 throughout are never
    written (h5py reads HDF5's fill value 0 there), data is v/n with NaN wherever n = 0, and a
    merge of parts, written a block of chunk-thick L layers at a time, reads back the same."""
    lo, hi, dims = (-8.0, -7.0, -6.0), (8.0, 9.0, 6.0), (100, 90, 40)  # no axis a multiple of 32
    spec = ",".join(f"{a}:{b}:{n}" for a, b, n in zip(lo, hi, dims))
    out = folder / "sparse.nxs"
    got = transform(small, spec, out)
    v, n = numpy_binning(small, lo, hi, dims)
    np.testing.assert_array_equal(got["n"], n)
    np.testing.assert_array_equal(got["v"], v)
    reached = n > 0
    expected = np.full(n.shape, np.nan, dtype=np.float32)
    expected[reached] = (v[reached] / n[reached]).astype(np.float32)
    np.testing.assert_array_equal(got["data"], expected)  # NaN exactly where n = 0
    with h5py.File(out, "r") as f:
        group = f["entry/transform"]
        chunks = group["n"].chunks
        assert len(chunks) == 3 and min(chunks) > 1, chunks
        padded = np.zeros([-(-s // c) * c for s, c in zip(reached.shape, chunks)], dtype=bool)
        padded[: reached.shape[0], : reached.shape[1], : reached.shape[2]] = reached
        per_chunk = padded.reshape(padded.shape[0] // chunks[0], chunks[0], padded.shape[1] // chunks[1], chunks[1],
                                   padded.shape[2] // chunks[2], chunks[2]).any(axis=(1, 3, 5))
        assert 0 < per_chunk.sum() < per_chunk.size, "the grid should have chunks with and without pixels"
        for name in ("v", "n"):
            stored = group[name].id.get_num_chunks()
            assert per_chunk.sum() <= stored < per_chunk.size, (name, stored, per_chunk.sum(), per_chunk.size)
        assert group["data"].id.get_num_chunks() == per_chunk.size
    parts = []
    for i in range(2):
        part = folder / f"sparse_part{i}.nxs"
        transform(small, spec, part, "--subset", f"{i}/2")
        parts.append(f"{part}#/entry/transform")
    run_cli("merge", f"{folder / 'sparse_merged.nxs'}#/entry/transform", *parts)
    merged = read_result(folder / "sparse_merged.nxs")
    for name in ("v", "n", "data"):
        np.testing.assert_array_equal(merged[name], got[name])


def test_output_is_an_nxdata_h5web_can_plot(small, folder):
    out = folder / "layout.nxs"
    result = transform(small, "-2:1:24,-1.5:2.5:20,-1:1.5:10", out)
    with h5py.File(out, "r") as f:
        group = f["entry/transform"]
        assert group.attrs["NX_class"] == "NXdata"
        assert group.attrs["signal"] == "data"
        assert list(group.attrs["axes"]) == ["Ql", "Qk", "Qh"]
        assert f["entry"].attrs["default"] == "transform"
        process = group["process"]
        assert process.attrs["NX_class"] == "NXprocess"
        assert process["program"][()].decode() == "nexus-transform"
        assert process["version"][()].decode()
        assert process["date"][()].decode().startswith("20")
        assert "--grid=-2:1:24" in process["command"][()].decode()
        np.testing.assert_allclose(process["sample/ub_matrix"][()], small.geometry.ub, rtol=0, atol=1e-15)
        assert process["instrument/goniometer/phi"].attrs["step"] == small.geometry.phi_step
    np.testing.assert_allclose(result["Qh"], -2 + 0.125 * np.arange(24), atol=1e-12)
    np.testing.assert_allclose(result["Qk"], -1.5 + 0.2 * np.arange(20), atol=1e-12)
    np.testing.assert_allclose(result["Ql"], -1 + 0.25 * np.arange(10), atol=1e-12)
    empty = result["n"] == 0
    assert empty.any() and (~empty).any()
    assert np.all(np.isnan(result["data"][empty]))
    assert result["data"].dtype == np.float32  # a view; the exact sums are v and n (float64)
    assert result["v"].dtype == result["n"].dtype == np.float64
    np.testing.assert_array_equal(result["data"][~empty], (result["v"][~empty] / result["n"][~empty]).astype(np.float32))


def test_every_bragg_peak_lands_within_one_voxel_of_its_integer_hkl(crystal, folder):
    # integers at voxel centres: voxel i covers [-4.025 + 0.05 i, -4.025 + 0.05 (i + 1))
    result = transform(crystal, "-4.025:4.025:161,-4.025:4.025:161,-4.025:4.025:161", folder / "bragg.nxs")
    data = np.where(result["n"] > 0, result["data"], -np.inf)
    g = crystal.geometry
    candidates = [[h, k, l] for h in range(-4, 5) for k in range(-4, 5) for l in range(-4, 5) if (h, k, l) != (0, 0, 0)]
    predicted = cli_json(
        "inverse", "--geometry", crystal.geometry_json, "--frames", str(g.frames), "--rows", str(g.shape[0]), "--cols", str(g.shape[1]),
        payload=candidates,
    )
    placed = [
        hkl
        for hkl, found in zip(candidates, predicted)
        if any(1 <= s["frame"] <= g.frames - 2 and 3 <= s["x"] <= g.shape[1] - 4 and 3 <= s["y"] <= g.shape[0] - 4 for s in found)
    ]
    assert len(placed) >= 10, "the synthetic scan should record a good number of Bragg peaks"
    for h, k, l in placed:
        centre = np.array([l, k, h]) * 20 + 80  # (L, K, H) voxel holding the integer point
        window = data[tuple(slice(c - 3, c + 4) for c in centre)]
        peak = np.array(np.unravel_index(np.argmax(window), window.shape)) - 3
        assert np.all(np.abs(peak) <= 1), f"peak ({h} {k} {l}) maximum is {peak} voxels (L, K, H) off"
        assert window[3, 3, 3] > 1000, f"peak ({h} {k} {l}) should be bright at its integer voxel"


def test_masked_pixels_contribute_nothing(small, folder):
    rng = np.random.default_rng(2)
    mask = (rng.random(small.geometry.shape) < 0.3).astype(np.int8)
    with h5py.File(folder / "mask.nxs", "w") as f:
        f["entry/pixel_mask"] = mask
    garbage = small.frames.copy()
    garbage[:, mask != 0] = 10**6
    noisy = small.variant(folder, garbage, "masked_garbage.nxs")
    grid = "-10:10:40,-10:10:40,-10:10:40"  # covers every pixel
    args = ("--mask", f"{folder / 'mask.nxs'}#/entry/pixel_mask")
    clean = transform(small, grid, folder / "mask_a.nxs", *args)
    dirty = transform(noisy, grid, folder / "mask_b.nxs", *args)
    np.testing.assert_array_equal(clean["v"], dirty["v"])
    np.testing.assert_array_equal(clean["n"], dirty["n"])
    unmasked = small.frames[:, mask == 0]
    assert clean["v"].sum() == unmasked.sum(dtype=np.int64)
    assert clean["n"].sum() == unmasked.size


def test_frames_with_zero_or_negative_weight_contribute_nothing(small, folder):
    weights = np.ones(small.geometry.frames)
    weights[10:20] = 0
    weights[5] = -1
    weights[30:35] = 2.5
    with h5py.File(folder / "weights.nxs", "w") as f:
        f["entry/monitor_weight"] = weights
    garbage = small.frames.copy()
    garbage[weights <= 0] = 7777
    noisy = small.variant(folder, garbage, "weight_garbage.nxs")
    grid = "-10:10:40,-10:10:40,-10:10:40"
    args = ("--weights", f"{folder / 'weights.nxs'}#/entry/monitor_weight")
    clean = transform(small, grid, folder / "w_a.nxs", *args)
    dirty = transform(noisy, grid, folder / "w_b.nxs", *args)
    np.testing.assert_array_equal(clean["v"], dirty["v"])
    np.testing.assert_array_equal(clean["n"], dirty["n"])
    used = weights > 0
    pixels = np.prod(small.geometry.shape)
    assert clean["v"].sum() == small.frames[used].sum(dtype=np.int64)
    assert clean["n"].sum() == pytest.approx(weights[used].sum() * pixels, rel=1e-15)


def test_subset_parts_merge_to_exactly_the_whole(crystal, folder):
    grid = "-4:4:64,-4:4:64,-4:4:64"
    whole = transform(crystal, grid, folder / "whole.nxs")
    parts = []
    for i in range(3):
        out = folder / f"part{i}.nxs"
        transform(crystal, grid, out, "--subset", f"{i}/3", "--threads", "1")
        parts.append(f"{out}#/entry/transform")
        with h5py.File(out, "r") as f:
            assert f"\"frames\":[{40 * i},{40 * (i + 1)}]" in f["entry/transform/process/parameters/json"][()].decode()
    run_cli("merge", f"{folder / 'merged.nxs'}#/entry/transform", *parts)
    merged = read_result(folder / "merged.nxs")
    assert whole["n"].sum() > 0
    np.testing.assert_array_equal(merged["v"], whole["v"])
    np.testing.assert_array_equal(merged["n"], whole["n"])
    np.testing.assert_array_equal(merged["data"], whole["data"])  # NaN in the same places
    np.testing.assert_array_equal(merged["Qh"], whole["Qh"])


def test_merge_refuses_parts_on_different_grids(small, folder):
    transform(small, "-2:2:16,-2:2:16,-2:2:16", folder / "grid_a.nxs")
    transform(small, "-2:2:16,-2:2:16,-2:2:8", folder / "grid_b.nxs")
    result = run_cli(
        "merge", f"{folder / 'grid_merged.nxs'}#/entry/transform", f"{folder / 'grid_a.nxs'}#/entry/transform", f"{folder / 'grid_b.nxs'}#/entry/transform", check=False
    )
    assert result.returncode == 2 and "different grid" in result.stderr


def test_slab_grid_equals_the_slice_of_the_full_grid(crystal, folder):
    full = transform(crystal, "-4:4:64,-4:4:64,-4:4:64", folder / "full.nxs")
    for j in (20, 37):
        lo = -4 + 0.125 * j
        slab = transform(crystal, f"-4:4:64,-4:4:64,{lo}:{lo + 0.125}:1", folder / f"slab{j}.nxs")
        assert full["n"][j].sum() > 0
        np.testing.assert_array_equal(slab["v"][0], full["v"][j])
        np.testing.assert_array_equal(slab["n"][0], full["n"][j])


def test_thin_slab_in_a_skew_orientation_equals_the_slice_of_its_full_grid(crystal, folder):
    steps = [[0.125, 0.0625, 0.0], [0.0, 0.125, 0.125], [0.0625, 0.0, 0.25]]
    full_spec = {"origin": [-3.0, -3.5, -2.5], "steps": steps, "dims": [48, 40, 24]}
    full = transform(crystal, write_json(folder / "skew_full.json", full_spec), folder / "skew_full.nxs")
    j = 21
    slab_spec = full_spec | {"origin": list(np.array(full_spec["origin"]) + j * np.array(steps[1])), "dims": [48, 1, 24]}
    slab = transform(crystal, write_json(folder / "skew_slab.json", slab_spec), folder / "skew_slab.nxs")
    assert full["n"][:, j, :].sum() > 0
    np.testing.assert_array_equal(slab["v"][:, 0, :], full["v"][:, j, :])
    np.testing.assert_array_equal(slab["n"][:, 0, :], full["n"][:, j, :])


def test_geometry_from_the_raw_file_gives_the_same_transform(small, folder):
    spec = "-2:1:24,-1.5:2.5:20,-1:1.5:10"
    with_json = transform(small, spec, folder / "g_json.nxs")
    run_cli(small.raw, f"--grid={spec}", "--output", f"{folder / 'g_nexus.nxs'}#/entry/transform")
    from_file = read_result(folder / "g_nexus.nxs")
    np.testing.assert_array_equal(from_file["v"], with_json["v"])
    np.testing.assert_array_equal(from_file["n"], with_json["n"])


@pytest.mark.parametrize(
    "args,message",
    [
        (["--grid=0:1:4000,0:1:4000,0:1:4000"], "use a coarser grid or a slab"),
        (["--grid=0:1:0,0:1:4,0:1:4"], "whole number of voxels"),
        (["--grid=1:0:4,0:1:4,0:1:4"], "start < end"),
        (["--grid=0:1:4,0:1:4"], "H0:H1:NH,K0:K1:NK,L0:L1:NL"),
        (["--grid=0:1:4,0:1:4,0:1:4", "--subset", "3/3"], "0 ≤ i < N"),
        (["--grid=0:1:4,0:1:4,0:1:4", "--mask", "/nonexistent.nxs#/mask"], "file not found"),
    ],
)
def test_bad_requests_are_refused_with_exit_code_2(small, folder, args, message):
    result = run_cli(small.raw, "--geometry", small.geometry_json, "--output", f"{folder / 'refused.nxs'}#/entry/t", *args, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_existing_output_group_is_refused(small, folder):
    out = folder / "twice.nxs"
    transform(small, "0:1:4,0:1:4,0:1:4", out)
    result = run_cli(small.raw, "--geometry", small.geometry_json, "--grid=0:1:4,0:1:4,0:1:4", "--output", f"{out}#/entry/transform", check=False)
    assert result.returncode == 2 and "already exists" in result.stderr


def test_output_into_an_input_file_is_refused(small, folder):
    result = run_cli(small.raw, "--geometry", small.geometry_json, "--grid=0:1:4,0:1:4,0:1:4", "--output", f"{small.path}#/entry/t", check=False)
    assert result.returncode == 2 and "another file than the inputs" in result.stderr
    part = folder / "self_merge.nxs"
    transform(small, "0:1:4,0:1:4,0:1:4", part)
    result = run_cli("merge", f"{part}#/entry/merged", f"{part}#/entry/transform", check=False)
    assert result.returncode == 2 and "another file than the parts" in result.stderr


@pytest.fixture(scope="module")
def int32_reference(small, folder):
    return transform(small, "-2:1:24,-1.5:2.5:20,-1:1.5:10", folder / "dtype_int32.nxs")


@pytest.mark.parametrize("dtype", ["uint16", "float32", "float64", "int64"])
def test_other_pixel_types_bin_like_int32(small, folder, int32_reference, dtype):
    grid = "-2:1:24,-1.5:2.5:20,-1:1.5:10"
    raw = folder / f"dtype_{dtype}.nxs"
    with h5py.File(raw, "w") as f:
        f.create_dataset("entry/data/data", data=small.frames.astype(dtype), chunks=(1, *small.frames.shape[1:]), compression="gzip")
    run_cli(f"{raw}#/entry/data/data", "--geometry", small.geometry_json, f"--grid={grid}", "--output", f"{folder / f'dtype_{dtype}_out.nxs'}#/entry/transform")
    got = read_result(folder / f"dtype_{dtype}_out.nxs")
    np.testing.assert_array_equal(got["v"], int32_reference["v"])
    np.testing.assert_array_equal(got["n"], int32_reference["n"])


def test_raw_file_without_geometry_asks_for_geometry_json(small, folder):
    raw = folder / "no_geometry.nxs"
    with h5py.File(raw, "w") as f:
        f.create_dataset("entry/data/data", data=small.frames[:2])
    result = run_cli(f"{raw}#/entry/data/data", "--grid=0:1:4,0:1:4,0:1:4", "--output", f"{folder / 'no_geometry_out.nxs'}#/entry/t", check=False)
    assert result.returncode == 2
    assert "has no complete geometry (missing wavelength, distance" in result.stderr and "pass --geometry GEOM.json" in result.stderr
