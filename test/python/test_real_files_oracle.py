"""Every real HDF5/NeXus file, through the server, compared with h5py.

h5py (with hdf5plugin for bitshuffle/LZ4) is the oracle for values; the h5grove
4.0.0 reference functions (pure h5py) are the oracle for type/attribute
metadata shapes.  Each test collects every mismatch of one file before failing,
so a failure lists all of them.
"""

from __future__ import annotations

import math
import posixpath
import re
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers bitshuffle/LZ4/... for h5py)
import numpy as np
import orjson
import pytest
from h5grove.content import get_list_of_paths
from h5grove.encoders import orjson_default, orjson_encode
from h5grove.utils import _sanitize_dtype, attr_metadata, get_type_metadata

from conftest import REAL_ROOT, assert_content_length, assert_json_error

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
BIG = 1_000_000
MAX_ELEMENTS = 4_000_000


def _is_hdf5(p: Path) -> bool:
    # HDF5 signature may be at 0, 512, 1024, ... (user block); check the common offsets.
    try:
        with open(p, "rb") as f:
            for off in (0, 512, 1024, 2048):
                f.seek(off)
                if f.read(8) == HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


REAL_FILES = sorted(
    p.relative_to(REAL_ROOT).as_posix()
    for p in REAL_ROOT.rglob("*")
    if p.is_file() and not p.is_symlink() and _is_hdf5(p)
) if REAL_ROOT.is_dir() else []


def test_real_files_found():
    assert REAL_ROOT.is_dir(), REAL_ROOT
    # The manifest lists 17 HDF5 files (.nxs/.h5/.hdf); must find at least those kinds.
    exts = {Path(f).suffix for f in REAL_FILES}
    assert {".nxs", ".h5", ".hdf"} <= exts, exts
    assert len(REAL_FILES) >= 15, REAL_FILES
    assert "silx-kit_hdf5plugin/test/bitshuffle.h5" in REAL_FILES


# ---------------------------------------------------------------- h5py walk


class Walk:
    """What h5py sees in a file: groups (hard-linked), datasets, links."""

    def __init__(self, relpath: str):
        self.relpath = relpath
        self.groups: list[str] = []
        self.datasets: list[str] = []  # readable-by-path datasets (hard or valid links)
        self.broken: list[tuple[str, object]] = []  # (path, h5py link object)
        self.valid_links: list[tuple[str, object]] = []
        with h5py.File(REAL_ROOT / relpath, "r") as f:
            self._visit(f, "/", set())

    def _visit(self, g, path, seen):
        self.groups.append(path)
        for name in g.keys():
            child = posixpath.join(path, name)
            link = g.get(name, getlink=True)
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                try:
                    obj = g[name]
                except (KeyError, OSError, ValueError):
                    self.broken.append((child, link))
                    continue
                self.valid_links.append((child, link))
                if isinstance(obj, h5py.Dataset):
                    self.datasets.append(child)
                continue  # do not descend through links
            obj = g[name]
            if isinstance(obj, h5py.Group):
                key = obj.id.fileno, obj.id.addr if hasattr(obj.id, "addr") else child
                self._visit(obj, child, seen)
            elif isinstance(obj, h5py.Dataset):
                self.datasets.append(child)


_WALKS: dict[str, Walk] = {}


def walk(relpath: str) -> Walk:
    if relpath not in _WALKS:
        _WALKS[relpath] = Walk(relpath)
    return _WALKS[relpath]


def h5open(relpath):
    # cwd-independent: h5py resolves relative external links against the file's folder.
    return h5py.File(REAL_ROOT / relpath, "r")


def fail_if(errors: list[str], what: str):
    if errors:
        shown = "\n  ".join(errors[:40])
        more = f"\n  ... and {len(errors) - 40} more" if len(errors) > 40 else ""
        pytest.fail(f"{len(errors)} {what} mismatch(es):\n  {shown}{more}", pytrace=False)


# ------------------------------------------------------------ JSON compare


def _float32ish(type_meta) -> bool:
    """True if the value may legitimately be printed with float32 precision."""
    s = orjson.dumps(type_meta).decode()
    return '"<f4"' in s or '">f4"' in s or '"<f2"' in s or '">f2"' in s


