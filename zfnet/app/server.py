"""A local web page for exploring a trained network: ``python -m zfnet serve CHECKPOINT``.

The page (``/``: ``static/index.html`` with its script and style, no CDN) uses the JSON API under
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

This module is only the HTTP side: routes, query parameters, and errors mapped
to statuses; the answers come from :class:`zfnet.app.explorer.Explorer`.
Errors are JSON ``{"error": ...}`` with a 4xx status: 400 bad input (a
:class:`~zfnet.errors.ZfnetError` of the explorer), 404 unknown image/layer/channel
(:class:`~zfnet.errors.NotFound`, naming the valid ones), 413 upload too large. Uploads live in
memory under random ids; nothing from a request becomes a filesystem path.
"""
import ipaddress
import os
import json
import math
import re
import socket
import sys

from ..errors import NotFound, TooLarge, UsageError, ZfnetError
from ..vis import render
from .explorer import Explorer
from ..report import info

MAX_UPLOAD = 4 * 1024 * 1024
# the page: index.html, explorer.js, explorer.css (no CDN: it works offline)
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
REQUEST_TIMEOUT = 30  # seconds a client may take to send a request or read the answer
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"`/]+/)*([^\s'\"`/]+)")


def _message(e):
    """The text of an error (a KeyError's str() would add quotes), with absolute paths
    shortened to their last part: the page never learns where files live."""
    text = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
    return ABSOLUTE_PATH.sub(r"\1", text)


def finite(obj):
    """``obj`` with every NaN or infinite float replaced by None (JSON has no NaN: browsers
    reject Python's bare ``NaN``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def _json_provider():
    from flask.json.provider import DefaultJSONProvider

    class FiniteJSON(DefaultJSONProvider):
        def dumps(self, obj, **kwargs):
            kwargs.setdefault("allow_nan", False)
            return super(FiniteJSON, self).dumps(finite(obj), **kwargs)
    return FiniteJSON


def request_handler():
    """Werkzeug's request handler with a timeout per connection (a half-sent request is closed
    after :data:`REQUEST_TIMEOUT` s instead of holding a thread forever), no version banner,
    and JSON bodies for the errors the HTTP layer answers itself (400, 408, 414, 431 ...)."""
    from werkzeug.serving import WSGIRequestHandler

    class RequestHandler(WSGIRequestHandler):
        timeout = REQUEST_TIMEOUT

        def version_string(self):
            return "zfnet"

        def send_error(self, code, message=None, explain=None):
            short, long_ = self.responses.get(code, ("error", ""))
            body = json.dumps({"error": "%d %s: %s" % (code, short, message or long_)}).encode()
            self.log_error("code %d, message %s", code, message)
            self.send_response(code, short)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
            self.close_connection = True
    return RequestHandler


# Every answer says what it is and where its parts may come from (the page is same-origin only).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; "
                               "style-src 'self'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# integer query parameters: their accepted range (an explorer image is at most a few hundred pixels)
INT_LIMITS = {"top": (0, 4096), "size": (0, 4096), "stride": (0, 4096)}


def host_name(header):
    """The host name of an HTTP ``Host`` header (no port; IPv6 without brackets), lower case."""
    h = (header or "").strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h[1:]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def allowed_host(name, served):
    """True when a request naming ``name`` in its Host header may be answered by a server
    started with ``--host served``: a loopback name or address, or the name it was started
    with; any name when it listens on every interface (0.0.0.0 or ::), as the user asked.
    A page elsewhere that rebinds its own domain name to 127.0.0.1 sends that domain name
    and is refused."""
    served = host_name(served)
    if served in ("0.0.0.0", "::", ""):
        return True
    if name in LOOPBACK_NAMES or name == served or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def create_app(checkpoint, dataset=None, max_upload=MAX_UPLOAD, samples=12, host="127.0.0.1"):
    """The Flask application for one checkpoint, answering requests addressed to ``host``
    (the address it serves) or a loopback name (:func:`allowed_host`)."""
    from flask import Flask, Response, jsonify, request
    from werkzeug.exceptions import HTTPException

    ex = Explorer(checkpoint, dataset=dataset, samples=samples)
    app = Flask("zfnet", static_folder=STATIC, static_url_path="/static")
    app.json = _json_provider()(app)
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload)
    app.explorer = ex

    @app.before_request
    def _check_host():
        name = host_name(request.headers.get("Host"))
        if not allowed_host(name, host):
            return jsonify(error="this explorer answers requests for %s or a loopback name, not %r "
                                 "(a page of another site reaching a local server?)" % (host, name)), 403

    @app.after_request
    def _headers(resp):
        for k, v in SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp

    @app.errorhandler(NotFound)
    def _not_found(e):
        return jsonify(error=_message(e)), 404

    @app.errorhandler(TooLarge)
    def _too_large(e):
        return jsonify(error=_message(e)), 413

    @app.errorhandler(ZfnetError)
    def _bad_value(e):  # the project's own errors only: anything else is a bug (500)
        return jsonify(error=_message(e)), 400

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
            raise UsageError("missing query parameter %r" % name)
        return v

    def int_arg(name, default):
        v = request.args.get(name)
        if v in (None, ""):
            return default
        lo, hi = INT_LIMITS[name]
        try:
            n = int(v)
        except ValueError:
            n = None
        if n is None or not lo <= n <= hi:
            raise UsageError("%s=%r: expected an integer from %d to %d" % (name, v[:40], lo, hi))
        return n

    @app.route("/")
    def index():
        return app.send_static_file("index.html")

    @app.route("/api/model")
    def model():
        return jsonify(ex.describe())

    @app.route("/api/samples")
    def samples_():
        return jsonify(samples=[{"id": s, "label": ex.images[s]["label"], "url": "/api/image/" + s}
                                for s in ex.sample_ids])

    @app.route("/api/upload", methods=["POST"])
    def upload():
        f = request.files.get("image")
        if f is None:
            raise UsageError("no file: send a PNG or JPEG in the form field 'image'")
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


def is_loopback(host):
    """True when ``host`` (a name or an address) only reaches this machine."""
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def serve(checkpoint, host="127.0.0.1", port=8000, log=info):
    """Build the app (compiling its functions) and serve it until interrupted."""
    from werkzeug.serving import make_server
    if not 0 <= int(port) <= 65535:
        raise UsageError("--port %r: expected 0-65535 (0 picks a free port)" % (port,))
    if not is_loopback(host):
        print("warning: --host %s is reachable from other machines; the explorer has no "
              "authentication and anyone who can reach it can use it (the default 127.0.0.1 "
              "serves this machine only)" % host, file=sys.stderr)
    app = create_app(checkpoint, host=host)
    try:
        srv = make_server(host, int(port), app, threaded=True, request_handler=request_handler())
    except OSError as e:
        raise UsageError("cannot serve on %s:%s: %s" % (host, port, e.strerror or e))
    log("zfnet explorer for %s at http://%s:%d/  (Ctrl-C stops it)" % (checkpoint, host, srv.server_port))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
