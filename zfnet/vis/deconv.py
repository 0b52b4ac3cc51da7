"""Project activations back to pixel space: the deconvnet and its relatives.

Zeiler & Fergus (2014), Sec. 2: to examine one activation, set all others of
its layer to zero and pass the map down a *deconvnet* attached to the convnet:

* max-pooling -> **unpooling** with the forward pass's switches (one location
  per window: the first maximum in row-major order, values within a relative 1e-5
  of the maximum counting as tied; see :mod:`zfnet.nn.pool_ops`);
* ReLU -> the rule of the method (below);
* convolution (and the fully-convolutional fc layers) -> **transposed
  convolution** with the same filters, stride and padding, built with
  ``theano.tensor.nnet.abstract_conv.conv2d_grad_wrt_inputs`` and always the
  explicit ``input_shape`` of the forward layer (with a stride, several input
  shapes give the same output shape); biases are not applied. Those of 3x3
  stride-1 layers are computed by Winograd's F(2x2, 3x3) (:mod:`zfnet.nn.winograd`:
  a graph rewrite of ``conv2d_grad_wrt_inputs`` for one batch of signals, the op
  itself where signals of several layers meet), 2.25x fewer multiply-adds than the
  direct transposed convolution, the same numbers to float32 rounding;
  ``Projector.winograd = False`` turns it off;
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

How much to optimise: a projection graph of a small request runs in milliseconds but
takes a second or more to optimise, so :class:`Projector` compiles with Theano's
``o2`` optimiser (fast-compile rewrites plus elementwise fusion: a third less compile
time, measured) when one call is estimated at under :data:`FAST_COMPILE_GFLOP`
dense-equivalent GFLOP per image, and with the full ``fast_run`` optimiser above it
(seed 003's VGG16 workload, 709 GFLOP: 15% faster per call). ``compile='fast'`` or
``'full'`` forces one. The outputs are the same numbers either way (the tests compare
both against the same references).
"""
from collections import OrderedDict

import numpy as np

from ..backend import T, theano, floatX
from ..errors import UsageError
from .methods import MODES, RANKS, check_method
from .network import Step, as_chain
from .rules import RULES
from ..nn.layers import conv_transpose
from ..nn.pool_ops import TIE_RTOL, max_pool_switches, unpool
from ..nn import winograd
from ..nn.winograd import Winograd3x3, mode_with_winograd

#: below this estimated work per image (GFLOP) a projection graph is compiled for compile speed
FAST_COMPILE_GFLOP = 50.0
COMPILE_CHOICES = ("auto", "fast", "full")


class Projection(object):
    """Projections of one layer for a batch of images (or, sliced, for one image).

    Attributes
    ----------
    layer : str
    reconstructions : float32 (B, k, C, H, W) — raw, in the network's input space
    units : int (B, k, 3) — channel, y, x of the projected activation (for
        ``mode='map'``: the map's strongest location)
    activations : float32 (B, k) — the activation at ``units``
    boxes : int (B, k, 4) — each unit's receptive field in input pixels,
        ``(top, left, bottom, right)`` with bottom/right exclusive, clipped to the image

    ``projection[i]`` is image ``i``'s: the same attributes without the batch axis.
    """

    def __init__(self, layer, reconstructions, units, activations, boxes):
        self.layer = layer
        self.reconstructions = reconstructions
        self.units = units
        self.activations = activations
        self.boxes = boxes

    def __len__(self):
        if self.reconstructions.ndim != 5:
            raise TypeError("this Projection is one image's already (no batch axis)")
        return len(self.reconstructions)

    def __getitem__(self, i):
        len(self)  # raises for a sliced one
        return Projection(self.layer, self.reconstructions[i], self.units[i], self.activations[i],
                          self.boxes[i])

    def __repr__(self):
        return "Projection(%r, reconstructions %r)" % (self.layer, self.reconstructions.shape)