def json_equal(got, exp, f32: bool) -> bool:
    if isinstance(exp, bool) or isinstance(got, bool):
        # bools may come back as ints 0/1 from some encoders of enum bool; be strict on value
        return type(got) is type(exp) and got == exp if isinstance(exp, bool) else got == exp
    if isinstance(exp, (int, float)) and isinstance(got, (int, float)):
        if isinstance(exp, float) and math.isnan(exp):
            return isinstance(got, float) and math.isnan(got)
        if got == exp:
            return True
        if f32:
            return np.float32(got) == np.float32(exp)
        return False
    if isinstance(exp, list):
        return isinstance(got, list) and len(got) == len(exp) and all(
            json_equal(g, e, f32) for g, e in zip(got, exp))
    if isinstance(exp, dict):
        return isinstance(got, dict) and got.keys() == exp.keys() and all(
            json_equal(got[k], exp[k], f32) for k in exp)
    return got == exp


def expected_json(value):
    """h5grove reference JSON for an h5py value (NaN/Inf -> null, bytes decoded as UTF-8)."""
    return orjson.loads(orjson_encode(value))


def _encode_with(value, errors):
    def default(o):
        if isinstance(o, bytes):
            return o.decode("utf-8", errors) if errors != "latin-1" else o.decode("latin-1")
        return orjson_default(o)

    return orjson.loads(orjson_encode(value, default=default))


def acceptable_json(value) -> list:
    """Acceptable JSON renderings of ``value``.

    Valid UTF-8 has exactly one (the reference's).  Bytes that are not valid UTF-8
    (legacy Latin-1 units such as b'\\xb0') make the reference itself fail; any
    lossless-looking decoding (U+FFFD replacement or Latin-1) is then accepted.
    """
    try:
        return [expected_json(value)]
    except (TypeError, UnicodeDecodeError, orjson.JSONEncodeError):
        return [_encode_with(value, "replace"), _encode_with(value, "latin-1")]


# -------------------------------------------------------------------- tests

per_file = pytest.mark.parametrize("relpath", REAL_FILES)


@per_file
def test_meta_groups(relpath, real_server):
    """/meta of every reachable group: children, kinds, shapes, dtypes, attribute descriptors."""
    w = walk(relpath)
    errors: list[str] = []
    with h5open(relpath) as f:
        for gpath in w.groups:
            r = real_server.get("meta", file=relpath, path=gpath)
            if r.status_code != 200:
                errors.append(f"/meta path={gpath}: status {r.status_code} {r.content[:200]!r}")
                continue
            assert_content_length(r)
            meta = r.json()
            g = f[gpath]
            if meta.get("kind") != "group":
                errors.append(f"/meta path={gpath}: kind {meta.get('kind')!r} != 'group'")
            exp_name = "" if gpath == "/" else posixpath.basename(gpath)
            if meta.get("name") != exp_name:
                errors.append(f"/meta path={gpath}: name {meta.get('name')!r} != {exp_name!r}")
            errors += check_attr_descriptors(meta, g, f"/meta path={gpath}", requested=True)
            children = meta.get("children")
            if not isinstance(children, list):
                errors.append(f"/meta path={gpath}: children missing")
                continue
            got_names = [c.get("name") for c in children]
            if sorted(got_names) != sorted(g.keys()):
                errors.append(f"/meta path={gpath}: children {sorted(got_names)} != h5py {sorted(g.keys())}")
            by_name = {c.get("name"): c for c in children}
            for name in g.keys():
                c = by_name.get(name)
                if c is None:
                    continue
                where = f"/meta path={gpath} child {name!r}"
                if "children" in c:
                    errors.append(f"{where}: child carries 'children' (only depth 1 allowed)")
                errors += check_child(c, g, name, where)
    fail_if(errors, f"/meta in {relpath}")


def _text(value) -> str | None:
    value = value.decode() if isinstance(value, bytes) else value
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    if isinstance(value, (str, int, np.integer)):
        return str(value)
    return None


