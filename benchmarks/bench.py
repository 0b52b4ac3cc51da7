"""Benchmarks: throughput and effective GFLOP/s next to the matrix-multiply peak.

They live in the repository (``benchmarks/``), not in the package: ``zfnet bench`` and ``make
bench`` run them from a clone; a wheel ships no benchmark or fixture code.

Speed is measured here and reported, never asserted in a test. The peak is
the best of a few float32 4096x4096 matrix products through Theano's own BLAS
(the same library its convolutions call).
"""
import os
import sys
import time
from collections import OrderedDict

import numpy as np

from zfnet.backend import T, lasagne, theano, floatX
from zfnet.files import atomic_write_json
from zfnet.errors import UsageError
from zfnet.report import info


def matmul_peak(n=4096, repeats=3):
    """Best float32 GFLOP/s of an ``n x n`` matrix product on this machine."""
    a = T.matrix(); b = T.matrix()
    f = theano.function([a, b], T.dot(a, b))
    x = np.random.rand(n, n).astype(floatX); y = np.random.rand(n, n).astype(floatX)
    f(x, y)
    best = min(_timeit(lambda: f(x, y)) for _ in range(repeats))
    return 2.0 * n ** 3 / best / 1e9


def _timeit(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t


def layer_flops(net):
    """Multiply-add FLOPs (2 per MAC) per image of each conv/fc layer's forward pass: the
    project's one count (:func:`zfnet.nn.flops.layer_flops`), conv layers only."""
    from zfnet.nn import flops
    from zfnet.nn.layers import Conv2DLayer
    return {n: f for n, f in flops.layer_flops(net).items() if isinstance(net[n], Conv2DLayer)}


def flops_per_image(net):
    """(forward, train step) FLOPs per image. A train step = forward + gradient
    w.r.t. weights of every layer + gradient w.r.t. inputs of all but the first."""
    f = layer_flops(net)
    fwd = sum(f.values())
    first = next(iter(f))
    return fwd, fwd + fwd + (fwd - f[first])


def _steps_for(first_s, repeats, seconds=5.0, cap=200):
    """How many timed calls: at least ``repeats``, else about ``seconds`` worth (at most ``cap``)."""
    return max(repeats, min(cap, int(seconds / max(first_s, 1e-4))))


def bench_config(name, batch_size, repeats=3, log=info, conv="direct"):
    """Forward and train-step throughput of configuration ``name``: the best (and the median) of
    at least ``repeats`` timed calls, about 5 s worth when a call is quick. ``conv``: the
    Trainer's way of computing 3x3 convolutions (``direct`` or ``winograd``)."""
    from zfnet.nn import configs
    from zfnet.train import TrainSettings, Trainer
    cfg = configs.get_config(name)
    trainer = Trainer(cfg, TrainSettings(epochs=1, batch_size=batch_size, clip_radius=0.1), conv=conv)
    fwd_fn = trainer.logits_fn
    c, h, w = cfg["input_shape"]
    x = np.random.rand(batch_size, c, h, w).astype(floatX)
    y = np.random.randint(0, cfg["num_classes"], batch_size).astype(np.int32)
    fwd_fn(x)
    first = _timeit(lambda: trainer.train_fn(x, y))
    n = _steps_for(first, repeats)
    t_fwd = min(_timeit(lambda: fwd_fn(x)) for _ in range(n))
    ts = sorted(_timeit(lambda: trainer.train_fn(x, y)) for _ in range(n))
    t_train, t_median = ts[0], ts[len(ts) // 2]
    f_fwd, f_train = flops_per_image(trainer.net)
    return {"config": cfg["name"], "input": [c, h, w], "batch_size": batch_size, "steps": n, "conv": conv,
            "forward_images_per_s": batch_size / t_fwd,
            "forward_gflops": f_fwd * batch_size / t_fwd / 1e9,
            "train_images_per_s": batch_size / t_train,
            "train_median_images_per_s": batch_size / t_median,
            "train_step_s": t_train,
            "train_gflops": f_train * batch_size / t_train / 1e9,
            "forward_mflop_per_image": f_fwd / 1e6, "train_mflop_per_image": f_train / 1e6}


PEER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_train.py")


def run_peer(python, config, batch_size, steps, threads=None):
    """Images/s (best and median step) of the PyTorch peer (:mod:`benchmarks.peer_train`) for
    ``config`` at ``batch_size``, run by ``python`` (an interpreter with PyTorch) in a child
    process with ``threads`` OpenMP threads (default: every core)."""
    import subprocess
    env = dict(os.environ, OMP_NUM_THREADS=str(threads or os.cpu_count()))
    try:
        out = subprocess.run([python, PEER_SCRIPT, "--config", config, "--batch", str(batch_size),
                              "--steps", str(steps)], env=env, capture_output=True, text=True, timeout=3600)
    except OSError as e:
        raise UsageError("--peer %s cannot be run (%s); give the path of a Python with PyTorch" % (python, e))
    fields = dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)
    if out.returncode != 0 or "img_per_s" not in fields:
        last = (out.stderr or out.stdout).strip().splitlines()[-1:]
        raise UsageError("the PyTorch peer failed under --peer %s (exit status %d): %s"
                         % (python, out.returncode, last[0] if last else "no output"))
    return {"images_per_s": float(fields["img_per_s"]), "median_images_per_s": float(fields["median_img_per_s"]),
            "threads": int(fields["threads"]), "steps": int(fields["steps"])}


class BusyNeighbour(object):
    """A process that keeps one core busy (a pure-Python loop) while the ``with`` block runs."""

    def __enter__(self):
        import subprocess
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


# what each op class of a training step is, for the profile's table
OP_KINDS = OrderedDict([
    ("CorrMM", "conv forward"), ("CorrMM_gradWeights", "conv weight gradient"),
    ("CorrMM_gradInputs", "conv input gradient"), ("Winograd3x3", "conv (Winograd)"),
    ("Dot22", "fc (matrix products)"), ("Gemm", "fc (matrix products)"), ("Dot22Scalar", "fc (matrix products)"),
    ("CGemv", "fc (matrix products)"), ("MaxPoolSwitches", "max-pool (switches)"), ("Unpool", "max-pool gradient"),
    ("Elemwise", "elementwise (ReLU, LRN, dropout, update)"), ("mrg_uniform", "dropout masks (random)"),
    ("CAReduce", "reductions"), ("Sum", "reductions"), ("MaxAndArgmax", "reductions"),
])
#: BatchedCorr (``--conv batched``) by its kind
BATCHED_KINDS = {"forward": "conv forward", "grad_weights": "conv weight gradient",
                 "grad_inputs": "conv input gradient"}


def op_kind(op):
    """The profile's kind of an op (:data:`OP_KINDS`, "other" for the rest)."""
    name = type(op).__name__
    if name == "BatchedCorr":
        return BATCHED_KINDS[op.kind]
    return OP_KINDS.get(name, "other")


def profile_train_step(name, batch_size, steps=20, log=info, conv="direct"):
    """Where one training step of configuration ``name`` goes: Theano's profiler on ``steps``
    calls after a warm-up call. Returns per kind of op (:data:`OP_KINDS`; anything else is
    "other") its seconds per step, share of the step, and for the convolution passes and the
    fc products their GFLOP/s; and the host-side time (a call's wall time outside the ops).
    ``conv``: the Trainer's way of computing convolutions (``train --conv``)."""
    from theano.compile.profiling import ProfileStats
    from zfnet.nn import configs
    from zfnet.nn import flops as flopsmod
    from zfnet.nn.layers import Conv2DLayer
    from zfnet.train import TrainSettings, Trainer
    cfg = configs.get_config(name)
    prof = ProfileStats(atexit_print=False, message="zfnet train step")
    trainer = Trainer(cfg, TrainSettings(epochs=1, batch_size=batch_size, clip_radius=0.1), profile=prof,
                      conv=conv)
    c, h, w = cfg["input_shape"]
    rng = np.random.RandomState(0)
    x = rng.rand(batch_size, c, h, w).astype(floatX)
    y = rng.randint(0, cfg["num_classes"], batch_size).astype(np.int32)
    trainer.train_fn(x, y)  # warm-up, not counted
    prof.apply_time.clear(); prof.apply_callcount.clear()
    prof.fct_call_time, prof.fct_callcount, prof.vm_call_time = 0.0, 0, 0.0
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_fn(x, y)
    wall = (time.perf_counter() - t0) / steps
    by_kind = OrderedDict()
    for node, t in prof.apply_time.items():
        kind = op_kind(node.op)
        by_kind[kind] = by_kind.get(kind, 0.0) + t / steps
    ops = sum(by_kind.values())
    # FLOPs per step: conv layers that are convolutions, and fc layers (one matrix product each)
    net = trainer.net
    per_layer = flopsmod.layer_flops(net)
    convs = OrderedDict((n, f) for n, f in per_layer.items()
                       if isinstance(net[n], Conv2DLayer) and not net[n].covers_input())
    fc = sum(f for n, f in per_layer.items() if n not in convs)
    first = next(iter(convs)) if convs else None
    kind_flops = {"conv forward": sum(convs.values()), "conv weight gradient": sum(convs.values()),
                  "conv input gradient": sum(convs.values()) - (convs[first] if first else 0),
                  "fc (matrix products)": 3 * fc}
    rows = []
    for kind, t in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        f = kind_flops.get(kind)
        rows.append({"kind": kind, "seconds_per_step": t, "share_of_step": t / wall,
                     "gflops": f * batch_size / t / 1e9 if f and t > 0 else None})
    return {"config": name, "batch_size": batch_size, "conv": conv, "steps": steps, "step_seconds": wall,
            "images_per_s": batch_size / wall, "ops_seconds": ops, "host_seconds": max(wall - ops, 0.0),
            "host_share": max(wall - ops, 0.0) / wall, "kinds": rows}


def run_profile_bench(config_names=("small",), batch_size=None, repeats=20, json_path=None, log=info,
                      convs=("direct",)):
    """Print where a training step of each configuration goes (:func:`profile_train_step`),
    each kind's GFLOP/s against the matrix-multiply peak, for each of ``convs``."""
    peak = matmul_peak()
    log("float32 matrix-multiply peak (4096^2, Theano's BLAS): %.0f GFLOP/s" % peak)
    out = []
    for name in config_names:
        bs = batch_size or (32 if name == "zf" else 128)
        for conv in convs:
            r = profile_train_step(name, bs, steps=repeats, conv=conv)
            log("%s, batch %d, --conv %s: %.4f s per step (%.1f img/s); ops %.4f s, host side %.4f s (%.0f%%)" % (
                name, bs, conv, r["step_seconds"], r["images_per_s"], r["ops_seconds"], r["host_seconds"],
                100 * r["host_share"]))
            for k in r["kinds"]:
                k["pct_peak"] = 100 * k["gflops"] / peak if k["gflops"] else None
                log("  %-42s %8.4f s  %5.1f%%%s" % (k["kind"], k["seconds_per_step"], 100 * k["share_of_step"],
                                                   "  %6.1f GFLOP/s (%4.1f%% of peak)" % (k["gflops"], k["pct_peak"])
                                                   if k["gflops"] else ""))
            out.append(r)
    result = {"matmul_peak_gflops": peak, "results": out}
    if json_path:
        atomic_write_json(json_path, result)
    return result


def run_model_bench(config_names=("zf", "small"), batch_size=None, repeats=3, json_path=None,
                    log=info, peer=None, neighbour=False, convs=("direct",)):
    """Print a table of forward and train-step throughput for each configuration and batch size
    (``batch_size``: one or a list; default 32 for zf, 128 for the others). ``peer``: the path of a
    Python with PyTorch; the PyTorch peer then runs each config and batch size right after ours
    and the ratio is reported. ``neighbour``: each train step is also timed while another process
    keeps one core busy (median step, quiet vs busy). ``convs``: each of the Trainer's ways of
    computing 3x3 convolutions to measure (the peer runs once per config and batch size)."""
    import platform
    peak = matmul_peak()
    log("float32 matrix-multiply peak (4096^2, Theano's BLAS): %.0f GFLOP/s on %d cores"
        % (peak, os.cpu_count()))
    rows = []
    sizes = batch_size if isinstance(batch_size, (list, tuple)) else [batch_size]
    for name in config_names:
        for b in sizes:
            bs = b or (32 if name == "zf" else 128)
            p = None
            for conv in convs:
                r = bench_config(name, bs, repeats, conv=conv)
                r["forward_pct_peak"] = 100 * r["forward_gflops"] / peak
                r["train_pct_peak"] = 100 * r["train_gflops"] / peak
                line = ("%-6s %-12s batch %4d %-8s | forward %8.1f img/s %6.1f GFLOP/s (%4.1f%% of peak) | "
                        "train step %7.1f img/s %6.1f GFLOP/s (%4.1f%% of peak)"
                        % (r["config"], "x".join(map(str, r["input"])), bs, conv, r["forward_images_per_s"],
                           r["forward_gflops"], r["forward_pct_peak"], r["train_images_per_s"],
                           r["train_gflops"], r["train_pct_peak"]))
                if peer:
                    p = p or run_peer(peer, name, bs, r["steps"])
                    r["peer"] = p
                    r["ratio_to_peer"] = r["train_images_per_s"] / p["images_per_s"]
                    line += " | PyTorch %7.1f img/s: %.2fx" % (p["images_per_s"], r["ratio_to_peer"])
                if neighbour:
                    with BusyNeighbour():
                        busy = bench_config(name, bs, repeats, conv=conv)
                    r["busy_neighbour"] = {"train_median_images_per_s": busy["train_median_images_per_s"],
                                           "slowdown": r["train_median_images_per_s"]
                                           / busy["train_median_images_per_s"]}
                    line += " | busy neighbour: step time x%.2f" % r["busy_neighbour"]["slowdown"]
                rows.append(r)
                log(line)
    result = {"matmul_peak_gflops": peak, "machine": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "results": rows}
    if json_path:
        atomic_write_json(json_path, result)
    return result


def deconv_flops(net, layers, k):
    """Dense-equivalent FLOPs of projecting ``k`` units from each of ``layers`` with one
    forward pass and one transposed convolution per conv layer below per projection (the
    projector's own estimate, :meth:`~zfnet.vis.deconv.Projector.work_gflop`)."""
    from zfnet.vis.deconv import Projector
    return Projector(net).work_gflop(layers, k) * 1e9


def default_deconv_layers(net):
    """Every conv layer of the network (``conv1``... or ``block1_conv1``...)."""
    from zfnet.nn.layers import Conv2DLayer
    return [n for n, l in net.items() if isinstance(l, Conv2DLayer) and not n.startswith("fc")]


def transposed_conv_rates(net, layers, k, peak, repeats=2):
    """Dense-equivalent GFLOP/s of each conv layer's transposed convolution, run alone on as
    many signals as the single-pass walk carries through it (``k`` per requested layer at or
    above it): as the projector computes it (Winograd F(2x2, 3x3) where it applies) and
    directly (Theano's CorrMM_gradInputs)."""
    from zfnet.nn.layers import Conv2DLayer, conv_transpose
    from zfnet.nn.winograd import mode_with_winograd
    names = list(net)
    rows = OrderedDict()
    for n, l in net.items():
        if isinstance(l, Conv2DLayer):
            r = k * sum(1 for q in layers if names.index(q) >= names.index(n))
            if r:
                rows[n] = r
    out = OrderedDict()
    per_signal = layer_flops(net)
    for n, r in rows.items():
        l = net[n]
        kk, c, fh, fw = l.W.get_value(borrow=True).shape
        g = T.tensor4()
        expr = conv_transpose(g, l.W, (None, c) + tuple(l.input_shape[2:]), (kk, c, fh, fw), l.stride, l.pad)
        x = np.random.RandomState(0).rand(r, *l.output_shape[1:]).astype(floatX)
        flops = r * per_signal[n]
        res = {"signals": r, "gflop": flops / 1e9}
        for label, mode in (("projector", mode_with_winograd()), ("direct", None)):
            fn = theano.function([g], expr, mode=mode)
            algo = ("winograd" if any(type(a.op).__name__ == "Winograd3x3" for a in fn.maker.fgraph.toposort())
                    else "direct")
            fn(x)
            t = min(_timeit(lambda: fn(x)) for _ in range(repeats))
            res[label] = {"algorithm": algo, "seconds": t, "gflops": flops / t / 1e9,
                          "pct_peak": 100 * flops / t / 1e9 / peak}
            fn = None
        out[n] = res
    return out


def run_deconv_bench(repeats=3, json_path=None, layers=None, k=9, log=info, config="zf",
                     mode="max", rank="max", per_layer=True, loop=True):
    """Time the top-``k`` projections (``mode``, ranked by ``rank``) of ``layers`` (default:
    every conv layer) of ``config`` (random He weights, one image of its input size) in one
    pass and, with ``loop``, with one compiled function per layer; with ``per_layer``, the
    GFLOP/s of each transposed convolution alone. Seed 003's workload is
    ``config='vgg16-notop', mode='map', rank='l2', k=3``."""
    import os
    from zfnet.nn import configs, model
    from zfnet.vis.deconv import Projector
    peak = matmul_peak()
    lasagne.random.set_rng(np.random.RandomState(0))
    cfg = configs.get_config(config)
    net = model.build(cfg, batch_size=None)
    x = np.random.RandomState(0).randn(1, *cfg["input_shape"]).astype(floatX)
    proj = Projector(net, "deconvnet")
    layers = list(layers or default_deconv_layers(net))
    kw = dict(top=k, mode=mode, rank=rank)
    t0 = time.perf_counter(); proj.project(x, layers, **kw)
    compile_single = time.perf_counter() - t0
    single = min(_timeit(lambda: proj.project(x, layers, **kw)) for _ in range(repeats))
    flops = deconv_flops(net, layers, k)
    r = {"config": config, "input": list(cfg["input_shape"]), "layers": layers, "top": k,
         "mode": mode, "rank": rank, "single_pass_s": single,
         "single_pass_gflops": flops / single / 1e9, "dense_equivalent_gflop_single": flops / 1e9,
         "first_call_s": {"single": compile_single},
         "matmul_peak_gflops": peak, "cores": os.cpu_count()}
    log("float32 matrix-multiply peak: %.0f GFLOP/s" % peak)
    log("%s %s, top-%d %r projections (ranked by %s) of %d layers (%s ... %s) for one image:"
        % (config, "x".join(map(str, cfg["input_shape"])), k, mode, rank, len(layers), layers[0], layers[-1]))
    log("  single pass    %.3f s  (%.0f dense-equivalent GFLOP, %.1f GFLOP/s, %.1f%% of peak; "
        "first call %.1f s)" % (single, flops / 1e9, r["single_pass_gflops"],
                                100 * r["single_pass_gflops"] / peak, compile_single))
    if loop:
        t0 = time.perf_counter(); proj.project_loop(x, layers, **kw)
        r["first_call_s"]["loop"] = time.perf_counter() - t0
        lt = min(_timeit(lambda: proj.project_loop(x, layers, **kw)) for _ in range(repeats))
        loop_flops = sum(deconv_flops(net, [l], k) for l in layers)
        r.update(loop_s=lt, speedup=lt / single, loop_gflops=loop_flops / lt / 1e9,
                 dense_equivalent_gflop_loop=loop_flops / 1e9)
        log("  per-layer loop %.3f s  (%.1f GFLOP/s)  -> single pass is %.2fx faster"
            % (lt, r["loop_gflops"], r["speedup"]))
    proj = None
    if per_layer:
        rates = transposed_conv_rates(net, layers, k, peak)
        r["transposed_conv"] = rates
        log("  each transposed convolution alone (signals as in the single pass; dense-equivalent "
            "GFLOP/s, % of the matrix-multiply peak):")
        for n, v in rates.items():
            p, d = v["projector"], v["direct"]
            log("    %-14s %3d signals %6.1f GFLOP | %-8s %6.3f s %6.1f GFLOP/s (%3.0f%%) | direct %6.3f s "
                "%6.1f GFLOP/s (%3.0f%%)" % (n, v["signals"], v["gflop"], p["algorithm"], p["seconds"],
                                             p["gflops"], p["pct_peak"], d["seconds"], d["gflops"], d["pct_peak"]))
        gf = sum(v["gflop"] for v in rates.values())
        for label in ("projector", "direct"):
            tot = sum(v[label]["seconds"] for v in rates.values())
            r["transposed_conv_%s_total_s" % label] = tot
            log("    all together, %-9s %.3f s (%.1f GFLOP/s, %.0f%% of peak)"
                % (label, tot, gf / tot, 100 * gf / tot / peak))
    if json_path:
        atomic_write_json(json_path, r)
    return r


def run_serve_bench(checkpoint, repeats=20, json_path=None, log=info,
                    layers=("conv1", "conv3", "conv5")):
    """Latency of the explorer's API on ``checkpoint`` (in process, Flask's test client):
    after one warm-up call per (layer, method), the median over ``repeats`` calls of a
    projection of the strongest map, and of predict, features and occlusion."""
    from zfnet.app.server import create_app
    from zfnet.vis.methods import METHODS
    app = create_app(checkpoint)
    c = app.test_client()
    samples = c.get("/api/samples").json["samples"]
    if not samples:
        raise UsageError("%s: no sample images (its dataset is not available here)" % checkpoint)
    iid = samples[0]["id"]
    valid = [l for l in layers if l in app.explorer.layers]
    urls = OrderedDict()
    for l in valid:
        for m in METHODS:
            urls["project %s %s" % (l, m)] = "/api/project?image=%s&layer=%s&channel=0&method=%s" % (iid, l, m)
    urls["predict"] = "/api/predict?image=" + iid
    urls["features %s" % valid[-1]] = "/api/features?image=%s&layer=%s" % (iid, valid[-1])
    urls["occlusion"] = "/api/occlusion?image=" + iid
    res = OrderedDict()
    for name, u in urls.items():
        t0 = time.time(); r = c.get(u); first = time.time() - t0
        if r.status_code != 200:
            raise RuntimeError("%s -> %d %s" % (u, r.status_code, r.data[:200]))
        times = []
        for _ in range(repeats):
            t0 = time.time(); c.get(u); times.append(time.time() - t0)
        res[name] = {"first_s": first, "median_ms": 1000 * float(np.median(times)),
                     "max_ms": 1000 * float(np.max(times))}
        log("%-28s first call %6.2f s   then median %7.1f ms (max %.1f)" % (
            name, first, res[name]["median_ms"], res[name]["max_ms"]))
    if json_path:
        atomic_write_json(json_path, {"checkpoint": checkpoint, "repeats": repeats, "results": res})
    return res


SERVE_MEMORY_CODE = r"""
import io, json, sys
import numpy as np
from zfnet import memory
if sys.argv[2] == "mallopt":
    memory.keep_freed_memory()
from zfnet.report import configure
configure()
from zfnet.app.server import create_app
from zfnet.vis.methods import METHODS
from PIL import Image

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0

app = create_app(sys.argv[1])
c = app.test_client()
iid = c.get("/api/samples").json["samples"][0]["id"]
layers = app.explorer.layers
h, w = app.explorer.input_shape[1:]
rng = np.random.RandomState(0)
marks, curve = {"after start": rss()}, []
for i in range(int(sys.argv[3])):
    kind = i % 5
    if kind == 0:
        r = c.get("/api/project?image=%s&layer=%s&channel=0&method=%s" % (iid, layers[i // 5 % len(layers)],
                                                                            METHODS[i // 5 % len(METHODS)]))
    elif kind == 1:
        r = c.get("/api/occlusion?image=" + iid)
    elif kind == 2:
        r = c.get("/api/features?image=%s&layer=%s" % (iid, layers[-1]))
    elif kind == 3:
        buf = io.BytesIO()
        Image.fromarray(rng.randint(0, 256, (4 * h, 4 * w, 3)).astype("uint8")).save(buf, "PNG")
        r = c.post("/api/upload", data={"image": (io.BytesIO(buf.getvalue()), "u.png")},
                   content_type="multipart/form-data")
    else:
        r = c.get("/api/predict?image=" + iid)
    assert r.status_code == 200, (i, r.status_code, r.data[:200])
    curve.append(rss())
marks.update({"after 50": curve[49], "after 100": curve[99], "after %d" % len(curve): curve[-1],
              "peak": max(curve)})
print(json.dumps(marks))
"""


def run_serve_memory_bench(checkpoint, requests=200, json_path=None, log=info):
    """The explorer's resident memory over ``requests`` API calls (projections by every method,
    occlusion, features, uploads, predictions in turn), in two fresh processes: glibc's defaults
    (what ``serve`` runs with) and with :func:`zfnet.memory.keep_freed_memory` applied (what
    importing zfnet did before the heavy commands opted in)."""
    import json
    res = OrderedDict()
    for setting in ("default", "mallopt"):
        code = "import sys; sys.argv = ['x', %r, %r, %r]\n" % (checkpoint, setting, str(int(requests))) + SERVE_MEMORY_CODE
        res[setting] = _child(code)
        log("%-8s " % setting + "   ".join("%s %.0f MB" % kv for kv in res[setting].items()))
    if json_path:
        atomic_write_json(json_path, {"checkpoint": checkpoint, "requests": requests, "results": res})
    return res


# ------------------------------------------------------------------ imports of pretrained files
def run_import_bench(repeats=3, json_path=None, log=info, workdir=None):
    """Time ``import-keras`` on a VGG16 file and ``import-onnx`` on a ZFNet-512 file of the real
    files' layout and size (random weights; the real files cannot be downloaded here), then
    loading the checkpoint, compiling and running a 224x224 forward pass (best of ``repeats``)."""
    import os
    import shutil
    import tempfile
    from zfnet.evaluate import logits_function
    from zfnet.io.checkpoint import load_model
    from zfnet.io.keras import import_keras
    from zfnet.io.onnx import import_onnx
    from benchmarks.synthetic import write_keras_vgg16, write_zfnet512_onnx
    from zfnet.nn.model import count_params
    peak = matmul_peak()
    log("float32 matrix-multiply peak: %.0f GFLOP/s on %d cores" % (peak, os.cpu_count()))
    tmp = tempfile.mkdtemp(dir=workdir)
    results = []
    try:
        jobs = [("vgg16 (Keras 2 HDF5)", "vgg16.h5", lambda p: write_keras_vgg16(p, True),
                 lambda p, o: import_keras(p, o, log=lambda *a: None)),
                ("vgg16-notop (Keras 2 HDF5)", "vgg16_notop.h5", lambda p: write_keras_vgg16(p, False),
                 lambda p, o: import_keras(p, o, log=lambda *a: None)),
                ("ZFNet-512 (ONNX)", "zfnet512.onnx", write_zfnet512_onnx,
                 lambda p, o: import_onnx(p, o, log=lambda *a: None))]
        for name, fname, write, imp in jobs:
            src, out = os.path.join(tmp, fname), os.path.join(tmp, fname + ".ckpt")
            write(src)
            t_import = _timeit(lambda: imp(src, out))
            t0 = time.perf_counter(); model = load_model(out); t_load = time.perf_counter() - t0
            net = model.net
            t0 = time.perf_counter(); f = logits_function(net); t_compile = time.perf_counter() - t0
            x = np.random.rand(1, *model.input_shape).astype(floatX)
            f(x)
            t_fwd = min(_timeit(lambda: f(x)) for _ in range(repeats))
            flops = sum(layer_flops(net).values())
            r = {"model": name, "file_mb": os.path.getsize(src) / 2.0 ** 20,
                 "params": count_params(net),
                 "import_s": t_import, "load_s": t_load, "compile_s": t_compile, "forward_s": t_fwd,
                 "forward_gflops": flops / t_fwd / 1e9, "forward_pct_peak": 100 * flops / t_fwd / 1e9 / peak}
            results.append(r)
            log("%-27s %6.0f MiB %11d params | import %5.1f s | load %4.1f s | compile %4.1f s | "
                "224x224 forward %.3f s (%.1f GFLOP/s, %.0f%% of peak)"
                % (name, r["file_mb"], r["params"], t_import, t_load, t_compile, t_fwd,
                   r["forward_gflops"], r["forward_pct_peak"]))
            shutil.rmtree(out); os.remove(src)
            net = f = None  # free the model before the next one
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"matmul_peak_gflops": peak, "cores": os.cpu_count(), "repeats": repeats, "results": results,
           "note": "files of the real layout and size with random weights"}
    if json_path:
        atomic_write_json(json_path, out)
    return out


