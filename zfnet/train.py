"""Training: SGD with Nesterov momentum, as Zeiler & Fergus (with options).

* Nesterov momentum (Lasagne's ``nesterov_momentum``), weight decay (L2 on
  weights, not biases), dropout as configured.
* Initialisation (:data:`zfnet.nn.configs.INITS`): ``gauss-conv1`` (the default: conv1 from
  N(0, 0.01^2), below the clipping radius, He-uniform elsewhere), ``he`` or the paper's
  N(0, 0.01^2) throughout (``gauss``).
* Feature scale clipping (the paper's Sec. 3): after every update, each conv
  filter (not fc) whose RMS exceeds ``clip_radius`` (0.1) is rescaled to it.
* Learning-rate schedule: ``none``, ``step`` (x ``gamma`` every ``step_size``
  epochs) or ``plateau`` (x ``factor`` when validation loss has not improved
  for ``patience`` epochs: the paper's "annealed by hand on plateau", automated).
* Random crops (after zero-padding) and horizontal flips.

Each epoch: a progress bar, a log row (CSV and JSON), a checkpoint written
atomically. Epochs in ``keep`` are kept; the others are replaced by the next.
``resume=True`` continues from the last complete epoch and ends with the same
weights as an uninterrupted run with the same seed (every epoch's shuffling,
augmentation and dropout are seeded from ``(seed, epoch)``; the optimizer
velocities are in the checkpoint).
"""
import csv
import io
import json
import os
import re
import shutil
import time
from collections import OrderedDict

import numpy as np

from .files import atomic_write_bytes, atomic_write_json
from .io.checkpoint import model_json, read_checkpoint, write_checkpoint
from .data import dataset as datamod
from .nn import model as modelmod
from .nn.configs import CONVS, DEFAULT_INIT
from .backend import T, lasagne, theano
from .evaluate import evaluate_logits
from .nn.layers import log_softmax_channels
from .errors import TrainingDiverged, UsageError
from .report import info, progress_bar

PAPER_EPOCHS = (1, 2, 5, 10, 20, 30, 40, 64)
LOG_FIELDS = ["epoch", "lr", "train_loss", "train_err", "val_loss", "val_top1", "val_top5",
              "test_loss", "test_top1", "test_top5", "seconds"]


class TrainSettings(object):
    """All training hyper-parameters, recorded in the run folder."""

    def __init__(self, epochs=5, batch_size=32, lr=0.01, momentum=0.9, weight_decay=5e-4,
                 init=DEFAULT_INIT, clip_radius=0.1, schedule="step", step_size=None, gamma=0.1,
                 plateau_factor=0.1, plateau_patience=1, crop_pad=2, flip=True,
                 val_size=5000, seed=1, limit=None, keep=PAPER_EPOCHS):
        self.epochs = int(epochs); self.batch_size = int(batch_size)
        self.lr = float(lr); self.momentum = float(momentum)
        self.weight_decay = float(weight_decay); self.init = init
        self.clip_radius = None if clip_radius in (None, 0, "none") else float(clip_radius)
        from .nn.configs import INITS, SCHEDULES
        if schedule not in SCHEDULES:
            raise UsageError("schedule %r: expected one of %s" % (schedule, ", ".join(SCHEDULES)))
        if init not in INITS:
            raise UsageError("init %r: expected one of %s" % (init, ", ".join(INITS)))
        self.schedule = schedule
        self.step_size = int(step_size) if step_size else max(1, int(round(self.epochs * 0.6)))
        self.gamma = float(gamma); self.plateau_factor = float(plateau_factor)
        self.plateau_patience = int(plateau_patience)
        self.crop_pad = int(crop_pad); self.flip = bool(flip)
        self.val_size = int(val_size); self.seed = int(seed)
        self.limit = int(limit) if limit else None
        try:
            self.keep = sorted(set(int(e) for e in keep))
        except (TypeError, ValueError):
            raise UsageError("keep %r: expected a list of epoch numbers such as [1, 2, 5, 10]" % (keep,))
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError("%s must be >= 1, got %r" % (name, getattr(self, name)))
        finite = np.isfinite
        if not (finite(self.lr) and self.lr > 0):
            raise UsageError("lr must be a finite number > 0, got %r" % self.lr)
        if not (finite(self.momentum) and 0 <= self.momentum < 1):
            raise UsageError("momentum must be in [0, 1), got %r" % self.momentum)
        if not (finite(self.weight_decay) and self.weight_decay >= 0):
            raise UsageError("weight_decay must be a finite number >= 0, got %r" % self.weight_decay)
        if self.clip_radius is not None and not (finite(self.clip_radius) and self.clip_radius > 0):
            raise UsageError("clip_radius must be a finite number > 0 (or 0/None: off), got %r"
                             % self.clip_radius)
        for name in ("gamma", "plateau_factor"):
            if not (finite(getattr(self, name)) and getattr(self, name) > 0):
                raise UsageError("%s must be a finite number > 0, got %r" % (name, getattr(self, name)))

    def to_dict(self):
        """The settings as a dict (recorded in settings.json and hashed into shared-run keys)."""
        return dict(self.__dict__)