def legacy_nxdata_attrs(obj) -> dict:
    """Group attributes the server adds for old-style NeXus NXdata (signal=1 / axes="a:b" on the
    signal dataset, or axis=n on each axis), as the NeXus format before NIAC 2014 defines them."""
    if not isinstance(obj, h5py.Group) or "signal" in obj.attrs or _text(obj.attrs.get("NX_class")) != "NXdata":
        return {}
    signal, axes_text, by_axis = None, None, {}
    for name in obj:
        child = obj.get(name)
        if not isinstance(child, h5py.Dataset):
            continue
        if "signal" in child.attrs and (_text(child.attrs["signal"]) or "").strip() == "1":
            signal = name
            axes_text = _text(child.attrs["axes"]) if "axes" in child.attrs else None
        if "axis" in child.attrs and (_text(child.attrs["axis"]) or "").isdigit():
            by_axis[int(_text(child.attrs["axis"]))] = name
    if signal is None:
        return {}
    if axes_text:
        axes = [a for a in re.split(r"[:,\s]+", axes_text.replace("[", "").replace("]", "")) if a]
    elif by_axis and sorted(by_axis) == list(range(1, len(by_axis) + 1)):
        axes = [by_axis[i] for i in sorted(by_axis)]
    else:
        return {"signal": signal}
    return {"signal": signal, "axes": axes}


def check_attr_descriptors(meta, obj, where, requested: bool = False) -> list[str]:
    """`requested`: the group /meta was asked for, the only one given synthetic NeXus attributes."""
    errs = []
    attrs = meta.get("attributes")
    if not isinstance(attrs, list):
        return [f"{where}: attributes missing or not a list: {attrs!r}"]
    names = [a.get("name") for a in attrs]
    synthetic = legacy_nxdata_attrs(obj) if requested else {}
    exp_names = sorted([*obj.attrs.keys(), *synthetic])
    if names != exp_names:
        errs.append(f"{where}: attribute names {names} != sorted h5py {exp_names}")
        return errs
    for a in attrs:
        if a["name"] in synthetic:
            if list(a.get("shape") or []) != ([len(synthetic["axes"])] if a["name"] == "axes" else []):
                errs.append(f"{where}: synthetic attr {a['name']!r} shape {a.get('shape')}")
            continue
        exp = attr_metadata(obj.attrs, a["name"])
        if list(a.get("shape") or []) != list(exp["shape"] or []) or (a.get("shape") is None) != (exp["shape"] is None):
            errs.append(f"{where}: attr {a['name']!r} shape {a.get('shape')} != {exp['shape']}")
        exp_type = orjson.loads(orjson.dumps(exp["type"]))
        if a.get("type") != exp_type:
            errs.append(f"{where}: attr {a['name']!r} type {a.get('type')} != {exp_type}")
    return errs


