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
``lrp``         layer-wise relevance propagation, the epsilon rule (Bach et al. 2015)

Each method is one class in :mod:`zfnet.vis.rules`. Wrappers that call a Projector many
times are built over it, outside it: :class:`zfnet.vis.smoothgrad.SmoothGrad` (the gradient
averaged over noisy copies of the input, Smilkov et al. 2017) and
:class:`zfnet.vis.integrated.IntegratedGradients`; :func:`zfnet.vis.smoothgrad.for_method`
gives the one to call for any name of :data:`zfnet.vis.methods.METHODS`.

What to project: ``mode='max'`` — the single strongest activation of a feature
map, all else zeroed (the paper) — or ``mode='map'`` — the whole feature map.
Which maps: explicit ``channels``, or the ``top`` k of the layer ranked by
maximum activation (``rank='max'``) or by L2 norm (``rank='l2'``).

The backward signal starts from the activation value(s) (deconvnet, guided:
the paper's "pass the map down") or from ones (gradient: the
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

from ..backend import T, theano, floatX, lasagne
from ..errors import UsageError
from .methods import MODES, RANKS, check_method
from .network import Step, as_chain
from .rules import RULES
from . import units as units_mod
from ..nn.layers import conv_transpose
from ..nn.pool_ops import max_pool_switches, unpool
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
    """Deconvnet / guided / gradient / LRP projections for a network.

    One Projector per network: the method is chosen per call (:meth:`project`), and each
    compiled function is cached under its (layers, selection, method, LRN rule).

    Parameters
    ----------
    net : a loaded :class:`~zfnet.io.checkpoint.Model` (then ``project`` also takes uint8
        pixels and preprocesses them as the checkpoint says), this project's OrderedDict of
        layers (:func:`zfnet.nn.model.build`), or any Lasagne network given the Lasagne way:
        its output layer or a dict of named layers (:mod:`zfnet.vis.network`)
    method : the default method, one of :data:`zfnet.vis.rules.RULES` (SmoothGrad is a
        wrapper: :class:`zfnet.vis.smoothgrad.SmoothGrad` ``(projector)``)
    lrn : 'identity' or 'gradient' for every method (default: each method's own, see
        :meth:`lrn_rule`)
    compile : 'auto' (the default: see the module's docstring), 'fast' or 'full'
    function_cache : keep each compiled function for later processes (:mod:`zfnet.vis.fncache`),
        when the network's architecture is known: ``net`` is a
        :class:`~zfnet.io.checkpoint.Model`, or ``architecture`` is given
    architecture : the configuration the network was built from (a checkpoint's
        ``model.json`` config, :func:`zfnet.nn.model.build`'s ``cfg``): what names its graph in
        the function cache. Give it only for a network built from it.
    """

    def __init__(self, net, method="deconvnet", lrn=None, compile="auto", function_cache=True,
                 architecture=None):
        self.method = self._check_method(method)
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
        self.names = list(self.steps)
        self.kinds = OrderedDict((n, st.kind) for n, st in self.steps.items())
        self.input_shape = tuple(self.steps[self.names[0]].output_shape[1:])
        # 'max' projections of conv layers start with v * W[c] placed directly
        # (False: the dense transposed convolution of the one-hot map; same numbers)
        self.analytic_first_step = True
        self.function_cache = bool(function_cache)
        self.architecture = architecture if architecture is not None else \
            (self.model.config if self.model is not None else None)
        self._cache = {}

    def lrn_rule(self, method=None):
        """The contrast-normalisation rule used for ``method``: the one given to the
        constructor, else the method's own (:data:`zfnet.vis.rules.RULES`: identity for the
        deconvnet and LRP, the true gradient otherwise)."""
        if self._lrn is not None:
            return self._lrn
        return RULES[method or self.method].lrn

    @staticmethod
    def _check_method(method):
        check_method(method)
        if method not in RULES:
            raise UsageError("method %r wraps a Projector rather than being one of its rules: use "
                             "zfnet.vis.smoothgrad.SmoothGrad(projector) (or for_method(projector, %r)); "
                             "a Projector's own methods are %s" % (method, method, ", ".join(RULES)))
        return method

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

    def _compile(self, order, seeder, rule):
        """The one compile path: forward pass, each layer's signals from ``seeder``
        (:mod:`zfnet.vis.units`), one walk down, one function
        ``(x, *seeder.inputs) -> [signal at the input] + [units, values] per layer`` in the
        order of the walk (returned with it)."""
        x = T.tensor4("x")
        outs, switches = self._forward(x)
        pending, reported = {}, {}
        for name in order:
            at, sig, reported[name] = seeder.seed(self.steps, self.names, name, outs[name], rule[0])
            pending.setdefault(at, []).append((name, sig))
        g, walked = self._walk_down(pending, outs, switches, rule)
        outputs = [g]
        for name in walked:
            outputs += list(reported[name])
        work = self.work_gflop(order, seeder.per_layer())
        fn = theano.function([x] + seeder.inputs(order), outputs, on_unused_input="ignore",
                             mode=self._mode(work))
        return fn, walked

    def _function(self, key, order, seeder, rule):
        key = key + (tuple(order), rule, self.compile, self.winograd)
        if key not in self._cache:
            self._cache[key] = self._load_or_compile(key, order, seeder, rule)
        return self._cache[key]

    def _params(self):
        """The network's parameters by name, or None when names repeat (no disk cache then)."""
        params = lasagne.layers.get_all_params(list(self.net.values()) if isinstance(self.net, dict)
                                               else self.net)
        named = OrderedDict((p.name, p) for p in params)
        return named if len(named) == len(params) and None not in named else None

    def _load_or_compile(self, key, order, seeder, rule):
        """:meth:`_compile`, or the same function kept by an earlier process
        (:mod:`zfnet.vis.fncache`, for a checkpoint's network)."""
        from . import fncache
        name = params = None
        if self.function_cache and self.architecture is not None and fncache.enabled():
            params = self._params()
            if params:
                name = fncache.key(self.architecture, self.input_shape, key, list(params))
                got = fncache.load(name, params)
                if got is not None:
                    return got[0], list(got[1])
        fn, walked = self._compile(order, seeder, rule)
        if name is not None:
            fncache.save(name, fn, list(walked), params)
        return fn, walked

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
        method : one of :data:`zfnet.vis.rules.RULES`, default the constructor's
        units : dict layer -> int (B, k, 3) or None — explicit units (channel, y, x) to
            project, one activation each (as ``mode='max'``); ``top``, ``mode``, ``rank``
            and ``channels`` are then ignored. The wrappers (SmoothGrad, Integrated Gradients)
            use it to hold the clean image's units while the input moves.

        Returns
        -------
        OrderedDict layer -> :class:`Projection`, in the order given.
        """
        method = self._check_method(method or self.method)
        images = self.check_images(images)
        order = self._check_layers(layers)
        rule = (method, self.lrn_rule(method))
        if units is not None:
            arrays = units_mod.check_units(units, order, self.steps, len(images))
            fn, walked = self._function(("units",), order, units_mod.GivenUnits(order), rule)
            return self._unpack(fn(images, *arrays), walked, layers)
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
        explicit = channels is not None
        selection = units_mod.Selection(int(top), mode, rank, explicit, self.analytic_first_step)
        key = ("select", None if explicit else int(top), mode, None if explicit else rank, explicit,
               self.analytic_first_step)
        fn, walked = self._function(key, order, selection, rule)
        ch = np.asarray(channels if explicit else [], "int64")
        return self._unpack(fn(images, ch), walked, layers)

    def _unpack(self, out, order, requested):
        """A compiled function's outputs (the (B, R, C, H, W) signal, then (units, values) per
        layer of ``order``) -> {layer: Projection} in the order ``requested``."""
        recon, res, start = out[0], OrderedDict(), 0
        for i, name in enumerate(order):
            units, value = out[1 + 2 * i], out[2 + 2 * i]
            k = units.shape[1]
            r = recon[:, start:start + k]
            start += k
            units = units.astype(np.int64)
            res[name] = Projection(name, np.ascontiguousarray(r, np.float32), units,
                                   value.astype(np.float32),
                                   unit_boxes(self.steps, name, units[..., 1], units[..., 2]))
        names = [requested] if isinstance(requested, str) else list(requested)
        return OrderedDict((n, res[n]) for n in names if n in res)

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
