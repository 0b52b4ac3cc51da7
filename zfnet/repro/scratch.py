"""Training a network from scratch on a few images (the baselines of Tables 4-6)."""
import numpy as np

from ..data import dataset as datamod
from ..evaluate import batched
from ..nn import model as modelmod


def train_from_scratch(trainer, init, x, y, seed, updates, val=None, every=50, patience=None,
                       in_hw=None, pad=2, flip=False):
    """Train ``trainer``'s net from the weights ``init`` on (x, y): SGD with fresh velocities and
    learning rate, batches of up to the trainer's batch size drawn in shuffled passes, random
    crops of the 2-padded image, no flips, images normalised with their own channel statistics.

    Without ``val``: exactly ``updates`` steps. With ``val = (x_val, y_val)``: early stopping, the
    validation accuracy checked every ``every`` steps, training ended when it has not improved
    for ``patience`` steps (at most ``updates``), and the best weights loaded at the end.

    Returns (mean, std, best_update, best_val_accuracy): the normalisation the net expects, and
    the step whose weights are kept with its validation accuracy (``updates`` and None without
    ``val``).

    ``in_hw``: the network's input size when the images are larger (random crops of that size,
    after ``pad``; ``val`` images must already be at it); ``flip``: random horizontal flips.
    """
    modelmod.set_weights(trainer.net, init)
    trainer.set_optimizer_state({k: np.zeros_like(v.get_value()) for k, v in trainer.velocities.items()})
    trainer.lr.set_value(np.float32(trainer.s.lr))
    rng = trainer.reseed(seed)
    mean, std = datamod.channel_stats(x)
    std = [max(v, 1e-3) for v in std]
    prep = lambda b: datamod.normalize(b, mean, std)
    bs = min(trainer.s.batch_size, len(x))
    order = np.array([], int)
    best = (-1.0, 0, None)
    for u in range(1, updates + 1):
        if len(order) < bs:
            order = np.concatenate([order, rng.permutation(len(x))])
        idx, order = order[:bs], order[bs:]
        trainer.train_fn(prep(datamod.crop_batch(x[idx], in_hw or x.shape[2:], rng, pad=pad, flip=flip)), y[idx])
        if val is not None and u % every == 0:
            acc = float((batched(trainer.logits_fn, val[0], prepare=prep)[0].argmax(1) == val[1]).mean())
            if acc > best[0]:
                best = (acc, u, modelmod.get_weights(trainer.net))
            elif u - best[1] >= patience:
                break
    if val is None:
        return mean, std, updates, None
    modelmod.set_weights(trainer.net, best[2])
    return mean, std, best[1], best[0]
