"""Project activations back to pixel space: the deconvnet and its relatives.

Zeiler & Fergus (2014), Sec. 2: to examine one activation, set all others of
its layer to zero and pass the map down a *deconvnet* attached to the convnet:

* max-pooling -> **unpooling** with the forward pass's switches (one location
  per window: the first maximum in row-major order; see :mod:`zfnet.pool_ops`);
* ReLU -> the rule of the method (below);
* convolution (and the fully-convolutional fc layers) -> **transposed
  convolution** with the same filters, stride and padding, built with
  ``theano.tensor.nnet.abstract_conv.conv2d_grad_wrt_inputs`` and always the
  explicit ``input_shape`` of the forward layer (with a stride, several input
  shapes give the same output shape); biases are not applied;
* contrast normalisation -> identity (``lrn='identity'``, the default for the
  deconvnet; the paper does not say) or its true vector-Jacobian product
  (``lrn='gradient'``, the default for the gradient methods);
* dropout -> identity (the network is run deterministically).

Methods (the ReLU rule applied to the backward signal ``g`` at a ReLU whose
forward input is ``a``):

``deconvnet``   ``relu(g)`` — the paper
``guided``      ``g * (g > 0) * (a > 0)`` — guided backpropagation (Springenberg et al. 2015)
``gradient``    ``g * (a > 0)`` — the plain gradient (saliency, Simonyan et al. 2014)
``smoothgrad``  the gradient averaged over noisy copies of the input (Smilkov et al. 2017)

What to project: ``mode='max'`` — the single strongest activation of a feature
map, all else zeroed (the paper) — or ``mode='map'`` — the whole feature map.
Which maps: explicit ``channels``, or the ``top`` k of the layer ranked by
maximum activation (``rank='max'``) or by L2 norm (``rank='l2'``).

The backward signal starts from the activation value(s) (deconvnet, guided:
the paper's "pass the map down") or from ones (gradient, smoothgrad: the
derivative of the chosen activation, or of the sum of the chosen map).

All layers at once: :meth:`Projector.project` compiles **one** function that
takes an image batch and returns the projections of every requested layer,
sharing one forward pass and one walk down the deconvnet: the signals of a
higher layer are carried down and, on reaching a lower requested layer, that
layer's signals join them in the batch (seed 003's "full deconvolution in a
single pass"). :meth:`Projector.project_loop` does the same with one compiled
function per layer. Compiled functions are cached per (layers, method, mode,
selection, input shape).
"""
from collections import OrderedDict

import numpy as np

from .backend import T, lasagne, theano, floatX
from .layers import Conv2DLayer, conv_transpose
from .pool_ops import max_pool_switches, unpool

METHODS = ("deconvnet", "guided", "gradient", "smoothgrad")
MODES = ("max", "map")
RANKS = ("max", "l2")


class Projection(object):
    """Projections of one layer for a batch of images.

    Attributes
    ----------
    layer : str
    reconstructions : float32 (B, k, C, H, W) — raw, in the network's input space
    units : int (B, k, 3) — channel, y, x of the projected activation (for
        ``mode='map'``: the map's strongest location)
    activations : float32 (B, k) — the activation at ``units``
    """

    def __init__(self, layer, reconstructions, units, activations):
        self.layer = layer
        self.reconstructions = reconstructions
        self.units = units
        self.activations = activations

    def __repr__(self):
        return "Projection(%r, reconstructions %r)" % (self.layer, self.reconstructions.shape)


def _layer_kind(layer):
    if isinstance(layer, Conv2DLayer):
        return "conv"
    if isinstance(layer, lasagne.layers.MaxPool2DLayer):
        return "maxpool"
    if isinstance(layer, lasagne.layers.NonlinearityLayer):
        if layer.nonlinearity is not lasagne.nonlinearities.rectify:
            raise ValueError("Layer %r has a nonlinearity other than ReLU; the deconvnet "
                             "handles ReLU only" % layer.name)
        return "relu"
    if isinstance(layer, lasagne.layers.LocalResponseNormalization2DLayer):
        return "lrn"
    if isinstance(layer, lasagne.layers.DropoutLayer):
        return "dropout"
    if isinstance(layer, lasagne.layers.InputLayer):
        return "input"
    return type(layer).__name__