def clip_filter_scale(updates, layers, radius):
    """Feature scale clipping: rescale filters of ``layers`` whose RMS exceeds ``radius``.

    Modifies ``updates`` (an OrderedDict from Lasagne) in place: for each conv
    layer's ``W``, ``W_new * min(1, radius / rms(W_new[o]))`` per output filter ``o``.
    """
    for layer in layers:
        W = layer.W
        new = updates[W]
        rms = T.sqrt(T.mean(T.sqr(new), axis=(1, 2, 3)))
        scale = T.minimum(np.float32(1.0), np.float32(radius) / T.maximum(rms, np.float32(1e-12)))
        updates[W] = new * scale.dimshuffle(0, "x", "x", "x")
    return updates


class Trainer(object):
    """Compiles the training and evaluation functions of a network.

    Parameters
    ----------
    cfg : configuration dict
    settings : TrainSettings
    distributed : compile the gradient and the update apart (MPI training)
    profile : a ``theano.compile.profiling.ProfileStats`` that times every op of the training
        step (``zfnet bench profile``); None for no profiling
    conv : how convolutions are computed (:data:`CONVS`): ``"direct"``, Theano's
        ``CorrMM`` (im2col + one matrix product); ``"winograd"``, the forward pass and the input
        gradient by Winograd F(2x2, 3x3) (:mod:`zfnet.nn.winograd`, 2.25x fewer multiply-adds;
        the weight gradient stays ``CorrMM``); ``"batched"``, every convolution with at least
        64 rows of im2col columns as one matrix product per chunk of images
        (:mod:`zfnet.nn.batched_conv`). The same results to float32 rounding, so it is not
        a training setting (not hashed into shared-run keys); every other layer is the same.
    """

    def __init__(self, cfg, settings, distributed=False, profile=None, conv="direct"):
        if conv not in CONVS:
            raise UsageError("conv %r: expected one of %s" % (conv, ", ".join(CONVS)))
        self.cfg, self.s, self.conv = cfg, settings, conv
        if conv == "winograd":
            from .nn.winograd import mode_with_winograd
            mode = mode_with_winograd(forward=True)
        elif conv == "batched":
            from .nn.batched_conv import mode_with_batched
            mode = mode_with_batched()
        else:
            mode = None
        lasagne.random.set_rng(np.random.RandomState(settings.seed))
        x = T.tensor4("x"); y = T.ivector("y")
        self.net = modelmod.build(cfg, input_var=x, init=settings.init)
        fc8 = self.net[modelmod.param_layers(self.net)[-1]]
        logits = lasagne.layers.get_output(fc8)[:, :, 0, 0]
        logp = log_softmax_channels(logits.dimshuffle(0, 1, "x", "x"))[:, :, 0, 0]
        loss = -logp[T.arange(y.shape[0]), y].mean()
        err = T.neq(T.argmax(logits, axis=1), y).sum()
        params = lasagne.layers.get_all_params(fc8, trainable=True)
        reg = lasagne.regularization.regularize_network_params(fc8, lasagne.regularization.l2)
        cost = loss + np.float32(settings.weight_decay / 2.0) * reg
        self.lr = theano.shared(np.float32(settings.lr), name="lr")
        if distributed:  # the gradient and the update apart: the ranks average in between
            self.params = params
            self.grad_fn = theano.function([x, y], [loss, err] + theano.grad(cost, params), mode=mode)
            grads = [T.TensorType(p.dtype, p.broadcastable)("g_" + p.name) for p in params]
            updates = lasagne.updates.nesterov_momentum(grads, params, self.lr, settings.momentum)
        else:
            updates = lasagne.updates.nesterov_momentum(cost, params, self.lr, settings.momentum)
        if settings.clip_radius:
            convs = [self.net[s["name"]] for s in cfg["layers"] if s["type"] == "conv"]
            clip_filter_scale(updates, convs, settings.clip_radius)
        # Optimizer state: the update targets that are not parameters (velocities).
        pset = set(params)
        vel = [v for v in updates if v not in pset]
        self.velocities = OrderedDict(("velocity_%02d" % i, v) for i, v in enumerate(vel))
        if distributed:
            self.apply_fn = theano.function(grads, [], updates=updates)
        else:
            # profile: a theano ProfileStats that times each op of the step (zfnet bench profile)
            self.train_fn = theano.function([x, y], [loss, err], updates=updates, profile=profile, mode=mode)
        test_logits = lasagne.layers.get_output(fc8, deterministic=True)[:, :, 0, 0]
        self.logits_fn = theano.function([x], test_logits, mode=mode)
        self.srngs = [l._srng for l in self.net.values() if hasattr(l, "_srng")]

    def reseed(self, epoch):
        """Seed shuffling, augmentation and dropout for ``epoch`` from (seed, epoch)."""
        for i, srng in enumerate(self.srngs):
            srng.seed(int((self.s.seed * 1000003 + epoch * 7919 + i) % (2 ** 30)))
        return np.random.RandomState((self.s.seed * 1000003 + epoch) % (2 ** 32))

    def optimizer_state(self):
        """The optimizer's velocities, {name: array}, as a checkpoint stores them."""
        return {k: v.get_value() for k, v in self.velocities.items()}

    def set_optimizer_state(self, arrays):
        """Restore the velocities saved by :meth:`optimizer_state`."""
        for k, v in self.velocities.items():
            v.set_value(arrays[k])


