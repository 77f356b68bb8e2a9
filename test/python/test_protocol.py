"""h5grove 4 protocol details, on files generated with h5py in a temporary root."""

from __future__ import annotations

import io
import os
import shutil
import time

import h5py
import numpy as np
import orjson
import pytest
from h5grove.content import create_content
from h5grove.encoders import orjson_encode

from conftest import REAL_ROOT, assert_content_length, assert_json_error

ARR3 = np.arange(4 * 5 * 6, dtype=np.int32).reshape(4, 5, 6) * 7 - 50
F16 = (np.linspace(-3, 3, 12, dtype=np.float64) ** 3).astype(np.float16)
BE_F8 = (np.arange(12, dtype=np.float64).reshape(3, 4) / 3 - 1.25).astype(">f8")
BE_I4 = np.array([-(2**31), -1, 0, 1, 2**31 - 1], dtype=">i4")
BE_U2 = np.array([0, 1, 258, 65535], dtype=">u2")
F32NAN = np.array([1.5, np.nan, np.inf, -np.inf, -2.25, 0.0], dtype=np.float32)
U8_2D = np.arange(35, dtype=np.uint8).reshape(5, 7)
F64_2D = np.array([[0.1, -1e-300, 3.0], [1e300, 2.5, -0.0]])
I64 = np.array([2**53 + 1, -(2**62), 5], dtype=np.int64)
BOOL = np.array([True, False, True, True])


def write_data_file(path):
    with h5py.File(path, "w") as f:
        f["arr3"] = ARR3
        f["f16"] = F16
        f["be_f8"] = BE_F8
        f["be_i4"] = BE_I4
        f["be_u2"] = BE_U2
        f["f32nan"] = F32NAN
        f["u8_2d"] = U8_2D
        f["f64_2d"] = F64_2D
        f["i64"] = I64
        f["bool"] = BOOL
        f["scalar"] = np.float64(3.25)
        f["scalar_i"] = np.int16(-7)
        f["str_vlen"] = "hello wörld"
        f["str_list"] = np.array(["a", "bc", "déf"], dtype=h5py.string_dtype())
        f["str_fixed"] = np.array([b"abc", b"de"], dtype="S4")
        f.create_dataset("empty", data=h5py.Empty("f8"))
        g = f.create_group("grp")
        g.attrs["NX_class"] = "NXdata"
        g.attrs["signal"] = "ds"
        g.attrs["axes"] = np.array(["x", "."], dtype=h5py.string_dtype())
        g.attrs["scale"] = np.float64(0.5)
        g.attrs["ints"] = np.array([1, 2, 3], dtype=np.int16)
        g["ds"] = np.arange(10.0)
        g["ds"].attrs["units"] = "mm"
        f["soft"] = h5py.SoftLink("/arr3")
        f["soft_grp"] = h5py.SoftLink("/grp")
        f["soft_broken"] = h5py.SoftLink("/nowhere")
        f["ext"] = h5py.ExternalLink("ext.h5", "/x")
        f["ext_broken"] = h5py.ExternalLink("missing.h5", "/x")
        f.attrs["NX_class"] = "NXroot"


EXT_X = np.linspace(0, 1, 9).reshape(3, 3)


@pytest.fixture(scope="module")
def files(tmp_root):
    write_data_file(tmp_root / "data.h5")
    with h5py.File(tmp_root / "ext.h5", "w") as f:
        f["x"] = EXT_X
    return tmp_root


@pytest.fixture
def srv(tmp_server, files):
    yield tmp_server
    assert tmp_server.alive(), "server died:\n" + "\n".join(tmp_server.stderr_lines[-30:])


def ok(resp):
    assert resp.status_code == 200, f"status {resp.status_code}: {resp.content[:400]!r}"
    assert_content_length(resp)
    return resp


def data_bin(srv, path, np_dtype, **params):
    r = ok(srv.get("data", file="data.h5", path=path, format="bin", **params))
    return np.frombuffer(r.content, dtype=np_dtype)


# ------------------------------------------------------------------ health


def test_health_get_and_head(srv):
    r = srv.raw("/")
    assert r.status_code == 200 and r.content.strip() == b"ok", (r.status_code, r.content)
    assert int(r.headers["content-length"]) == len(r.content)
    h = srv.raw("/", method="HEAD")
    assert h.status_code == 200 and h.content == b""


# --------------------------------------------------------------- selection

SELECTIONS = [
    ("-1", np.s_[-1]),
    ("1,2", np.s_[1, 2]),
    ("1,2,3", np.s_[1, 2, 3]),
    ("-1,-2,-3", np.s_[-1, -2, -3]),
    ("0:2,-3:,::2", np.s_[0:2, -3:, ::2]),
    ("::2", np.s_[::2]),
    ("1:-1:2,2", np.s_[1:-1:2, 2]),
    ("-2,:,-1", np.s_[-2, :, -1]),
    (":,1:4:2,5", np.s_[:, 1:4:2, 5]),
    ("-3:-1", np.s_[-3:-1]),
    (":", np.s_[:]),
    ("0,:,:", np.s_[0, :, :]),
    ("1:1", np.s_[1:1]),
    ("2:100", np.s_[2:100]),
]