class Projector(object):
    """Deconvnet / guided / gradient / SmoothGrad projections for a network.

    One Projector per network: the method is chosen per call (:meth:`project`), and each
    compiled function is cached under its (layers, selection, method, LRN rule).

    Parameters
    ----------
    net : a loaded :class:`~zfnet.io.checkpoint.Model` (then ``project`` also takes uint8
        pixels and preprocesses them as the checkpoint says), this project's OrderedDict of
        layers (:func:`zfnet.nn.model.build`), or any Lasagne network given the Lasagne way:
        its output layer or a dict of named layers (:mod:`zfnet.vis.network`)
    method : the default method, one of :data:`zfnet.vis.methods.METHODS`
    lrn : 'identity' or 'gradient' for every method (default: identity for the deconvnet,
        gradient otherwise)
    smooth_samples : int, copies for ``method='smoothgrad'`` (default 16)
    smooth_noise : float, noise std as a fraction of the input's range (default 0.15)
    seed : int, SmoothGrad noise seed
    compile : 'auto' (the default: see the module's docstring), 'fast' or 'full'
    """

    def __init__(self, net, method="deconvnet", lrn=None, smooth_samples=16, smooth_noise=0.15,
                 seed=0, compile="auto"):
        self.method = check_method(method)
        if compile not in COMPILE_CHOICES:
            raise UsageError("compile=%r: expected one of %s" % (compile, ", ".join(COMPILE_CHOICES)))
        self.compile = compile
        # 3x3 stride-1 transposed convolutions by Winograd F(2x2, 3x3) (zfnet.nn.winograd)
        self.winograd = True
        if lrn not in (None, "identity", "gradient"):
            raise UsageError("lrn rule %r: expected 'identity' or 'gradient'" % (lrn,))
        from ..io.checkpoint import Model
        self.model = net if isinstance(net, Model) else None
        net = net.net if self.model is not None else net
        self.net, self._lrn = net, lrn
        self.steps = as_chain(net)
        self.smooth = SmoothGrad(self, smooth_samples, smooth_noise, seed)
        self.names = list(self.steps)
        self.kinds = OrderedDict((n, st.kind) for n, st in self.steps.items())
        self.input_shape = tuple(self.steps[self.names[0]].output_shape[1:])
        # 'max' projections of conv layers start with v * W[c] placed directly
        # (False: the dense transposed convolution of the one-hot map; same numbers)
        self.analytic_first_step = True
        self._cache = {}

    def lrn_rule(self, method=None):
        """The contrast-normalisation rule used for ``method``: the one given to the
        constructor, else the method's own (:data:`zfnet.vis.rules.RULES`: identity for the
        deconvnet and LRP, the true gradient otherwise)."""
        if self._lrn is not None:
            return self._lrn
        return RULES[method or self.method].lrn

    @property
    def lrn(self):
        """The contrast-normalisation rule of the default method."""
        return self.lrn_rule(self.method)

    # ------------------------------------------------------------ checking
    def projectable_layers(self):
        """Names of the layers whose activations can be projected (up to fc8)."""
        out = []
        for n in self.names[1:]:
            if self.kinds[n] not in ("conv", "relu", "maxpool", "lrn", "dropout", "dense", "flatten"):
                break
            out.append(n)
        return out

    def _check_layers(self, layers):
        if isinstance(layers, str):
            layers = [layers]
        valid = self.projectable_layers()
        for l in layers:
            if l not in valid:
                raise UsageError("Cannot project layer %r: projectable layers are %s"
                                 % (l, ", ".join(valid)))
        return sorted(set(layers), key=self.names.index, reverse=True)  # top first

    def check_images(self, images):
        """``images`` as the network takes them: float32 (B, C, H, W); uint8 pixels are
        preprocessed as the checkpoint says (with a Model), floats are taken as preprocessed.
        The one door for wrappers such as SmoothGrad and IntegratedGradients."""
        images = np.asarray(images)
        if images.dtype == np.uint8:  # pixels: preprocess them as the checkpoint says
            if self.model is None:
                raise UsageError("uint8 pixels given, but this network's preprocessing is unknown: "
                                 "give the Projector a loaded Model (zfnet.io.checkpoint.load_model), "
                                 "or pass preprocessed float32 images")
            images = self.model.preprocess(images)
        # anything else is taken as preprocessed: the dtype decides, never the value range
        images = np.asarray(images, dtype=floatX)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[1:] != self.input_shape:
            raise UsageError("Images of shape %r do not fit the network: expected (B,) + %r "
                             "(batch, channels, height, width), preprocessed"
                             % (images.shape, self.input_shape))
        return images

    # -------------------------------------------------------- graph pieces
    def _forward(self, x):
        """Deterministic forward pass: {name: output} and the pooling switches."""
        outs, switches = OrderedDict(), {}
        h = x
        outs[self.names[0]] = x
        for name in self.names[1:]:
            layer, kind = self.steps[name], self.kinds[name]
            if kind == "softmax":
                break  # nothing above a softmax is projected
            if kind == "maxpool":
                if tuple(layer.pad) != (0, 0) or layer.pool_size[0] != layer.pool_size[1] \
                        or layer.stride[0] != layer.stride[1]:
                    raise UsageError("Layer %r: unpooling supports square windows and strides "
                                     "without padding, got pool %r stride %r pad %r"
                                     % (name, layer.pool_size, layer.stride, layer.pad))
                h, switches[name] = max_pool_switches(h, layer.pool_size[0], layer.stride[0],
                                                      layer.ignore_border)
            else:
                h = layer.forward(h)
            outs[name] = h
        return outs, switches


    # Signals are 5D, (B, R, C, H, W): R projections per image. Forward
    # activations and switches (B, C, H, W) broadcast over R, no gathering.
    def _step_down(self, name, g, outs, switches, rule):
        """Signal (B, R, C, H, W) at the output of layer ``name`` -> at its input.
        ``rule``: (method, lrn rule)."""
        layer, kind = self.steps[name], self.kinds[name]
        below = self.names[self.names.index(name) - 1]
        in_shape = layer.input_shape
        B, R = g.shape[0], g.shape[1]
        method = RULES[rule[0]]
        if kind == "conv":
            W = layer.W
            k, c, fh, fw = layer.filter_shape

            def back(s):
                flat = s.reshape((B * R, k) + tuple(layer.output_shape[2:]))
                x = conv_transpose(flat, W, (None, c) + tuple(in_shape[2:]), (k, c, fh, fw),
                                   layer.stride, layer.pad, name,
                                   (None,) + tuple(layer.output_shape[1:]))
                return x.reshape((B, R, c) + tuple(in_shape[2:]))
            if method.linear_is_transpose:
                return back(g)
            return method.linear(back, g, outs[below].dimshuffle(0, "x", 1, 2, 3),
                                 outs[name].dimshuffle(0, "x", 1, 2, 3))
        if kind == "relu":
            return method.relu(g, outs[below].dimshuffle(0, "x", 1, 2, 3))
        if kind == "maxpool":
            # rows n = b * R + r use the switches of image b (the C op's N = M * R rule)
            C, Ho, Wo = layer.output_shape[1:]
            H, Wd = in_shape[2:]
            out = unpool(g.reshape((B * R, C, Ho, Wo)), switches[name], (H, Wd))
            return out.reshape((B, R, C, H, Wd))
        if kind == "lrn":
            if rule[1] == "identity":
                return g
            a = outs[below]
            shape = (B * R,) + tuple(in_shape[1:])
            a_rep = T.repeat(a.dimshuffle(0, "x", 1, 2, 3), R, axis=1).reshape(shape)
            gin = theano.gradient.grad(None, wrt=a_rep,
                                       known_grads={layer.forward(a_rep): g.reshape(shape)})
            return gin.reshape(g.shape)
        if kind == "dropout":
            return g
        below_shape = tuple(in_shape[1:]) + (1,) * (4 - len(in_shape))  # (C, H, W); (N,) -> (N, 1, 1)
        if kind == "dense":  # W (in, units): the transpose of x.flatten() . W
            units = layer.output_shape[1]

            def back(s):
                return T.dot(s.reshape((B * R, units)), layer.W.T).reshape((B, R) + below_shape)
            if method.linear_is_transpose:
                return back(g)
            z = outs[name].reshape((outs[name].shape[0], 1) + (units,) + (1,) * (len(below_shape) - 1))
            a = outs[below].reshape((outs[below].shape[0], 1) + below_shape)
            return method.linear(back, g.reshape((B, R, units) + (1,) * (len(below_shape) - 1)), a, z)
        if kind == "flatten":
            return g.reshape((B, R) + below_shape)
        raise UsageError("Layer %r (%s) has no deconvnet rule" % (name, kind))

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
        value = T.max(maps, axis=2)
        # (B, k): the first position within the tie tolerance of the maximum, the pooling
        # switches' rule, so float32 rounding does not pick the unit on flat regions
        near = maps >= (value - TIE_RTOL * abs(value)).dimshuffle(0, 1, "x")
        pos = T.argmax(near, axis=2)
        return chans, maps, pos, value

    def _dense_signal(self, act, chans, maps, pos, value, k, mode, method):
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

    def _onehot_through_conv(self, conv_name, chans, pos, vals, k):
        """A one-hot signal at conv output (channel c, position p, value v) -> its transposed
        convolution, computed directly: ``v * W[c]`` placed at the unit's window, cropped
        to the input. Returns (B, k, Cin, H, W). The same numbers as the dense transposed
        convolution of the one-hot map, without touching the zeros."""
        layer = self.steps[conv_name]
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
        out = out.reshape((B, k, cin, Hp, Wp))[:, :, :, ph:ph + H, pw:pw + Wd]
        return out

    def _walk_down(self, pending, outs, switches, rule):
        """One walk from the top to the input: at each layer's output the signals
        ``pending[name]`` (a list of (requested layer, (B, k, C, H, W))) join the batch,
        then everything steps down. Returns the (B, R, C, H, W) input-space signal and
        the requested layers in the order of their rows.

        The batch is kept as a list of parts, stepped down each on its own, until a
        convolution: a 3x3 stride-1 one computes all of them into one tensor
        (:class:`Winograd3x3`'s parts; joining them with a copy cost a tenth of seed 003's
        VGG16 workload), any other joins them first."""
        parts, order = [], []
        top_index = max(self.names.index(n) for n in pending)
        for name in reversed(self.names[:top_index + 1]):
            for req, sig in pending.get(name, []):
                parts.append(sig)
                order.append(req)
            if name != self.names[0] and parts:
                st = self.steps[name]
                if len(parts) > 1 and st.kind == "conv" and self._winograd_ok(st) \
                        and RULES[rule[0]].linear_is_transpose:
                    parts = [Winograd3x3(st.pad[0], True, True)(*(parts + [st.W]))]
                elif len(parts) > 1 and st.kind in ("conv", "dense"):
                    # CorrMM runs one signal per thread: one batch keeps the threads balanced
                    # (the same time as stepping the parts apart on zf, measured)
                    joined = T.concatenate(parts, axis=1)
                    parts = [self._step_down(name, joined, outs, switches, rule)]
                else:
                    parts = [self._step_down(name, p, outs, switches, rule) for p in parts]
        g = parts[0] if len(parts) == 1 else T.concatenate(parts, axis=1)
        return g, order

    def _winograd_ok(self, st):
        """Whether conv step ``st``'s transposed convolution is done by Winograd F(2x2, 3x3)."""
        return (self.winograd and st.pad[0] == st.pad[1] and st.W.dtype == "float32"
                and winograd.takes(st.filter_shape, st.stride, st.pad[0]))

    def work_gflop(self, layers, k):
        """Dense-equivalent GFLOP per image of projecting ``k`` units of each of ``layers``:
        the forward pass to the highest and a transposed convolution per signal per conv
        (or dense) step below each layer."""
        from ..nn.flops import layer_flops
        idx = [self.names.index(l) for l in layers]
        flops = list(layer_flops(self.steps).values())
        fwd = sum(flops[:max(idx) + 1])
        back = sum(k * sum(flops[:i + 1]) for i in idx)
        return (fwd + back) / 1e9

    def _mode(self, work):
        """Theano mode for a graph of ``work`` GFLOP per image (see the module docstring)."""
        choice = self.compile
        if choice == "auto":
            choice = "fast" if work < FAST_COMPILE_GFLOP else "full"
        mode = theano.compile.mode.get_default_mode()
        if choice == "fast" and theano.config.optimizer in ("fast_run", "o4"):  # not the user's own
            mode = mode.clone(optimizer="o2")
        return mode_with_winograd(mode) if self.winograd else mode

    def _build(self, layers, top, mode, rank, explicit, rule):
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
            if mode == "max" and conv is not None and self.analytic_first_step \
                    and RULES[rule[0]].linear_is_transpose:
                one = RULES[rule[0]].unit_signal == "one"
                vals = T.ones_like(value) if one else value
                if kind == "relu":  # every rule passes a positive one-hot at a live unit
                    vals = vals * (value > 0)
                at = self.names[self.names.index(conv) - 1]
                pending.setdefault(at, []).append((name, self._onehot_through_conv(conv, chans, pos, vals, k)))
            else:
                pending.setdefault(name, []).append(
                    (name, self._dense_signal(act, chans, maps, pos, value, k, mode, rule[0])))
        g, order = self._walk_down(pending, outs, switches, rule)
        outputs = [g]
        for name in order:
            outputs += list(results[name])
        work = self.work_gflop(layers, top if not explicit else 1)
        fn = theano.function([x, ch_var], outputs, on_unused_input="ignore", mode=self._mode(work))
        return fn, order

    def _function(self, layers, top, mode, rank, explicit, rule):
        key = (tuple(layers), None if explicit else top, mode, None if explicit else rank,
               explicit, rule, self.analytic_first_step, self.compile, self.winograd)
        if key not in self._cache:
            self._cache[key] = self._build(layers, top, mode, rank, explicit, rule)
        return self._cache[key]

    # ----------------------------------------------------------- public API
    def project(self, images, layers, top=9, mode="max", rank="max", channels=None, method=None,
                units=None):
        """Project the chosen feature maps of every layer in ``layers`` — one compiled pass.

        Parameters
        ----------
        images : (B, C, H, W) or (C, H, W): uint8 pixels (preprocessed for you when the
            Projector was given a Model) or float32, already preprocessed as the network expects
        layers : str or list of str — layer names (``conv5``, ``relu5``, ``pool5``, ``fc6``...)
        top : int — how many feature maps per layer (ignored with ``channels`` or ``units``)
        mode : 'max' (the strongest activation only) or 'map' (the whole map)
        rank : 'max' or 'l2' — how the top maps are chosen
        channels : list of int or None — explicit feature maps (same for every layer)
        method : one of ``METHODS``, default the constructor's
        units : dict layer -> int (B, k, 3) or None — explicit units (channel, y, x) to
            project, one activation each (as ``mode='max'``); ``top``, ``mode``, ``rank``
            and ``channels`` are then ignored. :class:`SmoothGrad` uses it.

        Returns
        -------
        OrderedDict layer -> :class:`Projection`, in the order given.
        """
        method = check_method(method or self.method)
        if method == "smoothgrad":
            return self.smooth.project(images, layers, top=top, mode=mode, rank=rank,
                                       channels=channels, units=units)
        images = self.check_images(images)
        order = self._check_layers(layers)
        rule = (method, self.lrn_rule(method))
        if units is not None:
            return self._project_units(images, order, layers, units, rule)
        if mode not in MODES:
            raise UsageError("mode %r: expected one of %s" % (mode, ", ".join(MODES)))
        if rank not in RANKS:
            raise UsageError("rank %r: expected one of %s" % (rank, ", ".join(RANKS)))
        for name in order:
            n_ch = self.steps[name].output_shape[1]
            if channels is not None and (min(channels) < 0 or max(channels) >= n_ch):
                raise UsageError("Layer %r has channels 0..%d; got %r" % (name, n_ch - 1, list(channels)))
            if channels is None and not 1 <= int(top) <= n_ch:
                raise UsageError("top=%r for layer %r: must be between 1 and its %d channels"
                                 % (top, name, n_ch))
        fn, order = self._function(order, int(top), mode, rank, channels is not None, rule)
        ch = np.asarray(channels if channels is not None else [], "int64")
        out = fn(images, ch)
        return self._unpack(out[0], [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(len(order))],
                            order, layers)

    def _unpack(self, recon, unit_values, order, requested):
        """(B, R, C, H, W) signals and per-layer (units, values) -> {layer: Projection}."""
        res, start = OrderedDict(), 0
        for name, (units, value) in zip(order, unit_values):
            k = units.shape[1]
            r = recon[:, start:start + k]
            start += k
            units = units.astype(np.int64)
            res[name] = Projection(name, np.ascontiguousarray(r, np.float32), units,
                                   value.astype(np.float32),
                                   unit_boxes(self.steps, name, units[..., 1], units[..., 2]))
        names = [requested] if isinstance(requested, str) else list(requested)
        return OrderedDict((n, res[n]) for n in names if n in res)

    def _project_units(self, images, order, requested, units, rule):
        missing = [n for n in order if n not in units]
        if missing:
            raise UsageError("units given for %s but not for %s" % (sorted(units), missing))
        arrays = []
        for name in order:
            u = np.asarray(units[name], np.int64)
            shape = self.steps[name].output_shape
            if u.ndim != 3 or u.shape[0] != len(images) or u.shape[2] != 3:
                raise UsageError("units of %r have shape %r: expected (B=%d, k, 3) (channel, y, x)"
                                 % (name, u.shape, len(images)))
            bound = np.array(shape[1:4])
            if (u < 0).any() or (u >= bound).any():
                raise UsageError("units of %r must lie in channels 0..%d, y 0..%d, x 0..%d"
                                 % (name, bound[0] - 1, bound[1] - 1, bound[2] - 1))
            arrays.append(u)
        fn = self._units_function(order, rule)
        out = fn(images, *arrays)
        return self._unpack(out[0], list(zip(arrays, out[1:])), order, requested)

    def _units_function(self, order, rule):
        """Compiled ``x, units (B, k, 3) per layer -> signal at the input, activations``."""
        key = ("units", tuple(order), rule, self.compile, self.winograd)
        if key in self._cache:
            return self._cache[key]
        x = T.tensor4("x")
        outs, switches = self._forward(x)
        unit_vars = [T.tensor3("units_%s" % n, dtype="int64") for n in order]
        pending, values = {}, []
        for name, u in zip(order, unit_vars):
            act = outs[name]
            pos = u[:, :, 1] * act.shape[3] + u[:, :, 2]
            B, k = u.shape[0], u.shape[1]
            rows = T.repeat(T.arange(B).dimshuffle(0, "x"), k, axis=1)
            value = act.flatten(3)[rows.flatten(), u[:, :, 0].flatten(), pos.flatten()].reshape((B, k))
            values.append(value)
            start = T.ones(pos.shape, dtype=floatX) if RULES[rule[0]].unit_signal == "one" else value
            pending[name] = [(name, self._dense_signal(act, u[:, :, 0], None, pos, start,
                                                       k, "max", rule[0]))]
        g, walked = self._walk_down(pending, outs, switches, rule)
        assert walked == list(order), (walked, order)  # rows in the order of ``order``
        fn = theano.function([x] + unit_vars, [g] + values, mode=self._mode(self.work_gflop(order, 1)))
        self._cache[key] = fn
        return fn

    def project_loop(self, images, layers, **kwargs):
        """The same as :meth:`project`, with one compiled function per layer (for comparison)."""
        out = OrderedDict()
        for name in ([layers] if isinstance(layers, str) else layers):
            out.update(self.project(images, [name], **kwargs))
        return out


