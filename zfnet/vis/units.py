"""Which units a projection starts from, and the signal each starts with.

A *seeder* says, for one requested layer, where its signals enter the walk down and what they
are: a symbolic ``(B, k, C, H, W)`` signal at some layer's output, plus the ``(units, values)``
it reports (units ``(B, k, 3)`` = channel, y, x; values ``(B, k)`` = the activations). The
:class:`~zfnet.vis.deconv.Projector` compiles every request through one path whatever the seeder:

* :class:`Selection` chooses the units in the graph: the ``top`` maps ranked by maximum or L2
  norm, or explicit ``channels``; ``mode='max'`` keeps each map's strongest activation (the
  paper), ``mode='map'`` the whole map;
* :class:`GivenUnits` takes the units as an input (SmoothGrad and Integrated Gradients hold the
  clean image's units fixed while the input moves).

The start value is the activation or 1, as the method's rule says
(:attr:`zfnet.vis.rules.Rule.unit_signal`).
"""
import numpy as np

from ..backend import T, floatX
from ..errors import UsageError
from ..nn.pool_ops import TIE_RTOL
from .rules import RULES


def choose(act, top, rank, channels):
    """Channels (B, k), flat maps (B, k, H*W), argmax positions and values (B, k) of ``act``
    (B, C, H, W): the ``top`` maps by ``rank`` or the symbolic int vector ``channels``."""
    B = act.shape[0]
    flat = act.flatten(3)  # (B, C, H*W)
    if channels is not None:  # a symbolic int vector: one compiled function for any maps
        chans = T.repeat(channels.dimshuffle("x", 0), B, axis=0)
    else:
        score = flat.max(axis=2) if rank == "max" else T.sqrt(T.sqr(flat).sum(axis=2))
        chans = T.argsort(-score, axis=1)[:, :top]  # (B, k)
    k = chans.shape[1]
    b_idx = T.repeat(T.arange(B).dimshuffle(0, "x"), k, axis=1)
    maps = flat[b_idx, chans]  # (B, k, H*W)
    value = T.max(maps, axis=2)
    # (B, k): the first position within the tie tolerance of the maximum, the pooling
    # switches' rule, so float32 rounding does not pick the unit on flat regions
    near = maps >= (value - TIE_RTOL * abs(value)).dimshuffle(0, 1, "x")
    pos = T.argmax(near, axis=2)
    return chans, maps, pos, value


def dense_signal(act, chans, maps, pos, value, k, mode, method):
    """(B, k, C, H, W): one activation (max) or one map (map) kept, all else zero."""
    B, C, H, Wd = act.shape[0], act.shape[1], act.shape[2], act.shape[3]
    one = RULES[method].unit_signal == "one"
    if mode == "max":
        vals = T.ones_like(value) if one else value
        spatial = T.zeros((B * k, H * Wd), dtype=floatX)
        spatial = T.set_subtensor(spatial[T.arange(B * k), pos.flatten()], vals.flatten())
    else:
        spatial = (T.ones_like(maps) if one else maps).reshape((B * k, H * Wd))
    sig = T.zeros((B * k, C, H * Wd), dtype=floatX)
    sig = T.set_subtensor(sig[T.arange(B * k), chans.flatten()], spatial)
    return sig.reshape((B, k, C, H, Wd))