@pytest.mark.parametrize("sel,index", SELECTIONS, ids=[s for s, _ in SELECTIONS])
def test_selection_bin(srv, sel, index):
    exp = ARR3[index]
    got = data_bin(srv, "/arr3", "<i4", selection=sel)
    assert got.size == np.size(exp), (got.size, np.shape(exp))
    np.testing.assert_array_equal(got, np.ravel(exp))


@pytest.mark.parametrize("sel,index", SELECTIONS, ids=[s for s, _ in SELECTIONS])
def test_selection_json_shape(srv, sel, index):
    """JSON keeps the selected shape: an index member drops its axis."""
    exp = ARR3[index]
    r = ok(srv.get("data", file="data.h5", path="/arr3", selection=sel))
    got = r.json()
    if np.size(exp) > 0:  # JSON cannot carry the shape of an empty array
        assert np.shape(got) == np.shape(exp), (np.shape(got), np.shape(exp))
    assert got == np.asarray(exp).tolist()


def test_selection_whole_and_flatten(srv):
    got = ok(srv.get("data", file="data.h5", path="/arr3")).json()
    assert got == ARR3.tolist()
    got = ok(srv.get("data", file="data.h5", path="/arr3", flatten="true")).json()
    assert got == ARR3.ravel().tolist()
    got = ok(srv.get("data", file="data.h5", path="/arr3", flatten="True", selection="1")).json()
    assert got == ARR3[1].ravel().tolist()
    got = ok(srv.get("data", file="data.h5", path="/arr3", flatten="false", selection="1")).json()
    assert got == ARR3[1].tolist()


@pytest.mark.parametrize("sel", ["0,0,0,0", "1,2,3,4,5"])
def test_selection_too_many_members_is_500_json(srv, sel):
    r = srv.get("data", file="data.h5", path="/arr3", selection=sel)
    assert_json_error(r, statuses={500})
    assert_content_length(r)


@pytest.mark.parametrize("sel", ["0:1:2:3", "a", "1;2", "0:x"])
def test_selection_malformed_is_json_error(srv, sel):
    r = srv.get("data", file="data.h5", path="/arr3", selection=sel)
    assert_json_error(r, statuses=range(400, 600))


@pytest.mark.parametrize("sel", ["4", "-5", "0,5", "0,0,6"])
def test_selection_index_out_of_bounds_is_json_error(srv, sel):
    r = srv.get("data", file="data.h5", path="/arr3", selection=sel)
    assert_json_error(r, statuses=range(400, 600))


def test_scalar_dataset(srv):
    assert ok(srv.get("data", file="data.h5", path="/scalar")).json() == 3.25
    got = data_bin(srv, "/scalar", "<f8", dtype="safe")
    np.testing.assert_array_equal(got, [3.25])
    got = data_bin(srv, "/scalar_i", "<i2")
    np.testing.assert_array_equal(got, [-7])
    # flatten does not turn a scalar into a list
    assert ok(srv.get("data", file="data.h5", path="/scalar", flatten="true")).json() == 3.25


# ------------------------------------------------------------ dtype / bin


def test_float16_safe_is_float32(srv):
    got = data_bin(srv, "/f16", "<f4", dtype="safe")
    np.testing.assert_array_equal(got, F16.astype("<f4"))


def test_float16_origin_is_raw_half(srv):
    got = data_bin(srv, "/f16", "<f2", dtype="origin")
    np.testing.assert_array_equal(got, F16)


@pytest.mark.parametrize("path,arr", [("/be_f8", BE_F8), ("/be_i4", BE_I4), ("/be_u2", BE_U2)])
def test_big_endian_safe_is_little_endian(srv, path, arr):
    safe = arr.dtype.newbyteorder("<")
    got = data_bin(srv, path, safe, dtype="safe")
    np.testing.assert_array_equal(got, arr.ravel())
    # and with origin, the stored (big-endian) byte order is kept
    r = ok(srv.get("data", file="data.h5", path=path, format="bin", dtype="origin"))
    assert r.content == arr.astype(arr.dtype).tobytes()


def test_nan_inf_json_null_and_bin_exact(srv):
    got = ok(srv.get("data", file="data.h5", path="/f32nan")).json()
    assert got == [1.5, None, None, None, -2.25, 0.0]
    b = data_bin(srv, "/f32nan", "<f4", dtype="safe")
    np.testing.assert_array_equal(b, F32NAN)


