"""Property-based fuzzing (Hypothesis) of every parser that takes input from outside.

Each property: a clear project error (:class:`zfnet.errors.ZfnetError`) or a correct result,
never another exception, never a write outside the named output. `make test` runs a bounded
number of examples (the ``ci`` profile); ``ZFNET_FUZZ=long pytest tests/test_fuzz.py`` runs
the long profile, whose findings become regression tests (``@example`` lines below and the
tests of tests/test_cli_errors.py).
"""
import io
import json
import os
import shutil
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings, strategies as st

from zfnet.errors import ZfnetError
from conftest import random_keras, tiny_config, write_keras, write_onnx_chain, write_tiny_checkpoint

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=1500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("long" if os.environ.get("ZFNET_FUZZ") == "long" else "ci")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    ck, ds, _ = write_tiny_checkpoint(d / "ck")
    return {"dir": d, "ck": ck, "ds": ds}


def _listing(root):
    return sorted(os.path.relpath(os.path.join(a, f), root) for a, _, fs in os.walk(root) for f in fs)


def _mutate_bytes(data, edits, cut):
    b = bytearray(data)
    for pos, val in edits:
        if b:
            b[pos % len(b)] = val
    if cut is not None and b:
        b = b[:cut % (len(b) + 1)]
    return bytes(b)


edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12)
cuts = st.one_of(st.none(), st.integers(0, 1 << 20))

# ------------------------------------------------------------------ model.json / model.npz
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12), st.floats(allow_nan=True),
              st.text(max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)),
    max_leaves=12)
paths = st.lists(st.one_of(st.sampled_from(["config", "preprocessing", "layers", "input_shape", "mean", "std",
                                            "num_classes", "num_filters", "filter_size", "stride", "pad",
                                            "pool_size", "type", "name", "version", "format",
                                            "class_names", "n", "alpha", "p"]),
                           st.integers(0, 12)), min_size=1, max_size=4)


def _set(doc, path, value, delete):
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return
    key = path[-1]
    if isinstance(node, dict) and isinstance(key, str):
        if delete:
            node.pop(key, None)
        else:
            node[key] = value
    elif isinstance(node, list) and isinstance(key, int) and key < len(node):
        if delete:
            del node[key]
        else:
            node[key] = value


@given(changes=st.lists(st.tuples(paths, json_values, st.booleans()), min_size=1, max_size=4))
@example(changes=[(["version"], 99, False)])
@example(changes=[(["config", "layers", 0], [1, 2], False)])
def test_model_json_is_read_or_refused(base, changes):
    from zfnet.io import checkpoint as ckpt
    from zfnet.nn import model as modelmod
    with tempfile.TemporaryDirectory() as d:
        ck = os.path.join(d, "ck")
        shutil.copytree(base["ck"], ck)
        with open(os.path.join(ck, "model.json")) as f:
            doc = json.load(f)
        for path, value, delete in changes:
            _set(doc, path, value, delete)
        with open(os.path.join(ck, "model.json"), "w") as f:
            f.write(json.dumps(doc, allow_nan=True))
        try:
            doc2, arrays = ckpt.read_checkpoint(ck)
            net = modelmod.build(doc2["config"])
            modelmod.set_weights(net, arrays, source=ck)
        except ZfnetError:
            pass
        assert _listing(d) == ["ck/model.json", "ck/model.npz"]


npz_arrays = st.dictionaries(
    st.sampled_from(["conv1.W", "conv1.b", "fc6.W", "fc8.b", "x", "conv2.W"]),
    st.one_of(st.builds(lambda s, v: np.full(s, v, np.float32),
                        st.lists(st.integers(0, 5), max_size=4).map(tuple), st.floats(width=32)),
              st.builds(lambda s: np.zeros(s, np.int8), st.lists(st.integers(0, 3), max_size=3).map(tuple)),
              st.builds(lambda t: np.array([t]), st.text(max_size=4))),
    max_size=4)


@given(arrays=npz_arrays, raw=st.one_of(st.none(), st.binary(max_size=300)), e=edits, cut=cuts)
@example(arrays={}, raw=b"", e=[], cut=None)
@example(arrays={}, raw=b"weights\n", e=[], cut=None)
def test_model_npz_is_read_or_refused(base, arrays, raw, e, cut):
    from zfnet.io.checkpoint import load_model
    with tempfile.TemporaryDirectory() as d:
        ck = os.path.join(d, "ck")
        shutil.copytree(base["ck"], ck)
        npz = os.path.join(ck, "model.npz")
        if raw is not None:
            data = raw
        else:
            with open(npz, "rb") as f:
                z = dict(np.load(f))
            z.update(arrays)
            buf = io.BytesIO(); np.savez(buf, **z)
            data = _mutate_bytes(buf.getvalue(), e, cut)
        with open(npz, "wb") as f:
            f.write(data)
        try:
            m = load_model(ck)
            assert all(np.isfinite(l.get_value()).all() for l in m.net["conv1"].get_params())
        except ZfnetError:
            pass
        assert _listing(d) == ["ck/model.json", "ck/model.npz"]