class Projector(object):
    """Deconvnet / guided / gradient / SmoothGrad projections for a network.

    Parameters
    ----------
    net : OrderedDict of layers (``zfnet.model.build`` or ``checkpoint.load_model``)
    method : one of ``METHODS``
    lrn : 'identity' or 'gradient' (default: identity for deconvnet, gradient otherwise)
    smooth_samples : int, copies for SmoothGrad (default 16)
    smooth_noise : float, noise std as a fraction of the input's range (default 0.15)
    seed : int, SmoothGrad noise seed
    """

    def __init__(self, net, method="deconvnet", lrn=None, smooth_samples=16, smooth_noise=0.15,
                 seed=0):
        if method not in METHODS:
            raise ValueError("Unknown method %r: expected one of %s" % (method, ", ".join(METHODS)))
        if lrn is None:
            lrn = "identity" if method == "deconvnet" else "gradient"
        if lrn not in ("identity", "gradient"):
            raise ValueError("lrn rule %r: expected 'identity' or 'gradient'" % (lrn,))
        self.net, self.method, self.lrn = net, method, lrn
        self.smooth_samples, self.smooth_noise = int(smooth_samples), float(smooth_noise)
        self.rng = np.random.RandomState(seed)
        self.names = list(net)
        self.kinds = OrderedDict((n, _layer_kind(l)) for n, l in net.items())
        self.input_shape = tuple(net["input"].shape[1:])
        # 'max' projections of conv layers start with v * W[c] placed directly
        # (False: the dense transposed convolution of the one-hot map; same numbers)
        self.analytic_first_step = True
        self._cache = {}

    # ------------------------------------------------------------ checking
    def projectable_layers(self):
        """Names of the layers whose activations can be projected (up to fc8)."""
        out = []
        for n in self.names[1:]:
            if self.kinds[n] not in ("conv", "relu", "maxpool", "lrn", "dropout"):
                break
            out.append(n)
        return out

    def _check_layers(self, layers):
        if isinstance(layers, str):
            layers = [layers]
        valid = self.projectable_layers()
        for l in layers:
            if l not in valid:
                raise ValueError("Cannot project layer %r: projectable layers are %s"
                                 % (l, ", ".join(valid)))
        return sorted(set(layers), key=self.names.index, reverse=True)  # top first

    def _check_images(self, images):
        images = np.asarray(images, dtype=floatX)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[1:] != self.input_shape:
            raise ValueError("Images of shape %r do not fit the network: expected (B,) + %r "
                             "(batch, channels, height, width), preprocessed"
                             % (images.shape, self.input_shape))
        return images

    # -------------------------------------------------------- graph pieces
    def _forward(self, x):
        """Deterministic forward pass: {name: output} and the pooling switches."""
        outs, switches = OrderedDict(), {}
        h = x
        outs["input"] = x
        for name in self.names[1:]:
            layer, kind = self.net[name], self.kinds[name]
            if kind == "maxpool":
                if tuple(layer.pad) != (0, 0) or layer.pool_size[0] != layer.pool_size[1] \
                        or layer.stride[0] != layer.stride[1]:
                    raise ValueError("Layer %r: unpooling supports square windows and strides "
                                     "without padding, got pool %r stride %r pad %r"
                                     % (name, layer.pool_size, layer.stride, layer.pad))
                h, switches[name] = max_pool_switches(h, layer.pool_size[0], layer.stride[0],
                                                      layer.ignore_border)
            else:
                h = layer.get_output_for(h, deterministic=True)
            outs[name] = h
        return outs, switches

    def _relu_rule(self, g, a):
        if self.method == "deconvnet":
            return T.maximum(g, 0)
        if self.method == "guided":
            return g * (g > 0) * (a > 0)
        return g * (a > 0)

    # Signals are 5D, (B, R, C, H, W): R projections per image. Forward
    # activations and switches (B, C, H, W) broadcast over R, no gathering.
    def _step_down(self, name, g, outs, switches):
        """Signal (B, R, C, H, W) at the output of layer ``name`` -> at its input."""
        layer, kind = self.net[name], self.kinds[name]
        below = self.names[self.names.index(name) - 1]
        in_shape = layer.input_shape
        B, R = g.shape[0], g.shape[1]
        if kind == "conv":
            W = layer.W
            k, c, fh, fw = W.get_value(borrow=True).shape
            flat = g.reshape((B * R, k) + tuple(layer.output_shape[2:]))
            x = conv_transpose(flat, W, (None, c) + tuple(in_shape[2:]), (k, c, fh, fw),
                               layer.stride, layer.pad, name,
                               (None,) + tuple(layer.output_shape[1:]))
            return x.reshape((B, R, c) + tuple(in_shape[2:]))
        if kind == "relu":
            return self._relu_rule(g, outs[below].dimshuffle(0, "x", 1, 2, 3))
        if kind == "maxpool":
            # rows n = b * R + r use the switches of image b (the C op's N = M * R rule)
            C, Ho, Wo = layer.output_shape[1:]
            H, Wd = in_shape[2:]
            out = unpool(g.reshape((B * R, C, Ho, Wo)), switches[name], (H, Wd))
            return out.reshape((B, R, C, H, Wd))
        if kind == "lrn":
            if self.lrn == "identity":
                return g
            a = outs[below]
            shape = (B * R,) + tuple(in_shape[1:])
            a_rep = T.repeat(a.dimshuffle(0, "x", 1, 2, 3), R, axis=1).reshape(shape)
            gin = theano.gradient.grad(None, wrt=a_rep,
                                       known_grads={layer.get_output_for(a_rep): g.reshape(shape)})
            return gin.reshape(g.shape)
        if kind == "dropout":
            return g
        raise ValueError("Layer %r (%s) has no deconvnet rule" % (name, kind))

    def _choose(self, act, top, rank, channels):
        """Channels (B, k), flat maps (B, k, H*W), argmax positions and values (B, k)."""
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
        pos = T.argmax(maps, axis=2)  # (B, k), first maximum
        value = T.max(maps, axis=2)
        return chans, maps, pos, value

    def _dense_signal(self, act, chans, maps, pos, value, k, mode):
        """(B, k, C, H, W): one activation (max) or one map (map) kept, all else zero."""
        B, C, H, Wd = act.shape[0], act.shape[1], act.shape[2], act.shape[3]
        one = self.method in ("gradient", "smoothgrad")
        if mode == "max":
            vals = T.ones_like(value) if one else value
            spatial = T.zeros((B * k, H * Wd), dtype=floatX)
            spatial = T.set_subtensor(spatial[T.arange(B * k), pos.flatten()], vals.flatten())
        else:
            spatial = (T.ones_like(maps) if one else maps).reshape((B * k, H * Wd))
        sig = T.zeros((B * k, C, H * Wd), dtype=floatX)
        sig = T.set_subtensor(sig[T.arange(B * k), chans.flatten()], spatial)
        return sig.reshape((B, k, C, H, Wd))

    def _onehot_through_conv(self, conv_name, chans, pos, vals, k):
        """A one-hot signal at conv output (channel c, position p, value v) -> its transposed
        convolution, computed directly: ``v * W[c]`` placed at the unit's window, cropped
        to the input. Returns (B, k, Cin, H, W). The same numbers as the dense transposed
        convolution of the one-hot map, without touching the zeros."""
        layer = self.net[conv_name]
        kk, cin, fh, fw = layer.W.get_value(borrow=True).shape
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
        out = out.reshape((B, k, cin, Hp, Wp))[:, :, :, ph:ph + H, pw:pw + Wd]
        return out

    def _walk_down(self, pending, outs, switches):
        """One walk from the top to the input: at each layer's output the signals
        ``pending[name]`` (a list of (requested layer, (B, k, C, H, W))) join the batch,
        then everything steps down. Returns the (B, R, C, H, W) input-space signal and
        the requested layers in the order of their rows."""
        g, order = None, []
        top_index = max(self.names.index(n) for n in pending)
        for name in reversed(self.names[:top_index + 1]):
            for req, sig in pending.get(name, []):
                g = sig if g is None else T.concatenate([g, sig], axis=1)
                order.append(req)
            if name != "input" and g is not None:
                g = self._step_down(name, g, outs, switches)
        return g, order

    def _build(self, layers, top, mode, rank, explicit):
        x = T.tensor4("x")
        ch_var = T.lvector("channels")
        channels = ch_var if explicit else None
        outs, switches = self._forward(x)
        k = ch_var.shape[0] if explicit else top
        pending = {}  # layer name -> signals living at that layer's output
        results = {}
        for name in layers:
            act = outs[name]
            chans, maps, pos, value = self._choose(act, top, rank, channels)
            results[name] = (T.stack([chans, pos // act.shape[3], pos % act.shape[3]], axis=2), value)
            kind = self.kinds[name]
            below = self.names[self.names.index(name) - 1]
            conv = name if kind == "conv" else (below if kind == "relu" and self.kinds[below] == "conv"
                                                else None)
            if mode == "max" and conv is not None and self.analytic_first_step:
                one = self.method in ("gradient", "smoothgrad")
                vals = T.ones_like(value) if one else value
                if kind == "relu":  # every rule passes a positive one-hot at a live unit
                    vals = vals * (value > 0)
                at = self.names[self.names.index(conv) - 1]
                pending.setdefault(at, []).append((name, self._onehot_through_conv(conv, chans, pos, vals, k)))
            else:
                pending.setdefault(name, []).append((name, self._dense_signal(act, chans, maps, pos, value, k, mode)))
        g, order = self._walk_down(pending, outs, switches)
        outputs = [g]
        for name in order:
            outputs += list(results[name])
        fn = theano.function([x, ch_var], outputs, on_unused_input="ignore")
        return fn, order

    def _function(self, layers, top, mode, rank, explicit):
        key = (tuple(layers), None if explicit else top, mode, None if explicit else rank,
               explicit, self.method, self.lrn, self.analytic_first_step)
        if key not in self._cache:
            self._cache[key] = self._build(layers, top, mode, rank, explicit)
        return self._cache[key]

    # ----------------------------------------------------------- public API
    def project(self, images, layers, top=9, mode="max", rank="max", channels=None):
        """Project the chosen feature maps of every layer in ``layers`` — one compiled pass.

        Parameters
        ----------
        images : float32 (B, C, H, W) or (C, H, W), preprocessed as the network expects
        layers : str or list of str — layer names (``conv5``, ``relu5``, ``pool5``, ``fc6``...)
        top : int — how many feature maps per layer (ignored with ``channels``)
        mode : 'max' (the strongest activation only) or 'map' (the whole map)
        rank : 'max' or 'l2' — how the top maps are chosen
        channels : list of int or None — explicit feature maps (same for every layer)

        Returns
        -------
        OrderedDict layer -> :class:`Projection`, in the order given.
        """
        images = self._check_images(images)
        order = self._check_layers(layers)
        if mode not in MODES:
            raise ValueError("mode %r: expected 'max' or 'map'" % (mode,))
        if rank not in RANKS:
            raise ValueError("rank %r: expected 'max' or 'l2'" % (rank,))
        for name in order:
            n_ch = self.net[name].output_shape[1]
            if channels is not None and (min(channels) < 0 or max(channels) >= n_ch):
                raise ValueError("Layer %r has channels 0..%d; got %r" % (name, n_ch - 1, list(channels)))
            if channels is None and not 1 <= int(top) <= n_ch:
                raise ValueError("top=%r for layer %r: must be between 1 and its %d channels"
                                 % (top, name, n_ch))
        fn, order = self._function(order, int(top), mode, rank, channels is not None)
        ch = np.asarray(channels if channels is not None else [], "int64")
        call = lambda imgs: fn(imgs, ch)
        if self.method == "smoothgrad":
            return self._smoothgrad(call, images, order, layers)
        return self._unpack(call(images), order, layers)

    def _unpack(self, out, order, requested, recon=None):
        recon = out[0] if recon is None else recon  # (B, R, C, H, W)
        res, start = OrderedDict(), 0
        for i, name in enumerate(order):
            units, value = out[1 + 2 * i], out[2 + 2 * i]
            k = units.shape[1]
            r = recon[:, start:start + k]
            start += k
            res[name] = Projection(name, np.ascontiguousarray(r, np.float32), units.astype(np.int64),
                                   value.astype(np.float32))
        names = [requested] if isinstance(requested, str) else list(requested)
        return OrderedDict((n, res[n]) for n in names if n in res)

    def _smoothgrad(self, fn, images, order, requested):
        """Units chosen on the clean image; gradients averaged over noisy copies."""
        clean = fn(images)
        span = float(images.max() - images.min()) or 1.0
        units_fn = self._units_function(order)
        acc = np.zeros_like(clean[0], dtype=np.float64)
        for _ in range(self.smooth_samples):
            noisy = images + self.rng.normal(0, self.smooth_noise * span, images.shape).astype(floatX)
            acc += units_fn(noisy, *[clean[1 + 2 * i] for i in range(len(order))])
        return self._unpack(clean, order, requested, (acc / self.smooth_samples).astype(np.float32))

    def _units_function(self, order):
        """Compiled gradient of given units (B, k, 3) per layer w.r.t. the input (for SmoothGrad)."""
        key = ("units", tuple(order), self.method, self.lrn)
        if key in self._cache:
            return self._cache[key]
        x = T.tensor4("x")
        outs, switches = self._forward(x)
        unit_vars = [T.tensor3("units_%s" % n, dtype="int64") for n in order]
        pending = {}
        for name, u in zip(order, unit_vars):
            act = outs[name]
            pos = u[:, :, 1] * act.shape[3] + u[:, :, 2]
            ones = T.ones(pos.shape, dtype=floatX)  # the gradient methods start from 1
            pending[name] = [(name, self._dense_signal(act, u[:, :, 0], None, pos, ones,
                                                       u.shape[1], "max"))]
        g, walked = self._walk_down(pending, outs, switches)
        assert walked == list(order), (walked, order)  # rows in the order of the clean pass
        fn = theano.function([x] + unit_vars, g)
        self._cache[key] = fn
        return fn

    def project_loop(self, images, layers, **kwargs):
        """The same as :meth:`project`, with one compiled function per layer (for comparison)."""
        out = OrderedDict()
        for name in ([layers] if isinstance(layers, str) else layers):
            out.update(self.project(images, [name], **kwargs))
        return out


def input_patch_box(net, layer, y, x):
    """Receptive field ``(top, left, bottom, right)`` (exclusive) in input pixels of
    unit (y, x) of ``layer``, clipped to the image."""
    names = list(net)
    top, left, bottom, right = y, x, y + 1, x + 1
    for name in reversed(names[1:names.index(layer) + 1]):
        l = net[name]
        kind = _layer_kind(l)
        if kind == "conv":
            (fh, fw), (sh, sw), (ph, pw) = l.filter_size, l.stride, l.pad
        elif kind == "maxpool":
            (fh, fw), (sh, sw), (ph, pw) = l.pool_size, l.stride, (0, 0)
        else:
            continue
        top, bottom = top * sh - ph, (bottom - 1) * sh - ph + fh
        left, right = left * sw - pw, (right - 1) * sw - pw + fw
    H, W = net["input"].shape[2:]
    return max(top, 0), max(left, 0), min(bottom, H), min(right, W)
