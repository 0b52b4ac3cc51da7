"""The backward rules of the projection methods, one class per method.

A method says how the backward signal ``g`` passes each kind of layer on the way down, given
the forward pass (``a``: the layer's input, ``z``: its output):

* ``relu(g, a)`` at a ReLU;
* ``linear(back, g, a, z)`` at a convolution or fully connected layer, where ``back`` is the
  layer's transposed operation (``linear_is_transpose``: the plain ``back(g)``, which lets
  the walk use its fast paths: several signals through one Winograd op, a unit's first step
  computed directly);
* ``lrn``: the contrast-normalisation rule it uses by default, ``identity`` or ``gradient``;
* ``unit_signal``: what a chosen unit starts with, its activation (``value``) or 1 (``one``:
  the derivative of that activation).

Max-pooling is unpooled with the forward pass's switches for every method. Adding a method is
one class here, its name in :data:`RULES`, and the name in :data:`zfnet.vis.methods.METHODS`;
a wrapper over any projector (:mod:`zfnet.vis.smoothgrad`, :mod:`zfnet.vis.integrated`) needs no
rule at all: it calls the projector's public ``project(..., units=)`` and lives in its own file.
"""
from collections import OrderedDict

import numpy as np

from ..backend import T


class Rule(object):
    """A method's backward rules (see the module docstring); subclasses override what differs."""
    name = None
    lrn = "gradient"
    unit_signal = "one"
    linear_is_transpose = True

    def relu(self, g, a):
        """The signal below a ReLU whose input was ``a``."""
        raise NotImplementedError

    def linear(self, back, g, a, z):
        """The signal below a conv/fc layer (input ``a``, output ``z``); ``back``: its transpose."""
        return back(g)


class Deconvnet(Rule):
    """Zeiler & Fergus: the ReLU rectifies the backward signal; LRN passes it unchanged."""
    name, lrn, unit_signal = "deconvnet", "identity", "value"

    def relu(self, g, a):
        return T.maximum(g, 0)


class Guided(Rule):
    """Guided backpropagation (Springenberg et al. 2015): positive signal at live units."""
    name, unit_signal = "guided", "value"

    def relu(self, g, a):
        return g * (g > 0) * (a > 0)


class Gradient(Rule):
    """The gradient of the unit (saliency, Simonyan et al. 2014)."""
    name = "gradient"

    def relu(self, g, a):
        return g * (a > 0)


class LRPEpsilon(Rule):
    """Layer-wise relevance propagation, the epsilon rule (Bach et al. 2015): a unit's relevance
    is its activation; a linear layer passes to input ``i`` the share ``a_i w_ij / (z_j + eps
    sign(z_j))`` of output ``j``'s relevance; ReLUs and contrast normalisation pass relevance
    unchanged; max-pooling gives it to the switch (winner takes all). With zero biases and a
    small ``epsilon`` the relevance that reaches the input adds up to the unit's activation."""
    name, lrn, unit_signal, linear_is_transpose = "lrp", "identity", "value", False
    epsilon = 1e-6

    def relu(self, g, a):
        return g

    def linear(self, back, g, a, z):
        eps = np.float32(self.epsilon)
        stabilised = z + eps * T.switch(T.ge(z, 0), np.float32(1), np.float32(-1))
        return a * back(g / stabilised)


RULES = OrderedDict((r.name, r()) for r in (Deconvnet, Guided, Gradient, LRPEpsilon))
