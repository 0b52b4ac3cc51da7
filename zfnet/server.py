"""A local web page for exploring a trained network: ``python -m zfnet serve CHECKPOINT``.

The page (``/``, one self-contained HTML file, no CDN) uses the JSON API under
``/api/``:

=========================================  ==============================================
``GET  /api/model``                        network, classes, layers, methods
``GET  /api/samples``                      bundled sample images (test images)
``POST /api/upload`` (form field ``image``) PNG/JPEG -> an image id (resized/converted note)
``GET  /api/image/<id>``                   the image as the model sees it (PNG)
``GET  /api/predict?image=``               top-5 classes with probabilities
``GET  /api/features?image=&layer=&top=``  feature maps ranked by maximum activation,
                                           each overlaid on the input (PNG data URLs)
``GET  /api/project?image=&layer=&channel=&method=``
                                           the map's strongest activation projected to
                                           pixels, next to the input patch it sees
``GET  /api/occlusion?image=&size=&stride=``
                                           probability of the top class per occluder position
``GET  /api/topk?layer=&channel=``         the dataset top-9 of a map, if ``python -m zfnet
                                           topk`` computed it for this checkpoint
=========================================  ==============================================

Errors are JSON ``{"error": ...}`` with a 4xx status: 400 bad input, 404 unknown
image/layer/channel (naming the valid ones), 413 upload too large. Compiled Theano
functions are built once and reused; one lock serialises all Theano calls
(Theano functions are not thread-safe). Uploads live in memory under random ids;
nothing from a request becomes a filesystem path.
"""
import base64
import io
import os
import re
import secrets
import threading
import time
from collections import OrderedDict

import numpy as np

from . import analysis
from . import checkpoint as ckpt
from . import data as datamod
from . import render

MAX_UPLOAD = 4 * 1024 * 1024
MAX_UPLOADS_KEPT = 64
METHODS = ("deconvnet", "guided", "gradient", "smoothgrad")


class ApiError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status, self.message = status, message


def _data_url(img, zoom=1):
    return "data:image/png;base64," + base64.b64encode(render.png_bytes(img, zoom)).decode()


def _heat(m):
    """(h, w) values -> RGB heat map in [0, 1] (blue low, red high)."""
    m = np.asarray(m, np.float64)
    span = m.max() - m.min()
    t = (m - m.min()) / span if span > 0 else np.zeros_like(m)
    return np.stack([t, 1 - np.abs(2 * t - 1), 1 - t], axis=-1)


