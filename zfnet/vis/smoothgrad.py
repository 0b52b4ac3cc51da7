"""SmoothGrad (Smilkov et al. 2017) as a wrapper over a :class:`~zfnet.vis.deconv.Projector`,
and :func:`for_method`: the object to call for any method name the command line and the
explorer offer (:data:`zfnet.vis.methods.METHODS`).

The units are chosen on the clean image by the gradient rule, then the gradient of exactly
those units is averaged over ``samples`` copies of the input with Gaussian noise of std
``noise`` x (the input's max - min) (:func:`mean_unit_gradients`, which
:mod:`zfnet.vis.integrated` shares). It only calls the projector's public ``check_images``
and ``project(..., method="gradient", units=)``.
"""
from collections import OrderedDict

import numpy as np

from ..backend import floatX
from ..errors import UsageError
from .deconv import Projection
from .methods import check_method


class SmoothGrad(object):
    """``SmoothGrad(projector, samples=16, noise=0.15, seed=0).project(images, layers, ...)``
    returns, like :meth:`Projector.project`, an OrderedDict layer -> :class:`Projection` whose
    reconstructions are the averaged gradients. The noise generator (``seed``) lives on, so
    successive calls draw new noise."""
    name = "smoothgrad"

    def __init__(self, projector, samples=16, noise=0.15, seed=0):
        self.projector = projector
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
            raise UsageError("SmoothGrad samples=%r: expected an integer of at least 1" % (samples,))
        self.samples = int(samples)
        self.noise = float(noise)
        if not np.isfinite(self.noise) or self.noise < 0:
            raise UsageError("SmoothGrad noise=%r: expected a finite fraction of the input range "
                             ">= 0 (0.1-0.2 is usual)" % (noise,))
        self.rng = np.random.RandomState(seed)

    def projectable_layers(self):
        """The projector's projectable layers."""
        return self.projector.projectable_layers()

    def project(self, images, layers, top=9, mode="max", rank="max", channels=None, units=None,
                method=None):
        """As :meth:`Projector.project`; ``method``, if given, must be 'smoothgrad'."""
        if method not in (None, self.name):
            raise UsageError("SmoothGrad.project(method=%r): a SmoothGrad only projects 'smoothgrad'; "
                             "call its projector for other methods" % (method,))
        images = self.projector.check_images(images)
        span = float(images.max() - images.min()) or 1.0
        noisy = (images + self.rng.normal(0, self.noise * span, images.shape).astype(floatX)
                 for _ in range(self.samples))
        clean, mean = mean_unit_gradients(self.projector, images, layers, noisy, top=top, mode=mode,
                                          rank=rank, channels=channels, units=units)
        return OrderedDict((n, Projection(n, mean[n].astype(np.float32), r.units, r.activations, r.boxes))
                           for n, r in clean.items())


def mean_unit_gradients(projector, images, layers, inputs, **select):
    """What the wrappers share: the units the gradient rule picks on ``images`` (``select``:
    ``top``, ``mode``, ``rank``, ``channels`` or ``units``, as :meth:`Projector.project` takes
    them), then the mean of those same units' gradients over the float32 batches ``inputs``
    yields. Returns (the clean projections, OrderedDict layer -> mean gradient, float64)."""
    clean = projector.project(images, layers, method="gradient", **select)
    chosen = OrderedDict((n, r.units) for n, r in clean.items())
    acc = OrderedDict((n, np.zeros(r.reconstructions.shape, np.float64)) for n, r in clean.items())
    count = 0
    for x in inputs:
        for n, r in projector.project(x, list(chosen), method="gradient", units=chosen).items():
            acc[n] += r.reconstructions
        count += 1
    return clean, OrderedDict((n, a / count) for n, a in acc.items())


def for_method(projector, method, samples=16, noise=0.15, seed=0):
    """What projects with ``method`` (any of :data:`zfnet.vis.methods.METHODS`): the projector
    itself for one of its rules, a :class:`SmoothGrad` over it for 'smoothgrad'. Either is
    called as ``.project(images, layers, ..., method=method)``."""
    check_method(method)
    if method == SmoothGrad.name:
        return SmoothGrad(projector, samples, noise, seed)
    return projector