def test_int64_and_bool_bin(srv):
    np.testing.assert_array_equal(data_bin(srv, "/i64", "<i8", dtype="safe"), I64)
    r = ok(srv.get("data", file="data.h5", path="/bool", format="bin", dtype="safe"))
    assert r.content == bytes([1, 0, 1, 1])
    assert ok(srv.get("data", file="data.h5", path="/bool")).json() == [True, False, True, True]


def test_bin_content_type(srv):
    r = ok(srv.get("data", file="data.h5", path="/arr3", format="bin"))
    assert r.headers["content-type"].startswith("application/octet-stream")
    r = ok(srv.get("data", file="data.h5", path="/arr3"))
    assert r.headers["content-type"].startswith("application/json")


# ------------------------------------------------------------- npy / csv


@pytest.mark.parametrize("path,arr,dtype,exp_dtype", [
    ("/arr3", ARR3, "origin", "<i4"),
    ("/f16", F16, "safe", "<f4"),
    ("/f16", F16, "origin", "<f2"),
    ("/be_f8", BE_F8, "safe", "<f8"),
    ("/be_f8", BE_F8, "origin", ">f8"),
    ("/u8_2d", U8_2D, "origin", "|u1"),
])
def test_npy(srv, path, arr, dtype, exp_dtype):
    r = ok(srv.get("data", file="data.h5", path=path, format="npy", dtype=dtype))
    assert r.headers["content-type"].startswith("application/octet-stream")
    assert "data.npy" in r.headers.get("content-disposition", ""), r.headers
    got = np.load(io.BytesIO(r.content), allow_pickle=False)
    assert got.dtype.str == exp_dtype, got.dtype.str
    assert got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


def test_npy_selection_and_scalar(srv):
    r = ok(srv.get("data", file="data.h5", path="/arr3", format="npy", selection="1,::2"))
    np.testing.assert_array_equal(np.load(io.BytesIO(r.content)), ARR3[1, ::2])
    r = ok(srv.get("data", file="data.h5", path="/scalar", format="npy"))
    got = np.load(io.BytesIO(r.content))
    assert got.shape == () and got == 3.25


def test_csv_2d_and_1d(srv):
    r = ok(srv.get("data", file="data.h5", path="/f64_2d", format="csv"))
    assert r.headers["content-type"].startswith("text/csv")
    assert "data.csv" in r.headers.get("content-disposition", "")
    lines = r.content.decode().strip().splitlines()
    assert len(lines) == 2 and all(len(l.split(",")) == 3 for l in lines), lines
    np.testing.assert_array_equal(np.loadtxt(io.StringIO(r.content.decode()), delimiter=",", ndmin=2), F64_2D)
    r = ok(srv.get("data", file="data.h5", path="/grp/ds", format="csv"))
    lines = r.content.decode().strip().splitlines()
    assert len(lines) == 10, lines
    np.testing.assert_array_equal([float(x) for x in lines], np.arange(10.0))
    r = ok(srv.get("data", file="data.h5", path="/u8_2d", format="csv", selection="1:3"))
    np.testing.assert_array_equal(np.loadtxt(io.StringIO(r.content.decode()), delimiter=",", ndmin=2), U8_2D[1:3])


# ------------------------------------------------------------ 422 errors


@pytest.mark.parametrize("params,phrase", [
    (dict(path="/arr3", format="xml"), "Unsupported encoding"),
    (dict(path="/arr3", format=""), None),
    (dict(path="/arr3", format="BIN2"), "Unsupported encoding"),
    (dict(path="/arr3", dtype="foo"), "Unsupported dtype"),
    (dict(path="/arr3", dtype="unsafe", format="bin"), "Unsupported dtype"),
    (dict(path="/str_list", dtype="safe", format="bin"), "Unsupported dtype"),
    (dict(path="/str_list", format="npy"), None),
    (dict(path="/str_list", format="csv"), None),
    (dict(path="/scalar", format="csv"), None),
    (dict(path="/empty", format="csv"), None),
])
def test_data_422(srv, params, phrase):
    r = srv.get("data", file="data.h5", **params)
    assert_json_error(r, statuses={422}, phrase=phrase)
    assert_content_length(r)


@pytest.mark.parametrize("endpoint", ["meta", "paths", "data", "attr"])
@pytest.mark.parametrize("value", ["maybe", "ALL2", "1"])
def test_bad_resolve_links_422(srv, endpoint, value):
    path = "/grp/ds" if endpoint == "data" else "/grp"
    r = srv.get(endpoint, file="data.h5", path=path, resolve_links=value)
    if endpoint in ("meta", "paths"):
        msg = assert_json_error(r, statuses={422})
        for accepted in ("only_valid", "none", "all"):
            assert accepted in msg, msg
    else:
        # spec: SHOULD accept it everywhere -> then also validate it
        assert_json_error(r, statuses={422})


# ----------------------------------------------------- trailing slash


