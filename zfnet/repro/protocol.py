"""The shared training protocols the experiments study: the Fashion-MNIST base runs (three
seeds), the short protocol of Fig. 6 and Table 3, and the natural-image run (Tiny ImageNet)."""
import copy
import os
from collections import OrderedDict

import numpy as np

from ..errors import UsageError
from .paths import run_label


def base_settings(quick, **overrides):
    """The one training protocol shared by the experiments (recorded in every run).

    Full: 10 epochs of Fashion-MNIST (55,000 train / 5,000 validation), batch
    32, the library's default initialisation (conv1 from N(0, 0.01^2), below the clipping
    radius; the rest He), Nesterov momentum 0.9, lr 0.01 x0.1 after epoch 6, weight decay 5e-4,
    feature scale clipping 0.1, random 28x28 crops of the 2-padded image and
    flips. Quick: 2 epochs on 1,200 images.
    """
    from ..train import TrainSettings
    # the init is named, not DEFAULT_INIT, so that the library's default can change without
    # changing the base runs' identity
    kw = dict(epochs=10, batch_size=32, lr=0.01, keep=(1, 2, 3, 5, 10), seed=1, step_size=6, init="gauss-conv1")
    if quick:
        kw.update(epochs=2, keep=(1, 2), step_size=2)
    kw.update(overrides)
    return TrainSettings(**kw)


SHORT_EPOCHS = {False: 3, True: 2}  # the short protocol of Fig. 6 and Table 3


def base_config(ctx):
    """The configuration the experiments start from: ``small``, or the ``--run``'s."""
    from ..nn.configs import get_config
    if ctx.user_run is not None:
        return copy.deepcopy(ctx.user_run_info["config"])
    return get_config("small")


def base_settings_for(ctx):
    """The base run's settings: :func:`base_settings`, or the ``--run``'s."""
    from ..train import TrainSettings
    if ctx.user_run is not None:
        return TrainSettings(**ctx.user_run_info["settings"])
    return base_settings(ctx.quick)


def short_settings_for(ctx, **overrides):
    """The short protocol (3 epochs, quick 2, no lr drop) on top of the base run's settings."""
    from ..train import TrainSettings
    kw = base_settings_for(ctx).to_dict()
    kw.update(epochs=SHORT_EPOCHS[ctx.quick], schedule="none", keep=(SHORT_EPOCHS[ctx.quick],))
    kw.update(overrides)
    return TrainSettings(**kw)


#: the training seeds of every comparison that feeds a verdict (quick runs: one seed)
SEEDS = (1, 2, 3)


def seeds_for(ctx):
    """The training seeds an experiment repeats its runs over: :data:`SEEDS`, one with
    ``--quick`` or ``--run`` (a user's run is one training)."""
    if ctx.quick or ctx.user_run is not None:
        return [SEEDS[0]]
    return list(SEEDS)


def base_model(ctx, seed=None):
    """The model the experiments look at: returns (run folder, final checkpoint).

    The shared Fashion-MNIST ``small`` run (trained here once) of training seed ``seed``
    (default the first of :data:`SEEDS`), or the ``--run`` folder.
    """
    if ctx.user_run is not None:
        run = ctx.user_run
        info = ctx.user_run_info
        ctx.params["base_run"] = {"folder": os.path.abspath(run), "settings": info["settings"],
                                  "config": info["config"]["name"], "dataset": info["dataset"],
                                  "train_images": info.get("train_images")}
        return run, os.path.join(run, "final")
    ds = ctx.dataset()
    seed = SEEDS[0] if seed is None else int(seed)
    settings = base_settings(ctx.quick, seed=seed)
    run = ctx.trained("fm-small", base_config(ctx), settings, ds)
    if seed != SEEDS[0]:
        ctx.params.setdefault("base_runs", {})[seed] = run_label(run)
        return run, os.path.join(run, "final")
    ctx.params["base_run"] = {"folder": run_label(run), "settings": settings.to_dict(),
                              "config": "small", "dataset": ds.name,
                              "train_images": len(ds.x_train), "test_images": len(ds.x_test)}
    return run, os.path.join(run, "final")


def natural_settings(quick, **overrides):
    """The natural-image protocol: ``zf64`` on Tiny ImageNet (recorded in every run).

    Full: 10 epochs on 95,000 training images (5,000 held out for validation), batch 64,
    Nesterov momentum 0.9, lr 0.01 x0.1 after epoch 6, weight decay 5e-4, feature scale
    clipping 0.1 with conv1 started at N(0, 0.01^2) (below the radius, as fig6 measured)
    and He elsewhere, random 56x56 crops of the 64x64 image and flips. 10 epochs is what
    fits the 3-hour budget on 2 cores (one epoch ~16 min, measured). Quick: 2 epochs.
    """
    from ..train import TrainSettings
    kw = dict(epochs=10, batch_size=64, lr=0.01, momentum=0.9, weight_decay=5e-4,
              init="gauss-conv1", clip_radius=0.1, schedule="step", step_size=6, gamma=0.1,
              crop_pad=0, flip=True, val_size=5000, seed=1, keep=(1, 2, 5, 10))
    if quick:
        kw.update(epochs=2, keep=(1, 2), step_size=2, val_size=200)
    kw.update(overrides)
    return TrainSettings(**kw)


def natural_config(num_classes=200):
    """The natural-image network: ``zf64`` (56x56 crops of 64x64 colour images)."""
    from ..nn.configs import get_config
    return get_config("zf64", num_classes=num_classes)


def natural_model(ctx, seed=None):
    """The shared Tiny ImageNet ``zf64`` run of training seed ``seed`` (default the first of
    :data:`SEEDS`): returns (run folder, final checkpoint); or the ``--run`` folder."""
    if ctx.user_run is not None:
        return base_model(ctx)
    ds = ctx.tiny_imagenet()
    seed = SEEDS[0] if seed is None else int(seed)
    settings = natural_settings(ctx.quick, seed=seed)
    run = ctx.trained("tin-zf64", natural_config(len(ds.class_names)), settings, ds)
    ctx.params.setdefault("natural_runs", OrderedDict())[str(seed)] = {
        "folder": os.path.basename(run), "settings": settings.to_dict(), "config": "zf64",
        "dataset": ds.name, "train_images": len(ds.x_train), "test_images": len(ds.x_test)}
    return run, os.path.join(run, "final")


def natural_validation(ctx):
    """The natural-image model and Tiny ImageNet's validation images as it sees them: (run
    folder, :class:`~zfnet.io.checkpoint.Model`, the dataset, uint8 centre crops at the model's
    input (N, C, H, W), labels (N,))."""
    from ..data.dataset import crop_batch
    from ..io.checkpoint import load_model
    run_dir, final = natural_model(ctx)
    ds = ctx.tiny_imagenet()
    model = load_model(final)
    return run_dir, model, ds, crop_batch(np.asarray(ds.x_test), model.input_shape[1:]), np.asarray(ds.y_test)


def base_holdout(ctx):
    """The base model's training and validation images: (x_train, y_train, x_val, y_val)."""
    from ..train import holdout
    return holdout(ctx.dataset(), base_settings_for(ctx))


def checkpoint_at(run, epoch):
    """``run/checkpoints/epoch-NNN`` (must exist)."""
    path = os.path.join(run, "checkpoints", "epoch-%03d" % epoch)
    if not os.path.isdir(path):
        raise UsageError("run %s has no checkpoint of epoch %d" % (run, epoch))
    return path
