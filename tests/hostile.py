"""A battery of bad, odd and hostile inputs against the CLI, the importers, training and the
explorer, in eight classes; :func:`run` tries one class and returns how each case ended.
``tests/test_hostile_inputs.py`` asserts every outcome is ``clear`` or ``ok``.

Usage outside pytest: .venv/bin/python tests/hostile.py [--json FILE] [--only CLASS]

Outcomes: ``clear`` (refused with a one-line message, no traceback; for the explorer a 4xx
JSON body), ``ok`` (handled correctly: a correct result), ``traceback``, ``data-lost`` (a file
the user did not name was changed or deleted), ``executed`` (code from a file ran), ``wrong``
(exit 0 with a wrong or stale result), ``hang`` (no answer within the time limit).
Needs Fashion-MNIST (``python -m zfnet data fetch fashion-mnist``); works in a temporary folder.
"""
import argparse
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PY = sys.executable
RESULTS = OrderedDict()


def record(klass, name, outcome, detail=""):
    RESULTS.setdefault(klass, []).append((name, outcome, detail))
    print("%-10s %-9s %s %s" % (klass, outcome, name, ("- " + detail) if detail else ""), flush=True)


def cli(*args, timeout=180, cwd=None):
    try:
        r = subprocess.run([PY, "-m", "zfnet"] + [str(a) for a in args], cwd=cwd or ROOT,
                           capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, PYTHONPATH=ROOT))
    except subprocess.TimeoutExpired:
        return None
    return r


def judge_refusal(r):
    """A refusal: non-zero exit, one 'error:' line, no traceback."""
    if r is None:
        return "hang", ""
    if "Traceback" in r.stderr:
        last = [l for l in r.stderr.strip().splitlines() if l.strip()][-1:]
        return "traceback", (last[0][:120] if last else "")
    if r.returncode != 0 and "error:" in r.stderr:
        return "clear", r.stderr.strip().splitlines()[-1][:120]
    if r.returncode == 0:
        return "wrong", "exit 0: " + (r.stdout.strip().splitlines() or [""])[-1][:100]
    return "traceback", "exit %d without a message: %s" % (r.returncode, r.stderr.strip()[-120:])


# ------------------------------------------------------------------ fixtures
def make_checkpoint(tmp):
    """A small checkpoint trained on 300 Fashion-MNIST images for one epoch."""
    out = os.path.join(tmp, "run")
    r = cli("train", "--limit", "300", "--epochs", "1", "--val-size", "50", "--quiet", "--out", out,
            timeout=900)
    if r is None or r.returncode != 0:
        raise SystemExit("could not train the fixture checkpoint: %s" % (r and r.stderr[-2000:]))
    return os.path.join(out, "final")