# ------------------------------------------------------------------ dataset scans on Dask
def run_scan_bench(checkpoint=None, workers=2, json_path=None, log=info, layer="conv5", k=9,
                   workdir=None):
    """Images/s of the ``small`` model's top-``k`` scan of every ``layer`` map over the
    Fashion-MNIST training set, in this process and on a Dask LocalCluster of ``workers``
    processes (cluster start-up reported apart); the round trip of an empty Dask task; and
    ``zf``'s forward cost per 224x224 image, with the workers a 1.3 M-image scan would need to
    finish in an hour at that cost."""
    import os
    import tempfile
    from zfnet.data.fashion_mnist import load_fashion_mnist
    from zfnet.cluster.scan import connect, scan_topk_dask
    from zfnet.io.checkpoint import load_model, model_json, write_checkpoint
    from zfnet.nn import configs, model as modelmod
    from zfnet.vis.topk import scan_topk
    if checkpoint is None:  # the small model with random weights: the cost does not depend on them
        cfg = configs.get_config("small")
        net = modelmod.build(cfg)
        checkpoint = os.path.join(tempfile.mkdtemp(dir=workdir), "small")
        write_checkpoint(checkpoint, {"model.json": model_json(cfg, net, {"mean": [72.9], "std": [90.0]},
                                                               dataset="fashion-mnist"),
                                      "model.npz": modelmod.get_weights(net)})
    m = load_model(checkpoint)
    x = load_fashion_mnist().x_train
    chans = {layer: list(range(m.net[layer].output_shape[1]))}
    scan_topk(m, x[:512], [layer], chans, k, progress=False)  # compile (and warm the cache)
    t0 = time.perf_counter(); local = scan_topk(m, x, [layer], chans, k, progress=False)
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter(); client, cluster = connect("local:%d" % workers)
    client.wait_for_workers(workers); t_start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        dist = scan_topk_dask(client, checkpoint, "fashion-mnist", "train", [layer], chans, k,
                              progress=False, n_images=len(x))
        t_dist = time.perf_counter() - t0
        same = all(np.array_equal(dist[layer][key], local[layer][key])
                   for key in ("images", "positions", "activations"))
        rt = []
        for _ in range(20):
            t0 = time.perf_counter(); client.submit(abs, -1, pure=False).result(); rt.append(time.perf_counter() - t0)
    finally:
        client.close(); cluster.close()
    zf = configs.get_config("zf")
    from zfnet.evaluate import logits_function
    znet = modelmod.build(zf, batch_size=8)
    f = logits_function(znet)
    xb = np.random.rand(8, 3, 224, 224).astype(floatX)
    f(xb)
    t_zf = min(_timeit(lambda: f(xb)) for _ in range(2)) / 8.0
    need = int(np.ceil(1.3e6 * t_zf / 3600.0))
    r = {"images": len(x), "layer": layer, "maps": len(chans[layer]), "k": k,
         "in_process_s": t_local, "in_process_img_s": len(x) / t_local,
         "workers": workers, "cluster_start_s": t_start, "dask_s": t_dist, "dask_img_s": len(x) / t_dist,
         "identical": bool(same), "task_round_trip_ms": 1000 * float(np.median(rt)),
         "zf_forward_s_per_image": t_zf, "workers_for_1.3M_zf_in_an_hour": need}
    log("small, top-%d of %d %s maps over %d training images: in process %.1f s (%.0f img/s); "
        "local:%d %.1f s (%.0f img/s; cluster start %.1f s more); identical: %s"
        % (k, r["maps"], layer, len(x), t_local, r["in_process_img_s"], workers, t_dist, r["dask_img_s"],
           t_start, same))
    log("an empty Dask task's round trip: %.1f ms (median of 20)" % r["task_round_trip_ms"])
    log("zf forward at 224x224: %.3f s per image on this machine's %d cores -> a 1.3 M-image scan in "
        "an hour needs %d workers like it (the scan is the forward pass; merging is negligible)"
        % (t_zf, os.cpu_count(), need))
    if json_path:
        atomic_write_json(json_path, r)
    return r