def unit_boxes(net, layer, ys, xs):
    """Receptive fields ``(..., 4)`` = (top, left, bottom, right), exclusive, in input pixels,
    of the units at rows ``ys`` and columns ``xs`` (int arrays of one shape) of ``layer``,
    clipped to the image. ``net``: a network (as :class:`Projector` takes it) or its chain
    (:func:`zfnet.vis.network.as_chain`). A unit above a dense or flatten layer sees the
    whole image."""
    chain = net if _is_chain(net) else as_chain(net)
    names = list(chain)
    ys, xs = np.asarray(ys, np.int64), np.asarray(xs, np.int64)
    top, left, bottom, right = ys, xs, ys + 1, xs + 1
    H, W = chain[names[0]].output_shape[2:]
    for name in reversed(names[1:names.index(layer) + 1]):
        st = chain[name]
        if st.kind in ("dense", "flatten"):
            zero = np.zeros_like(ys)
            top, left, bottom, right = zero, zero, zero + H, zero + W
            break
        if st.kind == "conv":
            (fh, fw), (sh, sw), (ph, pw) = st.filter_size, st.stride, st.pad
        elif st.kind == "maxpool":
            (fh, fw), (sh, sw), (ph, pw) = st.pool_size, st.stride, (0, 0)
        else:
            continue
        top, bottom = top * sh - ph, (bottom - 1) * sh - ph + fh
        left, right = left * sw - pw, (right - 1) * sw - pw + fw
    return np.stack([np.maximum(top, 0), np.maximum(left, 0), np.minimum(bottom, H),
                     np.minimum(right, W)], axis=-1)


