"""Benchmarks: throughput and effective GFLOP/s next to the matrix-multiply peak.

Speed is measured here and reported, never asserted in a test. The peak is
the best of a few float32 4096x4096 matrix products through Theano's own BLAS
(the same library its convolutions call).
"""
import json
import time

import numpy as np

from .backend import T, lasagne, theano, floatX


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
    """Multiply-add FLOPs (2 per MAC) per image of each conv/fc layer's forward pass."""
    from .layers import Conv2DLayer
    out = {}
    for name, l in net.items():
        if isinstance(l, Conv2DLayer):
            k, c, h, w = l.W.get_value(borrow=True).shape
            _, _, ho, wo = l.output_shape
            out[name] = 2.0 * k * c * h * w * ho * wo
    return out


def flops_per_image(net):
    """(forward, train step) FLOPs per image. A train step = forward + gradient
    w.r.t. weights of every layer + gradient w.r.t. inputs of all but the first."""
    f = layer_flops(net)
    fwd = sum(f.values())
    first = next(iter(f))
    return fwd, fwd + fwd + (fwd - f[first])


def bench_config(name, batch_size, repeats=3, log=print):
    from . import configs, model
    from .train import TrainSettings, Trainer
    cfg = configs.get_config(name)
    trainer = Trainer(cfg, TrainSettings(epochs=1, batch_size=batch_size, clip_radius=0.1))
    fwd_fn = trainer.logits_fn
    c, h, w = cfg["input_shape"]
    x = np.random.rand(batch_size, c, h, w).astype(floatX)
    y = np.random.randint(0, cfg["num_classes"], batch_size).astype(np.int32)
    fwd_fn(x); trainer.train_fn(x, y)
    t_fwd = min(_timeit(lambda: fwd_fn(x)) for _ in range(repeats))
    t_train = min(_timeit(lambda: trainer.train_fn(x, y)) for _ in range(repeats))
    f_fwd, f_train = flops_per_image(trainer.net)
    return {"config": name, "input": [c, h, w], "batch_size": batch_size,
            "forward_images_per_s": batch_size / t_fwd,
            "forward_gflops": f_fwd * batch_size / t_fwd / 1e9,
            "train_images_per_s": batch_size / t_train,
            "train_step_s": t_train,
            "train_gflops": f_train * batch_size / t_train / 1e9,
            "forward_mflop_per_image": f_fwd / 1e6, "train_mflop_per_image": f_train / 1e6}


def run_model_bench(config_names=("zf", "small"), batch_size=None, repeats=3, json_path=None,
                    log=print):
    """Print a table of forward and train-step throughput for each configuration."""
    import platform
    import os
    peak = matmul_peak()
    log("float32 matrix-multiply peak (4096^2, Theano's BLAS): %.0f GFLOP/s on %d cores"
        % (peak, os.cpu_count()))
    rows = []
    for name in config_names:
        bs = batch_size or (32 if name == "zf" else 128)
        r = bench_config(name, bs, repeats)
        r["forward_pct_peak"] = 100 * r["forward_gflops"] / peak
        r["train_pct_peak"] = 100 * r["train_gflops"] / peak
        rows.append(r)
        log("%-6s %-12s batch %4d | forward %8.1f img/s %6.1f GFLOP/s (%4.1f%% of peak) | "
            "train step %7.1f img/s %6.1f GFLOP/s (%4.1f%% of peak)"
            % (name, "x".join(map(str, r["input"])), bs, r["forward_images_per_s"],
               r["forward_gflops"], r["forward_pct_peak"], r["train_images_per_s"],
               r["train_gflops"], r["train_pct_peak"]))
    result = {"matmul_peak_gflops": peak, "machine": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "results": rows}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(result, f, indent=1)
    return result
