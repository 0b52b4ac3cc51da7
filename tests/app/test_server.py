"""The explorer's JSON API, with Flask's test client, against numpy references."""
import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from zfnet.io import checkpoint as ckpt
from zfnet.data import dataset as datamod
from zfnet.vis.deconv import input_patch_box
from ref import forward
from conftest import tiny_config, write_tiny_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from zfnet.app.server import create_app
    from zfnet.vis.figures import topk
    d = tmp_path_factory.mktemp("explorer")
    cfg = tiny_config()
    path, ds, pre = write_tiny_checkpoint(d / "final", cfg)
    topk(path, ["conv2"], str(d / "final" / "topk"), dataset=ds, channels=[1, 4], k=9, progress=False,
         log=lambda *a: None)
    app = create_app(path, dataset=ds, max_upload=50000)
    _, arrays = ckpt.read_checkpoint(path)
    yield {"app": app, "client": app.test_client(), "cfg": cfg, "arrays": arrays, "ds": ds,
           "pre": pre, "net": app.explorer.net, "path": path}
    app.explorer.close()


def _ref(setup, pixels, upto=None):
    x = datamod.normalize(pixels[None], setup["pre"]["mean"], setup["pre"]["std"])
    return forward(setup["cfg"], setup["arrays"], x, upto=upto)


def _png_bytes(arr, fmt="PNG"):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_model_and_samples(setup):
    c = setup["client"]
    m = c.get("/api/model").json
    assert m["name"] == "tiny" and m["input_shape"] == [1, 12, 12] and m["classes"] == ["top", "middle", "bottom"]
    names = [l["name"] for l in m["layers"]]
    assert names == ["conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2"]
    assert [l for l in m["layers"] if l["name"] == "conv2"][0]["topk_channels"] == [1, 4]
    s = c.get("/api/samples").json["samples"]
    assert sorted(x["label"] for x in s) == ["bottom", "middle", "top"]  # one per class
    r = c.get(s[0]["url"])
    assert r.status_code == 200 and r.mimetype == "image/png"
    img = np.asarray(Image.open(io.BytesIO(r.data)).convert("L"))
    i = int(s[0]["id"].split("-")[1])
    np.testing.assert_array_equal(img, setup["ds"].x_test[i, 0])
    page = c.get("/")
    assert page.status_code == 200 and b"zfnet explorer" in page.data
    assert b"http://" not in page.data and b"https://" not in page.data  # no CDN: works offline
    for asset in ("/static/explorer.js", "/static/explorer.css"):
        r = c.get(asset)
        assert r.status_code == 200 and b"http://" not in r.data and b"https://" not in r.data


def test_predict_matches_the_numpy_forward(setup):
    c = setup["client"]
    sid = c.get("/api/samples").json["samples"][1]["id"]
    i = int(sid.split("-")[1])
    top = c.get("/api/predict?image=" + sid).json["top5"]
    p = _ref(setup, setup["ds"].x_test[i])["prob"][0, :, 0, 0]
    assert [t["index"] for t in top] == list(np.argsort(-p)[:5])
    np.testing.assert_allclose([t["probability"] for t in top], np.sort(p)[::-1][:5], rtol=1e-4)


def test_features_are_ranked_by_maximum(setup):
    c = setup["client"]
    sid = c.get("/api/samples").json["samples"][0]["id"]
    i = int(sid.split("-")[1])
    maps = c.get("/api/features?image=%s&layer=relu2&top=4" % sid).json["maps"]
    act = _ref(setup, setup["ds"].x_test[i])["relu2"][0]
    mx = act.reshape(len(act), -1).max(axis=1)
    assert len(maps) == 4
    np.testing.assert_allclose([m["max"] for m in maps], np.sort(mx)[::-1][:4], rtol=1e-4, atol=1e-6)
    assert all(m["overlay"].startswith("data:image/png;base64,") for m in maps)


@pytest.mark.parametrize("method", ["deconvnet", "guided", "gradient", "smoothgrad"])
def test_projection_of_a_clicked_map(setup, method):
    c = setup["client"]
    sid = c.get("/api/samples").json["samples"][2]["id"]
    i = int(sid.split("-")[1])
    r = c.get("/api/project?image=%s&layer=conv2&channel=3&method=%s" % (sid, method)).json
    act = _ref(setup, setup["ds"].x_test[i])["conv2"][0, 3]
    y, x = np.unravel_index(act.argmax(), act.shape)
    assert r["unit"] == [int(y), int(x)] and r["activation"] == pytest.approx(act.max(), rel=1e-4)
    assert r["box"] == list(input_patch_box(setup["net"], "conv2", int(y), int(x)))
    for k in ("projection", "patch", "projection_patch"):
        assert r[k].startswith("data:image/png;base64,")