def _is_chain(net):
    return isinstance(net, OrderedDict) and net and isinstance(next(iter(net.values())), Step)


def input_patch_box(net, layer, y, x):
    """Receptive field ``(top, left, bottom, right)`` (exclusive) in input pixels of
    unit (y, x) of ``layer``, clipped to the image."""
    return tuple(int(v) for v in unit_boxes(net, layer, y, x))


class SmoothGrad(object):
    """SmoothGrad (Smilkov et al. 2017) as a wrapper over a :class:`Projector`: the units
    are chosen on the clean image by the gradient rule, then the gradient of exactly
    those units is averaged over ``samples`` copies of the input with Gaussian noise of
    std ``noise`` x (the input's max - min). The noise generator (``seed``) lives on,
    so successive calls draw new noise."""

    def __init__(self, projector, samples=16, noise=0.15, seed=0):
        self.projector = projector
        self.samples, self.noise = int(samples), float(noise)
        if self.samples < 1:
            raise UsageError("SmoothGrad samples=%r: expected at least 1" % (samples,))
        if not np.isfinite(self.noise) or self.noise < 0:
            raise UsageError("SmoothGrad noise=%r: expected a finite fraction of the input range "
                             ">= 0 (0.1-0.2 is usual)" % (noise,))
        self.rng = np.random.RandomState(seed)

    def project(self, images, layers, top=9, mode="max", rank="max", channels=None, units=None):
        """As :meth:`Projector.project`; reconstructions are the averaged gradients."""
        p = self.projector
        images = p.check_images(images)
        clean = p.project(images, layers, top=top, mode=mode, rank=rank, channels=channels,
                          method="gradient", units=units)
        chosen = OrderedDict((n, r.units) for n, r in clean.items())
        span = float(images.max() - images.min()) or 1.0
        acc = OrderedDict((n, np.zeros(r.reconstructions.shape, np.float64)) for n, r in clean.items())
        for _ in range(self.samples):
            noisy = images + self.rng.normal(0, self.noise * span, images.shape).astype(floatX)
            for n, r in p.project(noisy, list(chosen), method="gradient", units=chosen).items():
                acc[n] += r.reconstructions
        return OrderedDict((n, Projection(n, (acc[n] / self.samples).astype(np.float32), r.units,
                                          r.activations, r.boxes)) for n, r in clean.items())