def copy_ckpt(src, dst, edit=None, npz_edit=None):
    shutil.copytree(src, dst)
    if edit is not None:
        with open(os.path.join(dst, "model.json")) as f:
            doc = json.load(f)
        doc = edit(doc)
        with open(os.path.join(dst, "model.json"), "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
    if npz_edit is not None:
        with np.load(os.path.join(dst, "model.npz")) as z:
            arrays = {k: z[k] for k in z.files}
        npz_edit(arrays)
        np.savez(os.path.join(dst, "model.npz"), **arrays)
    return dst


def tiny_onnx(path, nodes=None, graph_edit=None):
    """A chain-shaped ONNX classifier on 1x8x8 input: conv-relu-(lrn)-maxpool-flatten-gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array(rng.randn(4, 1, 3, 3).astype(np.float32), "W1"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
             numpy_helper.from_array(rng.randn(3, 36).astype(np.float32), "W2"),
             numpy_helper.from_array(np.zeros(3, np.float32), "b2")]
    default = [helper.make_node("Conv", ["x", "W1", "b1"], ["c"], kernel_shape=[3, 3], pads=[0, 0, 0, 0]),
               helper.make_node("Relu", ["c"], ["r"]),
               helper.make_node("LRN", ["r"], ["n"], size=3, alpha=1e-4, beta=0.75, bias=1.0),
               helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
               helper.make_node("Flatten", ["p"], ["f"]),
               helper.make_node("Gemm", ["f", "W2", "b2"], ["y"], transB=1)]
    g = helper.make_graph(nodes if nodes is not None else default, "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    if graph_edit:
        graph_edit(g)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)]), path)
    return path


def tiny_keras(path, biases=True):
    """A Keras 2 weights file with VGG16's layer names up to block1 (too short on purpose when
    ``biases`` is False: kernels only)."""
    import h5py
    rng = np.random.RandomState(0)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"block1_conv1"]
        g = f.create_group("block1_conv1")
        names = [b"block1_conv1/kernel:0"] + ([b"block1_conv1/bias:0"] if biases else [])
        g.attrs["weight_names"] = names
        g.create_dataset("block1_conv1/kernel:0", data=rng.randn(3, 3, 3, 64).astype(np.float32))
        if biases:
            g.create_dataset("block1_conv1/bias:0", data=np.zeros(64, np.float32))
    return path


def png(path, arr, mode=None):
    from PIL import Image
    (Image.fromarray(arr, mode) if mode else Image.fromarray(arr)).save(path)
    return path


# ------------------------------------------------------------------ classes
def c1_import_out(tmp, ck):
    """import-onnx / import-keras --out onto paths that hold something else."""
    onnx_file = tiny_onnx(os.path.join(tmp, "tiny.onnx"))
    from benchmarks.synthetic import write_keras_vgg16
    keras_file = write_keras_vgg16(os.path.join(tmp, "vgg16_notop.h5"), include_top=False)
    for imp, src, extra in (("import-onnx", onnx_file, ["--preprocess", "none"]),
                            ("import-keras", keras_file, ["--no-top"])):
        targets = OrderedDict()
        d = os.path.join(tmp, imp + "-userdir"); os.makedirs(d)
        open(os.path.join(d, "thesis.tex"), "w").write("years of work")
        targets["a folder with a user's file"] = d
        run = os.path.join(tmp, imp + "-run"); shutil.copytree(os.path.dirname(ck), run)
        targets["a training run folder"] = run
        f = os.path.join(tmp, imp + "-file.txt"); open(f, "w").write("notes")
        targets["a plain file"] = f
        for what, path in targets.items():
            before = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
            r = cli(imp, src, "--out", path, *extra)
            after = (sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()) \
                if os.path.exists(path) else None
            if after != before:
                record("1-import-out", "%s --out %s" % (imp, what), "data-lost",
                       "exit %s" % (r.returncode if r else "hang"))
            else:
                record("1-import-out", "%s --out %s" % (imp, what), *judge_refusal(r))


def c2_code_exec(tmp, ck):
    """A crafted CIFAR batch, and a checkpoint whose model.json names it as its dataset."""
    marker = os.path.join(tmp, "pwned")

    class Evil(object):
        def __reduce__(self):
            return (os.system, ("touch %s" % marker,))
    folder = os.path.join(tmp, "evil-cifar"); os.makedirs(folder)
    for name in ("data_batch_1", "test_batch"):
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump({"data": Evil(), "labels": [0]}, f)
    r = cli("evaluate", ck, "--dataset", folder)
    if os.path.exists(marker):
        record("2-code-exec", "evaluate --dataset crafted CIFAR folder", "executed"); os.remove(marker)
    else:
        record("2-code-exec", "evaluate --dataset crafted CIFAR folder", *judge_refusal(r))
    evil_ck = copy_ckpt(ck, os.path.join(tmp, "evil-ck"), edit=lambda d: dict(d, dataset=folder))
    for cmd in (["evaluate", evil_ck], ["topk", evil_ck, "--layer", "conv1", "--out", os.path.join(tmp, "tk")]):
        r = cli(*cmd)
        name = "%s on a checkpoint naming the crafted folder" % cmd[0]
        if os.path.exists(marker):
            record("2-code-exec", name, "executed"); os.remove(marker)
        else:
            record("2-code-exec", name, *judge_refusal(r))
    code = ("from zfnet.app.explorer import Explorer\nimport sys\nEx = Explorer(sys.argv[1])\nprint('started')")
    subprocess.run([PY, "-c", code, evil_ck], cwd=ROOT, capture_output=True, text=True, timeout=300)
    record("2-code-exec", "serve (the explorer) on that checkpoint",
           "executed" if os.path.exists(marker) else "ok")


KILL_CODE = r"""
import os, signal, sys
sys.path.insert(0, %(root)r)
from zfnet import files, train
from zfnet.data import load_dataset
window = sys.argv[2]
real_bytes, real_json = files.atomic_write_bytes, files.atomic_write_json
def die_after(path):
    name = os.path.basename(path)
    if window == "after-epoch-checkpoint" and name == "latest.json" and "epoch\": 2" in open(path).read():
        os.kill(os.getpid(), signal.SIGKILL)
    if window == "after-logs" and name == "log.json":
        import json
        if len(json.load(open(path))) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