def test_occlusion_map_matches_numpy(setup):
    c = setup["client"]
    sid = c.get("/api/samples").json["samples"][0]["id"]
    i = int(sid.split("-")[1])
    o = c.get("/api/occlusion?image=%s&size=4&stride=4" % sid).json
    pm = np.array(o["probabilities"])
    assert pm.shape == (3, 3) and o["size"] == 4
    img = setup["ds"].x_test[i]
    grey = int(round(setup["pre"]["mean"][0]))
    cls = o["class"]
    ci = ["top", "middle", "bottom"].index(cls)
    for (a, b) in [(0, 0), (1, 2), (2, 1)]:
        occ = img.copy(); occ[:, 4 * a:4 * a + 4, 4 * b:4 * b + 4] = grey
        want = _ref(setup, occ)["prob"][0, ci, 0, 0]
        assert pm[a, b] == pytest.approx(want, rel=1e-3, abs=1e-6)


def test_dataset_topk_when_computed(setup):
    c = setup["client"]
    t = c.get("/api/topk?layer=conv2&channel=4").json
    assert len(t["items"]) == 9 and all("image" in it and "projection" in it for it in t["items"])
    # each top image is the test image whose conv2 channel 4 peaks at that activation
    ds = setup["ds"]
    for it in t["items"][:3]:
        act = _ref(setup, ds.x_test[it["image_index"]])["conv2"][0, 4]
        assert act.max() == pytest.approx(it["activation"], rel=1e-4)
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(it["image"].split(",")[1]))).convert("L"))
        np.testing.assert_array_equal(shown[::3, ::3], ds.x_test[it["image_index"], 0])
    acts = [it["activation"] for it in t["items"]]
    assert acts == sorted(acts, reverse=True)

    # a map without a computed top-9: computed on demand in the background, then served
    deadline = time.time() + 120
    t = c.get("/api/topk?layer=conv2&channel=2").json
    while t["status"] == "computing" and time.time() < deadline:
        assert 0 <= t["progress"] <= 1
        time.sleep(0.2)
        t = c.get("/api/topk?layer=conv2&channel=2").json
    assert t["status"] == "done" and len(t["items"]) == 9
    per_image = np.array([_ref(setup, x)["conv2"][0, 2].max() for x in ds.x_test])
    want = np.argsort(-per_image, kind="stable")[:9]
    assert [it["image_index"] for it in t["items"]] == want.tolist()
    np.testing.assert_allclose([it["activation"] for it in t["items"]], per_image[want], rtol=1e-4)
    assert 2 in [l for l in c.get("/api/model").json["layers"] if l["name"] == "conv2"][0]["topk_channels"]


def test_upload_png_and_jpeg(setup):
    c = setup["client"]
    rgb = np.random.RandomState(0).randint(0, 255, (30, 40, 3)).astype(np.uint8)
    r = c.post("/api/upload", data={"image": (io.BytesIO(_png_bytes(rgb)), "a.png")})
    assert r.status_code == 200
    assert "resized from 40x30 to 12x12" in r.json["note"] and "converted from RGB to grey" in r.json["note"]
    img = Image.open(io.BytesIO(c.get(r.json["url"]).data))
    assert img.size == (12, 12)
    assert c.get("/api/predict?image=" + r.json["id"]).status_code == 200
    j = c.post("/api/upload", data={"image": (io.BytesIO(_png_bytes(rgb[:, :, 0], "JPEG")), "b.jpg")})
    assert j.status_code == 200 and "converted" not in j.json["note"]