@pytest.mark.parametrize("endpoint,params", [
    ("meta", dict(path="/grp")),
    ("meta", dict(path="/")),
    ("attr", dict(path="/grp")),
    ("data", dict(path="/arr3", selection="1,:,2")),
    ("data", dict(path="/f16", format="bin", dtype="safe")),
    ("paths", dict(path="/")),
    ("stats", dict(path="/arr3")),
    ("meta", dict(path="/nowhere")),
])
def test_trailing_slash_identical(srv, endpoint, params):
    a = srv.get(endpoint, file="data.h5", **params)
    url = srv.base_url + f"/{endpoint}/"
    import requests
    b = requests.get(url, params=dict(file="data.h5", **params), headers=srv.headers(),
                     allow_redirects=False, timeout=60)
    assert a.status_code == b.status_code, (a.status_code, b.status_code, b.headers.get("location"))
    assert b.status_code not in (301, 302, 307, 308)
    assert a.content == b.content
    assert_content_length(a)
    assert_content_length(b)


# ------------------------------------------------------ Content-Length


def test_content_length_everywhere(srv):
    cases = [
        ("meta", dict(file="data.h5")),
        ("meta", dict(file="data.h5", path="/nowhere")),
        ("meta", dict(file="nope.h5")),
        ("attr", dict(file="data.h5", path="/grp")),
        ("data", dict(file="data.h5", path="/arr3", format="npy")),
        ("data", dict(file="data.h5", path="/grp")),
        ("data", dict(file="data.h5", path="/arr3", format="xml")),
        ("paths", dict(file="data.h5")),
        ("stats", dict(file="data.h5", path="/f32nan")),
        ("nonexistent-endpoint", dict(file="data.h5")),
    ]
    for ep, params in cases:
        r = srv.get(ep, **params)
        assert_content_length(r)
        if r.status_code >= 400:
            assert_json_error(r, statuses=range(400, 600))


def test_unknown_endpoint_is_404_json(srv):
    assert_json_error(srv.get("nonexistent-endpoint", file="data.h5"), statuses={404})


# ----------------------------------------------------------------- meta


def reference_meta(tmp_root, path, resolve_links="only_valid"):
    from h5grove.models import LinkResolution

    with h5py.File(tmp_root / "data.h5", "r") as f:
        content = create_content(f, path, LinkResolution(resolve_links))
        return orjson.loads(orjson_encode(content.metadata()))


@pytest.mark.parametrize("path", ["/", "/grp", "/grp/ds", "/arr3", "/f16", "/be_f8", "/str_list",
                                  "/str_fixed", "/str_vlen", "/scalar", "/bool", "/empty", "/i64"])
def test_meta_equals_reference(srv, files, path):
    """Whole /meta object equals h5grove 4 on h5py, except filter names."""
    got = ok(srv.get("meta", file="data.h5", path=path)).json()
    exp = reference_meta(files, path)
    assert got == exp


def test_meta_empty_dataset_shape_null(srv):
    got = ok(srv.get("meta", file="data.h5", path="/empty")).json()
    assert got["kind"] == "dataset" and got["shape"] is None
    assert ok(srv.get("data", file="data.h5", path="/empty")).json() is None


def test_attr_values_and_keys(srv):
    got = ok(srv.get("attr", file="data.h5", path="/grp")).json()
    assert got == {"NX_class": "NXdata", "signal": "ds", "axes": ["x", "."], "scale": 0.5, "ints": [1, 2, 3]}
    got = ok(srv.get("attr", file="data.h5", path="/grp", attr_keys=["signal", "axes"])).json()
    assert got == {"signal": "ds", "axes": ["x", "."]}
    r = srv.get("attr", file="data.h5", path="/grp", attr_keys=["nope"])
    msg = assert_json_error(r, statuses=range(400, 600))
    assert "not a valid path" not in msg


def test_stats(srv):
    got = ok(srv.get("stats", file="data.h5", path="/f32nan")).json()
    finite = F32NAN[np.isfinite(F32NAN)].astype(np.float64)
    assert got["min"] == pytest.approx(finite.min())
    assert got["max"] == pytest.approx(finite.max())
    assert got["mean"] == pytest.approx(finite.mean())
    assert got["std"] == pytest.approx(finite.std())
    assert got["positive_min"] == 0.0
    assert got["strict_positive_min"] == 1.5
    got = ok(srv.get("stats", file="data.h5", path="/arr3", selection="1")).json()
    a = ARR3[1]
    assert got == {"min": int(a.min()), "max": int(a.max()), "mean": pytest.approx(a.mean(), abs=1),
                   "std": pytest.approx(a.std(), abs=1), "positive_min": int(a[a >= 0].min()),
                   "strict_positive_min": int(a[a > 0].min())}
    got = ok(srv.get("stats", file="data.h5", path="/arr3", selection="1:1")).json()
    assert got == dict.fromkeys(["strict_positive_min", "positive_min", "min", "max", "mean", "std"])