def check_child(c, g, name, where) -> list[str]:
    errs = []
    link = g.get(name, getlink=True)
    try:
        obj = g[name]
    except (KeyError, OSError, ValueError):
        obj = None
    kind = c.get("kind")
    if obj is None:
        exp_kind = "external_link" if isinstance(link, h5py.ExternalLink) else "soft_link"
        if kind != exp_kind:
            return [f"{where}: broken link reported as kind {kind!r}, expected {exp_kind!r}"]
        if c.get("target_path") != link.path:
            errs.append(f"{where}: target_path {c.get('target_path')!r} != {link.path!r}")
        if exp_kind == "external_link" and c.get("target_file") != link.filename:
            errs.append(f"{where}: target_file {c.get('target_file')!r} != {link.filename!r}")
        if "attributes" in c:
            errs.append(f"{where}: unresolved link carries attributes")
        return errs
    if isinstance(obj, h5py.Group):
        if kind != "group":
            errs.append(f"{where}: kind {kind!r} != 'group'")
        errs += check_attr_descriptors(c, obj, where)
    elif isinstance(obj, h5py.Dataset):
        if kind != "dataset":
            return [f"{where}: kind {kind!r} != 'dataset'"]
        exp_shape = None if obj.shape is None else list(obj.shape)
        if c.get("shape") != exp_shape:
            errs.append(f"{where}: shape {c.get('shape')} != h5py {exp_shape}")
        exp_type = orjson.loads(orjson.dumps(get_type_metadata(obj.id.get_type())))
        if c.get("type") != exp_type:
            errs.append(f"{where}: type {c.get('type')} != reference {exp_type}")
        t = c.get("type") or {}
        if obj.dtype.kind in "iuf" and t.get("dtype") != obj.dtype.str:
            errs.append(f"{where}: dtype {t.get('dtype')!r} != h5py {obj.dtype.str!r}")
        exp_chunks = list(obj.chunks) if obj.chunks else None
        if c.get("chunks") != exp_chunks:
            errs.append(f"{where}: chunks {c.get('chunks')} != h5py {exp_chunks}")
        exp_filters = filter_ids(obj)
        got_filters = c.get("filters")
        got_ids = None if got_filters is None else [fl.get("id") for fl in got_filters]
        if got_ids != exp_filters:
            errs.append(f"{where}: filter ids {got_ids} != h5py {exp_filters}")
        errs += check_attr_descriptors(c, obj, where)
    elif isinstance(obj, h5py.Datatype):
        if kind != "datatype":
            errs.append(f"{where}: kind {kind!r} != 'datatype'")
    return errs


def filter_ids(ds):
    plist = ds.id.get_create_plist()
    n = plist.get_nfilters()
    return [plist.get_filter(i)[0] for i in range(n)] or None


@per_file
def test_attr_values(relpath, real_server):
    """/attr of every group and dataset equals h5py's attribute values."""
    w = walk(relpath)
    errors: list[str] = []
    with h5open(relpath) as f:
        for p in w.groups + w.datasets:
            obj = f[p]
            r = real_server.get("attr", file=relpath, path=p)
            if r.status_code != 200:
                errors.append(f"/attr path={p}: status {r.status_code} {r.content[:200]!r}")
                continue
            assert_content_length(r)
            got = r.json()
            synthetic = legacy_nxdata_attrs(obj)
            exp_keys = sorted([*obj.attrs.keys(), *synthetic])
            if not isinstance(got, dict) or sorted(got) != exp_keys:
                errors.append(f"/attr path={p}: keys {sorted(got) if isinstance(got, dict) else got!r} != {exp_keys}")
                continue
            for k, v in synthetic.items():
                if got[k] != v:
                    errors.append(f"/attr path={p} synthetic {k!r}: got {got[k]!r} expected {v!r}")
            for k in obj.attrs.keys():
                exps = acceptable_json(obj.attrs[k])
                exp = exps[0]
                f32 = _float32ish(attr_metadata(obj.attrs, k)["type"])
                if not any(json_equal(got[k], e, f32) for e in exps):
                    errors.append(f"/attr path={p} key={k!r}: got {str(got[k])[:120]} expected {str(exp)[:120]}")
        # attr_keys filtering on the root (and first dataset) with repeated keys
        for p in [w.groups[0]] + w.datasets[:1]:
            keys = sorted(f[p].attrs.keys())[:2]
            if not keys:
                continue
            r = real_server.get("attr", file=relpath, path=p, attr_keys=keys)
            if r.status_code != 200 or sorted(r.json()) != keys:
                errors.append(f"/attr path={p} attr_keys={keys}: status {r.status_code} body {r.content[:200]!r}")
    fail_if(errors, f"/attr in {relpath}")


def selection_for(ds) -> tuple[str | None, tuple]:
    """Selection string (h5grove syntax) and the equivalent numpy index."""
    if ds.shape is None or ds.size <= BIG or len(ds.shape) == 0:
        return None, ()
    sel_str = ["0"]
    index: list = [0]
    remaining = int(np.prod(ds.shape[1:], dtype=np.int64))
    if remaining > MAX_ELEMENTS:
        for _ in ds.shape[1:]:
            sel_str.append("0:256")
            index.append(slice(0, 256))
    return ",".join(sel_str), tuple(index)


def is_numeric(dt: np.dtype) -> bool:
    return dt.kind in "iufb"


