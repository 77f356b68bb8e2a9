"""nexus-transform geometry: the forward map against an independent numpy oracle, the geometry
read from NeXus (ours and NXRefine's U + cell), the inverse map, and refusal of bad geometry."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from transform_oracle import cli_json, direct_lattice, oracle_hkl, random_geometry, random_rotation, run_cli, write_json


def test_forward_map_matches_numpy_oracle_over_random_geometries(tmp_path):
    rng = np.random.default_rng(7)
    worst = 0.0
    for i in range(25):
        g = random_geometry(rng)
        geometry = write_json(tmp_path / f"g{i}.json", g)
        pixels = np.column_stack(
            [rng.integers(0, 3600, 200), rng.integers(0, 1475, 200), rng.integers(0, 1679, 200)]
        ).astype(float)
        pixels[:50] += rng.uniform(0, 1, (50, 3))  # fractional positions too
        got = np.array(cli_json("hkl", "--geometry", geometry, payload=pixels.tolist()))
        expected = oracle_hkl(g, pixels[:, 0], pixels[:, 1], pixels[:, 2])
        worst = max(worst, float(np.max(np.abs(got - expected))))
    assert worst < 1e-6, worst


def test_beam_centre_pixel_maps_to_origin_in_every_frame(tmp_path):
    g = random_geometry(np.random.default_rng(3)) | {"yaw": 0.0, "pitch": 0.0, "roll": 0.0}
    g["beam_center_x"], g["beam_center_y"] = 700.5, 800.5  # pixel 700 is centred there
    got = np.array(cli_json("hkl", "--geometry", write_json(tmp_path / "g.json", g), payload=[[z, 700, 800] for z in (0, 17, 3000)]))
    assert np.max(np.abs(got)) < 1e-12


def test_q_length_is_one_over_d(tmp_path):
    # |UB h| = 2 sin(theta_B) / lambda for the pixel's scattering angle
    g = random_geometry(np.random.default_rng(11)) | {"yaw": 0.0, "pitch": 0.0, "roll": 0.0}
    g["detector_orientation"] = "+z -y +x"  # any orientation whose normal is along the beam
    pixels = [[5, 100, 200], [9, 1400, 30]]
    hkl = np.array(cli_json("hkl", "--geometry", write_json(tmp_path / "g.json", g), payload=pixels))
    for (_, x, y), h in zip(pixels, hkl):
        radius = g["pixel_size"] * np.hypot(x + 0.5 - g["beam_center_x"], y + 0.5 - g["beam_center_y"])
        two_theta = np.arctan2(radius, g["distance"])
        assert np.linalg.norm(np.asarray(g["ub_matrix"]) @ h) == pytest.approx(2 * np.sin(two_theta / 2) / g["wavelength"], rel=1e-12)


def test_geometry_read_from_our_nexus_file_equals_geometry_json(tmp_path):
    from jupyterlab_nexus.demo import ScanGeometry, write_scan

    geometry = ScanGeometry(frames=4, shape=(32, 48), yaw=0.4, pitch=-0.3, roll=0.2, theta=1.0, omega=2.0)
    raw = tmp_path / "scan.nxs"
    write_scan(raw, geometry, (np.zeros((32, 48), np.int32) for _ in range(4)))
    pixels = [[0, 0, 0], [3, 47, 31], [2, 10.5, 20.25]]
    from_nexus = cli_json("hkl", "--raw", f"{raw}#/entry/data/data", payload=pixels)
    from_json = cli_json("hkl", "--geometry", write_json(tmp_path / "g.json", geometry.geometry_json()), payload=pixels)
    expected = oracle_hkl(geometry.geometry_json(), *np.array(pixels).T)
    assert np.max(np.abs(np.array(from_nexus) - expected)) < 1e-9
    assert np.max(np.abs(np.array(from_json) - expected)) < 1e-9


def test_nxrefine_file_without_ub_uses_u_times_inverse_direct_lattice(tmp_path):
    rng = np.random.default_rng(5)
    g = random_geometry(rng)
    cell = [4.0, 4.0, 6.0, 90.0, 90.0, 120.0]
    u = random_rotation(rng)
    raw = tmp_path / "nxrefine.nxs"
    with h5py.File(raw, "w") as f:
        f1 = f.create_group("f1")
        f1.create_dataset("data/data", data=np.zeros((2, 4, 4), np.int32))
        f1["instrument/monochromator/wavelength"] = g["wavelength"]
        det = f1.create_group("instrument/detector")
        for name in ("distance", "pixel_size", "beam_center_x", "beam_center_y", "yaw", "pitch", "roll"):
            det[name] = g[name]
        det["detector_orientation"] = g["detector_orientation"]
        det["orientation_matrix"] = u
        gon = f1.create_group("instrument/goniometer")
        gon["goniometer_pitch"] = g["theta"]  # an older NXRefine name
        gon["omega"], gon["chi"], gon["phi"] = g["omega"], g["chi"], g["phi_start"]
        gon["phi"].attrs["step"] = g["phi_step"]
        for name, value in zip(("a", "b", "c", "alpha", "beta", "gamma"), cell):
            f[f"entry/sample/unitcell_{name}"] = value  # NXRefine keeps the cell in /entry/sample
    pixels = [[0, 1, 2], [1, 3, 0]]
    got = np.array(cli_json("hkl", "--raw", f"{raw}#/f1/data/data", payload=pixels))
    nxrefine_ub = u @ np.linalg.inv(direct_lattice(*cell))
    expected = oracle_hkl(g | {"ub_matrix": nxrefine_ub}, *np.array(pixels, float).T)
    assert np.max(np.abs(got - expected)) < 1e-9


def test_inverse_map_round_trips_forward_map(tmp_path):
    rng = np.random.default_rng(21)
    checked = 0
    for i in range(8):
        g = random_geometry(rng) | {"phi_step": 0.1}
        # the detector faces the sample: its normal (third axis) is along the beam
        g["detector_orientation"] = " ".join([*rng.permutation([f"{rng.choice(['+', '-'])}y", f"{rng.choice(['+', '-'])}z"]), "-x"])
        geometry = write_json(tmp_path / f"g{i}.json", g)
        hkls = rng.integers(-4, 5, (150, 3)).tolist()
        solutions = cli_json("inverse", "--geometry", geometry, "--frames", "3600", "--rows", "1679", "--cols", "1475", payload=hkls)
        pixels, targets = [], []
        for h, found in zip(hkls, solutions):
            for s in found:
                assert 0 <= s["frame"] < 3600 and 0 <= s["x"] < 1475 and 0 <= s["y"] < 1679
                pixels.append([s["frame"], s["x"], s["y"]])
                targets.append(h)
        if pixels:
            back = np.array(cli_json("hkl", "--geometry", geometry, payload=pixels))
            assert np.max(np.abs(back - np.array(targets))) < 1e-9
            assert np.max(np.abs(oracle_hkl(g, *np.array(pixels).T) - np.array(targets))) < 1e-9
            checked += len(pixels)
    assert checked > 50, "the random geometries should record a fair number of reflections"


def test_a_full_rotation_records_each_reflection_twice(tmp_path):
    g = random_geometry(np.random.default_rng(8)) | {"phi_step": 0.1, "distance": 100.0, "pixel_size": 1.0}
    g["beam_center_x"], g["beam_center_y"] = 5000.0, 5000.0  # a huge detector catches every ray ahead
    g["detector_orientation"] = "-y +z -x"
    solutions = cli_json("inverse", "--geometry", write_json(tmp_path / "g.json", g), "--frames", "3600", "--rows", "10000", "--cols", "10000", payload=[[1, 0, 0], [0, 1, 1]])
    for found in solutions:
        if found:
            assert len(found) == 2  # entering and leaving the Ewald sphere


BAD = [
    ({"wavelength": 0}, "wavelength must be > 0"),
    ({"ub_matrix": [[0.2, 0, 0.2], [0, 0.2, 0], [0.1, 0, 0.1]]}, "ub_matrix is singular"),
    ({"detector_orientation": "-y +y -x"}, "must name each of x, y, z once"),
    ({"phi_step": 0}, "phi_step"),
    ({"distance": "250"}, "distance must be number"),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m for _, m in BAD])
def test_bad_geometry_is_refused_with_a_clear_message(tmp_path, change, message):
    g = random_geometry(np.random.default_rng(1)) | change
    result = run_cli("hkl", "--geometry", write_json(tmp_path / "g.json", g), stdin="[[0,0,0]]", check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "at " not in result.stderr, "a refusal is a message, not a stack trace"


def test_missing_geometry_field_is_named(tmp_path):
    g = random_geometry(np.random.default_rng(1))
    del g["chi"]
    result = run_cli("hkl", "--geometry", write_json(tmp_path / "g.json", g), stdin="[]", check=False)
    assert result.returncode == 2 and "must have required property 'chi'" in result.stderr
