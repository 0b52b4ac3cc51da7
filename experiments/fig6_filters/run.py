"""Fig. 6: feature scale clipping from a small initialisation, and the first layer's geometry.

Every network here is trained for 10 epochs on a 20,000-image subset of Fashion-MNIST's
training split (18,000 to train, 2,000 held out), constant lr 0.01 (nothing freezes early),
otherwise the base protocol; training seeds 1 to 5 (:data:`EXTRA_SEEDS`); per-filter RMS of every conv layer
logged after every epoch.

**(a) Clipping.** ``small`` at 28x28 from the paper's small start for the first layer: conv1
from N(0, 0.01^2), i.e. a filter RMS of 0.01, ten times below the clipping radius 0.1, so
clipping acts only on filters that *grow* to it (``--init gauss-conv1``: the deeper layers
from He init, because ``small`` does not learn at all from N(0, 0.01^2) everywhere; measured
in the README). Arms: clipping at 0.1, no clipping, and the He init with clipping (the old
default, whose conv1 RMS of ~0.47 is rescaled to 0.1 at the first update).

**(b)-(e) Geometry.** Fashion-MNIST drawn at 64x64 (bilinear), where both of the paper's first
layers make sense, with the rest of ``small`` adapted so that both reach the same 8x8 map at
conv2 (as Krizhevsky's and ZF's reach 13x13 at layer 3): Krizhevsky-style conv1 11x11 stride 4
(64 -> 16 -> pool 8) then conv2 stride 1, against ZF-style conv1 7x7 stride 2 (64 -> 32 ->
pool 16) then conv2 stride 2. Both from ``gauss-conv1`` with clipping.

Measured per network: dead filters (RMS under 0.1x the median, or never firing on 1,000
held-out images) and dominating filters (RMS over 2x the median) of conv1 and conv2, the share
of the squared conv1 norm held by its strongest 10%, **aliasing** as the share of each conv1
filter's spectral energy above the Nyquist frequency of its output grid (0.5 / stride cycles
per pixel) and above half the input's Nyquist (0.25 cycles per pixel), **checkerboard energy**
as the share of conv2's (mean-removed) map power in the upper half of its frequencies, and
test error.
"""

PAPER_ITEMS = ["Fig. 6"]
import json
import os

import numpy as np

from zfnet.data.dataset import Dataset
from zfnet.evaluate import batched, features_function
from zfnet.io.checkpoint import load_model
from zfnet.nn import configs
from zfnet.repro import analysis
from zfnet.repro import reproduce as rep
from zfnet.vis import plots
from zfnet.vis.figures import topk

SUBSET, EPOCHS, KEEP, SIZE = 20000, 10, (1, 2, 5, 10), 64
RADIUS = 0.1
CLIP_ARMS = [("gauss-conv1", True), ("gauss-conv1", False), ("he", True)]
GEOMETRIES = ["11x11/4", "7x7/2"]
# Seeds 4 and 5 were added to the base protocol's 1-3 after the three-seed run, where the
# dominating-filter test came out at t = 4.0 against a critical 4.30 (issue 23: where a verdict
# is close, more seeds). The three-seed outcomes are kept in results.json ("first_three_seeds").
EXTRA_SEEDS = (4, 5)


def settings(ctx, seed, init="gauss-conv1", clip=True):
    kw = dict(seed=seed, schedule="none", init=init, clip_radius=RADIUS if clip else 0)
    if ctx.quick:
        return rep.base_settings(True, epochs=2, keep=(1, 2), limit=600, **kw)
    return rep.base_settings(False, epochs=EPOCHS, keep=KEEP, limit=SUBSET, **kw)


def arm_label(init, clip):
    return "%s, %s" % ("conv1 N(0, 0.01^2)" if init == "gauss-conv1" else "He init",
                       "clipping" if clip else "no clipping")


def clip_run(ctx, seed, init, clip):
    s = settings(ctx, seed, init, clip)
    return ctx.trained("fig6-small", rep.base_config(ctx), s, ctx.fashion_mnist().limit(s.limit))