def read_h5py(ds, index):
    if ds.shape is None:
        return None
    return ds[index] if index else ds[()]


@per_file
def test_numeric_data(relpath, real_server):
    """/data?format=bin&dtype=safe of every numeric dataset equals h5py (exact)."""
    w = walk(relpath)
    errors: list[str] = []
    checked = 0
    with h5open(relpath) as f:
        for p in w.datasets:
            ds = f[p]
            if not is_numeric(ds.dtype) or ds.shape is None:
                continue
            sel, index = selection_for(ds)
            try:
                exp = np.asarray(read_h5py(ds, index))
            except OSError as e:
                # h5py cannot read it either: server must give a JSON error
                params = dict(file=relpath, path=p, format="bin", dtype="safe")
                if sel:
                    params["selection"] = sel
                r = real_server.get("data", **params)
                try:
                    assert_json_error(r)
                except AssertionError as ae:
                    errors.append(f"/data path={p} (h5py: {e}): {ae}")
                continue
            params = dict(file=relpath, path=p, format="bin", dtype="safe")
            if sel:
                params["selection"] = sel
            r = real_server.get("data", **params)
            checked += 1
            if r.status_code != 200:
                errors.append(f"/data path={p} selection={sel}: status {r.status_code} {r.content[:200]!r}")
                continue
            assert_content_length(r)
            safe = _sanitize_dtype(exp.dtype)
            exp = exp.astype(safe)
            if len(r.content) != exp.nbytes:
                errors.append(f"/data path={p} selection={sel}: {len(r.content)} bytes, expected {exp.nbytes} ({safe.str} x {exp.size})")
                continue
            got = np.frombuffer(r.content, dtype=safe)
            try:
                np.testing.assert_array_equal(got, exp.ravel())
            except AssertionError as e:
                errors.append(f"/data path={p} selection={sel} dtype {ds.dtype.str}: values differ: {str(e)[:300]}")
    fail_if(errors, f"numeric /data in {relpath}")
    if not any(is_numeric(f_dt) for f_dt in _dtypes(relpath)):
        return
    assert checked > 0 or errors == [], "no numeric dataset checked"


def _dtypes(relpath):
    out = []
    with h5open(relpath) as f:
        for p in walk(relpath).datasets:
            out.append(f[p].dtype)
    return out


@per_file
def test_string_and_other_data(relpath, real_server):
    """Non-numeric datasets via format=json&flatten=true equal the h5grove/h5py reference."""
    w = walk(relpath)
    errors: list[str] = []
    with h5open(relpath) as f:
        for p in w.datasets:
            ds = f[p]
            if is_numeric(ds.dtype):
                continue
            if ds.shape is not None and ds.size > BIG:
                continue
            value = ds[()] if ds.shape is not None else h5py.Empty(ds.dtype)
            if isinstance(value, np.ndarray):
                value = np.ravel(value)
            exps = acceptable_json(value)
            exp = exps[0]
            r = real_server.get("data", file=relpath, path=p, format="json", flatten="true")
            if r.status_code != 200:
                errors.append(f"/data path={p} dtype {ds.dtype}: status {r.status_code} {r.content[:200]!r}")
                continue
            assert_content_length(r)
            got = r.json()
            if not any(json_equal(got, e, False) for e in exps):
                errors.append(f"/data path={p} dtype {ds.dtype}: got {str(got)[:150]!r} expected {str(exp)[:150]!r}")
    fail_if(errors, f"string /data in {relpath}")