def test_stats_integer_cast(srv):
    """Spec §2: integer results are cast to int (the reference truncates mean/std with int())."""
    a = ARR3[1]
    got = ok(srv.get("stats", file="data.h5", path="/arr3", selection="1")).json()
    assert got["mean"] == int(np.mean(a)) and isinstance(got["mean"], int), got
    assert got["std"] == int(np.std(a)) and isinstance(got["std"], int), got
    got = ok(srv.get("stats", file="data.h5", path="/f64_2d")).json()
    assert isinstance(got["min"], float) and got["min"] == F64_2D.min()


def test_paths_generated(srv, files):
    got = ok(srv.get("paths", file="data.h5")).json()
    with h5py.File(files / "data.h5") as f:
        exp = ["/"]
        f.id.links.visit(lambda n: exp.append("/" + n.decode()))
    assert got[0] == "/" and sorted(got) == sorted(exp)
    got = ok(srv.get("paths", file="data.h5", path="/grp")).json()
    assert got == ["/grp", "/grp/ds"]


# --------------------------------------------------------- resolve_links

# (path, resolve_links) -> expected kind, or 404 "Cannot resolve"
LINK_TABLE = [
    ("/soft", "none", "soft_link"),
    ("/soft", "only_valid", "dataset"),
    ("/soft", "all", "dataset"),
    ("/soft", "false", "soft_link"),
    ("/soft", "true", "dataset"),
    ("/soft", None, "dataset"),
    ("/soft_grp", "only_valid", "group"),
    ("/soft_grp", "none", "soft_link"),
    ("/soft_broken", "none", "soft_link"),
    ("/soft_broken", "only_valid", "soft_link"),
    ("/soft_broken", None, "soft_link"),
    ("/soft_broken", "all", 404),
    ("/ext", "none", "external_link"),
    ("/ext", "only_valid", "dataset"),
    ("/ext", "all", "dataset"),
    ("/ext_broken", "none", "external_link"),
    ("/ext_broken", "only_valid", "external_link"),
    ("/ext_broken", "all", 404),
    ("/ext_broken", "true", 404),
]


@pytest.mark.parametrize("path,resolve,expected", LINK_TABLE)
def test_resolve_links(srv, path, resolve, expected):
    params = dict(file="data.h5", path=path)
    if resolve is not None:
        params["resolve_links"] = resolve
    r = srv.get("meta", **params)
    name = path.rsplit("/", 1)[1]
    if expected == 404:
        msg = assert_json_error(r, statuses={404}, phrase="Cannot resolve")
        assert "data.h5" in msg, msg
        return
    m = ok(r).json()
    assert m["kind"] == expected, m
    assert m["name"] == name, m
    if expected == "soft_link":
        assert m["target_path"] == {"soft": "/arr3", "soft_grp": "/grp", "soft_broken": "/nowhere"}[name]
        assert "attributes" not in m
    if expected == "external_link":
        assert m["target_file"] == {"ext": "ext.h5", "ext_broken": "missing.h5"}[name]
        assert m["target_path"] == "/x"
    if expected == "dataset":
        assert m["shape"] == ([4, 5, 6] if name == "soft" else [3, 3])


def test_root_children_resolve_only_valid(srv):
    kids = {c["name"]: c for c in ok(srv.get("meta", file="data.h5", path="/", resolve_links="none")).json()["children"]}
    assert kids["soft"]["kind"] == "dataset"
    assert kids["soft_grp"]["kind"] == "group" and "children" not in kids["soft_grp"]
    assert kids["ext"]["kind"] == "dataset" and kids["ext"]["shape"] == [3, 3]
    assert kids["soft_broken"] == {"kind": "soft_link", "name": "soft_broken", "target_path": "/nowhere"}
    assert kids["ext_broken"] == {"kind": "external_link", "name": "ext_broken", "target_file": "missing.h5",
                                  "target_path": "/x"}


def test_data_through_links(srv):
    np.testing.assert_array_equal(data_bin(srv, "/soft", "<i4", selection="2"), ARR3[2].ravel())
    np.testing.assert_array_equal(data_bin(srv, "/ext", "<f8"), EXT_X.ravel())
    for p in ("/soft_broken", "/ext_broken"):
        assert_json_error(srv.get("data", file="data.h5", path=p, format="bin"))


# ----------------------------------------------------------- not found


def test_file_not_found(srv):
    for ep in ("meta", "attr", "data", "paths", "stats"):
        r = srv.get(ep, file="nope.h5", path="/")
        assert_json_error(r, statuses={404}, phrase="File not found!")
    assert_json_error(srv.get("meta", file="sub/dir/nope.h5"), statuses={404}, phrase="File not found!")


def test_missing_file_param(srv):
    assert_json_error(srv.get("meta", path="/"), statuses=range(400, 500))


