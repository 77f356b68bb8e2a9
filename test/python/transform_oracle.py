"""Helpers for the nexus-transform tests: run the bundled CLI, and an independent numpy oracle.

The oracle follows transform-math.md §1–4 directly, one formula per line, vectorised over
pixels; it shares no code with the TypeScript implementation nor with the demo generator.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "jupyterlab_nexus" / "server" / "nexus-transform.mjs"


def run_cli(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    if not CLI.is_file():
        pytest.fail(f"{CLI} is missing: run `npm run build:server` first", pytrace=False)
    result = subprocess.run(["node", str(CLI), *args], input=stdin, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"nexus-transform {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def cli_json(*args: str, payload) -> object:
    return json.loads(run_cli(*args, stdin=json.dumps(payload)).stdout)


def rotation(axis: int, degrees) -> np.ndarray:
    """Active right-handed rotation about lab axis 0/1/2; degrees may be an array (→ stack)."""
    t = np.radians(np.asarray(degrees, dtype=float))
    c, s = np.cos(t), np.sin(t)
    m = np.zeros(t.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]  # the plane rotated, in right-handed order
    m[..., axis, axis] = 1
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    return m


def orientation_rows(text: str) -> np.ndarray:
    o = np.zeros((3, 3))
    for row, token in enumerate(text.split()):
        o[row, "xyz".index(token[1])] = float(token[0] + "1")
    return o


def oracle_hkl(g: dict, frame, x, y) -> np.ndarray:
    """h = (UB)^-1 G(phi)^T [r/(lambda |r|) - x_hat/lambda], pixel centre at +0.5 (CCTW)."""
    frame, x, y = (np.asarray(a, dtype=float) for a in (frame, x, y))
    s = g["pixel_size"]
    p = np.stack([s * (x + 0.5 - g["beam_center_x"]), s * (y + 0.5 - g["beam_center_y"]), 0 * x], axis=-1)
    d = rotation(0, g["roll"]) @ rotation(1, g["pitch"]) @ rotation(2, g["yaw"])
    r = np.einsum("ij,...j->...i", d @ orientation_rows(g["detector_orientation"]).T, p)
    r[..., 0] += g["distance"]
    lam = g["wavelength"]
    q = r / (lam * np.linalg.norm(r, axis=-1, keepdims=True)) - np.array([1 / lam, 0, 0])
    phi = g["phi_start"] + g["phi_step"] * frame
    goniometer = rotation(1, g["theta"]) @ rotation(2, g["omega"]) @ rotation(0, g["chi"]) @ rotation(2, phi)
    q_sample = np.einsum("...ji,...j->...i", goniometer, q)
    return np.linalg.solve(np.asarray(g["ub_matrix"]), q_sample[..., None])[..., 0]


def direct_lattice(a, b, c, alpha, beta, gamma) -> np.ndarray:
    """Columns a, b, c with a along x and b in the xy plane (transform-math.md §3)."""
    ca, cb, cg = np.cos(np.radians([alpha, beta, gamma]))
    sg = np.sin(np.radians(gamma))
    c2 = c * (ca - cb * cg) / sg
    return np.array([[a, b * cg, c * cb], [0, b * sg, c2], [0, 0, np.sqrt(c * c - (c * cb) ** 2 - c2 * c2)]])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def random_geometry(rng: np.random.Generator) -> dict:
    """Tilted detector, arbitrary goniometer, triclinic cell, any signed-permutation orientation."""
    while True:
        cell = [*rng.uniform(3, 15, 3), *rng.uniform(65, 115, 3)]
        ca, cb, cg = np.cos(np.radians(cell[3:]))
        if 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg > 0.05:  # a real, not too flat cell
            break
    b_matrix = np.linalg.inv(direct_lattice(*cell)).T
    axes = rng.permutation(3)
    orientation = " ".join(f"{rng.choice(['+', '-'])}{'xyz'[a]}" for a in axes)
    return {
        "wavelength": float(rng.uniform(0.1, 1.5)),
        "distance": float(rng.uniform(100, 600)),
        "pixel_size": float(rng.uniform(0.07, 0.2)),
        "beam_center_x": float(rng.uniform(200, 1300)),
        "beam_center_y": float(rng.uniform(200, 1500)),
        "yaw": float(rng.uniform(-3, 3)),
        "pitch": float(rng.uniform(-3, 3)),
        "roll": float(rng.uniform(-3, 3)),
        "theta": float(rng.uniform(-10, 10)),
        "omega": float(rng.uniform(-30, 30)),
        "chi": float(rng.uniform(-90, 90)),
        "phi_start": float(rng.uniform(-180, 180)),
        "phi_step": float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.5)),
        "detector_orientation": orientation,
        "ub_matrix": (random_rotation(rng) @ b_matrix).tolist(),
    }


def write_json(path: Path, value) -> str:
    path.write_text(json.dumps(value))
    return str(path)
