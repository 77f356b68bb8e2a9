"""The demo scan (jupyterlab_nexus.demo) is a usable synthetic crystal.

Its Bragg peaks are checked with plain detector trigonometry and Bragg's law, independently of
the UB / goniometer chain the generator uses to render them: the brightest pixels must sit at
|q| = sqrt(h^2 + k^2 + l^2) / a for integer h, k, l.
"""

import h5py
import numpy as np
import pytest

from jupyterlab_nexus.demo import main


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    main([str(folder), "--frames", "40", "--size", "128"])
    with h5py.File(folder / "synthetic_scan.nxs", "r") as f:
        yield f


def test_nexus_structure(scan):
    assert scan.attrs["default"] == "entry"
    data = scan["entry/data"]
    assert data.attrs["signal"] == "data"
    assert data["data"].shape == (40, 128, 128)
    assert data["data"].chunks == (1, 128, 128)
    assert data["data"].compression == "gzip"
    ub = scan["entry/sample/ub_matrix"][()]
    assert abs(np.linalg.det(ub)) > 0


def test_bragg_peaks_at_integer_hkl_by_braggs_law(scan):
    frames = scan["entry/data/data"][()]
    det = scan["entry/instrument/detector"]
    wavelength = scan["entry/instrument/monochromator/wavelength"][()]
    distance, pixel = det["distance"][()], det["pixel_size"][()]
    xc, yc = det["beam_center_x"][()], det["beam_center_y"][()]
    a = scan["entry/sample/unitcell_a"][()]

    z, y, x = np.nonzero(frames > 3500)  # only near-centre pixels of strong peaks
    assert len(z) >= 5, "the demo scan should contain several strong Bragg peaks"
    radius = pixel * np.hypot(x + 0.5 - xc, y + 0.5 - yc)
    two_theta = np.arctan2(radius, distance)
    q_times_a = 2 * np.sin(two_theta / 2) / wavelength * a
    nearest = np.sqrt(np.rint(q_times_a**2))
    assert np.all(np.abs(q_times_a - nearest) < 0.08), q_times_a
    assert np.all(nearest >= 1)