def test_bad_input_gets_clear_4xx_json(setup):
    c = setup["client"]
    sid = c.get("/api/samples").json["samples"][0]["id"]
    good = _png_bytes(np.zeros((20, 20), np.uint8))
    cases = [
        (c.post("/api/upload", data={"image": (io.BytesIO(b"not an image"), "x.png")}), 400, "not a readable"),
        (c.post("/api/upload", data={"image": (io.BytesIO(good[:40]), "t.png")}), 400, "not a readable"),
        (c.post("/api/upload", data={"image": (io.BytesIO(_png_bytes(np.zeros((8, 8), np.uint8), "GIF")),
                                               "g.gif")}), 400, "unsupported image format 'GIF'"),
        (c.post("/api/upload", data={}), 400, "form field 'image'"),
        (c.post("/api/upload", data={"image": (io.BytesIO(b"\0" * 60000), "big.png")}), 413, "50000 bytes"),
        (c.get("/api/predict?image=nope"), 404, "unknown image 'nope'"),
        (c.get("/api/predict"), 400, "missing query parameter 'image'"),
        (c.get("/api/features?image=%s&layer=conv9" % sid), 404, "valid layers are conv1, relu1"),
        (c.get("/api/features?image=%s&layer=conv1&top=x" % sid), 400, "top='x'"),
        (c.get("/api/project?image=%s&layer=conv2&channel=6" % sid), 404, "valid channels are 0..5"),
        (c.get("/api/project?image=%s&layer=conv2&channel=-1" % sid), 404, "valid channels are 0..5"),
        (c.get("/api/project?image=%s&layer=conv2&channel=a" % sid), 404, "expected an integer 0..5"),
        (c.get("/api/project?image=%s&layer=conv2&channel=1&method=magic" % sid), 400, "unknown method 'magic'"),
        (c.get("/api/occlusion?image=%s&size=40" % sid), 400, "occluder size 40"),
        (c.get("/api/image/..%2F..%2Fetc%2Fpasswd"), 404, ""),
        (c.get("/api/image/sample-999"), 404, "unknown image 'sample-999'"),
        (c.get("/api/nothing"), 404, ""),
    ]
    for r, status, text in cases:
        assert r.status_code == status, (r.status_code, r.data)
        assert r.is_json and text in r.json["error"], r.json
    assert c.get("/api/model").status_code == 200  # still serving


def test_internal_errors_hide_the_trace(setup, monkeypatch):
    app = setup["app"]
    assert not app.debug
    monkeypatch.setattr(app.explorer, "predict", lambda *a, **k: 1 / 0)
    sid = setup["client"].get("/api/samples").json["samples"][0]["id"]
    r = setup["client"].get("/api/predict?image=" + sid)
    assert r.status_code == 500 and r.json == {"error": "internal error: ZeroDivisionError"}
    assert b"Traceback" not in r.data


