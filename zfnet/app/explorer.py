"""The explorer's computations for one checkpoint, without HTTP.

:class:`Explorer` loads the model once, keeps sample and uploaded images in memory
under ids, and answers the page's questions (top classes, feature maps, projections,
occlusion, dataset top-9) as plain dicts. Bad input raises the project's errors:
:class:`~zfnet.errors.NotFound` (a ``LookupError``: an unknown image, layer, channel
or top-9) and :class:`~zfnet.errors.UsageError` (a ``ValueError``: a bad value);
:mod:`zfnet.app.server` maps them to HTTP statuses. Compiled Theano functions are
built once; one lock serialises all Theano calls (they are not thread-safe).
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

from ..data import DATASET_NAMES, load_dataset
from ..data.dataset import crop_batch
from ..data.images import fit_image, open_image
from ..errors import DataError, NotFound, TooLarge, UsageError
from ..evaluate import features_function, logits_function, softmax, top_classes
from ..io.checkpoint import load_model
from ..vis import render
from ..vis.deconv import Projector
from ..vis.smoothgrad import SmoothGrad
from ..vis.methods import METHODS
from ..vis.occlusion import occlusion_sweep

MAX_UPLOADS_KEPT = 64
MAX_OCCLUSION_POSITIONS = 4096
# Uploads are refused from their header above this many pixels (a 4096 x 4096 RGB image
# decodes to 48 MB), and at most two are decoded at once, so a burst of uploads cannot
# take more than a few hundred MB.
MAX_UPLOAD_PIXELS = 4096 * 4096
DECODING = threading.BoundedSemaphore(2)
INTEGER = re.compile(r"^-?[0-9]{1,9}$")
# Theano is not thread-safe, compiling least of all: one lock for every explorer of the process
THEANO_LOCK = threading.RLock()


def data_url(img, zoom=1):
    """An RGB/grey float image in [0, 1] as a ``data:image/png;base64,...`` URL."""
    return "data:image/png;base64," + base64.b64encode(render.png_bytes(img, zoom)).decode()


class Explorer(object):
    """The model side of the page: one network, compiled functions built once."""

    def __init__(self, checkpoint, dataset=None, samples=12):
        self.checkpoint = checkpoint
        self.name = os.path.basename(os.path.normpath(checkpoint))  # what messages show, not a full path
        self.model = load_model(checkpoint)
        self.net = self.model.net
        self.input_shape = self.model.input_shape
        self.classes = self.model.classes
        self.lock = THEANO_LOCK
        with self.lock:  # compiling: no other explorer thread may compile meanwhile
            self._logits = logits_function(self.net)
            self._projector = Projector(self.net, architecture=self.model.config)
            self._smoothgrad = SmoothGrad(self._projector, samples=8)
            self.layers = [l for l in self._projector.projectable_layers()
                           if len(self.net[l].output_shape) == 4 and self.net[l].output_shape[2] > 1]
            self._features = features_function(self.net, self.layers)
        self.dataset = dataset
        if self.dataset is None and self.model.dataset in DATASET_NAMES:  # never a stored path
            try:
                self.dataset = load_dataset(self.model.dataset)
            except (DataError, OSError):
                self.dataset = None
        self.images = OrderedDict()   # id -> dict(pixels uint8 (C,H,W), label, note)
        self.sample_ids = []
        if self.dataset is not None:
            self._add_samples(samples)
        if not self.sample_ids and self.input_shape[0] == 3:
            self._add_photos()
        self.topk_results = self._load_topk()
        self._jobs, self._jobs_lock = {}, threading.Lock()

    def close(self, timeout=None):
        """Wait for the background top-9 jobs to finish (a server shutting down, a test ending)."""
        with self._jobs_lock:
            threads = [j["thread"] for j in self._jobs.values() if "thread" in j]
        for t in threads:
            t.join(timeout)

    def describe(self):
        """The network, its classes, layers (with the channels that have a dataset top-9) and
        the projection methods."""
        return {"name": self.model.name, "input_shape": list(self.input_shape), "classes": self.classes,
                "checkpoint": self.name,
                "dataset": self.model.dataset, "methods": list(METHODS),
                "layers": [{"name": l, "channels": self.net[l].output_shape[1],
                            "size": list(self.net[l].output_shape[2:]),
                            "topk_channels": self.topk_channels(l)} for l in self.layers],
                "topk_on_demand": self.dataset is not None}

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
            x = crop_batch(ds.x_test[i:i + 1], (h, w))[0]
            sid = "sample-%d" % i
            self.images[sid] = {"pixels": x, "label": ds.class_names[int(ds.y_test[i])], "note": ""}
            self.sample_ids.append(sid)

    def _add_photos(self):
        """Natural photos, for a colour model without its dataset here: those of
        ``python -m zfnet data fetch photos`` (foolbox's labelled ImageNet validation photos,
        scikit-image's) when fetched, and scikit-learn's and matplotlib's (always installed)."""
        from ..data import photos
        for p in photos.list_photos():
            with open(p["path"], "rb") as f:
                pixels, note = self.decode(f.read())
            sid = "photo-" + p["name"]
            label = "photo " + p["name"] + (" (%s)" % p["class"] if p["class"] else "")
            self.images[sid] = {"pixels": pixels, "label": label, "note": note}
            self.sample_ids.append(sid)

    def add_upload(self, raw):
        """Decode an uploaded PNG/JPEG; resize and convert it to the model's input; return its id."""
        pixels, note = self.decode(raw)
        uid = "upload-" + secrets.token_hex(8)
        self.images[uid] = {"pixels": pixels, "label": None, "note": note}
        uploads = [k for k in self.images if k.startswith("upload-")]
        for old in uploads[:-MAX_UPLOADS_KEPT]:
            del self.images[old]
        return uid

    def decode(self, raw):
        """PNG/JPEG bytes -> (uint8 (C, H, W) at the model's input, note on what was changed).
        The size is checked from the header before decoding (:data:`MAX_UPLOAD_PIXELS`,
        :class:`~zfnet.errors.TooLarge`), and decoding holds one of two slots."""
        from PIL import Image
        if not raw:
            raise UsageError("empty upload: send a PNG or JPEG file in the form field 'image'")
        with DECODING:
            try:
                im = open_image(io.BytesIO(raw), MAX_UPLOAD_PIXELS, name="upload")
            except DataError as e:
                why = re.sub(r"\s*<[^>]*>", "", str(e).split("\n")[0])[:160]
                raise UsageError("not a readable PNG/JPEG image (%s)" % why)
            with im:
                fmt = im.format
                if fmt not in ("PNG", "JPEG"):
                    raise UsageError("unsupported image format %r: send a PNG or JPEG" % (fmt,))
                try:
                    im.load()
                except Image.DecompressionBombError as e:
                    raise TooLarge("upload too large: %s" % e)
                except (OSError, ValueError, SyntaxError) as e:
                    why = re.sub(r"\s*<[^>]*>", "", str(e).split("\n")[0])[:120]
                    raise UsageError("not a readable PNG/JPEG image (%s)" % why)
                c, h, w = self.input_shape
                w0, h0, mode = im.width, im.height, im.mode
                # as `visualize` reads image files: short side + centre crop for square inputs
                pixels = fit_image(im, h if h == w else (h, w), c)
        note = []
        if (w0, h0) != (w, h):
            note.append("resized from %dx%d to %dx%d (%s)" % (
                w0, h0, w, h, "short side, centre crop" if h == w else "stretched"))
        if (c == 1 and mode != "L") or (c == 3 and mode != "RGB"):
            note.append("converted from %s to %s" % (mode, "grey" if c == 1 else "RGB"))
        return pixels, "; ".join(note) or "used as it is"

    def image(self, iid):
        """The stored image ``iid`` (a sample or an upload): a dict with ``pixels`` and ``label``."""
        if iid not in self.images:
            raise NotFound("unknown image %r: use an id from /api/samples or /api/upload" % (iid,))
        return self.images[iid]

    def check_layer(self, layer):
        """``layer`` if the page may show it, else a NotFound naming the layers it may."""
        if layer not in self.layers:
            raise NotFound("unknown layer %r: valid layers are %s" % (layer, ", ".join(self.layers)))
        return layer

    def check_channel(self, layer, channel):
        """``channel`` of ``layer`` as an int, else a NotFound naming the valid range."""
        n = self.net[layer].output_shape[1]
        if isinstance(channel, str) and not INTEGER.match(channel):  # int() would read "1_0" as 10
            raise NotFound("channel %r of %s: expected an integer 0..%d" % (channel, layer, n - 1))
        try:
            ch = int(channel)
        except (TypeError, ValueError):
            raise NotFound("channel %r of %s: expected an integer 0..%d" % (channel, layer, n - 1))
        if not 0 <= ch < n:
            raise NotFound("channel %d of %s does not exist: valid channels are 0..%d" % (ch, layer, n - 1))
        return ch

    def _probabilities(self, pixels):
        """uint8 (C, H, W) or (N, C, H, W) -> class probabilities (N, K), float64."""
        return softmax(self._logits(self.model.preprocess(pixels)))

    # ------------------------------------------------------------ answers
    def predict(self, iid, k=5):
        """The top-``k`` classes of image ``iid`` with their probabilities."""
        img = self.image(iid)
        with self.lock:
            p = self._probabilities(img["pixels"])[0]
        return top_classes(p, self.classes, k)

    def features(self, iid, layer, top=16):
        """The ``top`` feature maps of ``layer`` by maximum activation, each overlaid on the input."""
        img = self.image(iid)
        self.check_layer(layer)
        with self.lock:
            outs = self._features(self.model.preprocess(img["pixels"]))
        shape = self.net[layer].output_shape
        f = outs[self.layers.index(layer)][0].reshape(shape[1], shape[2], shape[3])
        mx = f.reshape(len(f), -1).max(axis=1)
        order = np.argsort(-mx, kind="stable")[:max(1, min(int(top), len(f)))]
        rgb = render.pixels_to_rgb(img["pixels"])
        return [{"channel": int(c), "max": float(mx[c]), "mean": float(f[c].mean()),
                 "overlay": data_url(render.overlay(rgb, np.maximum(f[c], 0)), zoom=3)} for c in order]

    def project(self, iid, layer, channel, method):
        """The strongest activation of a map projected by ``method``: the projection, the patch
        its unit sees and the projection inside it (data URLs), the unit and its box."""
        img = self.image(iid)
        self.check_layer(layer)
        ch = self.check_channel(layer, channel)
        if method not in METHODS:
            raise UsageError("unknown method %r: expected one of %s" % (method, ", ".join(METHODS)))
        t0 = time.time()
        with self.lock:
            runner = self._smoothgrad if method == SmoothGrad.name else self._projector
            res = runner.project(self.model.preprocess(img["pixels"]), [layer], channels=[ch],
                                 method=method)[layer][0]
        seconds = time.time() - t0
        p = render.projection_panels(img["pixels"], res.reconstructions[0], res.boxes[0],
                                     self.model.preprocessing)
        _, y, x = [int(v) for v in res.units[0]]
        t, l, b, r = [int(v) for v in res.boxes[0]]
        return {"layer": layer, "channel": ch, "method": method, "unit": [y, x],
                "activation": float(res.activations[0]), "box": [t, l, b, r],
                "projection": data_url(p["projection"], zoom=4), "patch": data_url(p["patch"], zoom=4),
                "projection_patch": data_url(p["projection_patch"], zoom=4), "seconds": seconds}

    def occlusion(self, iid, size=None, stride=None):
        """The top class's probability for every position of a grey square (default a quarter
        of the side), drawn over the image."""
        img = self.image(iid)
        h = self.input_shape[1]
        size = max(1, h // 4) if size is None else int(size)      # 0 is an error, not "default"
        stride = max(1, h // 14) if stride is None else int(stride)
        grey = np.round(self.model.preprocessing["mean"]).astype(np.uint8)
        with self.lock:
            p0 = self._probabilities(img["pixels"])[0]
            k = int(p0.argmax())
            (probs,), _ = occlusion_sweep(img["pixels"], size, stride, grey, self._probabilities,
                                          max_positions=MAX_OCCLUSION_POSITIONS)
        pmap = probs[:, :, k]
        rgb = render.pixels_to_rgb(img["pixels"])
        zoom = max(1, 224 // max(rgb.shape[:2]))
        return {"class": self.classes[k], "p_unoccluded": float(p0[k]), "size": size, "stride": stride,
                "probabilities": pmap.tolist(),
                "map": data_url(render.occlusion_picture(rgb, pmap, size, stride, zoom=zoom))}

    # ------------------------------------------------------------ dataset top-9
    def _load_topk(self):
        """Every map's dataset top-9 found in ``topk.npz`` files of ``python -m zfnet topk``: the
        checkpoint's own ``topk/`` first, then the run folder's ``topk/`` (as ``make demo`` writes
        it); a map found in both keeps the first. Returns {(layer, channel): result}."""
        from ..vis.topk import TopK
        found = {}
        for d in (os.path.join(self.checkpoint, "topk"),
                  os.path.join(os.path.dirname(os.path.normpath(self.checkpoint)), "topk")):
            path = os.path.join(d, "topk.npz")
            if not os.path.isfile(path):
                continue
            saved = TopK.load(path)
            for layer, ch, r in saved.maps():
                found.setdefault((layer, ch), dict(r, split=saved.split))
        return found

    def topk_channels(self, layer):
        """The channels of ``layer`` whose dataset top-9 is known (from topk.npz or computed here)."""
        return sorted(ch for (l, ch) in self.topk_results if l == layer)

    def topk(self, layer, channel, wait=False):
        """A map's dataset top-9: ``status`` ``done`` with ``items``; or, when it was not computed
        but the dataset is here, ``computing`` with ``progress`` (0-1) while a background job
        scans the test split and projects the 9 (cached for the life of the server)."""
        self.check_layer(layer)
        ch = self.check_channel(layer, channel)
        key = (layer, ch)
        if key not in self.topk_results:
            if self.dataset is None or self.dataset.x_test.shape[1] != self.input_shape[0]:
                raise NotFound("no dataset top-9 for %s channel %d, and the dataset is not here to "
                               "compute it; compute it with `python -m zfnet topk CHECKPOINT --layer %s "
                               "--channels %d --dataset DATASET --out CHECKPOINT/topk`, CHECKPOINT being "
                               "the folder of %s" % (layer, ch, layer, ch, self.name))
            with self._jobs_lock:
                job = self._jobs.get(key)
                if job is None or job["status"] == "failed":
                    job = self._jobs[key] = {"status": "computing", "progress": 0.0, "error": None}
                    job["thread"] = threading.Thread(target=self._compute_topk, args=(layer, ch, job),
                                                     daemon=True)
                    job["thread"].start()
            if wait:
                job["thread"].join()
            if key not in self.topk_results:
                if job["status"] == "failed":
                    raise UsageError("computing the top-9 of %s channel %d failed: %s" % (layer, ch, job["error"]))
                return {"layer": layer, "channel": ch, "status": "computing",
                        "progress": round(job["progress"], 3), "items": []}
        r = self.topk_results[key]
        pre = self.model.preprocessing
        xs = None
        if self.dataset is not None:
            xs = self.dataset.x_train if r["split"] == "train" else self.dataset.x_test
        items = []
        for j, i in enumerate(r["images"]):
            rec = render.projection_rgb(r["reconstructions"][j], pre)
            item = {"image_index": int(i), "activation": float(r["activations"][j]),
                    "projection": data_url(rec, zoom=3)}
            if xs is not None and i < len(xs):
                c, h, w = self.input_shape
                px = crop_batch(xs[i:i + 1], (h, w))[0]
                item["image"] = data_url(render.pixels_to_rgb(px), zoom=3)
            items.append(item)
        return {"layer": layer, "channel": ch, "status": "done", "progress": 1.0, "items": items}

    def _compute_topk(self, layer, ch, job, k=9):
        """The background job of :meth:`topk`: the scan holds the Theano lock one batch at a time."""
        from ..vis.topk import scan_topk
        try:
            c, h, w = self.input_shape
            x = crop_batch(self.dataset.x_test, (h, w))

            def step(done, total):
                job["progress"] = 0.9 * done / float(total)
            found = scan_topk(self.model, x, [layer], {layer: [ch]}, k=k, progress=False,
                              guard=self.lock, on_batch=step)[layer]
            idx = found["images"][0]
            with self.lock:
                res = self._projector.project(self.model.preprocess(x[idx]), [layer], channels=[ch])[layer]
            self.topk_results[(layer, ch)] = {
                "split": "test", "images": idx, "activations": found["activations"][0].astype(np.float32),
                "reconstructions": res.reconstructions[:, 0]}
            job["progress"], job["status"] = 1.0, "done"
        except Exception as e:  # reported by topk(); the server never shows a traceback
            job["status"], job["error"] = "failed", "%s: %s" % (type(e).__name__, str(e)[:200])