# ------------------------------------------------------------------ image files
MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr"]


def _image_bytes(mode, w, h, fmt, seed):
    from PIL import Image
    rng = np.random.RandomState(seed)
    im = Image.new(mode, (w, h))
    if mode in ("L", "RGB", "RGBA", "CMYK", "LA", "YCbCr"):
        a = rng.randint(0, 256, (h, w, len(mode) if mode not in ("L", "YCbCr") else (1 if mode == "L" else 3)))
        im = Image.fromarray(a.squeeze(-1).astype(np.uint8) if a.shape[-1] == 1 else a.astype(np.uint8),
                             mode if mode != "YCbCr" else "RGB")
        if mode == "YCbCr":
            im = im.convert("YCbCr")
    buf = io.BytesIO()
    try:
        im.save(buf, fmt)
    except (OSError, KeyError, ValueError):  # a mode the format cannot hold: store it as PNG of L
        buf = io.BytesIO(); im.convert("L").save(buf, "PNG")
    return buf.getvalue()


@given(mode=st.sampled_from(MODES), w=st.integers(1, 40), h=st.integers(1, 40),
       fmt=st.sampled_from(["PNG", "JPEG", "BMP", "GIF", "TIFF"]), seed=st.integers(0, 3), e=edits, cut=cuts,
       size=st.sampled_from([None, 8, (6, 9)]), channels=st.sampled_from([1, 3]))
def test_image_files_are_read_or_refused(mode, w, h, fmt, seed, e, cut, size, channels):
    from zfnet.data.images import load_image
    from zfnet.data.natural import decode
    data = _mutate_bytes(_image_bytes(mode, w, h, fmt, seed), e, cut)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.img")
        with open(p, "wb") as f:
            f.write(data)
        try:
            a = load_image(p, size, channels)
            assert a.dtype == np.uint8 and a.shape[0] == channels
            if size == 8:
                assert a.shape[1:] == (8, 8)
            elif size is not None:
                assert a.shape[1:] == size
        except ZfnetError:
            pass
        try:
            a = decode(data, "x.img", 16)
            assert a.shape == (3, 16, 16) and a.dtype == np.uint8
        except ZfnetError:
            pass
        assert _listing(d) == ["x.img"]


def test_a_huge_header_is_refused_before_decoding(tmp_path):
    """A PNG header claiming 100000 x 100000 pixels (a decompression bomb) is refused from the
    header, as the fuzzers' mutations of the size fields check at random."""
    import struct
    import zlib
    from zfnet.data.images import load_image
    from zfnet.errors import TooLarge

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(TooLarge, match="too large"):
        load_image(str(tmp_path / "bomb.png"), 8, 1)


# ------------------------------------------------------------------ ONNX and Keras files
@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    pytest.importorskip("onnx")
    return write_onnx_chain(str(tmp_path_factory.mktemp("onnx") / "small.onnx"))


ONNX_EDITS = st.sampled_from(["drop_input", "drop_attr", "drop_node", "dims", "init_shape", "op_type",
                              "swap", "none"])


def _onnx_structural(m, kind, i, j):
    from onnx import numpy_helper
    nodes = [n for n in m.graph.node]
    if not nodes:
        return
    n = nodes[i % len(nodes)]
    if kind == "drop_input" and n.input:
        del n.input[j % len(n.input)]
    elif kind == "drop_attr" and n.attribute:
        del n.attribute[j % len(n.attribute)]
    elif kind == "drop_node":
        m.graph.node.remove(n)
    elif kind == "dims":
        dims = m.graph.input[0].type.tensor_type.shape.dim
        if dims:
            dims[j % len(dims)].dim_value = (i * 7) % 5
    elif kind == "init_shape" and m.graph.initializer:
        init = m.graph.initializer[i % len(m.graph.initializer)]
        a = numpy_helper.to_array(init)
        shape = [a.size] if j % 3 == 0 else ([1, a.size] if j % 3 == 1 else [a.size, 1, 1])
        init.CopyFrom(numpy_helper.from_array(a.reshape(shape), init.name))
    elif kind == "op_type":
        n.op_type = ["Conv", "Gemm", "MaxPool", "LRN", "Relu", "Softmax", "Flatten"][j % 7]
    elif kind == "swap" and len(nodes) > 1:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        tmp = type(a)(); tmp.CopyFrom(a); a.CopyFrom(b); b.CopyFrom(tmp)


@given(kinds=st.lists(st.tuples(ONNX_EDITS, st.integers(0, 50), st.integers(0, 50)), max_size=3),
       e=edits, cut=cuts, raw=st.booleans())