def _latest_epoch(ckdir):
    """The last complete epoch checkpoint in ``ckdir`` (0 if none). A checkpoint folder is
    renamed into place only when complete, so every ``epoch-NNN`` folder is whole; this does
    not trust ``latest.json``, which a kill can leave one epoch behind."""
    epochs = [int(d[6:]) for d in os.listdir(ckdir) if d.startswith("epoch-") and d[6:].isdigit()
              and os.path.isfile(os.path.join(ckdir, d, "state.json"))] if os.path.isdir(ckdir) else []
    return max(epochs) if epochs else 0


def filter_rms(weights):
    """{conv layer: [RMS of each output filter]} of a network's weights (``get_weights``);
    fully connected layers (``fc*``) are left out."""
    out = OrderedDict()
    for key, W in weights.items():
        if key.endswith(".W") and W.ndim == 4 and not key.startswith("fc"):
            out[key[:-2]] = [float(v) for v in np.sqrt(np.mean(np.square(W.astype(np.float64)), axis=(1, 2, 3)))]
    return out


def _write_logs(out, history):
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, LOG_FIELDS)
    w.writeheader()
    for row in history:
        w.writerow({k: row.get(k) for k in LOG_FIELDS})
    atomic_write_bytes(os.path.join(out, "log.csv"), buf.getvalue().encode())
    atomic_write_json(os.path.join(out, "log.json"), history)