# ------------------------------------------------------------------ seconds to the first picture
def first_picture_layers(chain_names):
    """conv1, conv3, conv5 and fc6 where the network has them (ZF's names), else four conv
    layers spread from the first to the last."""
    want = [n for n in ("conv1", "conv3", "conv5", "fc6") if n in chain_names]
    if len(want) == 4:
        return want
    convs = [n for n in chain_names if "conv" in n and not n.endswith("relu")]
    if len(convs) <= 4:
        return convs
    return [convs[int(round(i * (len(convs) - 1) / 3.0))] for i in range(4)]


def first_picture_breakdown(checkpoint, image, layers, top=9, import_s=0.0):
    """Run in a fresh process (``bench first-picture`` starts one): where the seconds of a
    first ``visualize`` go. ``import_s``: the child's own time to import :mod:`zfnet.backend`
    (measured before this module was imported). Returns {phase: seconds}."""
    t_start = time.perf_counter()
    marks = OrderedDict()
    marks["import Theano and Lasagne"] = import_s
    from theano.compile import function_module
    from theano.gof import cc
    spent = {"optimise": 0.0, "link": 0.0}
    make_init, create = function_module.FunctionMaker.__init__, function_module.FunctionMaker.create

    def timed_init(self, *a, **kw):
        t = time.perf_counter(); make_init(self, *a, **kw); spent["optimise"] += time.perf_counter() - t

    def timed_create(self, *a, **kw):
        t = time.perf_counter(); r = create(self, *a, **kw); spent["link"] += time.perf_counter() - t
        return r
    function_module.FunctionMaker.__init__, function_module.FunctionMaker.create = timed_init, timed_create
    from zfnet.io.checkpoint import load_model
    from zfnet.vis.deconv import Projector
    from zfnet.vis.figures import write_projections
    t = time.perf_counter(); cc.get_module_cache()
    marks["load the C-module cache index"] = time.perf_counter() - t
    t = time.perf_counter(); model = load_model(checkpoint)
    x_u8 = model.load_images([image]); x = model.preprocess(x_u8)
    marks["load checkpoint and image"] = time.perf_counter() - t
    proj = Projector(model)
    build = proj._compile
    from zfnet.vis import fncache
    load_kept = fncache.load

    def timed_build(*a, **kw):
        t = time.perf_counter(); r = build(*a, **kw); spent["build"] = time.perf_counter() - t
        return r

    def timed_load(*a, **kw):
        t = time.perf_counter(); r = load_kept(*a, **kw); spent["kept"] = time.perf_counter() - t
        return r
    proj._compile, fncache.load = timed_build, timed_load
    try:
        t = time.perf_counter(); res = proj.project(x, layers, top=top); t_first = time.perf_counter() - t
    finally:
        fncache.load = load_kept
    # a function kept by an earlier process (zfnet.vis.fncache) is unpickled and linked: no
    # build, no optimisation; FunctionMaker.__init__ then only wraps the kept graph
    kept = "build" not in spent and "kept" in spent
    marks["load the kept graph (function cache)" if kept else "build the graph"] = \
        (spent["kept"] - spent["link"]) if kept else (spent["build"] - spent["optimise"] - spent["link"])
    if not kept:
        marks["optimise the graph"] = spent["optimise"]
    marks["link (C thunks from the cache)"] = spent["link"]
    t = time.perf_counter(); res = proj.project(x, layers, top=top)
    marks["run the projection"] = time.perf_counter() - t
    marks["other (first-call bookkeeping)"] = t_first - spent.get("build", spent.get("kept", 0.0)) \
        - marks["run the projection"]
    import tempfile
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        write_projections(d, "img", model, x_u8[0], OrderedDict((n, p[0]) for n, p in res.items()),
                          "common", "deconvnet")
    marks["render and write the PNGs"] = time.perf_counter() - t
    marks["total in process"] = time.perf_counter() - t_start + import_s
    return marks


