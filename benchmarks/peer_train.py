"""The PyTorch peer of ``zfnet bench model``: one Nesterov SGD training step of any zfnet config.

Run it with a Python that has PyTorch (not the project's environment; zfnet itself needs no
PyTorch), from the project's root, right after ``python -m zfnet bench model`` on the same
machine, and compare images/s::

    OMP_NUM_THREADS=2 PEER_PYTHON benchmarks/peer_train.py --config zf64 --batch 32

The network is built from the zfnet configuration itself (``zfnet.nn.configs``, which imports
no Theano), layer by layer, so every config is mirrored exactly and a new one needs no new
code: ``conv`` -> ``Conv2d``, ``fc`` -> a ``Conv2d`` whose kernel spans its input map (zfnet's
fc layers are convolutions), ``maxpool`` -> ``MaxPool2d`` (``ignore_border=False`` is
PyTorch's ``ceil_mode=True``), ``lrn`` -> ``LocalResponseNorm`` with ``alpha * n`` (PyTorch
divides alpha by the window, Lasagne does not), ``dropout``, ``relu``; the final ``softmax``
becomes the cross-entropy loss on the logits. Every map's size is checked against zfnet's own
rule (:mod:`zfnet.nn.shapes`) as the network is built. The step: forward, cross-entropy,
backward, ``torch.optim.SGD(lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)``; zfnet's
step does the same plus feature-scale clipping, which the peer leaves out (it only costs us).

:func:`plan` is the translation without PyTorch, so the project's tests check it against the
Lasagne network (sizes and parameter counts) without PyTorch installed.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def plan(cfg):
    """The peer's layers for zfnet configuration ``cfg``: a list of ``(kind, kwargs, (C, H, W)
    after the layer)``, with PyTorch's argument names. ``kind`` is a ``torch.nn`` class name."""
    from zfnet.nn.shapes import conv_output_length, pool_output_length
    c, h, w = cfg["input_shape"]
    out = []
    for spec in cfg["layers"]:
        t = spec["type"]
        if t == "conv":
            f, s, p = spec["filter_size"], spec.get("stride", 1), spec.get("pad", 0)
            kw = dict(in_channels=c, out_channels=spec["num_filters"], kernel_size=f, stride=s, padding=p)
            c, h, w = spec["num_filters"], conv_output_length(h, f, s, p), conv_output_length(w, f, s, p)
            out.append(("Conv2d", kw, (c, h, w)))
        elif t == "fc":
            kw = dict(in_channels=c, out_channels=spec["num_units"], kernel_size=(h, w), stride=1, padding=0)
            c, h, w = spec["num_units"], 1, 1
            out.append(("Conv2d", kw, (c, h, w)))
        elif t == "relu":
            out.append(("ReLU", {}, (c, h, w)))
        elif t == "maxpool":
            size, stride, ib = spec["pool_size"], spec["stride"], spec.get("ignore_border", False)
            h, w = (pool_output_length(n, size, stride, 0, ib) for n in (h, w))
            out.append(("MaxPool2d", dict(kernel_size=size, stride=stride, ceil_mode=not ib), (c, h, w)))
        elif t == "lrn":
            out.append(("LocalResponseNorm", dict(size=spec["n"], alpha=spec["alpha"] * spec["n"],
                                                  beta=spec["beta"], k=spec["k"]), (c, h, w)))
        elif t == "dropout":
            out.append(("Dropout", dict(p=spec["p"]), (c, h, w)))
        elif t == "softmax":
            continue  # the loss takes the logits
        else:
            raise ValueError("the peer has no PyTorch layer for type %r (layer %r)" % (t, spec.get("name")))
    return out


def parameter_count(layers):
    """Weights and biases of :func:`plan`'s layers."""
    n = 0
    for kind, kw, _ in layers:
        if kind == "Conv2d":
            k = kw["kernel_size"]
            kh, kw_ = (k, k) if isinstance(k, int) else k
            n += kw["out_channels"] * (kw["in_channels"] * kh * kw_ + 1)
    return n


def build(layers, torch):
    """The ``torch.nn.Sequential`` of :func:`plan`'s layers (:func:`check_shapes` checks its maps)."""
    nn = torch.nn
    mods = [getattr(nn, kind)(**kw) for kind, kw, _ in layers]
    return nn.Sequential(*mods, nn.Flatten())


def check_shapes(net, layers, input_shape, torch):
    """Raise unless each layer of ``net`` gives the map size :func:`plan` computed by zfnet's rule."""
    x = torch.zeros((1,) + tuple(input_shape))
    with torch.no_grad():
        for mod, (kind, _, shape) in zip(net, layers):
            x = mod(x)
            if tuple(x.shape[1:]) != tuple(shape):
                raise AssertionError("%s gives %s, zfnet's rule %s" % (kind, tuple(x.shape[1:]), shape))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="small", help="a zfnet config name or a model/config JSON file")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default: 3 for zf, else ~10 s worth)")
    a = ap.parse_args(argv)
    import warnings
    import torch
    with warnings.catch_warnings():  # zfnet's Theano set-up finds no BLAS in PyTorch's environment: irrelevant here
        warnings.simplefilter("ignore")
        from zfnet.nn import configs
    cfg = configs.get_config(a.config)
    layers = plan(cfg)
    torch.manual_seed(0)
    net = build(layers, torch)
    check_shapes(net, layers, cfg["input_shape"], torch)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn((a.batch,) + tuple(cfg["input_shape"]))
    y = torch.randint(0, cfg["num_classes"], (a.batch,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    t0 = time.perf_counter(); step(); first = time.perf_counter() - t0
    steps = a.steps or max(3, min(200, int(10.0 / max(first, 1e-3))))
    ts = []
    for _ in range(steps):
        t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
    ts.sort()
    print("torch %s train step batch=%d threads=%d params=%d steps=%d best_s=%.4f median_s=%.4f "
          "img_per_s=%.1f median_img_per_s=%.1f"
          % (cfg["name"], a.batch, torch.get_num_threads(), parameter_count(layers), steps, ts[0],
             ts[len(ts) // 2], a.batch / ts[0], a.batch / ts[len(ts) // 2]))


if __name__ == "__main__":
    main()