def _distributed_step(trainer, world, xb, yb):
    """One data-parallel step: this rank's gradient on its share of the (already augmented)
    global batch, averaged over the ranks, and the same update applied everywhere. Returns the
    batch's mean loss and its error count, as one process would compute them."""
    part = world.share(np.arange(len(yb)))
    if len(part):
        out = trainer.grad_fn(xb[part], yb[part])
        grads, extra = out[2:], (float(out[0]), float(out[1]) / len(part))
    else:  # a last batch smaller than the number of ranks
        grads, extra = [np.zeros_like(p.get_value(borrow=True)) for p in trainer.params], (0.0, 0.0)
    grads, (loss, err_rate), n = world.mean_gradients(grads, len(part), extra)
    trainer.apply_fn(*grads)
    return loss, int(round(err_rate * n))


def _check_same_run(out, run_info):
    """Refuse to resume a run folder whose recorded settings differ (but for the number of
    epochs, which a resumed run may extend, and ``conv``) from this run's."""
    path = os.path.join(out, "settings.json")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        before = json.load(f)
    now = json.loads(json.dumps(run_info))
    for d in (before, now):
        d.get("settings", {}).pop("epochs", None)
        d.pop("conv", None)  # how convolutions are computed, not what is trained: may change on resume
    diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    diff += sorted("settings." + k for k in set(before.get("settings", {})) | set(now.get("settings", {}))
                   if before.get("settings", {}).get(k) != now.get("settings", {}).get(k))
    diff = [k for k in diff if k != "settings"]
    if diff:
        raise UsageError("%s holds a run with other settings (%s differ); resume it with the same "
                         "settings, or train into a new --out" % (out, ", ".join(diff)))


def _finish_epoch(out, ckdir, epoch, history, doc, weights, keep):
    """Every write after an epoch's checkpoint, in order: ``latest.json``, the previous epoch's
    checkpoint removed unless kept, ``log.csv``/``log.json``, ``final/``. Each step is atomic and
    idempotent, so ``--resume`` after a kill anywhere in them simply runs them again."""
    atomic_write_json(os.path.join(ckdir, "latest.json"), {"epoch": epoch})
    prev = os.path.join(ckdir, "epoch-%03d" % (epoch - 1))
    if epoch - 1 >= 1 and epoch - 1 not in keep and os.path.isdir(prev):
        shutil.rmtree(prev, ignore_errors=True)
    _write_logs(out, history)
    write_checkpoint(os.path.join(out, "final"), {"model.json": doc, "model.npz": weights})
    try:  # the curves after every epoch, so a long run can be watched
        from .vis.plots import plot_curves
        plot_curves(history, os.path.join(out, "curves.png"))
    except ImportError:  # matplotlib missing: the curves are in log.csv
        pass


# the temporary names of :mod:`zfnet.files` for what training writes
_LEFTOVER = re.compile(r"^\.(epoch-\d{3}|final)\.(tmp|old)-|^\.(latest\.json|log\.csv|log\.json|"
                       r"settings\.json|curves\.png)\.")


def _remove_leftovers(out, ckdir):
    """Remove the temporary files and folders a killed run left (only names that training's
    own atomic writes make: ``.epoch-NNN.tmp-*``, ``.final.tmp-*``, ``.latest.json.*`` ...)."""
    for d in (out, ckdir):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if _LEFTOVER.match(name):
                path = os.path.join(d, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)