@per_file
def test_broken_links(relpath, real_server):
    """Dangling links: listed as link objects; /data and /meta?resolve_links=all are JSON errors."""
    w = walk(relpath)
    errors: list[str] = []
    for p, link in w.broken:
        kind = "external_link" if isinstance(link, h5py.ExternalLink) else "soft_link"
        parent = posixpath.dirname(p) or "/"
        r = real_server.get("meta", file=relpath, path=parent)
        child = [c for c in r.json().get("children", []) if c.get("name") == posixpath.basename(p)] \
            if r.status_code == 200 else []
        if not child or child[0].get("kind") != kind:
            errors.append(f"/meta path={parent}: child {posixpath.basename(p)!r} is {child[:1]}, expected kind {kind}")
        # the link itself, default only_valid -> link object
        r = real_server.get("meta", file=relpath, path=p)
        if r.status_code != 200 or r.json().get("kind") != kind:
            errors.append(f"/meta path={p}: status {r.status_code} body {r.content[:200]!r}, expected {kind}")
        r = real_server.get("meta", file=relpath, path=p, resolve_links="all")
        try:
            assert_json_error(r, statuses={404}, phrase="Cannot resolve")
        except AssertionError as e:
            errors.append(f"/meta path={p} resolve_links=all: {e}")
        for fmt in ("bin", "json"):
            r = real_server.get("data", file=relpath, path=p, format=fmt)
            try:
                assert_json_error(r)
            except AssertionError as e:
                errors.append(f"/data path={p} format={fmt} on dangling {kind}: {e}")
        r = real_server.get("attr", file=relpath, path=p)
        try:
            assert_json_error(r, statuses=range(400, 600))
        except AssertionError as e:
            errors.append(f"/attr path={p} on dangling {kind}: {e}")
    fail_if(errors, f"broken links in {relpath}")


@per_file
def test_valid_links(relpath, real_server):
    """Links that resolve: /meta describes the target under the link's name; resolve_links=none gives the link."""
    w = walk(relpath)
    errors: list[str] = []
    with h5open(relpath) as f:
        for p, link in w.valid_links:
            kind = "external_link" if isinstance(link, h5py.ExternalLink) else "soft_link"
            obj = f[p]
            exp_kind = "group" if isinstance(obj, h5py.Group) else "dataset" if isinstance(obj, h5py.Dataset) else "datatype"
            r = real_server.get("meta", file=relpath, path=p)
            if r.status_code != 200:
                errors.append(f"/meta path={p}: status {r.status_code} {r.content[:200]!r}")
                continue
            m = r.json()
            if m.get("kind") != exp_kind or m.get("name") != posixpath.basename(p):
                errors.append(f"/meta path={p}: kind/name {m.get('kind')}/{m.get('name')} != {exp_kind}/{posixpath.basename(p)}")
            if exp_kind == "dataset" and m.get("shape") != list(obj.shape):
                errors.append(f"/meta path={p}: shape {m.get('shape')} != {list(obj.shape)}")
            r = real_server.get("meta", file=relpath, path=p, resolve_links="none")
            m = r.json() if r.status_code == 200 else {}
            if m.get("kind") != kind or m.get("target_path") != link.path:
                errors.append(f"/meta path={p} resolve_links=none: {r.status_code} {r.content[:200]!r}, expected {kind} -> {link.path}")
    fail_if(errors, f"valid links in {relpath}")


@per_file
def test_paths(relpath, real_server):
    """/paths lists the root and every link (H5Lvisit, not descending into soft/external links)."""
    with get_list_of_paths(REAL_ROOT / relpath, "/", lambda code, msg: RuntimeError(f"{code} {msg}")) as names:
        exp = list(names)
    r = real_server.get("paths", file=relpath, path="/")
    assert r.status_code == 200, r.content[:300]
    assert_content_length(r)
    got = r.json()
    assert isinstance(got, list)
    assert got[0] == "/", got[:3]
    assert sorted(got) == sorted(exp), (sorted(set(got) ^ set(exp)))[:20]