def wb(path, data):
    if window == "during-final" and ".final.tmp-" in path and path.endswith("model.npz"):
        import json
        if os.path.exists(os.path.join(os.path.dirname(path), "model.json")) and \
                json.load(open(os.path.join(os.path.dirname(path), "model.json"))).get("epoch") == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    real_bytes(path, data)
    die_after(path)
files.atomic_write_bytes = wb
s = train.TrainSettings(epochs=2, batch_size=32, lr=0.01, val_size=50, seed=1, limit=200, keep=(1, 2))
ds = load_dataset("fashion-mnist")
from zfnet.nn.configs import get_config
train.train(get_config("small"), ds, s, sys.argv[1], resume="--resume" in sys.argv, progress=False,
            log=lambda *a: None)
"""


def c3_kill_last_epoch(tmp, ck):
    """SIGKILL in the windows of the last epoch's writes, then --resume."""
    code = KILL_CODE % {"root": ROOT}
    for window in ("after-epoch-checkpoint", "after-logs", "during-final"):
        out = os.path.join(tmp, "kill-" + window)
        subprocess.run([PY, "-c", code, out, window], capture_output=True, text=True, timeout=900)
        r = subprocess.run([PY, "-c", code.replace("window = sys.argv[2]", "window = 'none'"), out,
                            "none", "--resume"], capture_output=True, text=True, timeout=900)
        try:
            final = json.load(open(os.path.join(out, "final", "model.json")))
            log = json.load(open(os.path.join(out, "log.json")))
            leftovers = [f for d in (out, os.path.join(out, "checkpoints")) for f in os.listdir(d)
                         if f.startswith(".")]
        except (OSError, ValueError) as e:
            record("3-kill", window, "wrong", "resume left no final/log: %s" % e)
            continue
        if r.returncode != 0:
            record("3-kill", window, "traceback", r.stderr.strip()[-120:])
        elif final.get("epoch") != 2 or len(log) != 2 or leftovers:
            record("3-kill", window, "wrong", "final epoch %s, log rows %d, leftovers %s"
                   % (final.get("epoch"), len(log), leftovers[:3]))
        else:
            record("3-kill", window, "ok")