def holdout(dataset, settings):
    """The (train x, train y, validation x, validation y) split a run of ``settings`` uses
    (``dataset`` already limited): ``val_size`` images, or at most a tenth of a quick
    subset or small dataset."""
    n_val = settings.val_size
    if settings.limit or n_val >= len(dataset.x_train) // 2:
        n_val = min(n_val, len(dataset.x_train) // 10)
    return dataset.split_validation(n_val, seed=0)


def train(cfg, dataset, settings, out, resume=False, progress=True, log=info, world=None, conv="direct"):
    """Train ``cfg`` on ``dataset`` with ``settings``; write the run folder ``out``.

    Returns a dict with the history and the final checkpoint path. Files in
    ``out``: ``settings.json``, ``log.csv``, ``log.json``, ``curves.png``,
    ``checkpoints/epoch-NNN/`` and ``model.json``/``model.npz`` (the last epoch).

    ``world``: a :class:`zfnet.cluster.mpi.World` for data-parallel training over MPI: each rank
    takes its share of every global batch, the gradients are averaged, and only rank 0 writes.
    ``conv``: see :class:`Trainer` (recorded in ``run.json``, not a setting).
    """
    s = settings
    root = world is None or world.root
    if world is not None:
        if s.batch_size < world.size:
            raise UsageError("--batch-size %d is smaller than the %d ranks: each rank needs a share of "
                             "every batch" % (s.batch_size, world.size))
        if not root:  # one voice: rank 0 reports and writes
            log, progress = (lambda *a: None), False
    dataset = dataset.limit(s.limit)
    in_shape = tuple(cfg["input_shape"])
    datamod.check_channels(dataset.x_train.shape, in_shape, "%s images" % dataset.name)
    x_tr, y_tr, x_val, y_val = holdout(dataset, s)
    mean, std = datamod.channel_stats(x_tr)
    std = [max(v, 1e-3) for v in std]
    pre = {"mean": mean, "std": std, "units": "pixel values 0-255",
           "crop": list(in_shape[1:]), "stored_size": list(dataset.image_shape[1:])}
    os.makedirs(out, exist_ok=True)
    ckdir = os.path.join(out, "checkpoints")
    run_info = {"config": cfg, "settings": s.to_dict(), "dataset": dataset.name,
                "train_images": len(x_tr), "val_images": len(x_val),
                "test_images": len(dataset.x_test), "conv": conv}
    trainer = Trainer(cfg, s, distributed=world is not None, conv=conv)
    start, history = 0, []
    if resume:
        if root:
            _remove_leftovers(out, ckdir)
        if world is not None:
            world.barrier()
        start = _latest_epoch(ckdir)
        if start:
            _check_same_run(out, run_info)
            path = os.path.join(ckdir, "epoch-%03d" % start)
            doc, arrays = read_checkpoint(path)
            modelmod.set_weights(trainer.net, arrays, source=path)
            with np.load(os.path.join(path, "state.npz")) as z:
                trainer.set_optimizer_state({k: z[k] for k in z.files})
            with open(os.path.join(path, "state.json")) as f:
                state = json.load(f)
            history = state["history"]
            trainer.lr.set_value(np.float32(state["lr"]))
            # a kill after the epoch's checkpoint but before its other writes: finish them
            # (idempotent), so final/ and the logs are never an epoch behind
            if root:
                _finish_epoch(out, ckdir, start, history, doc, arrays, s.keep)
            log("Resuming %s from epoch %d (lr %g)" % (out, start, state["lr"]))
        else:
            log("Nothing to resume in %s; starting from epoch 1" % out)
    if root:
        atomic_write_json(os.path.join(out, "settings.json"), run_info)
    in_hw = in_shape[1:]
    nb = int(np.ceil(len(x_tr) / float(s.batch_size)))
    bad_epochs = 0 if not history else history[-1].get("bad_epochs", 0)
    best_val = min([h["val_loss"] for h in history], default=np.inf)
    # a loss this far above chance (ln K) only comes from a diverging run
    diverged = 100.0 * np.log(max(cfg["num_classes"], 2))
    for epoch in range(start + 1, s.epochs + 1):
        rng = trainer.reseed(epoch)
        t0 = time.time()
        order = rng.permutation(len(x_tr))
        tl, te, seen = 0.0, 0, 0
        bar = progress_bar(progress, total=len(x_tr), desc="epoch %d/%d" % (epoch, s.epochs),
                           unit="img", leave=False)
        for b in range(nb):
            idx = order[b * s.batch_size:(b + 1) * s.batch_size]
            xb = datamod.crop_batch(x_tr[idx], in_hw, rng, pad=s.crop_pad, flip=s.flip)
            xb = datamod.normalize(xb, mean, std)
            if world is None:
                loss, err = trainer.train_fn(xb, y_tr[idx])
            else:
                loss, err = _distributed_step(trainer, world, xb, y_tr[idx])
            if not np.isfinite(loss) or loss > diverged:
                bar.close()
                raise TrainingDiverged(
                    "Training diverged at epoch %d batch %d: loss %r (chance level is %.2f); "
                    "lower --lr (now %g) or use --init gauss" % (epoch, b, float(loss),
                                                                np.log(cfg["num_classes"]), s.lr))
            tl += float(loss) * len(idx); te += int(err); seen += len(idx)
            bar.update(len(idx)); bar.set_postfix(loss="%.3f" % (tl / seen), err="%.3f" % (te / float(seen)))
        bar.close()
        vl, v1, v5 = evaluate_logits(trainer.logits_fn, x_val, y_val, mean, std, in_hw)
        sl, s1, s5 = evaluate_logits(trainer.logits_fn, dataset.x_test, dataset.y_test, mean, std, in_hw)
        lr_now = float(trainer.lr.get_value())
        # schedule for the next epoch
        if vl < best_val - 1e-4:
            best_val, bad_epochs = vl, 0
        else:
            bad_epochs += 1
        if s.schedule == "step" and epoch % s.step_size == 0:
            trainer.lr.set_value(np.float32(lr_now * s.gamma))
        elif s.schedule == "plateau" and bad_epochs >= s.plateau_patience:
            trainer.lr.set_value(np.float32(lr_now * s.plateau_factor)); bad_epochs = 0
        row = OrderedDict(epoch=epoch, lr=lr_now, train_loss=tl / seen, train_err=te / float(seen),
                          val_loss=vl, val_top1=v1, val_top5=v5, test_loss=sl, test_top1=s1,
                          test_top5=s5, seconds=round(time.time() - t0, 2), bad_epochs=bad_epochs)
        weights = modelmod.get_weights(trainer.net)
        # per-filter RMS of every conv layer after the epoch (log.json only): what feature scale
        # clipping acts on, so a run shows which filters grow or die (Fig. 6)
        row["filter_rms"] = filter_rms(weights)
        history.append(row)
        log("epoch %d/%d  train loss %.4f err %.4f | val loss %.4f top-1 %.4f top-5 %.4f | "
            "test top-1 %.4f | %.0fs" % (epoch, s.epochs, row["train_loss"], row["train_err"],
                                         vl, v1, v5, s1, row["seconds"]))
        doc = model_json(cfg, trainer.net, pre, dataset.class_names, epoch=epoch,
                         dataset=dataset.name,
                         metrics=OrderedDict((k, v) for k, v in row.items() if k != "filter_rms"))
        files = {"model.json": doc, "model.npz": weights,
                 "state.json": {"epoch": epoch, "lr": float(trainer.lr.get_value()),
                                "history": history},
                 "state.npz": trainer.optimizer_state()}
        if world is not None:
            world.check_same_weights(files["model.npz"], epoch)
        if root:
            write_checkpoint(os.path.join(ckdir, "epoch-%03d" % epoch), files)
            _finish_epoch(out, ckdir, epoch, history, doc, files["model.npz"], s.keep)
        if world is not None:
            world.barrier()  # the next epoch (or a resume) sees rank 0's checkpoint
    return {"history": history, "checkpoint": os.path.join(out, "final"), "out": out}


def train_run(config, dataset, settings, out, resume=False, progress=True, world=None, conv="direct"):
    """Train configuration ``config`` (a name or JSON path) on ``dataset`` (a name, folder or
    :class:`~zfnet.data.dataset.Dataset`) into the run folder ``out``; returns
    :func:`zfnet.train.train`'s result. The configuration's classes and (for ``small``)
    input channels follow the dataset."""
    from .data import load_dataset
    from .nn import configs
    ds = dataset if not isinstance(dataset, str) else load_dataset(dataset)
    cfg = configs.get_config(config, num_classes=len(ds.class_names))
    if config == "small" and ds.image_shape[0] != 1:
        cfg["input_shape"][0] = ds.image_shape[0]
    return train(cfg, ds, settings, out, resume=resume, progress=progress, world=world, conv=conv)