@pytest.mark.parametrize("ep", ["meta", "attr", "data", "stats"])
def test_not_a_valid_path(srv, ep):
    r = srv.get(ep, file="data.h5", path="/does/not/exist")
    msg = assert_json_error(r, statuses={404}, phrase="not a valid path")
    assert msg == "/does/not/exist is not a valid path in data.h5", msg


def test_data_on_group_is_error_json(srv):
    assert_json_error(srv.get("data", file="data.h5", path="/grp"), statuses=range(400, 600))
    assert_json_error(srv.get("stats", file="data.h5", path="/"), statuses=range(400, 600))


def test_paths_on_dataset_is_error_json(srv):
    assert_json_error(srv.get("paths", file="data.h5", path="/arr3"), statuses=range(400, 600))


def test_directory_as_file_is_error_json(srv, tmp_root):
    (tmp_root / "adir").mkdir(exist_ok=True)
    assert_json_error(srv.get("meta", file="adir"), statuses=range(400, 600))
    assert_json_error(srv.get("meta", file=""), statuses=range(400, 600))
    assert ok(srv.get("meta", file="data.h5"))


# ---------------------------------------------------- changing files


def test_rewritten_file_not_stale(srv, tmp_root):
    p = tmp_root / "rewrite.h5"
    with h5py.File(p, "w") as f:
        f["v"] = np.arange(5, dtype=np.int32)
        f.attrs["gen"] = 1
    assert ok(srv.get("data", file="rewrite.h5", path="/v")).json() == [0, 1, 2, 3, 4]
    assert ok(srv.get("attr", file="rewrite.h5", path="/")).json() == {"gen": 1}
    kids1 = [c["name"] for c in ok(srv.get("meta", file="rewrite.h5")).json()["children"]]
    assert kids1 == ["v"]
    for gen in range(2, 5):
        tmp = tmp_root / f".rewrite-{gen}.h5"
        with h5py.File(tmp, "w") as f:
            f["v"] = np.arange(gen * 3, dtype=np.int32) * gen
            f[f"new{gen}"] = np.float64(gen)
            f.attrs["gen"] = gen
        if gen == 3:
            os.replace(tmp, p)  # atomic replace (new inode)
        else:
            shutil.copyfile(tmp, p)  # in-place rewrite (same inode)
            tmp.unlink()
        assert ok(srv.get("data", file="rewrite.h5", path="/v")).json() == (np.arange(gen * 3) * gen).tolist()
        assert ok(srv.get("attr", file="rewrite.h5", path="/")).json() == {"gen": gen}
        kids = sorted(c["name"] for c in ok(srv.get("meta", file="rewrite.h5")).json()["children"])
        assert kids == sorted(["v", f"new{gen}"])
    p.unlink()
    assert_json_error(srv.get("meta", file="rewrite.h5"), statuses={404}, phrase="File not found!")


def test_same_size_rewrite_with_same_mtime_not_stale(srv, tmp_root):
    """Same size and a restored mtime: only content changed (worst case for a cache)."""
    p = tmp_root / "samesize.h5"
    with h5py.File(p, "w", libver="latest") as f:
        f.create_dataset("v", data=np.zeros(16, dtype=np.int32))
    st = os.stat(p)
    assert ok(srv.get("data", file="samesize.h5", path="/v")).json() == [0] * 16
    time.sleep(0.05)
    with h5py.File(p, "r+") as f:
        f["v"][...] = np.arange(16, dtype=np.int32)
    assert os.stat(p).st_size == st.st_size
    got = ok(srv.get("data", file="samesize.h5", path="/v")).json()
    assert got == list(range(16))


# --------------------------------------------------- corrupt inputs


TRUNC_SOURCE = REAL_ROOT / "nexpy_nexpy/src/nexpy/examples/chopper.nxs"


def _h5py_opens(p):
    try:
        with h5py.File(p, "r") as f:
            list(f.keys())
        return True
    except Exception:
        return False


@pytest.mark.parametrize("fraction", [0.0001, 0.002, 0.01, 0.1, 0.5, 0.9, 0.999])
def test_truncated_hdf5(srv, tmp_root, fraction):
    size = TRUNC_SOURCE.stat().st_size
    cut = max(9, int(size * fraction))
    name = f"trunc_{cut}.nxs"
    with open(TRUNC_SOURCE, "rb") as src, open(tmp_root / name, "wb") as dst:
        dst.write(src.read(cut))
    if _h5py_opens(tmp_root / name):
        # h5py opens it: then the server must not die and must answer something sane
        r = srv.get("meta", file=name, path="/")
        if r.status_code != 200:
            assert_json_error(r, statuses=range(400, 600))
    else:
        assert_json_error(srv.get("meta", file=name, path="/"), statuses=range(400, 600))
    r = srv.get("data", file=name, path="/entry/data/data", format="bin")
    if r.status_code != 200:
        assert_json_error(r, statuses=range(400, 600))
    r = srv.get("paths", file=name)
    if r.status_code != 200:
        assert_json_error(r, statuses=range(400, 600))
    # server still alive and serving
    assert srv.alive()
    np.testing.assert_array_equal(data_bin(srv, "/arr3", "<i4", selection="0,0"), ARR3[0, 0])