def overlay(image_rgb, fmap, alpha=0.6):
    """A feature map (h, w), upsampled (nearest) to the image and blended over it as a heat map."""
    img = np.asarray(image_rgb, np.float64)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    H, W = img.shape[:2]
    fmap = np.asarray(fmap, np.float64)
    ys = (np.arange(H) * fmap.shape[0] // H).clip(0, fmap.shape[0] - 1)
    xs = (np.arange(W) * fmap.shape[1] // W).clip(0, fmap.shape[1] - 1)
    up = fmap[ys][:, xs]
    heat = _heat(up)
    weight = alpha * (up - up.min()) / max(up.max() - up.min(), 1e-12)
    return img * (1 - weight[..., None]) + heat * weight[..., None]


class Explorer(object):
    """The model side of the page: one network, compiled functions built once."""

    def __init__(self, checkpoint, dataset=None, samples=12):
        from .deconv import Projector
        from .evaluate import logits_function
        self.checkpoint = checkpoint
        self.net, self.doc = ckpt.load_model(checkpoint)
        self.cfg = self.doc["config"]
        self.input_shape = tuple(self.cfg["input_shape"])
        self.classes = self.doc.get("class_names") or [str(i) for i in range(self.cfg["num_classes"])]
        self.lock = threading.Lock()
        self._logits = logits_function(self.net)
        self._projectors = {m: Projector(self.net, m, smooth_samples=8) for m in METHODS}
        self.layers = [l for l in self._projectors["deconvnet"].projectable_layers()
                       if len(self.net[l].output_shape) == 4 and self.net[l].output_shape[2] > 1]
        self._features = analysis.features_function(self.net, self.layers)
        self.dataset = dataset
        if self.dataset is None and self.doc.get("dataset"):
            try:
                self.dataset = datamod.load_dataset(self.doc["dataset"])
            except (datamod.DataError, OSError):
                self.dataset = None
        self.images = OrderedDict()   # id -> dict(pixels uint8 (C,H,W), label, note)
        self.sample_ids = []
        if self.dataset is not None:
            self._add_samples(samples)
        if not self.sample_ids and self.input_shape[0] == 3:
            self._add_photos()
        self._topk = self._load_topk()

    # ------------------------------------------------------------ images
    def _add_samples(self, n):
        ds = self.dataset
        c, h, w = self.input_shape
        if ds.x_test.shape[1] != c:
            return
        picked, seen = [], set()
        for i, y in enumerate(ds.y_test):  # one per class first, then the next ones
            if int(y) not in seen:
                seen.add(int(y)); picked.append(i)
            if len(picked) >= n:
                break
        for i in picked:
            x = datamod.crop_batch(ds.x_test[i:i + 1], (h, w))[0]
            sid = "sample-%d" % i
            self.images[sid] = {"pixels": x, "label": ds.class_names[int(ds.y_test[i])], "note": ""}
            self.sample_ids.append(sid)

    def _add_photos(self):
        """Natural photos, for a colour model without its dataset here: those of
        ``python -m zfnet data fetch photos`` (foolbox's labelled ImageNet validation photos,
        scikit-image's) when fetched, and scikit-learn's and matplotlib's (always installed)."""
        from . import photos
        for p in photos.list_photos():
            with open(p["path"], "rb") as f:
                pixels, note = self._decode(f.read())
            sid = "photo-" + p["name"]
            label = "photo " + p["name"] + (" (%s)" % p["class"] if p["class"] else "")
            self.images[sid] = {"pixels": pixels, "label": label, "note": note}
            self.sample_ids.append(sid)

    def add_upload(self, raw):
        """Decode an uploaded PNG/JPEG; resize and convert it to the model's input; return its id."""
        pixels, note = self._decode(raw)
        uid = "upload-" + secrets.token_hex(8)
        self.images[uid] = {"pixels": pixels, "label": None, "note": note}
        uploads = [k for k in self.images if k.startswith("upload-")]
        for old in uploads[:-MAX_UPLOADS_KEPT]:
            del self.images[old]
        return uid

    def _decode(self, raw):
        """PNG/JPEG bytes -> (uint8 (C, H, W) at the model's input, note on what was changed)."""
        from PIL import Image, UnidentifiedImageError
        if not raw:
            raise ApiError(400, "empty upload: send a PNG or JPEG file in the form field 'image'")
        try:
            im = Image.open(io.BytesIO(raw))
            fmt = im.format
            if fmt not in ("PNG", "JPEG"):
                raise ApiError(400, "unsupported image format %r: send a PNG or JPEG" % (fmt,))
            im.load()
        except ApiError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            why = re.sub(r"\s*<[^>]*>", "", str(e).split("\n")[0])[:120]
            raise ApiError(400, "not a readable PNG/JPEG image (%s)" % why)
        c, h, w = self.input_shape
        w0, h0, mode = im.width, im.height, im.mode
        # as `visualize` reads image files: short side + centre crop for square inputs
        pixels = datamod.fit_image(im, h if h == w else (h, w), c)
        note = []
        if (w0, h0) != (w, h):
            note.append("resized from %dx%d to %dx%d (%s)" % (
                w0, h0, w, h, "short side, centre crop" if h == w else "stretched"))
        if (c == 1 and mode != "L") or (c == 3 and mode != "RGB"):
            note.append("converted from %s to %s" % (mode, "grey" if c == 1 else "RGB"))
        return pixels, "; ".join(note) or "used as it is"

    def image(self, iid):
        if iid not in self.images:
            raise ApiError(404, "unknown image %r: use an id from /api/samples or /api/upload" % (iid,))
        return self.images[iid]

    def _x(self, pixels):
        """uint8 (C, H, W) or (N, C, H, W) -> the network's input, as ``visualize`` makes it."""
        from .visualize import preprocess
        return preprocess(pixels[None] if pixels.ndim == 3 else pixels, self.doc)

    def check_layer(self, layer):
        if layer not in self.layers:
            raise ApiError(404, "unknown layer %r: valid layers are %s" % (layer, ", ".join(self.layers)))
        return layer

    def check_channel(self, layer, channel):
        n = self.net[layer].output_shape[1]
        try:
            ch = int(channel)
        except (TypeError, ValueError):
            raise ApiError(404, "channel %r of %s: expected an integer 0..%d" % (channel, layer, n - 1))
        if not 0 <= ch < n:
            raise ApiError(404, "channel %d of %s does not exist: valid channels are 0..%d" % (ch, layer, n - 1))
        return ch

    # ------------------------------------------------------------ answers
    def predict(self, iid, k=5):
        img = self.image(iid)
        with self.lock:
            p = analysis.softmax(self._logits(self._x(img["pixels"])))[0]
        return analysis.top_classes(p, self.classes, k)

    def features(self, iid, layer, top=16):
        img = self.image(iid)
        self.check_layer(layer)
        with self.lock:
            outs = self._features(self._x(img["pixels"]))
        shape = self.net[layer].output_shape
        f = outs[self.layers.index(layer)][0].reshape(shape[1], shape[2], shape[3])
        mx = f.reshape(len(f), -1).max(axis=1)
        order = np.argsort(-mx, kind="stable")[:max(1, min(int(top), len(f)))]
        rgb = render.pixels_to_rgb(img["pixels"])
        return [{"channel": int(c), "max": float(mx[c]), "mean": float(f[c].mean()),
                 "overlay": _data_url(overlay(rgb, np.maximum(f[c], 0)), zoom=3)} for c in order]

    def project(self, iid, layer, channel, method):
        img = self.image(iid)
        self.check_layer(layer)
        ch = self.check_channel(layer, channel)
        if method not in METHODS:
            raise ApiError(400, "unknown method %r: expected one of %s" % (method, ", ".join(METHODS)))
        from .deconv import input_patch_box
        t0 = time.time()
        with self.lock:
            res = self._projectors[method].project(self._x(img["pixels"]), [layer], channels=[ch])[layer]
        seconds = time.time() - t0
        pre = self.doc["preprocessing"]
        rec = render.reconstruction_to_rgb(res.reconstructions[0, 0], pre["mean"], pre["std"])
        _, y, x = [int(v) for v in res.units[0, 0]]
        t, l, b, r = input_patch_box(self.net, layer, y, x)
        rgb = render.pixels_to_rgb(img["pixels"])
        return {"layer": layer, "channel": ch, "method": method, "unit": [y, x],
                "activation": float(res.activations[0, 0]), "box": [t, l, b, r],
                "projection": _data_url(rec, zoom=4), "patch": _data_url(rgb[t:b, l:r], zoom=4),
                "projection_patch": _data_url(rec[t:b, l:r], zoom=4), "seconds": seconds}

    def occlusion(self, iid, size=None, stride=None):
        img = self.image(iid)
        h = self.input_shape[1]
        size = int(size) if size else max(1, h // 4)
        stride = int(stride) if stride else max(1, h // 14)
        try:
            batch, (rows, cols) = analysis.occlusion_batch(
                img["pixels"], size, stride, np.round(self.doc["preprocessing"]["mean"]).astype(np.uint8))
        except ValueError as e:
            raise ApiError(400, str(e))
        if len(batch) > 4096:
            raise ApiError(400, "%d occluder positions: use a larger stride (at most 4096 positions)" % len(batch))
        with self.lock:
            p0 = analysis.softmax(self._logits(self._x(img["pixels"])))[0]
            k = int(p0.argmax())
            probs = analysis.batched(lambda b: analysis.softmax(self._logits(b)), self._x(batch))[0]
        pmap = probs[:, k].reshape(len(rows), len(cols))
        return {"class": self.classes[k], "p_unoccluded": float(p0[k]), "size": size, "stride": stride,
                "probabilities": pmap.tolist(),
                "map": _data_url(_heat(pmap), zoom=max(1, 96 // max(pmap.shape)))}

    # ------------------------------------------------------------ dataset top-9
    def _load_topk(self):
        """``topk.npz`` written by ``python -m zfnet topk`` into ``<checkpoint>/topk/`` or the
        run folder's ``topk/`` (as ``make demo`` does)."""
        for d in (os.path.join(self.checkpoint, "topk"),
                  os.path.join(os.path.dirname(os.path.normpath(self.checkpoint)), "topk")):
            path = os.path.join(d, "topk.npz")
            if os.path.exists(path):
                with np.load(path) as z:
                    return {k: z[k] for k in z.files}
        return {}

    def topk(self, layer, channel):
        self.check_layer(layer)
        ch = self.check_channel(layer, channel)
        have = self._topk.get(layer + ".channels")
        if have is None or ch not in have.tolist():
            known = "" if have is None else " (computed for %s: channels %s)" % (layer, have.tolist())
            raise ApiError(404, "no dataset top-9 for %s channel %d%s; compute it with "
                                "`python -m zfnet topk %s --layer %s --channels %d --out %s`"
                           % (layer, ch, known, self.checkpoint, layer, ch,
                              os.path.join(self.checkpoint, "topk")))
        m = have.tolist().index(ch)
        pre = self.doc["preprocessing"]
        idx = self._topk[layer + ".images"][m]
        xs = None  # the split the indices refer to (topk.npz written before it recorded one: test)
        if self.dataset is not None:
            train = "split" in self._topk and str(self._topk["split"]) == "train"
            xs = self.dataset.x_train if train else self.dataset.x_test
        items = []
        for j, i in enumerate(idx):
            rec = render.reconstruction_to_rgb(self._topk[layer + ".reconstructions"][m, j],
                                               pre["mean"], pre["std"])
            item = {"image_index": int(i), "activation": float(self._topk[layer + ".activations"][m, j]),
                    "projection": _data_url(rec, zoom=3)}
            if xs is not None and i < len(xs):
                c, h, w = self.input_shape
                px = datamod.crop_batch(xs[i:i + 1], (h, w))[0]
                item["image"] = _data_url(render.pixels_to_rgb(px), zoom=3)
            items.append(item)
        return {"layer": layer, "channel": ch, "items": items}


def create_app(checkpoint, dataset=None, max_upload=MAX_UPLOAD, samples=12):
    """The Flask application for one checkpoint."""
    from flask import Flask, Response, jsonify, request
    from werkzeug.exceptions import HTTPException

    ex = Explorer(checkpoint, dataset=dataset, samples=samples)
    app = Flask("zfnet")
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload)
    app.explorer = ex

    @app.errorhandler(ApiError)
    def _api_error(e):
        return jsonify(error=e.message), e.status

    @app.errorhandler(HTTPException)
    def _http_error(e):
        msg = e.description
        if e.code == 413:
            msg = "upload too large: the limit is %d bytes" % app.config["MAX_CONTENT_LENGTH"]
        return jsonify(error=msg), e.code

    @app.errorhandler(Exception)
    def _internal(e):  # no stack traces to the client
        app.logger.exception("request failed")
        return jsonify(error="internal error: %s" % type(e).__name__), 500

    def arg(name, required=True):
        v = request.args.get(name)
        if required and not v:
            raise ApiError(400, "missing query parameter %r" % name)
        return v

    def int_arg(name, default):
        v = request.args.get(name)
        if v in (None, ""):
            return default
        try:
            return int(v)
        except ValueError:
            raise ApiError(400, "%s=%r: expected an integer" % (name, v))

    @app.route("/")
    def index():
        from .webpage import PAGE
        return Response(PAGE, mimetype="text/html")

    @app.route("/api/model")
    def model():
        return jsonify(name=ex.cfg["name"], input_shape=list(ex.input_shape), classes=ex.classes,
                       checkpoint=os.path.basename(os.path.normpath(checkpoint)),
                       dataset=ex.doc.get("dataset"), methods=list(METHODS),
                       layers=[{"name": l, "channels": ex.net[l].output_shape[1],
                                "size": list(ex.net[l].output_shape[2:]),
                                "topk_channels": ex._topk[l + ".channels"].tolist()
                                if l + ".channels" in ex._topk else []} for l in ex.layers])

    @app.route("/api/samples")
    def samples_():
        return jsonify(samples=[{"id": s, "label": ex.images[s]["label"], "url": "/api/image/" + s}
                                for s in ex.sample_ids])

    @app.route("/api/upload", methods=["POST"])
    def upload():
        f = request.files.get("image")
        if f is None:
            raise ApiError(400, "no file: send a PNG or JPEG in the form field 'image'")
        uid = ex.add_upload(f.read())
        return jsonify(id=uid, url="/api/image/" + uid, note=ex.images[uid]["note"])

    @app.route("/api/image/<iid>")
    def image(iid):
        img = ex.image(iid)
        return Response(render.png_bytes(render.pixels_to_rgb(img["pixels"])), mimetype="image/png")

    @app.route("/api/predict")
    def predict():
        return jsonify(image=arg("image"), top5=ex.predict(arg("image")))

    @app.route("/api/features")
    def features():
        return jsonify(image=arg("image"), layer=arg("layer"),
                       maps=ex.features(arg("image"), arg("layer"), int_arg("top", 16)))

    @app.route("/api/project")
    def project():
        return jsonify(ex.project(arg("image"), arg("layer"), arg("channel"),
                                  request.args.get("method", "deconvnet")))

    @app.route("/api/occlusion")
    def occlusion():
        return jsonify(ex.occlusion(arg("image"), int_arg("size", None), int_arg("stride", None)))

    @app.route("/api/topk")
    def topk():
        return jsonify(ex.topk(arg("layer"), arg("channel")))

    return app


def serve(checkpoint, host="127.0.0.1", port=8000, log=print):
    """Build the app (compiling its functions) and serve it until interrupted."""
    from werkzeug.serving import make_server
    app = create_app(checkpoint)
    srv = make_server(host, int(port), app, threaded=True)
    log("zfnet explorer for %s at http://%s:%d/  (Ctrl-C stops it)" % (checkpoint, host, srv.server_port))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