def test_concurrent_requests_give_the_serial_answers(setup):
    c0 = setup["client"]
    ids = [s["id"] for s in c0.get("/api/samples").json["samples"]]
    urls = ["/api/project?image=%s&layer=conv2&channel=%d&method=guided" % (i, ch)
            for i in ids for ch in range(6)] + ["/api/predict?image=%s" % i for i in ids]
    serial = {u: c0.get(u).json for u in urls}
    got, errors = {}, []

    def worker(us):
        c = setup["app"].test_client()
        for u in us:
            r = c.get(u)
            (got.__setitem__(u, r.json) if r.status_code == 200 else errors.append(r.json))
    threads = [threading.Thread(target=worker, args=(urls[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for u in urls:
        a, b = dict(serial[u]), dict(got[u])
        a.pop("seconds", None); b.pop("seconds", None)
        assert a == b, u


def test_serve_defaults_to_localhost_and_checks_the_checkpoint(tmp_path):
    import subprocess
    import sys
    from zfnet.cli import _parser
    args = _parser().parse_args(["serve", "x"])
    assert args.host == "127.0.0.1" and args.port == 8000
    r = subprocess.run([sys.executable, "-m", "zfnet", "serve", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "is not a checkpoint" in r.stderr


def test_a_colour_model_without_its_dataset_offers_natural_photos(tmp_path, monkeypatch):
    from zfnet.app.server import create_app
    monkeypatch.setenv("ZFNET_PHOTOS", str(tmp_path / "not-fetched"))  # only the installed packages' photos
    from conftest import toy_dataset
    ds = toy_dataset(n_train=20, n_test=5, size=16)
    ds.x_train = np.repeat(ds.x_train, 3, axis=1)
    path, _, _ = write_tiny_checkpoint(tmp_path / "final", tiny_config(channels=3, size=16), ds,
                                       dataset_name=None)
    c = create_app(path).test_client()
    s = c.get("/api/samples").json["samples"]
    assert {x["id"] for x in s} == {"photo-china", "photo-flower", "photo-grace_hopper"}
    img = Image.open(io.BytesIO(c.get("/api/image/photo-china").data))
    assert img.size == (16, 16) and img.mode == "RGB"
    arr = np.asarray(img, np.float64)
    assert arr.std(axis=(0, 1)).min() > 5 and abs(arr[..., 0] - arr[..., 2]).mean() > 2  # a colour photo
    assert c.get("/api/predict?image=photo-flower").status_code == 200


def test_hostile_values_get_clear_answers(setup, monkeypatch):
    from zfnet.app import explorer
    c = setup["client"]
    sid = c.get("/api/samples").json["samples"][0]["id"]
    monkeypatch.setattr(explorer, "MAX_UPLOAD_PIXELS", 1000)   # checked from the header
    big = _png_bytes(np.zeros((40, 30), np.uint8))
    r = c.post("/api/upload", data={"image": (io.BytesIO(big), "b.png")})
    assert r.status_code == 413 and "upload is 30x40 = 1200 pixels; at most 1000" in r.json["error"]
    for url, status, text in (
            ("/api/project?image=%s&layer=conv2&channel=1_0" % sid, 404, "channel '1_0' of conv2: expected an integer"),
            ("/api/occlusion?image=%s&size=0" % sid, 400, "occluder size 0 must be between 1 and 12"),
            ("/api/occlusion?image=%s&stride=0" % sid, 400, "occluder stride must be >= 1, got 0")):
        r = c.get(url)
        assert r.status_code == status and text in r.json["error"], (url, r.status_code, r.json)


def test_json_has_no_nan_and_errors_no_paths():
    from zfnet.app.server import _message, finite
    assert finite({"p": [0.5, float("nan")], "q": float("inf"), "n": 3}) == {"p": [0.5, None], "q": None, "n": 3}
    assert _message(ValueError("Cannot read image /home/me/secret/x.png: truncated")) == \
        "Cannot read image x.png: truncated"


def test_the_http_layer_answers_json_without_a_banner_and_drops_slow_clients(setup, monkeypatch):
    """On a real socket: a 70 KB URL gets 414 and a 70 KB header 431, both as JSON; no Server
    version banner; a half-sent request is closed after the timeout instead of holding a thread."""
    import socket
    import urllib.request
    from werkzeug.serving import make_server
    from zfnet.app import server as srvmod
    handler = srvmod.request_handler()
    monkeypatch.setattr(handler, "timeout", 2)
    srv = make_server("127.0.0.1", 0, setup["app"], threaded=True, request_handler=handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_port

    def raw(text, wait=30):
        s = socket.create_connection(("127.0.0.1", port), timeout=wait)
        s.sendall(text.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return head.decode(errors="replace"), body
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/model" % port, timeout=30) as r:
            assert r.headers["Server"] == "zfnet"
        head, body = raw("GET /api/model?x=%s HTTP/1.1\r\nHost: a\r\n\r\n" % ("a" * 70000))
        assert " 414 " in head.split("\r\n")[0] and "URI Too Long" in json.loads(body)["error"]
        head, body = raw("GET /api/model HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n" % ("a" * 70000))
        assert " 431 " in head.split("\r\n")[0] and json.loads(body)["error"].startswith("431")
        t0 = time.time()
        head, body = raw("GET /api/model HTTP/1.1\r\nHost: a\r\n")   # never finished
        assert time.time() - t0 < 20 and head == "" and body == b""
    finally:
        srv.shutdown()


def test_serve_warns_off_loopback_and_checks_the_port(setup, monkeypatch, capsys):
    from zfnet.app import server as srvmod
    assert srvmod.is_loopback("127.0.0.1") and srvmod.is_loopback("localhost")
    assert not srvmod.is_loopback("0.0.0.0")
    with pytest.raises(ValueError, match="--port 99999: expected 0-65535"):
        srvmod.serve(setup["path"], port=99999)
    monkeypatch.setattr(srvmod, "create_app", lambda ck, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        srvmod.serve(setup["path"], host="0.0.0.0", port=0)
    assert "warning: --host 0.0.0.0 is reachable from other machines" in capsys.readouterr().err


def test_huge_integers_host_headers_and_security_headers(setup):
    """A stride of 20 digits is a 400 naming the range (it once was a 500); a request whose
    Host header names another site (DNS rebinding) is refused with 403, loopback names and
    addresses are served; every answer carries nosniff and a same-origin content policy."""
    from zfnet.app.server import allowed_host, host_name
    c = setup["client"]
    sid = c.get("/api/samples").json["samples"][0]["id"]
    r = c.get("/api/occlusion?image=%s&stride=99999999999999999999" % sid)
    assert r.status_code == 400 and "stride='99999999999999999999': expected an integer from 0 to 4096" in r.json["error"]
    r = c.get("/api/features?image=%s&layer=conv2&top=-3" % sid)
    assert r.status_code == 400 and "top='-3'" in r.json["error"]
    for host, status in (("evil.example:8000", 403), ("attacker.com", 403), ("localhost:8000", 200),
                         ("127.0.0.1:8000", 200), ("[::1]:8000", 200), ("127.1.2.3", 200)):
        r = c.get("/api/model", headers={"Host": host})
        assert r.status_code == status, (host, r.status_code)
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert "evil.example" in c.get("/", headers={"Host": "evil.example"}).json["error"]
    assert host_name("[::1]:80") == "::1" and host_name("Example.COM:1") == "example.com"
    assert allowed_host("my-box", "my-box") and not allowed_host("other", "my-box")
    assert allowed_host("anything", "0.0.0.0")