def _app(ck, ds=None):
    from zfnet.app.server import create_app
    return create_app(ck, dataset=ds)


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def c4_bombs(tmp, ck):
    """Decompression bombs and huge images uploaded to the explorer."""
    from PIL import Image
    app = _app(ck)
    c = app.test_client()
    cases = OrderedDict()
    for side in (6000, 12000, 20000):
        buf = io.BytesIO()
        Image.new("L", (side, side)).save(buf, "PNG", optimize=True)
        cases["%dx%d black PNG (%d KB)" % (side, side, len(buf.getvalue()) // 1024)] = buf.getvalue()
    for name, raw in cases.items():
        rss0 = _rss_mb()
        try:
            r = c.post("/api/upload", data={"image": (io.BytesIO(raw), "b.png")},
                       content_type="multipart/form-data")
        except Exception as e:  # noqa
            record("4-bombs", name, "traceback", type(e).__name__); continue
        grew = _rss_mb() - rss0
        if r.status_code in (400, 413) and r.is_json and grew < 200:
            record("4-bombs", name, "clear", "%d %s (RSS +%.0f MB)" % (r.status_code, r.json["error"][:60], grew))
        elif r.status_code == 200:
            record("4-bombs", name, "wrong", "accepted (RSS +%.0f MB)" % grew)
        else:
            record("4-bombs", name, "traceback" if r.status_code == 500 else "wrong",
                   "%d (RSS +%.0f MB)" % (r.status_code, grew))


def c5_server(tmp, ck):
    """The explorer on a real socket: banners, JSON for 414/431, slow clients, NaN, non-loopback."""
    import socket
    import threading
    import urllib.request
    from zfnet.app import server as srvmod
    from werkzeug.serving import make_server
    app = _app(ck)
    handler = srvmod.request_handler() if hasattr(srvmod, "request_handler") else None
    srv = make_server("127.0.0.1", 0, app, threaded=True, **({"request_handler": handler} if handler else {}))
    port = srv.server_port
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % port
    try:
        with urllib.request.urlopen(base + "/api/model", timeout=30) as r:
            banner = r.headers.get("Server", "")
        record("5-server", "Server header", "clear" if "Python" not in banner and "Werkzeug" not in banner
               else "wrong", banner)
        for what, req in (("414 long URL", "GET /api/model?x=%s HTTP/1.1\r\nHost: a\r\n\r\n" % ("a" * 70000)),
                          ("431 huge header", "GET /api/model HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n" % ("a" * 70000))):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(req.encode()); data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                pass
            s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            status = head.split(b"\r\n")[0].decode(errors="replace")
            is_json = body.strip().startswith(b"{")
            record("5-server", what, "clear" if status.split()[1:2] and status.split()[1][0] == "4" and is_json
                   else "wrong", status + (" JSON" if is_json else " HTML/empty"))
        # half-sent requests: do the connections close?
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/model HTTP/1.1\r\nHost: a\r\n")
            socks.append(s)
        n0 = threading.active_count()
        deadline = time.time() + 90
        closed = 0
        for s in socks:
            s.settimeout(max(1, deadline - time.time()))
            try:
                closed += s.recv(1) == b""
            except (socket.timeout, ConnectionResetError):
                pass
            s.close()
        record("5-server", "20 half-sent requests", "clear" if closed == 20 else "hang",
               "%d of 20 closed by the server within 90 s (threads %d)" % (closed, n0))
    finally:
        srv.shutdown()
    nan_ck = copy_ckpt(ck, os.path.join(tmp, "nan-ck"), npz_edit=lambda a: a["fc8.W"].fill(np.nan))
    try:
        app = _app(nan_ck)
        c = app.test_client()
        sid = c.get("/api/samples").json["samples"][0]["id"]
        r = c.get("/api/predict?image=" + sid)
        body = r.data.decode()
        record("5-server", "NaN weights -> JSON", "wrong" if "NaN" in body else "clear", body[:80])
    except Exception as e:  # noqa
        record("5-server", "NaN weights -> JSON", "clear" if "finite" in str(e) or "NaN" in str(e) else "traceback",
               str(e)[:100])
    code = ("import sys; sys.argv=['zfnet','serve',%r,'--host','0.0.0.0','--port','0'];"
            "from zfnet import cli; import threading, os;"
            "threading.Timer(25, lambda: os._exit(0)).start(); cli.main(sys.argv[1:])" % ck)
    r = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    record("5-server", "serve --host 0.0.0.0 warns", "clear" if "warning" in (r.stderr + r.stdout).lower()
           else "wrong", (r.stderr + r.stdout).strip().splitlines()[-1][:100] if (r.stderr + r.stdout).strip() else "")


def c6_tracebacks(tmp, ck):
    """Malformed model.json, bad files and options: each must be a one-line error."""
    edits = OrderedDict([
        ("model.json is a list", lambda d: "[1, 2]"),
        ("model.json is null", lambda d: "null"),
        ("no config", lambda d: {k: v for k, v in d.items() if k != "config"}),
        ("no layers", lambda d: dict(d, config={k: v for k, v in d["config"].items() if k != "layers"})),
        ("no preprocessing", lambda d: {k: v for k, v in d.items() if k != "preprocessing"}),
        ("short class_names", lambda d: dict(d, class_names=["a"])),
        ("100,000-deep nesting", lambda d: "[" * 100000 + "]" * 100000),
        ("mean of the wrong length", lambda d: dict(d, preprocessing=dict(d["preprocessing"], mean=[1, 2, 3]))),
        ("layers not a list", lambda d: dict(d, config=dict(d["config"], layers="conv"))),
        ("num_filters 200000", lambda d: dict(d, config=dict(d["config"], layers=[
            dict(l, num_filters=200000) if l["name"] == "conv2" else l for l in d["config"]["layers"]]))),
    ])
    for name, edit in edits.items():
        p = copy_ckpt(ck, os.path.join(tmp, "mj-" + str(abs(hash(name)))), edit=edit)
        record("6-tracebacks", "evaluate: " + name, *judge_refusal(cli("evaluate", p, "--limit", "10")))
    d = os.path.join(tmp, "mj-dir"); shutil.copytree(ck, d)
    os.remove(os.path.join(d, "model.json")); os.makedirs(os.path.join(d, "model.json"))
    record("6-tracebacks", "evaluate: model.json is a directory", *judge_refusal(cli("evaluate", d)))
    from PIL import Image
    big = os.path.join(tmp, "bomb.png")
    Image.new("L", (20000, 20000)).save(big, optimize=True)
    record("6-tracebacks", "visualize a 20000x20000 PNG",
           *judge_refusal(cli("visualize", ck, big, "--layer", "conv1", "--out", os.path.join(tmp, "v"))))
    img = png(os.path.join(tmp, "ok.png"), np.zeros((28, 28), np.uint8))
    f = os.path.join(tmp, "afile"); open(f, "w").write("x")
    record("6-tracebacks", "visualize --out an existing file",
           *judge_refusal(cli("visualize", ck, img, "--layer", "conv1", "--out", f)))
    dd = os.path.join(tmp, "adir"); os.makedirs(dd)
    record("6-tracebacks", "evaluate --json an existing directory",
           *judge_refusal(cli("evaluate", ck, "--limit", "10", "--json", dd)))
    record("6-tracebacks", "train --out under a plain file (ENOTDIR)",
           *judge_refusal(cli("train", "--limit", "100", "--epochs", "1", "--out", os.path.join(f, "run"))))
    from onnx import helper
    for name, nodes in (
            ("LRN without size", [helper.make_node("LRN", ["x"], ["y"], alpha=1e-4)]),
            ("MaxPool without kernel", [helper.make_node("MaxPool", ["x"], ["y"])]),
            ("an empty graph", [])):
        p = tiny_onnx(os.path.join(tmp, "bad-%d.onnx" % len(name)), nodes=nodes)
        record("6-tracebacks", "import-onnx: " + name,
               *judge_refusal(cli("import-onnx", p, "--out", os.path.join(tmp, "o-%d" % len(name)),
                                  "--preprocess", "none")))
    p = tiny_keras(os.path.join(tmp, "nobias.h5"), biases=False)
    record("6-tracebacks", "import-keras: a file without biases",
           *judge_refusal(cli("import-keras", p, "--no-top", "--out", os.path.join(tmp, "k-nobias"))))
    record("6-tracebacks", "topk --top 0",
           *judge_refusal(cli("topk", ck, "--layer", "conv1", "--top", "0", "--limit", "20",
                              "--out", os.path.join(tmp, "tk0"))))


def c7_silent(tmp, ck):
    """Inputs that used to give a silently wrong result."""
    from zfnet.io.checkpoint import load_model
    # 16-bit PNG: a mid-grey 16-bit image must read as mid-grey (128), not 255
    from PIL import Image
    p16 = os.path.join(tmp, "grey16.png")
    Image.fromarray(np.full((28, 28), 32896, np.uint16)).save(p16)
    try:
        u8 = load_model(ck).load_images([p16])
        record("7-silent", "16-bit PNG read", "ok" if abs(int(u8.mean()) - 128) <= 1 else "wrong",
               "mean pixel %.1f (expected 128)" % u8.mean())
    except Exception as e:  # noqa
        record("7-silent", "16-bit PNG read", "clear" if "16" in str(e) else "traceback", str(e)[:80])
    for name, kwargs in (("NaN weights", dict(npz_edit=lambda a: a["conv1.W"].fill(np.nan))),
                         ("inf weights", dict(npz_edit=lambda a: a["conv1.b"].fill(np.inf))),
                         ("std 0", dict(edit=lambda d: dict(d, preprocessing=dict(d["preprocessing"], std=[0.0])))),
                         ("pool_size 0", dict(edit=lambda d: dict(d, config=dict(d["config"], layers=[
                             dict(l, pool_size=0) if l["type"] == "maxpool" else l
                             for l in d["config"]["layers"]]))))):
        p = copy_ckpt(ck, os.path.join(tmp, "s-" + name.replace(" ", "_")), **kwargs)
        record("7-silent", "evaluate: " + name, *judge_refusal(cli("evaluate", p, "--limit", "20")))
    img = png(os.path.join(tmp, "img.png"), np.random.RandomState(0).randint(0, 255, (28, 28)).astype(np.uint8))
    r = cli("visualize", ck, img, "--layer", "conv1", "--method", "smoothgrad", "--samples", "0",
            "--out", os.path.join(tmp, "sg0"))
    record("7-silent", "visualize --samples 0", *judge_refusal(r))
    r = cli("evaluate", ck, "--limit", "-5")
    record("7-silent", "evaluate --limit -5", *judge_refusal(r))
    one = os.path.join(tmp, "one-image", "shoe"); os.makedirs(one)
    png(os.path.join(one, "a.png"), np.zeros((28, 28), np.uint8))
    r = cli("evaluate", ck, "--dataset", os.path.dirname(one))
    record("7-silent", "evaluate on a one-image folder", *judge_refusal(r))
    r = cli("serve", ck, "--port", "99999", timeout=60)
    record("7-silent", "serve --port 99999", *judge_refusal(r))
    app = _app(ck)
    c = app.test_client()
    sid = c.get("/api/samples").json["samples"][0]["id"]
    for name, url in (("occlusion size=0", "/api/occlusion?image=%s&size=0" % sid),
                      ("occlusion stride=0", "/api/occlusion?image=%s&stride=0" % sid),
                      ("channel=1_0", "/api/project?image=%s&layer=conv1&channel=1_0" % sid)):
        r = c.get(url)
        record("7-silent", "explorer " + name, "clear" if r.status_code in (400, 404) and r.is_json
               else ("traceback" if r.status_code == 500 else "wrong"), "%d %s" % (r.status_code, (r.json or {}).get("error", "")[:70]))


def _tmpfs(path, size="64k", ro=False):
    """Mount a small tmpfs (root only); returns False where that cannot be done."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s%s" % (size, ",ro" if ro else ""), "tmpfs", path],
                       capture_output=True)
    return r.returncode == 0


def c8_files(tmp, ck):
    """Half-written outputs on a full disk, and special files in dataset folders."""
    from PIL import Image
    disk = os.path.join(tmp, "full")
    if _tmpfs(disk, "96k"):
        try:
            target = os.path.join(disk, "filters.png")
            r = cli("filters", ck, "--out", target)
            before = open(target, "rb").read()
            try:  # fill every page that is left
                with open(os.path.join(disk, "filler"), "wb") as f:
                    f.write(b"x" * (96 * 1024))
            except OSError:
                pass
            r = cli("filters", ck, "--layer", "conv2", "--out", target)
            try:
                Image.open(target).load()
                intact = open(target, "rb").read() == before
            except Exception:  # noqa
                intact = False
            outcome = judge_refusal(r)
            record("8-files", "filters --out on a full disk (ENOSPC)",
                   outcome[0] if intact else "data-lost",
                   outcome[1] if intact else "the previous PNG was overwritten with a broken one")
        finally:
            subprocess.run(["umount", disk])
        ro = os.path.join(tmp, "ro")
        if _tmpfs(ro, ro=True):
            try:
                record("8-files", "filters --out on a read-only file system (EROFS)",
                       *judge_refusal(cli("filters", ck, "--out", os.path.join(ro, "f.png"))))
            finally:
                subprocess.run(["umount", ro])
    d = os.path.join(tmp, "fifo-ds", "shoe"); os.makedirs(d)
    png(os.path.join(d, "a.png"), np.zeros((28, 28), np.uint8))
    png(os.path.join(d, "b.png"), np.zeros((28, 28), np.uint8))
    os.makedirs(os.path.join(tmp, "fifo-ds", "bag"))
    for i in range(3):
        png(os.path.join(tmp, "fifo-ds", "bag", "%d.png" % i), np.full((28, 28), 200, np.uint8))
    os.mkfifo(os.path.join(d, "x.png"))
    r = cli("evaluate", ck, "--dataset", os.path.join(tmp, "fifo-ds"), timeout=60)
    if r is None:
        record("8-files", "a FIFO named x.png in a dataset folder", "hang")
    else:
        record("8-files", "a FIFO named x.png in a dataset folder",
               "ok" if r.returncode == 0 else judge_refusal(r)[0], (r.stdout + r.stderr).strip()[-100:])


CLASSES = OrderedDict([("1", c1_import_out), ("2", c2_code_exec), ("3", c3_kill_last_epoch),
                       ("4", c4_bombs), ("5", c5_server), ("6", c6_tracebacks), ("7", c7_silent),
                       ("8", c8_files)])


def run(key, tmp, ck):
    """Try class ``key`` of :data:`CLASSES` in folder ``tmp`` against checkpoint ``ck``;
    returns its cases as (class, name, outcome, detail) rows."""
    RESULTS.clear()
    CLASSES[key](tmp, ck)
    return [(klass, name, outcome, detail) for klass, rows in RESULTS.items() for name, outcome, detail in rows]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json")
    ap.add_argument("--only", nargs="+", choices=list(CLASSES))
    ap.add_argument("--checkpoint", help="reuse a checkpoint instead of training the fixture")
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="zfnet-hostile-")
    try:
        ck = a.checkpoint or make_checkpoint(tmp)
        for k, fn in CLASSES.items():
            if a.only and k not in a.only:
                continue
            try:
                fn(tmp, ck)
            except Exception as e:  # a crash of the battery itself
                import traceback
                traceback.print_exc()
                record(fn.__name__, "battery crashed", "traceback", repr(e)[:100])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n%-14s %6s %s" % ("class", "tried", "outcomes"))
    summary = OrderedDict()
    for klass, rows in RESULTS.items():
        counts = OrderedDict()
        for _, outcome, _ in rows:
            counts[outcome] = counts.get(outcome, 0) + 1
        summary[klass] = {"tried": len(rows), "outcomes": counts}
        print("%-14s %6d %s" % (klass, len(rows), ", ".join("%s %d" % kv for kv in counts.items())))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": summary, "cases": RESULTS}, f, indent=1)
    bad = sum(1 for rows in RESULTS.values() for _, outcome, _ in rows if outcome not in ("clear", "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
