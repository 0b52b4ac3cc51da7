"""Integrated Gradients (Sundararajan, Taly & Yan 2017) as a wrapper over a Projector.

For each chosen unit ``f`` (a feature map's strongest activation, as the deconvnet and the
gradient methods choose it on the image itself), the attribution of input pixel ``i`` is

    (x_i - b_i) * mean over alpha of  df/dx_i (b + alpha (x - b)),

alpha at the midpoints of ``steps`` equal intervals of [0, 1] (a Riemann sum of the path
integral). ``b`` is the baseline, by default 0 in the network's input space: the training set's
mean image, mid-grey of the preprocessing. Completeness, the method's defining property: the
attributions of a unit add up to ``f(x) - f(b)`` (up to the Riemann sum's error), which the
tests check against a numpy forward pass. Like :class:`~zfnet.vis.smoothgrad.SmoothGrad` it only
calls the projector's public ``check_images`` and ``project(..., method="gradient", units=)``.
"""
from collections import OrderedDict

import numpy as np

from ..errors import UsageError
from .deconv import Projection
from .smoothgrad import mean_unit_gradients


class IntegratedGradients(object):
    """``IntegratedGradients(projector, steps=32, baseline=None).project(images, layers, ...)``
    returns, like :meth:`Projector.project`, an OrderedDict layer -> :class:`Projection` whose
    reconstructions are the attributions (in the network's input space)."""

    def __init__(self, projector, steps=32, baseline=None):
        self.projector = projector
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 4096:
            raise UsageError("IntegratedGradients steps=%r: expected an integer from 1 to 4096" % (steps,))
        self.steps = int(steps)
        self.baseline = None if baseline is None else np.asarray(baseline, np.float32)
        if self.baseline is not None and not np.isfinite(self.baseline).all():
            raise UsageError("IntegratedGradients baseline holds NaN or infinite values")

    def _baseline(self, images):
        if self.baseline is None:
            return np.zeros_like(images)
        b = self.baseline if self.baseline.ndim == 4 else self.baseline[None]
        if b.shape[1:] != images.shape[1:]:
            raise UsageError("baseline of shape %r does not fit images of shape %r"
                             % (self.baseline.shape, images.shape))
        return np.broadcast_to(b, images.shape).astype(np.float32)

    def project(self, images, layers, top=9, mode="max", rank="max", channels=None, units=None):
        """As :meth:`Projector.project` (``mode='max'`` units); reconstructions are the
        integrated gradients of each unit."""
        images = self.projector.check_images(images)
        base = self._baseline(images)
        # the gradient at the midpoints of the straight path from the baseline to the image
        path = ((base + np.float32((k + 0.5) / self.steps) * (images - base)).astype(np.float32)
                for k in range(self.steps))
        clean, grads = mean_unit_gradients(self.projector, images, layers, path, top=top, mode=mode,
                                           rank=rank, channels=channels, units=units)
        diff = (images - base).astype(np.float64)
        return OrderedDict((n, Projection(n, (grads[n] * diff[:, None]).astype(np.float32), r.units,
                                          r.activations, r.boxes)) for n, r in clean.items())