@per_file
def test_stats_vs_reference(relpath, real_server):
    """/stats of numeric datasets equals the h5grove reference computed with h5py."""
    from h5grove.content import create_content
    from h5grove.utils import parse_slice

    errors: list[str] = []
    with h5open(relpath) as f:
        numeric = [p for p in walk(relpath).datasets
                   if is_numeric(f[p].dtype) and f[p].shape is not None and f[p].dtype.kind != "b"]
        for p in numeric[:40]:
            sel, _ = selection_for(f[p])
            try:
                exp = orjson.loads(orjson_encode(create_content(f, p).data_stats(parse_slice(sel) if sel else None)))
            except OSError:
                continue
            params = dict(file=relpath, path=p)
            if sel:
                params["selection"] = sel
            r = real_server.get("stats", **params)
            if r.status_code != 200:
                errors.append(f"/stats path={p}: status {r.status_code} {r.content[:200]!r}")
                continue
            assert_content_length(r)
            got = r.json()
            if sorted(got) != sorted(exp):
                errors.append(f"/stats path={p}: keys {sorted(got)} != {sorted(exp)}")
                continue
            float_ref = {}
            if f[p].dtype.kind in "iu" and exp["mean"] is not None:
                # the reference truncates integer mean/std to int; the int-cast rule is
                # asserted in test_protocol.py::test_stats_integer_cast, here check the numbers
                arr = np.asarray(f[p][selection_for(f[p])[1]] if sel else f[p][()], dtype=np.float64)
                float_ref = {"mean": float(arr.mean()), "std": float(arr.std())}
            for k, e in exp.items():
                g = got[k]
                if e is None or g is None:
                    ok_ = e is None and g is None
                elif k in ("mean", "std"):
                    e2 = float_ref.get(k, e)
                    ok_ = g == e or math.isclose(g, e2, rel_tol=1e-5, abs_tol=1e-9 * max(1.0, abs(exp["max"] or 0)))
                else:
                    ok_ = g == e or (f[p].dtype.kind == "f" and np.float32(g) == np.float32(e))
                if not ok_:
                    errors.append(f"/stats path={p} {k}: got {g!r} expected {e!r}")
    fail_if(errors, f"/stats in {relpath}")


BITSHUFFLE = "silx-kit_hdf5plugin/test/bitshuffle.h5"
VDS_FILE = "prjemian_punx/punx/data/DLS_i03_i04_NXmx_Therm_6_2.nxs"


def test_bitshuffle_lz4_decodes_like_h5py(real_server):
    found = 0
    with h5open(BITSHUFFLE) as f:
        for p in walk(BITSHUFFLE).datasets:
            ds = f[p]
            if 32008 not in (filter_ids(ds) or []):
                continue
            found += 1
            exp = ds[()]
            assert np.count_nonzero(exp) > 0  # a real frame, not all zeros
            r = real_server.get("data", file=BITSHUFFLE, path=p, format="bin", dtype="safe")
            assert r.status_code == 200, r.content[:300]
            assert_content_length(r)
            got = np.frombuffer(r.content, dtype=_sanitize_dtype(exp.dtype)).reshape(exp.shape)
            np.testing.assert_array_equal(got, exp)
            m = real_server.get("meta", file=BITSHUFFLE, path=p).json()
            assert [fl["id"] for fl in m["filters"]] == filter_ids(ds)
    assert found >= 1, "no bitshuffle dataset found in bitshuffle.h5"


@pytest.mark.parametrize("sel,index", [
    ("0,0:64,0:64", np.s_[0, 0:64, 0:64]),
    ("-1,-64:,-64:", np.s_[-1, -64:, -64:]),
    ("100,2000:2010,::500", np.s_[100, 2000:2010, ::500]),
])
def test_vds_with_missing_source_agrees_with_h5py(real_server, sel, index):
    """h5py reads the fill value where the VDS source file is missing; the server must agree."""
    with h5open(VDS_FILE) as f:
        ds = f["/entry/data/data"]
        assert ds.is_virtual
        exp = ds[index]
        dt = _sanitize_dtype(ds.dtype)
    m = real_server.get("meta", file=VDS_FILE, path="/entry/data/data")
    assert m.status_code == 200 and m.json()["shape"] == [488, 4362, 4148], m.content[:300]
    r = real_server.get("data", file=VDS_FILE, path="/entry/data/data", selection=sel, format="bin", dtype="safe")
    if r.status_code == 200:
        assert_content_length(r)
        np.testing.assert_array_equal(np.frombuffer(r.content, dt), np.ravel(exp).astype(dt))
    else:
        # only acceptable if h5py could not read it either, which is not the case here
        pytest.fail(f"/data VDS selection={sel}: status {r.status_code} {r.content[:300]!r}; h5py reads fill values")
