"""``/data?format=tiff`` (h5grove-protocol.md §5.3), read back by tifffile (the library h5grove
writes its TIFF with) and compared with h5py's values, with h5grove's own encoder, and for the
common pixel types with Pillow, a second TIFF reader."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
import tifffile
from h5grove.encoders import tiff_encode
from PIL import Image

from conftest import assert_content_length, assert_json_error

FILE = "tiff_export.h5"
RNG = np.random.default_rng(7)
DATASETS = {
    "i4_2d": RNG.integers(-(2**31), 2**31 - 1, (37, 53), dtype=np.int32, endpoint=True),
    "u2_2d": RNG.integers(0, 2**16 - 1, (40, 71), dtype=np.uint16, endpoint=True),
    "f4_2d": np.concatenate([
        RNG.standard_normal((5, 9)).astype(np.float32) * 1e30,
        np.array([[np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38, 0, 1, 2]], np.float32),
    ]),
    "f8_2d": RNG.standard_normal((23, 19)) * 10.0 ** RNG.integers(-300, 300, (23, 19)),
    "i1_2d": np.arange(-128, 128, dtype=np.int8).reshape(16, 16),
    "u1_2d": np.arange(256, dtype=np.uint8).reshape(8, 32),
    "i2_2d": np.array([[-(2**15), -1, 0], [1, 300, 2**15 - 1]], np.int16),
    "u4_2d": np.array([[0, 1, 2**32 - 1], [2**31, 70000, 5]], np.uint32),
    "i8_2d": np.array([[2**53 + 1, -(2**63)], [2**63 - 1, -1]], np.int64),
    "u8_2d": np.array([[2**64 - 1, 0], [2**53 + 1, 7]], np.uint64),
    "f2_2d": np.array([[0.5, -2, 65504], [np.nan, np.inf, 6e-8]], np.float16),
    "be_i4_2d": np.array([[-(2**31), -1, 0], [1, 2**31 - 1, 258]], ">i4"),
    "be_f8_2d": (np.arange(12, dtype=np.float64).reshape(3, 4) / 3 - 1.25).astype(">f8"),
    "bool_2d": RNG.integers(0, 2, (5, 13)).astype(bool),
    "stack": np.arange(3 * 4 * 5 * 6, dtype=np.int32).reshape(3, 4, 5, 6) * 11 - 600,
    "line": np.linspace(-1, 1, 70001, dtype=np.float32),
    "scalar": np.float64(3.25),
}
LONGDOUBLE = (np.arange(6, dtype=np.longdouble).reshape(2, 3) / 3) * np.longdouble(1e300) ** 10


@pytest.fixture(scope="module")
def srv(tmp_server, tmp_root):
    with h5py.File(tmp_root / FILE, "w") as f:
        for name, arr in DATASETS.items():
            f[name] = arr
        f["f16_2d"] = LONGDOUBLE
        f.create_dataset("empty", data=h5py.Empty("f8"))
        f["strings"] = np.array([["a", "bc"], ["d", "ef"]], dtype=h5py.string_dtype())
    frames = tmp_root / "tiff_frames"
    frames.mkdir()
    for i in range(3):
        tifffile.imwrite(frames / f"frame_{i:03d}.tif", DATASETS["u2_2d"] + i, photometric="minisblack")
    yield tmp_server
    assert tmp_server.alive(), "server died:\n" + "\n".join(tmp_server.stderr_lines[-30:])


def fetch_tiff(srv, file=FILE, **params) -> tifffile.TiffFile:
    r = srv.get("data", file=file, format="tiff", **params)
    assert r.status_code == 200, f"status {r.status_code}: {r.content[:400]!r}"
    assert_content_length(r)
    assert r.headers["content-type"] == "image/tiff"
    assert r.headers["content-disposition"] == 'attachment; filename="data.tiff"'
    return tifffile.TiffFile(io.BytesIO(r.content))


def assert_same_array(got: np.ndarray, expected: np.ndarray):
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype.newbyteorder("=") == expected.dtype.newbyteorder("="), (got.dtype, expected.dtype)
    np.testing.assert_array_equal(got, expected)  # NaN == NaN here, but also -0.0 == 0.0
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def page_layout(tif: tifffile.TiffFile):
    page = tif.pages[0]
    return (len(tif.pages), page.shape, page.bitspersample, page.sampleformat, page.photometric,
            page.compression, page.samplesperpixel)


@pytest.mark.parametrize("name", [n for n in DATASETS if n.endswith("_2d")])
def test_2d_dataset_reads_back_exactly_and_like_h5groves_tiff(srv, tmp_root, name):
    with h5py.File(tmp_root / FILE, "r") as f:
        expected = f[name][()]
    with fetch_tiff(srv, path=f"/{name}") as tif:
        got = tif.asarray()
        assert_same_array(got, expected)
        assert len(tif.pages) == 1
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
        assert tif.pages[0].compression == tifffile.COMPRESSION.NONE
        # stored byte order, as tifffile writes it
        assert tif.byteorder == (">" if expected.dtype.byteorder == ">" else "<")
        ours = page_layout(tif)
    with tifffile.TiffFile(io.BytesIO(tiff_encode(expected))) as reference:
        assert ours == page_layout(reference)
        assert_same_array(got, reference.asarray())


@pytest.mark.parametrize("name", ["i4_2d", "u2_2d", "f4_2d", "u1_2d", "i2_2d"])
def test_pillow_reads_the_same_pixels(srv, name):
    r = srv.get("data", file=FILE, path=f"/{name}", format="tiff")
    assert r.status_code == 200
    image = Image.open(io.BytesIO(r.content))
    expected = DATASETS[name]
    assert image.size == (expected.shape[1], expected.shape[0])
    np.testing.assert_array_equal(np.array(image), expected)


def test_selection_slice(srv):
    with fetch_tiff(srv, path="/stack", selection="1,:,2,1:-1:2") as tif:
        assert_same_array(tif.asarray(), DATASETS["stack"][1, :, 2, 1:-1:2])


def test_nd_selection_is_one_page_per_frame_with_the_shape_for_tifffile(srv):
    stack = DATASETS["stack"]
    with fetch_tiff(srv, path="/stack") as tif:
        assert len(tif.pages) == 12
        assert all(p.shape == (5, 6) for p in tif.pages)
        assert_same_array(tif.asarray(), stack)
        assert_same_array(tif.pages[7].asarray(), stack.reshape(12, 5, 6)[7])
    with tifffile.TiffFile(io.BytesIO(tiff_encode(stack))) as reference:
        assert len(reference.pages) == 12 and reference.series[0].shape == stack.shape


def test_1d_is_one_row_that_tifffile_reads_back_1d(srv):
    line = DATASETS["line"]
    with fetch_tiff(srv, path="/line") as tif:
        assert tif.pages[0].shape == (1, line.size)  # wider than 65535: 32-bit ImageWidth
        assert_same_array(tif.asarray(), line)
    with fetch_tiff(srv, path="/i4_2d", flatten="true") as tif:
        assert_same_array(tif.asarray(), DATASETS["i4_2d"].ravel())


def test_dtype_safe_widens_float16_like_npy(srv):
    with fetch_tiff(srv, path="/f2_2d", dtype="safe") as tif:
        assert_same_array(tif.asarray(), DATASETS["f2_2d"].astype(np.float32))
    with fetch_tiff(srv, path="/be_f8_2d", dtype="safe") as tif:
        assert tif.byteorder == "<"
        assert_same_array(tif.asarray(), DATASETS["be_f8_2d"].astype("<f8"))


def test_extended_precision_floats_are_written_as_float64(srv, tmp_root):
    with h5py.File(tmp_root / FILE, "r") as f:
        with np.errstate(over="ignore"):  # 1e3000 is inf in float64, as in the TIFF
            expected = f["f16_2d"][()].astype(np.float64)
    with fetch_tiff(srv, path="/f16_2d") as tif:
        assert_same_array(tif.asarray(), expected)


def test_frame_folder_frame(srv):
    with fetch_tiff(srv, file="tiff_frames", path="/entry/data/data", selection="2") as tif:
        assert_same_array(tif.asarray(), DATASETS["u2_2d"] + 2)


@pytest.mark.parametrize("params,phrase", [
    (dict(path="/scalar"), "Unsupported encoding tiff for empty and scalar datasets"),
    (dict(path="/empty"), "Unsupported encoding tiff for empty and scalar datasets"),
    (dict(path="/i4_2d", selection="1:1"), "Unsupported encoding tiff for empty and scalar datasets"),
    (dict(path="/i4_2d", selection="3,4"), "Unsupported encoding tiff for empty and scalar datasets"),
    (dict(path="/strings"), "Unsupported encoding tiff for non-numeric content"),
    (dict(path="/i4_2d", dtype="foo"), "Unsupported dtype"),
    (dict(file="tiff_frames", path="/entry/data/data", selection="0,1,2"),
     "Unsupported encoding tiff for empty and scalar datasets"),
])
def test_refused_with_h5groves_422_phrases(srv, params, phrase):
    r = srv.get("data", **{"file": FILE, **params}, format="tiff")
    assert_json_error(r, statuses={422}, phrase=phrase)
    assert_content_length(r)


REAL = [
    ("nexpy_nexpy/src/nexpy/examples/chopper.nxs", "/entry/data/data", None),
    ("DiamondLightSource_httomo/tests/test_data/k11_diad/k11-18014/k11-18014-imaging.h5",
     "/entry/detector/detector", "1500"),
    ("FAIRmat-NFDI_pynxtools/src/pynxtools/data/201805_WSe2_arpes.nxs", "/entry/data/data", "40"),
    ("SasView_sasdata/sasdata/example_data/2d_data/33837rear_2D_1.75_16.5_NXcanSAS_v3.h5",
     "/sasentry01/sasdata/I", None),
    ("silx-kit_hdf5plugin/test/bitshuffle.h5", "/entry/data/data", "0,100:900,::3"),
    ("tomopy_tomopy/source/tomopy/data/tooth.h5", "/exchange/data_dark", None),
]


def h5py_selection(selection: str | None):
    if selection is None:
        return ()
    def axis(text: str):
        if ":" not in text:
            return int(text)
        return slice(*[int(p) if p else None for p in text.split(":")])
    return tuple(axis(a) for a in selection.split(","))


@pytest.mark.parametrize("file,path,selection", REAL, ids=[r[0].split("/")[-1] for r in REAL])
def test_real_file(real_server, real_root, file, path, selection):
    import hdf5plugin  # noqa: F401  (bitshuffle)
    with h5py.File(real_root / file, "r") as f:
        expected = f[path][h5py_selection(selection)]
    params = dict(path=path) if selection is None else dict(path=path, selection=selection)
    with fetch_tiff(real_server, file=file, **params) as tif:
        assert_same_array(tif.asarray(), expected)
        frames = int(np.prod(expected.shape[:-2]))
        assert len(tif.pages) == frames
