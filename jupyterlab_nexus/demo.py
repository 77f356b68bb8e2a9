"""Synthetic single-crystal rotation scan, written as a NeXus raw stack with full geometry.

The scan is rendered *forward*: every pixel of every frame is mapped to (H, K, L) with the
conventions of the transform (lab +x along the beam, |k| = 1/lambda, no 2*pi, pixel centre at
x + 0.5, G(phi) = Ry(theta) Rz(omega) Rx(chi) Rz(phi), detector D = Rx(roll) Ry(pitch) Rz(yaw)),
and its intensity is a sum of Gaussian Bragg peaks at integer HKL plus a smooth diffuse term.
Peaks therefore sit at integer HKL by construction, which is what the browser demo shows and
what transform tests can check against.

Usage: python -m jupyterlab_nexus.demo OUTPUT_DIR [--frames N] [--size PIXELS | --rows R --cols C]
       [--compression gzip|none] [--name FILE.nxs] [--geometry-json GEOM.json] [--tiff-scan]

Frames are rendered and written one at a time, so a Pilatus-2M-size scan (--rows 1679 --cols 1475)
never has to fit in memory. --geometry-json also writes the geometry in the nexus-transform
GEOM.json form (schema/geometry.schema.json).

--tiff-scan writes OUTPUT_DIR as a pipeline scan folder instead: one int32 TIFF per frame, two
detector rows of negative pixels (a Pilatus module gap), and scan.json whose ub_matrix and lattice
are a PERTURBED starting point (orientation about 0.5 degrees and lattice 0.3 % off), so that the
refine step has work to do; the true UB and lattice are in truth.json, the tests' oracle.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np


def _rot(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def orientation_matrix(orientation: str) -> np.ndarray:
    """Rows are the detector axes in lab axes, e.g. '-y +z -x'."""
    rows = []
    for token in orientation.split():
        row = np.zeros(3)
        row["xyz".index(token[1])] = -1.0 if token[0] == "-" else 1.0
        rows.append(row)
    return np.array(rows)


def b_matrix(a: float, b: float, c: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """Metric-correct B = (A^-1)^T: columns are a*, b*, c* (1/Angstrom, no 2*pi)."""
    ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
    sg = np.sin(np.radians(gamma))
    c2 = c * (ca - cb * cg) / sg
    c3 = np.sqrt(c**2 - (c * cb) ** 2 - c2**2)
    direct = np.array([[a, b * cg, c * cb], [0, b * sg, c2], [0, 0, c3]])
    return np.linalg.inv(direct).T


@dataclass
class ScanGeometry:
    wavelength: float = 0.5  # Angstrom
    distance: float = 60.0  # mm
    pixel_size: float = 0.172  # mm (Pilatus)
    shape: tuple[int, int] = (256, 256)  # (rows y, columns x)
    beam_center: tuple[float, float] = (128.0, 128.0)  # (x, y) pixels
    detector_orientation: str = "-y +z -x"
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    theta: float = 0.0
    omega: float = 0.0
    chi: float = -90.0
    phi_start: float = -5.0
    phi_step: float = 0.5
    frames: int = 120
    cell: tuple[float, ...] = (5.0, 5.0, 5.0, 90.0, 90.0, 90.0)
    u_angles: tuple[float, float, float] = (12.0, -7.0, 25.0)  # U = Rz Ry Rx of these (deg)
    ub: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        u = _rot("z", self.u_angles[2]) @ _rot("y", self.u_angles[1]) @ _rot("x", self.u_angles[0])
        self.ub = u @ b_matrix(*self.cell)

    def q_lab(self) -> np.ndarray:
        """Scattering vector of every pixel in the lab frame, shape (ny, nx, 3); frame-independent."""
        ny, nx = self.shape
        x, y = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
        p = np.stack(
            [(x - self.beam_center[0]) * self.pixel_size, (y - self.beam_center[1]) * self.pixel_size, np.zeros_like(x)],
            axis=-1,
        )
        d = _rot("x", self.roll) @ _rot("y", self.pitch) @ _rot("z", self.yaw)
        r = p @ (d @ orientation_matrix(self.detector_orientation).T).T + np.array([self.distance, 0, 0])
        k_f = r / (self.wavelength * np.linalg.norm(r, axis=-1, keepdims=True))
        return k_f - np.array([1 / self.wavelength, 0, 0])

    def geometry_json(self) -> dict:
        """The nexus-transform GEOM.json form of this geometry."""
        return {
            "wavelength": self.wavelength,
            "distance": self.distance,
            "pixel_size": self.pixel_size,
            "beam_center_x": self.beam_center[0],
            "beam_center_y": self.beam_center[1],
            **{name: getattr(self, name) for name in ("yaw", "pitch", "roll", "theta", "omega", "chi")},
            "phi_start": self.phi_start,
            "phi_step": self.phi_step,
            "detector_orientation": self.detector_orientation,
            "ub_matrix": self.ub.tolist(),
        }

    def hkl_of_frame(self, q_lab: np.ndarray, frame: int) -> np.ndarray:
        a_g = _rot("y", self.theta) @ _rot("z", self.omega) @ _rot("x", self.chi)
        g = a_g @ _rot("z", self.phi_start + self.phi_step * frame)
        m = np.linalg.inv(self.ub) @ g.T
        return q_lab @ m.T


def render_frames(geometry: ScanGeometry, peak_width: float = 0.06, seed: int = 0) -> Iterator[np.ndarray]:
    """Counts of each frame in turn, shape (ny, nx), int32, Poisson noise with a fixed seed."""
    rng = np.random.default_rng(seed)
    q = geometry.q_lab()
    q_norm = np.linalg.norm(q, axis=-1)
    for z in range(geometry.frames):
        hkl = geometry.hkl_of_frame(q, z)
        offset = hkl - np.rint(hkl)
        bragg = 5000.0 * np.exp(-np.sum(offset**2, axis=-1) / (2 * peak_width**2))
        bragg[np.all(np.rint(hkl) == 0, axis=-1)] = 0.0  # the direct beam is behind a beamstop
        diffuse = 40.0 * np.exp(-q_norm * 2.0) * (1 + 0.5 * np.cos(np.pi * hkl[..., 0]) ** 2)
        yield rng.poisson(bragg + diffuse + 2.0).astype(np.int32)


def write_scan(path: Path, geometry: ScanGeometry, frames: Iterable[np.ndarray], compression: str = "gzip") -> None:
    """Writes the raw stack (one HDF5 chunk per frame) and the full geometry as NeXus."""
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs.update({"NX_class": "NXentry", "default": "data"})
        entry["title"] = "Synthetic single-crystal rotation scan (jupyterlab-nexus demo)"
        entry["definition"] = "NXmx"

        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["frame_number", "y_pixel", "x_pixel"]})
        packing = {"compression": "gzip", "compression_opts": 4, "shuffle": True} if compression == "gzip" else {}
        stack = data.create_dataset(
            "data", shape=(geometry.frames, *geometry.shape), dtype=np.int32, chunks=(1, *geometry.shape), **packing
        )
        frame_sums = np.zeros(geometry.frames, dtype=np.int64)
        for z, frame in enumerate(frames):
            stack[z] = frame
            frame_sums[z] = frame.sum(dtype=np.int64)
        data["frame_number"] = np.arange(geometry.frames)
        data["y_pixel"] = np.arange(geometry.shape[0])
        data["x_pixel"] = np.arange(geometry.shape[1])

        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        mono = instrument.create_group("monochromator")
        mono.attrs["NX_class"] = "NXmonochromator"
        mono["wavelength"] = geometry.wavelength
        mono["wavelength"].attrs["units"] = "angstrom"

        detector = instrument.create_group("detector")
        detector.attrs["NX_class"] = "NXdetector"
        for name, value, units in [
            ("distance", geometry.distance, "mm"),
            ("pixel_size", geometry.pixel_size, "mm"),
            ("beam_center_x", geometry.beam_center[0], "pixel"),
            ("beam_center_y", geometry.beam_center[1], "pixel"),
            ("yaw", geometry.yaw, "degree"),
            ("pitch", geometry.pitch, "degree"),
            ("roll", geometry.roll, "degree"),
        ]:
            detector[name] = value
            detector[name].attrs["units"] = units
        detector["detector_orientation"] = geometry.detector_orientation
        detector["pixel_mask"] = np.zeros(geometry.shape, dtype=np.int8)

        goniometer = instrument.create_group("goniometer")
        goniometer.attrs["NX_class"] = "NXgoniometer"
        for name in ("theta", "omega", "chi"):
            goniometer[name] = getattr(geometry, name)
            goniometer[name].attrs["units"] = "degree"
        goniometer["phi"] = geometry.phi_start
        goniometer["phi"].attrs.update(
            {
                "units": "degree",
                "step": geometry.phi_step,
                "end": geometry.phi_start + geometry.phi_step * geometry.frames,
            }
        )

        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample["name"] = "synthetic cubic crystal"
        for name, value in zip(
            ("unitcell_a", "unitcell_b", "unitcell_c", "unitcell_alpha", "unitcell_beta", "unitcell_gamma"),
            geometry.cell,
        ):
            sample[name] = value
        sample["ub_matrix"] = geometry.ub
        sample["ub_matrix"].attrs.update(
            {"units": "1/angstrom", "convention": "no 2*pi; columns of B are a*, b*, c*; h = (UB)^-1 q"}
        )

        monitor = entry.create_group("monitor")
        monitor.attrs.update({"NX_class": "NXdata", "signal": "frame_sum", "axes": "frame_number"})
        monitor["frame_sum"] = frame_sums
        monitor["frame_number"] = np.arange(geometry.frames)


GAP_ROWS = slice(60, 62)


def write_tiff_scan(
    folder: Path, geometry: ScanGeometry, tilt_degrees: tuple[float, float] = (0.3, -0.4), lattice_error: float = 0.003
) -> None:
    """A scan folder as the pipeline reads it: frame_NNNNN.tif, scan.json (perturbed), truth.json."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    for z, frame in enumerate(render_frames(geometry)):
        frame[GAP_ROWS, :] = -1
        tifffile.imwrite(folder / f"frame_{z:05d}.tif", frame)
    cell = np.array(geometry.cell)
    start_cell = cell * np.array([1 + lattice_error] * 3 + [1] * 3)
    u_true = geometry.ub @ np.linalg.inv(b_matrix(*cell))
    u_start = _rot("x", tilt_degrees[0]) @ _rot("y", tilt_degrees[1]) @ u_true
    names = ("a", "b", "c", "alpha", "beta", "gamma")
    start = geometry.geometry_json() | {
        "ub_matrix": (u_start @ b_matrix(*start_cell)).tolist(),
        "lattice": dict(zip(names, start_cell.tolist())),
    }
    (folder / "scan.json").write_text(json.dumps(start, indent=2))
    truth = {"ub_matrix": geometry.ub.tolist(), "lattice": dict(zip(names, cell.tolist()))}
    (folder / "truth.json").write_text(json.dumps(truth, indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="folder to write the demo files into")
    parser.add_argument("--frames", type=int, default=ScanGeometry.frames)
    parser.add_argument("--size", type=int, default=ScanGeometry.shape[0], help="detector rows = columns")
    parser.add_argument("--rows", type=int, help="detector rows (default: --size)")
    parser.add_argument("--cols", type=int, help="detector columns (default: --size)")
    parser.add_argument("--compression", choices=("gzip", "none"), default="gzip")
    parser.add_argument("--name", default="synthetic_scan.nxs", help="file name inside OUTPUT_DIR")
    parser.add_argument("--geometry-json", type=Path, help="also write the geometry as nexus-transform GEOM.json")
    parser.add_argument(
        "--tiff-scan", action="store_true", help="write OUTPUT_DIR as a pipeline scan folder of TIFF frames"
    )
    args = parser.parse_args(argv)

    rows, cols = args.rows or args.size, args.cols or args.size
    geometry = ScanGeometry(frames=args.frames, shape=(rows, cols), beam_center=(cols / 2, rows / 2))
    if args.tiff_scan:
        write_tiff_scan(args.output, geometry)
        print(f"wrote {args.output}")
        return
    args.output.mkdir(parents=True, exist_ok=True)
    target = args.output / args.name
    write_scan(target, geometry, render_frames(geometry), args.compression)
    if args.geometry_json:
        args.geometry_json.write_text(json.dumps(geometry.geometry_json(), indent=2))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