def _child(code):
    """The JSON a fresh Python process running ``code`` prints last."""
    import json
    import subprocess
    import sys
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the clone: benchmarks/ importable
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError("child failed:\n" + out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_first_picture_bench(checkpoint, repeats=3, json_path=None, log=info, workdir=None):
    """Seconds to the first picture, each in a fresh process with a warm compile cache (one
    untimed run warms it): ``python -m zfnet visualize`` of four layers (conv1, conv3, conv5,
    fc6 on ZF-style networks; best of ``repeats``), where those seconds go, and the explorer's
    first answer per (layer, method) after it has started."""
    import os
    import shutil
    import sys
    import tempfile
    from zfnet.io.checkpoint import read_model_json
    cfg = read_model_json(checkpoint)["config"]
    layers = first_picture_layers([l["name"] for l in cfg["layers"]])
    tmp = tempfile.mkdtemp(dir=workdir)
    try:
        from PIL import Image
        shape = cfg["input_shape"]
        rng = np.random.RandomState(0)
        img = os.path.join(tmp, "probe.png")
        px = rng.randint(0, 256, (shape[1], shape[2], shape[0])).astype(np.uint8)
        Image.fromarray(px[..., 0] if shape[0] == 1 else px).save(img)
        cmd = [sys.executable, "-m", "zfnet", "visualize", checkpoint, img, "--top", "9", "--quiet",
               "--out", os.path.join(tmp, "out")]
        for l in layers:
            cmd += ["--layer", l]
        import subprocess
        walls = []
        for i in range(repeats + 1):  # the first run warms the compile cache
            t = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            walls.append(time.perf_counter() - t)
            if done.returncode:
                raise RuntimeError("visualize failed:\n" + done.stderr[-2000:])
        r = {"checkpoint": checkpoint, "layers": layers, "command": " ".join(cmd[1:]),
             "visualize_wall_s": min(walls[1:]), "visualize_walls_s": walls[1:],
             "visualize_cold_s": walls[0]}
        log("fresh-process `visualize` of %s, top 9, warm compile cache: best %.2f s of %s"
            % (", ".join(layers), r["visualize_wall_s"], ", ".join("%.2f" % w for w in walls[1:])))
        r["breakdown_s"] = _child(
            "import json, time; t = time.perf_counter(); import zfnet.backend; "
            "t = time.perf_counter() - t; from benchmarks.bench import first_picture_breakdown as f; "
            "print(json.dumps(f(%r, %r, %r, import_s=t)))" % (checkpoint, img, layers))
        log("  where the seconds go (in a fresh process, python start-up not counted):")
        for k, v in r["breakdown_s"].items():
            log("    %-34s %6.2f s" % (k, v))
        r["explorer"] = _child("import json; from benchmarks.bench import explorer_first_answers as f; "
                               "print(json.dumps(f(%r)))" % (checkpoint,))
        log("explorer in a fresh process: started in %.2f s; first answer per (layer, method):"
            % r["explorer"]["start_s"])
        for k, v in r["explorer"]["first_answer_s"].items():
            log("    %-30s %5.2f s" % (k, v))
        worst = max(r["explorer"]["first_answer_s"].values())
        r["explorer_worst_first_answer_s"] = worst
        log("  slowest first answer: %.2f s" % worst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if json_path:
        atomic_write_json(json_path, r)
    return r


def explorer_first_answers(checkpoint):
    """Run in a fresh process: the explorer's start-up and its first answer for each method
    on four of its layers (:func:`first_picture_layers`), through its HTTP API (Flask's test
    client)."""
    t = time.perf_counter()
    from zfnet.app.server import create_app
    from zfnet.vis.methods import METHODS
    app = create_app(checkpoint)
    c = app.test_client()
    samples = c.get("/api/samples").json["samples"]
    start = time.perf_counter() - t
    if not samples:
        raise UsageError("%s: no sample images (its dataset is not available here)" % checkpoint)
    iid = samples[0]["id"]
    res = OrderedDict()
    for l in first_picture_layers(app.explorer.layers):
        for m in METHODS:
            t = time.perf_counter()
            r = c.get("/api/project?image=%s&layer=%s&channel=0&method=%s" % (iid, l, m))
            res["%s %s" % (l, m)] = time.perf_counter() - t
            if r.status_code != 200:
                raise RuntimeError("%s %s -> %d %s" % (l, m, r.status_code, r.data[:200]))
    app.explorer.close()
    return {"start_s": start, "first_answer_s": res}