def onehot_through_conv(layer, chans, pos, vals, k):
    """A one-hot signal at conv step ``layer``'s output (channel c, position p, value v) -> its
    transposed convolution, computed directly: ``v * W[c]`` placed at the unit's window, cropped
    to the input. Returns (B, k, Cin, H, W). The same numbers as the dense transposed
    convolution of the one-hot map, without touching the zeros."""
    kk, cin, fh, fw = layer.filter_shape
    (sh, sw), (ph, pw) = layer.stride, layer.pad
    H, Wd = layer.input_shape[2:]
    Hp, Wp = H + 2 * ph, Wd + 2 * pw
    Wo = layer.output_shape[3]
    B = pos.shape[0]
    y, x = (pos // Wo).flatten(), (pos % Wo).flatten()  # (B*k,)
    rows = T.arange(B * k)
    # flat index into (B*k, cin, Hp, Wp) of every filter tap
    idx = (((rows.dimshuffle(0, "x", "x", "x") * cin
             + T.arange(cin).dimshuffle("x", 0, "x", "x")) * Hp
            + (y * sh).dimshuffle(0, "x", "x", "x") + T.arange(fh).dimshuffle("x", "x", 0, "x")) * Wp
           + (x * sw).dimshuffle(0, "x", "x", "x") + T.arange(fw).dimshuffle("x", "x", "x", 0))
    taps = layer.W[chans.flatten()] * vals.flatten().dimshuffle(0, "x", "x", "x")
    out = T.zeros((B * k * cin * Hp * Wp,), dtype=floatX)
    out = T.inc_subtensor(out[idx.flatten()], taps.flatten())
    return out.reshape((B, k, cin, Hp, Wp))[:, :, :, ph:ph + H, pw:pw + Wd]


class Selection(object):
    """Units chosen in the graph: ``top`` maps by ``rank`` (or the int vector input
    ``channels``), each map's strongest activation (``mode='max'``) or all of it (``'map'``).
    ``analytic_first_step``: a 'max' unit of a conv (or of the ReLU right above one) starts
    below the conv as ``v * W[c]`` (:func:`onehot_through_conv`) where the rule allows it."""

    def __init__(self, top, mode, rank, explicit, analytic_first_step=True):
        self.top, self.mode, self.rank, self.explicit = top, mode, rank, explicit
        self.analytic_first_step = analytic_first_step
        self.channels = T.lvector("channels")

    def inputs(self, order):
        """The symbolic inputs after the images (always the channel vector: one signature)."""
        return [self.channels]

    def per_layer(self):
        """How many signals each layer sends down (for the FLOP estimate)."""
        return self.top if not self.explicit else 1

    def seed(self, steps, names, name, act, method):
        """(layer whose output the signal enters at, signal (B, k, C, H, W), (units, values))."""
        rule = RULES[method]
        chans, maps, pos, value = choose(act, self.top, self.rank, self.channels if self.explicit else None)
        k = self.channels.shape[0] if self.explicit else self.top
        units = T.stack([chans, pos // act.shape[3], pos % act.shape[3]], axis=2)
        kind = steps[name].kind
        below = names[names.index(name) - 1]
        conv = name if kind == "conv" else (below if kind == "relu" and steps[below].kind == "conv" else None)
        if self.mode == "max" and conv is not None and self.analytic_first_step and rule.linear_is_transpose:
            vals = T.ones_like(value) if rule.unit_signal == "one" else value
            if kind == "relu":  # every rule passes a positive one-hot at a live unit
                vals = vals * (value > 0)
            at = names[names.index(conv) - 1]
            return at, onehot_through_conv(steps[conv], chans, pos, vals, k), (units, value)
        return name, dense_signal(act, chans, maps, pos, value, k, self.mode, method), (units, value)


class GivenUnits(object):
    """Units given as an input: an int64 ``(B, k, 3)`` array (channel, y, x) per layer, one
    activation each (as ``mode='max'``)."""

    def __init__(self, order):
        self.vars = {n: T.tensor3("units_%s" % n, dtype="int64") for n in order}

    def inputs(self, order):
        """The symbolic inputs after the images: one units array per layer of ``order``."""
        return [self.vars[n] for n in order]

    def per_layer(self):
        """One signal per given unit (for the FLOP estimate)."""
        return 1

    def seed(self, steps, names, name, act, method):
        """As :meth:`Selection.seed`: a dense one-hot signal at the layer's own output."""
        u = self.vars[name]
        pos = u[:, :, 1] * act.shape[3] + u[:, :, 2]
        B, k = u.shape[0], u.shape[1]
        rows = T.repeat(T.arange(B).dimshuffle(0, "x"), k, axis=1)
        value = act.flatten(3)[rows.flatten(), u[:, :, 0].flatten(), pos.flatten()].reshape((B, k))
        return name, dense_signal(act, u[:, :, 0], None, pos, value, k, "max", method), (u, value)


def check_units(units, order, steps, n_images):
    """The int64 arrays of ``units`` (dict layer -> (B, k, 3)) for the layers of ``order``, or
    a :class:`UsageError` naming the layer and what was expected."""
    missing = [n for n in order if n not in units]
    if missing:
        raise UsageError("units given for %s but not for %s" % (sorted(units), missing))
    arrays = []
    for name in order:
        u = np.asarray(units[name], np.int64)
        shape = steps[name].output_shape
        if u.ndim != 3 or u.shape[0] != n_images or u.shape[2] != 3:
            raise UsageError("units of %r have shape %r: expected (B=%d, k, 3) (channel, y, x)"
                             % (name, u.shape, n_images))
        bound = np.array(shape[1:4])
        if (u < 0).any() or (u >= bound).any():
            raise UsageError("units of %r must lie in channels 0..%d, y 0..%d, x 0..%d"
                             % (name, bound[0] - 1, bound[1] - 1, bound[2] - 1))
        arrays.append(u)
    return arrays