def geometry_config(kind, size=SIZE):
    """``small`` at ``size`` px with a Krizhevsky-style (11x11/4, conv2 stride 1) or ZF-style
    (7x7/2, conv2 stride 2) first layer."""
    cfg = configs.small(size=size)
    f, st, st2 = {"11x11/4": (11, 4, 1), "7x7/2": (7, 2, 2)}[kind]
    for l in cfg["layers"]:
        if l["name"] == "conv1":
            l.update(filter_size=f, stride=st, pad=f // 2)
        if l["name"] == "conv2":
            l.update(stride=st2)
    cfg["name"] = "small%d-conv1-%dx%ds%d" % (size, f, f, st)
    return cfg


def resize_dataset(ds, size):
    """``ds`` with every image resized to ``size`` x ``size`` (bilinear)."""
    from PIL import Image

    def rs(x):
        out = np.empty((len(x), x.shape[1], size, size), np.uint8)
        for i, img in enumerate(x):
            for c, ch in enumerate(img):
                out[i, c] = np.asarray(Image.fromarray(ch).resize((size, size), Image.BILINEAR))
        return out
    return Dataset("%s-%dpx" % (ds.name, size), rs(ds.x_train), ds.y_train, rs(ds.x_test), ds.y_test,
                   ds.class_names)


_RESIZED = {}


def data64(ctx):
    s = settings(ctx, 1)
    if ctx.quick not in _RESIZED:
        _RESIZED[ctx.quick] = resize_dataset(ctx.fashion_mnist().limit(s.limit), SIZE)
    return _RESIZED[ctx.quick]


def geometry_run(ctx, seed, kind):
    return ctx.trained("fig6-geometry", geometry_config(kind), settings(ctx, seed), data64(ctx))


def _log(run):
    with open(os.path.join(run, "log.json")) as f:
        return json.load(f)


def measure(run, x_val):
    """Filter health, aliasing and test error of a run's final network."""
    model = load_model(os.path.join(run, "final"))
    net = model.net
    W1, W2 = net["conv1"].W.get_value(), net["conv2"].W.get_value()
    a1, a2 = batched(features_function(net, ["relu1", "relu2"]), model.preprocess(x_val))
    h1 = analysis.filter_health(W1, a1.reshape(len(a1), W1.shape[0], -1))
    h2 = analysis.filter_health(W2, a2.reshape(len(a2), W2.shape[0], -1))
    stride = net["conv1"].stride[0]
    hist = _log(run)
    return {"conv1": {k: v for k, v in h1.items() if k != "rms"},
            "conv2": {k: v for k, v in h2.items() if k != "rms"},
            "dead": h1["dead"] + h2["dead"],
            "alias_output_nyquist": analysis.spectral_share_above(W1, 0.5 / stride),
            "alias_half_nyquist": analysis.spectral_share_above(W1, 0.25),
            "checkerboard_conv2": analysis.map_high_frequency_share(
                a2.reshape((len(a2),) + tuple(net["relu2"].output_shape[1:]))),
            "test_top1": hist[-1]["test_top1"],
            "conv1_rms_by_epoch": {str(r["epoch"]): r["filter_rms"]["conv1"] for r in hist},
            "at_radius_by_epoch": {str(r["epoch"]): float(np.mean(np.asarray(r["filter_rms"]["conv1"])
                                                                 >= 0.999 * RADIUS)) for r in hist}}


def first_seeds(tests, n):
    """The same paired tests (``rep.effect`` results) on the first ``n`` seeds alone: the
    outcomes before :data:`EXTRA_SEEDS` were added."""
    return {k: rep.effect(e["a"][:n], e["b"][:n], e["claim"].split()[1]) for k, e in tests.items()}


def init_share_above_radius(cfg, init, seeds):
    """Share of conv1 filters whose RMS at initialisation exceeds the clipping radius (clipping
    rescales exactly these at the first update), over the networks of ``seeds``."""
    import lasagne
    from zfnet.nn import model as modelmod
    shares = []
    for s in seeds:
        lasagne.random.set_rng(np.random.RandomState(s))
        W = modelmod.build(cfg, init=init)["conv1"].W.get_value()
        shares.append(float(np.mean(np.sqrt((W.reshape(len(W), -1) ** 2).mean(1)) > RADIUS)))
    return float(np.mean(shares))


def run(ctx):
    ctx.require_default_data("its arms are fixed variants of the project's small network on Fashion-MNIST")
    seeds = rep.seeds_for(ctx)
    if len(seeds) > 1:
        seeds = seeds + [s for s in EXTRA_SEEDS if s not in seeds]
    ds = ctx.fashion_mnist()
    s1 = settings(ctx, seeds[0])
    from zfnet.train import holdout
    _, _, x_val, _ = holdout(ds.limit(s1.limit), s1)
    _, _, x_val64, _ = holdout(data64(ctx), s1)
    x_val, x_val64 = x_val[:1000], x_val64[:1000]
    arms = {arm_label(i, c): {s: clip_run(ctx, s, i, c) for s in seeds} for i, c in CLIP_ARMS}
    geos = {g: {s: geometry_run(ctx, s, g) for s in seeds} for g in GEOMETRIES}
    ctx.params.update(protocol=s1.to_dict(), seeds=seeds, radius=RADIUS, input_size_geometry=SIZE,
                      runs={k: {s: rep.run_label(r) for s, r in v.items()}
                            for k, v in list(arms.items()) + list(geos.items())},
                      geometry={g: [l for l in geometry_config(g)["layers"] if l["name"] in ("conv1", "conv2")]
                                for g in GEOMETRIES},
                      health="dominating: RMS > 2x median; dead: RMS < 0.1x median or no positive "
                             "activation on %d held-out images" % len(x_val))
    m = {k: {s: measure(r, x_val) for s, r in v.items()} for k, v in arms.items()}
    m.update({g: {s: measure(r, x_val64) for s, r in v.items()} for g, v in geos.items()})
    per = lambda k, f: [f(m[k][s]) for s in seeds]

    # ---- figures: conv1 RMS over epochs; filters; conv1/conv2 top-9 (seed 1)
    plt = plots.pyplot()
    names = list(arms)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), sharey=True)
    for ax, k in zip(axes, names):
        for j, s in enumerate(seeds):
            rms = m[k][s]["conv1_rms_by_epoch"]
            ep = sorted(int(e) for e in rms)
            r = np.array([rms[str(e)] for e in ep])
            ax.plot(ep, r.max(1), "C3-", alpha=1 if j == 0 else .4, label="max" if j == 0 else None)
            ax.plot(ep, np.median(r, 1), "C0-", alpha=1 if j == 0 else .4, label="median" if j == 0 else None)
            ax.plot(ep, r.min(1), "C2-", alpha=1 if j == 0 else .4, label="min" if j == 0 else None)
        ax.axhline(RADIUS, color="grey", ls="--", lw=1, label="radius %.1f" % RADIUS)
        ax.set_yscale("log"); ax.set_title(k, fontsize=9); ax.set_xlabel("epoch"); ax.grid(alpha=.3)
    axes[0].set_ylabel("conv1 filter RMS (seeds: faint)"); axes[0].legend(fontsize=7)
    plots.save_figure(fig, ctx.path("conv1_rms_by_epoch.png"), dpi=100)
    pngs = ["conv1_rms_by_epoch.png"]
    slugs = dict(zip(names, ("28px_clipping", "28px_no-clipping", "28px_he_clipping")))
    slugs.update({g: "64px_" + g.replace("/", "s") for g in GEOMETRIES})
    for k, v in list(arms.items())[:2] + list(geos.items()):
        slug = slugs[k]
        W1 = load_model(os.path.join(v[seeds[0]], "final")).net["conv1"].W.get_value()
        plots.save_filters_png(W1, ctx.path("conv1_%s.png" % slug), zoom=10 if W1.shape[-1] <= 3 else 5)
        pngs.append("conv1_%s.png" % slug)
    for g, v in geos.items():
        d = data64(ctx)
        val = Dataset(d.name + " held out", x_val64[:1], np.zeros(1, np.int32), x_val64,
                      np.zeros(len(x_val64), np.int32), d.class_names)
        tmp = ctx.path("topk_" + g.replace("/", "s"))
        os.makedirs(tmp, exist_ok=True)
        t = topk(os.path.join(v[seeds[0]], "final"), ["conv2"], tmp, dataset=val, split="test",
                 maps=4, k=9, seed=0, progress=ctx.progress, log=ctx.log)
        os.remove(t.npz)
        dst = "conv2_top9_%s.png" % g.replace("/", "s")
        os.replace(os.path.join(tmp, "topk_conv2.png"), ctx.path(dst))
        os.rmdir(tmp)
        pngs.append(dst)

    # ---- rules
    C, N, H = names
    share = lambda r: r["conv1"]["top10pct_norm_share"]
    dom = lambda r: r["conv1"]["dominating"]
    clip_tests = {"top-10% conv1 norm share": rep.effect(per(N, share), per(C, share), ">"),
                  "dominating conv1 filters": rep.effect(per(N, dom), per(C, dom), ">")} if len(seeds) > 1 else {}
    clip_outcome = rep.combine_outcomes(e["outcome"] for e in clip_tests.values())
    A, B = GEOMETRIES
    # Aliasing in conv1's filters can only show on inputs that hold energy above the stride-2
    # output's Nyquist: Fashion-MNIST drawn up from 28 px holds almost none, so that part is
    # not judged; the inputs' share is recorded as the reason. Aliased layer-2 maps are
    # measured on the maps themselves (checkerboard energy).
    input_power = {"above 0.25 cycles/px": analysis.map_high_frequency_share(x_val64[:200], 0.25),
                   "above 0.125 cycles/px": analysis.map_high_frequency_share(x_val64[:200], 0.125)}
    geo_tests = {
        "aliased layer-2 maps (checkerboard energy)": rep.effect(
            per(A, lambda r: r["checkerboard_conv2"]), per(B, lambda r: r["checkerboard_conv2"]), ">"),
        "dead conv1+conv2 filters": rep.effect(per(A, lambda r: r["dead"]), per(B, lambda r: r["dead"]), ">"),
        "test error": rep.effect(per(A, lambda r: r["test_top1"]), per(B, lambda r: r["test_top1"]), ">"),
    } if len(seeds) > 1 else {}
    geo_outcomes = dict({k: e["outcome"] for k, e in geo_tests.items()},
                        **{"aliased conv1 filters": "not shown"})
    geo_outcome = rep.combine_outcomes(geo_outcomes.values())
    above = {i: init_share_above_radius(rep.base_config(ctx), i, seeds) for i in ("he", "gauss-conv1")}
    default = rep.effect(per(C, lambda r: r["test_top1"]), per(H, lambda r: r["test_top1"]), "<") \
        if len(seeds) > 1 else None
    mean = lambda k, f: float(np.mean(per(k, f)))
    ours = ("clipping (from conv1 RMS 0.01): top-10%% conv1 norm share %.2f without vs %.2f with, "
            "dominating filters %s vs %s per seed (%s); 11x11/4 vs 7x7/2 at 64 px: filter energy above the "
            "output's Nyquist %.2f vs %.2f (not judged: the inputs hold %.1f%% of their power above 0.25 "
            "cycles/px), conv2 checkerboard %.3f vs %.3f, dead %.1f vs %.1f, test error %s vs %s (%s)" % (
                mean(N, share), mean(C, share), per(N, dom), per(C, dom), clip_outcome,
                mean(A, lambda r: r["alias_output_nyquist"]), mean(B, lambda r: r["alias_output_nyquist"]),
                100 * input_power["above 0.25 cycles/px"],
                mean(A, lambda r: r["checkerboard_conv2"]), mean(B, lambda r: r["checkerboard_conv2"]),
                mean(A, lambda r: r["dead"]), mean(B, lambda r: r["dead"]),
                rep.fmt_pct(mean(A, lambda r: r["test_top1"])), rep.fmt_pct(mean(B, lambda r: r["test_top1"])),
                geo_outcome))
    compact = lambda r: {k: v for k, v in r.items() if k not in ("conv1_rms_by_epoch",)}
    return {"seeds": seeds, "measures": {k: {s: compact(r) for s, r in v.items()} for k, v in m.items()},
            "conv1_rms_by_epoch_seed1": {k: m[k][seeds[0]]["conv1_rms_by_epoch"] for k in m},
            "clipping": {"no clipping minus clipping": clip_tests, "outcome": clip_outcome},
            "first_three_seeds": {"no clipping minus clipping": first_seeds(clip_tests, 3),
                                  "11x11/4 minus 7x7/2": first_seeds(geo_tests, 3)} if len(seeds) > 3 else {},
            "geometry": {"11x11/4 minus 7x7/2": geo_tests, "outcomes": geo_outcomes, "outcome": geo_outcome,
                         "input_power_share": input_power},
            "default_pairing": {"conv1_share_above_radius_at_init": above,
                                "test_error_gauss_conv1_clip_minus_he_clip": default},
            "figures": pngs,
            "summary": {
                "paper": "Without clipping a few layer-1 filters dominate; the 11x11/4 layer 1 has "
                         "dead and aliased filters (and aliased layer-2 maps), the 7x7/2 one does "
                         "not, and is better (1.7% in top-5)",
                "ours": ours,
                "holds": rep.verdict_of([clip_outcome, geo_outcome]),
                "deviation": "Fashion-MNIST, 10 epochs on 18,000 images, %d seeds; conv1 from "
                             "N(0, 0.01^2) but deeper layers He-initialised; geometry at 64x64 grey"
                             % len(seeds)}}