@example(kinds=[], e=[(177, 0)], cut=None, raw=True)  # found by the long profile: LRN size 0
def test_onnx_files_are_imported_or_refused(onnx_file, kinds, e, cut, raw):
    import onnx
    from zfnet.io.onnx import import_onnx
    m = onnx.load(onnx_file)
    for kind, i, j in kinds:
        _onnx_structural(m, kind, i, j)
    data = m.SerializeToString()
    if raw:
        data = _mutate_bytes(data, e, cut)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.onnx")
        with open(p, "wb") as f:
            f.write(data)
        out = os.path.join(d, "out")
        try:
            import_onnx(p, out, preprocess="none", log=lambda *a: None)
            assert os.path.isfile(os.path.join(out, "model.npz"))
        except ZfnetError:
            assert not os.path.exists(out)
        assert set(_listing(d)) <= {"m.onnx", "out/model.json", "out/model.npz"}


KERAS_EDITS = st.sampled_from(["del_group", "del_dataset", "del_attr", "reshape", "dtype", "names", "none"])


@given(kinds=st.lists(st.tuples(KERAS_EDITS, st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=3),
       layout=st.sampled_from(["keras2", "keras1"]))
def test_keras_files_are_imported_or_refused(kinds, layout):
    h5py = pytest.importorskip("h5py")
    from zfnet.io.keras import import_keras
    from zfnet.nn import configs
    from conftest import KERAS_TINY
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "w.h5")
        write_keras(p, random_keras(), layout)
        with h5py.File(p, "a") as f:
            for kind, i, j in kinds:
                groups = list(f.keys())
                dsets = []
                f.visititems(lambda name, obj: dsets.append(name) if isinstance(obj, h5py.Dataset) else None)
                if not groups:
                    break
                g = f[groups[i % len(groups)]]
                if kind == "del_group":
                    del f[groups[i % len(groups)]]
                elif kind == "del_dataset" and dsets:
                    del f[dsets[j % len(dsets)]]
                elif kind == "del_attr":
                    if "weight_names" in g.attrs and j % 2:
                        del g.attrs["weight_names"]
                    elif "layer_names" in f.attrs:
                        del f.attrs["layer_names"]
                elif kind in ("reshape", "dtype") and dsets:
                    name = dsets[j % len(dsets)]
                    a = np.asarray(f[name])
                    del f[name]
                    new = a.reshape(-1)[:max(1, a.size - i % 3)] if kind == "reshape" else \
                        np.array([b"x"] * max(1, a.size))
                    f.create_dataset(name, data=new)
                elif kind == "names":
                    g.attrs["weight_names"] = [b"nonsense:0"] * (j % 3)
        out = os.path.join(d, "out")
        try:
            import_keras(p, out, cfg=configs.vgg(**KERAS_TINY), log=lambda *a: None)
        except ZfnetError:
            assert not os.path.exists(out)
        assert set(_listing(d)) <= {"w.h5", "out/model.json", "out/model.npz"}


# ------------------------------------------------------------------ the explorer's requests
@pytest.fixture(scope="module")
def client(base):
    from zfnet.app.server import create_app
    app = create_app(base["ck"], dataset=base["ds"], max_upload=20000)
    yield app.test_client()
    app.explorer.close()


params = st.one_of(st.text(max_size=12), st.integers(-10 ** 25, 10 ** 25).map(str),
                   st.sampled_from(["conv1", "conv2", "fc6", "relu1", "0", "1", "-1", "nan", "1e9", "", " 3"]))


@given(endpoint=st.sampled_from(["predict", "features", "project", "occlusion", "topk", "image"]),
       query=st.dictionaries(st.sampled_from(["image", "layer", "channel", "method", "top", "size", "stride"]),
                             params, max_size=5), real_image=st.booleans())
@example(endpoint="occlusion", query={"stride": "99999999999999999999"}, real_image=True)
def test_explorer_queries_get_a_clear_answer(client, endpoint, query, real_image):
    from urllib.parse import urlencode
    if real_image:
        query = dict(query, image=client.get("/api/samples").json["samples"][0]["id"])
    if endpoint == "image":
        r = client.get("/api/image/" + query.get("image", "x").replace("/", "%2F"))
    else:
        r = client.get("/api/%s?%s" % (endpoint, urlencode(query)))
    assert r.status_code in (200, 400, 404, 413), (endpoint, query, r.status_code, r.data[:200])
    if r.status_code != 200:
        assert "error" in r.json and "Traceback" not in r.json["error"]


@given(mode=st.sampled_from(MODES), w=st.integers(1, 60), h=st.integers(1, 60),
       fmt=st.sampled_from(["PNG", "JPEG", "GIF", "BMP"]), e=edits, cut=cuts, junk=st.binary(max_size=64),
       use_junk=st.booleans())
def test_explorer_uploads_get_a_clear_answer(client, mode, w, h, fmt, e, cut, junk, use_junk):
    data = junk if use_junk else _mutate_bytes(_image_bytes(mode, w, h, fmt, 0), e, cut)
    r = client.post("/api/upload", data={"image": (io.BytesIO(data), "u.png")})
    assert r.status_code in (200, 400, 413), (r.status_code, r.data[:200])
    if r.status_code == 200:
        r2 = client.get("/api/predict?image=" + r.json["id"])
        assert r2.status_code == 200 and len(r2.json["top5"]) == 3