@pytest.mark.parametrize("kind", ["empty", "random", "signature_only", "text"])
def test_garbage_files(srv, tmp_root, kind):
    rng = np.random.default_rng(1234)
    content = {
        "empty": b"",
        "random": rng.integers(0, 256, 65536, dtype=np.uint8).tobytes(),
        "signature_only": b"\x89HDF\r\n\x1a\n" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "text": b"this is not hdf5\n" * 100,
    }[kind]
    name = f"garbage_{kind}.h5"
    (tmp_root / name).write_bytes(content)
    for ep, extra in (("meta", {}), ("paths", {}), ("attr", {}), ("data", {"path": "/x"}), ("stats", {"path": "/x"})):
        r = srv.get(ep, file=name, **extra)
        assert_json_error(r, statuses=range(400, 600))
        assert_content_length(r)
    assert srv.alive()
    np.testing.assert_array_equal(data_bin(srv, "/arr3", "<i4", selection="1,1"), ARR3[1, 1])


def test_many_concurrent_requests(srv):
    from concurrent.futures import ThreadPoolExecutor

    sels = [f"{i % 4},{i % 5}" for i in range(64)]
    with ThreadPoolExecutor(16) as ex:
        results = list(ex.map(lambda s: srv.get("data", file="data.h5", path="/arr3", selection=s,
                                                format="bin"), sels))
    for s, r in zip(sels, results):
        i, j = map(int, s.split(","))
        assert r.status_code == 200
        np.testing.assert_array_equal(np.frombuffer(r.content, "<i4"), ARR3[i, j])


# ------------------------------------------------- advanced types vs reference


def write_types_file(path):
    with h5py.File(path, "w") as f:
        cmp_dt = np.dtype([("a", "<i4"), ("b", "<f8"), ("c", "S3")])
        f["compound"] = np.array([(1, 2.5, b"xy"), (-3, np.nan, b"abc")], dtype=cmp_dt)
        nested = np.dtype([("p", "<u2"), ("q", np.dtype([("r", "<f4"), ("s", "<i1")]))])
        f["nested"] = np.array([(7, (1.5, -2))], dtype=nested)
        f["complex64"] = np.array([1 + 2j, -0.5 - 1j], dtype=np.complex64)
        f["complex128"] = np.array([[1e-3 + 0j, 3 - 4j]], dtype=np.complex128)
        enum_dt = h5py.enum_dtype({"RED": 0, "GREEN": 1, "BLUE": 42}, basetype="i1")
        f.create_dataset("enum", data=np.array([0, 42, 1], dtype="i1"), dtype=enum_dt)
        arr_ds = f.create_dataset("array", shape=(2,), dtype=np.dtype(("<i2", (3,))))
        arr_ds[0] = [1, 2, 3]
        arr_ds[1] = [4, 5, 6]
        vl = h5py.vlen_dtype(np.dtype("int32"))
        ds = f.create_dataset("vlen", (3,), dtype=vl)
        ds[0] = [1]
        ds[1] = [2, 3]
        ds[2] = [4, 5, 6]
        f["opaque"] = np.void(b"\x01\x02\x03\x04")
        f["utf8_fixed"] = np.array(["é".encode(), b"ab"], dtype=h5py.string_dtype("utf-8", 4))
        f["ascii_vlen"] = np.array([b"x", b"yz"], dtype=h5py.string_dtype("ascii"))
        f["f128"] = np.array([1.5, -2.25], dtype=np.longdouble)
        f["u64"] = np.array([0, 2**64 - 1], dtype=np.uint64)
        f["i8"] = np.array([-128, 127], dtype=np.int8)
        f["bool_scalar"] = np.bool_(True)
        f.create_dataset("gz", data=np.arange(1000, dtype="<u4").reshape(20, 50), chunks=(5, 10),
                         compression="gzip", shuffle=True)
        f["ref"] = f["gz"].ref
        f["dtype_committed"] = np.dtype("<f8")
        f["gz"].attrs["cattr"] = np.array([(1, 2.0, b"z")], dtype=cmp_dt)
        f["gz"].attrs["empty_attr"] = h5py.Empty("f4")
        f["gz"].attrs["scalar_bytes"] = np.bytes_(b"abc")
        f["gz"].attrs["f16attr"] = np.float16(0.1)
        f["gz"].attrs["be_attr"] = np.array([1, 2], dtype=">i4")


TYPE_PATHS = ["/compound", "/nested", "/complex64", "/complex128", "/enum", "/array", "/vlen",
              "/opaque", "/utf8_fixed", "/ascii_vlen", "/f128", "/u64", "/i8", "/bool_scalar",
              "/gz", "/ref", "/dtype_committed"]


@pytest.fixture(scope="module")
def types_file(tmp_root):
    write_types_file(tmp_root / "types.h5")
    return tmp_root / "types.h5"


def _ref(types_file, path):
    with h5py.File(types_file, "r") as f:
        return orjson.loads(orjson_encode(create_content(f, path).metadata()))


@pytest.mark.parametrize("path", TYPE_PATHS)
def test_types_meta_equals_reference(srv, types_file, path):
    got = ok(srv.get("meta", file="types.h5", path=path)).json()
    exp = _ref(types_file, path)
    if exp.get("filters"):
        # filter names come from the HDF5 filter: compare ids only
        assert [x["id"] for x in got["filters"]] == [x["id"] for x in exp["filters"]]
        got = {**got, "filters": None}
        exp = {**exp, "filters": None}
    assert got == exp


def test_types_root_children_equal_reference(srv, types_file):
    got = ok(srv.get("meta", file="types.h5", path="/")).json()
    exp = _ref(types_file, "/")
    strip = lambda m: {**m, "filters": [x["id"] for x in m["filters"]]} if m.get("filters") else m
    assert sorted((strip(c) for c in got["children"]), key=lambda c: c["name"]) == \
        sorted((strip(c) for c in exp["children"]), key=lambda c: c["name"])


@pytest.mark.parametrize("path", ["/compound", "/nested", "/complex64", "/complex128", "/enum", "/vlen",
                                  "/utf8_fixed", "/ascii_vlen", "/f128", "/u64", "/i8", "/bool_scalar",
                                  "/array"])
def test_types_json_data_equals_reference(srv, types_file, path):
    """What H5Web requests for non-TypedArray types: JSON with flatten=true."""
    got = ok(srv.get("data", file="types.h5", path=path, flatten="true")).json()
    with h5py.File(types_file, "r") as f:
        exp = orjson.loads(orjson_encode(create_content(f, path).data(flatten=True)))

    def eq(g, e):
        if isinstance(e, float) and isinstance(g, (int, float)):
            return g == e or np.float32(g) == np.float32(e)
        if isinstance(e, list):
            return isinstance(g, list) and len(g) == len(e) and all(eq(a, b) for a, b in zip(g, e))
        return g == e

    assert eq(got, exp), (got, exp)


def test_types_attr_values(srv, types_file):
    got = ok(srv.get("attr", file="types.h5", path="/gz")).json()
    with h5py.File(types_file, "r") as f:
        attrs = create_content(f, "/gz").attributes()
        # the reference encoder itself raises on be_attr (orjson: "numpy array is not
        # native-endianness"), so give it native-endian copies; be_attr is checked below
        attrs = {k: v.astype(v.dtype.newbyteorder("=")) if isinstance(v, np.ndarray) and not v.dtype.isnative
                 else v for k, v in attrs.items()}
        exp = orjson.loads(orjson_encode(attrs))
    assert got.keys() == exp.keys()
    assert got["cattr"] == exp["cattr"]
    assert got["empty_attr"] is None
    assert got["scalar_bytes"] == "abc"
    assert got["be_attr"] == [1, 2]
    assert np.float32(got["f16attr"]) == np.float32(np.float16(0.1))


def test_types_bin(srv, types_file):
    with h5py.File(types_file, "r") as f:
        gz = f["gz"][()]
    r = ok(srv.get("data", file="types.h5", path="/gz", format="bin", dtype="safe", selection="3:7,::7"))
    np.testing.assert_array_equal(np.frombuffer(r.content, "<u4"), gz[3:7, ::7].ravel())
    r = ok(srv.get("data", file="types.h5", path="/f128", format="bin", dtype="safe"))
    np.testing.assert_array_equal(np.frombuffer(r.content, "<f8"), [1.5, -2.25])
    r = ok(srv.get("data", file="types.h5", path="/u64", format="bin", dtype="safe"))
    np.testing.assert_array_equal(np.frombuffer(r.content, "<u8"), [0, 2**64 - 1])
    r = ok(srv.get("data", file="types.h5", path="/enum", format="bin", dtype="safe"))
    np.testing.assert_array_equal(np.frombuffer(r.content, "i1"), [0, 42, 1])
    r = ok(srv.get("data", file="types.h5", path="/opaque", format="bin"))
    assert r.content == b"\x01\x02\x03\x04"
    for p in ("/compound", "/vlen", "/complex64"):
        assert_json_error(srv.get("data", file="types.h5", path=p, format="bin", dtype="safe"), statuses={422})


@pytest.mark.parametrize("value,flat", [("0", True), ("no", True), ("FALSE", False), ("False", False),
                                        ("false", False), ("1", True), ("", True)])
def test_flatten_values(srv, value, flat):
    got = ok(srv.get("data", file="data.h5", path="/u8_2d", flatten=value)).json()
    assert got == (U8_2D.ravel().tolist() if flat else U8_2D.tolist())
