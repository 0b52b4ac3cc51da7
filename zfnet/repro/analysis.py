"""Measurements behind the paper's figures and tables (used by ``experiments/``).

Pure numpy functions, no Theano: image transforms (Fig. 5), the correspondence score
(Table 1), filter health (Fig. 6), projection similarity and unit stability (Fig. 4), few-shot splits and
linear probes (Tables 4, 5, 7). Occlusion lives in :mod:`zfnet.vis.occlusion`, the
digits in :mod:`zfnet.data.digits`, compiled feature functions in :mod:`zfnet.evaluate`.
Each is tested on its own in ``tests/repro/test_analysis.py``.
"""
import numpy as np

from ..errors import UsageError
from ..vis.occlusion import correlation  # noqa: F401 (defined with the occlusion measures that use it)


# ------------------------------------------------------------------ transforms (Fig. 5)
def _pil(img):
    from PIL import Image
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise UsageError("expected a uint8 image (C, H, W), got dtype %s" % img.dtype)
    return [Image.fromarray(ch) for ch in img]


def _stack(chans):
    return np.stack([np.asarray(c, np.uint8) for c in chans])


def translate_vertical(img, dy, fill=0):
    """Shift a uint8 (C, H, W) image down by ``dy`` pixels (up if negative), filling with ``fill``."""
    img = np.asarray(img)
    out = np.full_like(img, fill)
    h = img.shape[1]
    dy = int(dy)
    if abs(dy) >= h:
        return out
    if dy >= 0:
        out[:, dy:] = img[:, :h - dy]
    else:
        out[:, :h + dy] = img[:, -dy:]
    return out


def scale_image(img, factor, fill=0):
    """Zoom a uint8 (C, H, W) image by ``factor`` about its centre, same output size (bilinear)."""
    from PIL import Image
    if factor <= 0:
        raise UsageError("scale factor must be > 0, got %r" % (factor,))
    c, h, w = np.asarray(img).shape
    nh, nw = max(1, int(round(h * factor))), max(1, int(round(w * factor)))
    out = np.full((c, h, w), fill, np.uint8)
    for i, ch in enumerate(_pil(img)):
        z = np.asarray(ch.resize((nw, nh), Image.BILINEAR))
        # place z's centre on the output's centre, cropping or padding
        top, left = (h - nh) // 2, (w - nw) // 2
        ys, xs = max(0, top), max(0, left)
        ye, xe = min(h, top + nh), min(w, left + nw)
        out[i, ys:ye, xs:xe] = z[ys - top:ye - top, xs - left:xe - left]
    return out


def rotate_image(img, degrees, fill=0):
    """Rotate a uint8 (C, H, W) image counter-clockwise by ``degrees`` about its centre."""
    from PIL import Image
    return _stack(ch.rotate(float(degrees), resample=Image.BILINEAR, fillcolor=fill)
                  for ch in _pil(img))


TRANSFORMS = {"translation": translate_vertical, "scale": scale_image, "rotation": rotate_image}


def small_changes(x):
    """Three small changes of uint8 images (N, C, H, W), as Fig. 2's invariance reading uses
    them: a shift right by H/14 (at least 1 px; the left edge column repeated), a horizontal
    flip, and a zoom out to 7/8 of the side (bilinear; the border filled by repeating the edge).
    Returns ``[shifted, flipped, zoomed]``, each like ``x``."""
    from PIL import Image
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise UsageError("expected uint8 images (N, C, H, W), got %s %s" % (x.dtype, x.shape))
    n, c, h, w = x.shape
    s = max(1, h // 14)
    shift = np.concatenate([np.repeat(x[:, :, :, :1], s, axis=3), x[:, :, :, :-s]], axis=3)
    zh, zw = int(round(h * 7 / 8.0)), int(round(w * 7 / 8.0))
    t, l = (h - zh) // 2, (w - zw) // 2
    zoom = np.empty_like(x)
    for i in range(n):
        small = np.stack([np.asarray(Image.fromarray(x[i, ch]).resize((zw, zh), Image.BILINEAR))
                          for ch in range(c)])
        zoom[i] = np.pad(small, ((0, 0), (t, h - zh - t), (l, w - zw - l)), mode="edge")
    return [np.ascontiguousarray(shift), np.ascontiguousarray(x[:, :, :, ::-1]), zoom]


def relative_distance(feats, ref):
    """``||f - f0|| / ||f0||`` per row of ``feats`` (N, D) against ``ref`` (D,)."""
    feats = np.asarray(feats, np.float64); ref = np.asarray(ref, np.float64)
    return np.linalg.norm(feats - ref[None], axis=1) / max(np.linalg.norm(ref), 1e-12)


# ------------------------------------------------------------------ correspondence (Table 1)
def correspondence_delta(eps):
    """The paper's correspondence score (Sec. 5.1, Table 1) for one part and one layer.

    ``eps`` (n_images, D): for each image, feature vector of the original minus that of
    the occluded image. Delta = sum over pairs i<j of the Hamming distance between
    ``sign(eps_i)`` and ``sign(eps_j)``. The paper does not say how it is normalised;
    here it is divided by the number of pairs and by D, so Delta is the mean over
    pairs of the *fraction* of features whose sign (-1, 0, +1) differs, in [0, 1].
    """
    s = np.sign(np.asarray(eps, np.float64))
    n, d = s.shape
    if n < 2:
        raise UsageError("need at least 2 images to compare, got %d" % n)
    total, pairs = 0.0, 0
    for i in range(n):
        for j in range(i + 1, n):
            total += np.count_nonzero(s[i] != s[j]) / float(d)
            pairs += 1
    return total / pairs


# ------------------------------------------------------------------ filters (Fig. 6)
def filter_health(W, activations=None, dominate=2.0, dead=0.1):
    """Dead and dominating first-layer filters.

    ``W`` (K, C, h, w); ``activations`` optional (N, K, ...) rectified outputs of those
    filters on sample images. Per filter: RMS. A filter *dominates* when its RMS is
    over ``dominate`` x the median RMS; it is *dead* when its RMS is under ``dead`` x
    the median or (with activations) it never fires on the sample. Also returns the
    share of the total squared filter norm held by the strongest 10% of filters
    (0.1 when all are equal).
    """
    W = np.asarray(W, np.float64)
    k = W.shape[0]
    rms = np.sqrt((W.reshape(k, -1) ** 2).mean(axis=1))
    med = np.median(rms)
    dead_mask = rms < dead * med
    if activations is not None:
        a = np.asarray(activations).reshape(len(activations), k, -1)
        dead_mask |= a.max(axis=(0, 2)) <= 0
    sq = np.sort(rms ** 2)[::-1]
    top = max(1, int(round(0.1 * k)))
    return {"filters": k, "rms": rms.tolist(), "median_rms": float(med),
            "max_over_median": float(rms.max() / max(med, 1e-12)),
            "dominating": int((rms > dominate * med).sum()), "dead": int(dead_mask.sum()),
            "top10pct_norm_share": float(sq[:top].sum() / max(sq.sum(), 1e-12))}


def _beyond(shape, cutoff):
    """Mask of 2-D FFT bins whose frequency (cycles per sample) exceeds ``cutoff`` along
    either axis: what a grid sampled every ``0.5 / cutoff`` samples folds back (aliases)."""
    fy = np.abs(np.fft.fftfreq(shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(shape[1]))[None, :]
    return np.maximum(fy, fx) > cutoff + 1e-12


def spectral_share_above(W, cutoff, size=64):
    """Mean over filters of the share of each filter's spectral energy at frequencies above
    ``cutoff`` cycles per pixel (along either axis). ``W`` (K, C, h, w), zero-padded to
    ``size`` x ``size`` so the spectrum is finely sampled. A stride-``s`` convolution samples
    its output every ``s`` pixels, so energy above ``0.5 / s`` aliases."""
    W = np.asarray(W, np.float64)
    if W.ndim != 4 or max(W.shape[2:]) > size:
        raise UsageError("expected filters (K, C, h, w) no larger than %d, got %r" % (size, W.shape))
    P = np.abs(np.fft.fft2(W, s=(size, size))) ** 2  # (K, C, size, size)
    P = P.sum(axis=1)
    hi = _beyond((size, size), cutoff)
    tot = P.sum(axis=(1, 2))
    share = np.where(tot > 0, (P * hi).sum(axis=(1, 2)) / np.maximum(tot, 1e-300), 0.0)
    return float(share.mean())


def map_high_frequency_share(maps, cutoff=0.25):
    """Share of the power of feature maps ``maps`` (N, K, H, W), each with its mean removed,
    at frequencies above ``cutoff`` cycles per sample along either axis (0.25: the upper half
    of what the map's grid can hold; a checkerboard is all there)."""
    a = np.asarray(maps, np.float64)
    if a.ndim != 4:
        raise UsageError("expected maps (N, K, H, W), got shape %r" % (a.shape,))
    a = a - a.mean(axis=(2, 3), keepdims=True)
    P = np.abs(np.fft.fft2(a)) ** 2
    tot = P.sum()
    return float((P * _beyond(a.shape[2:], cutoff)).sum() / tot) if tot > 0 else 0.0


# ------------------------------------------------------------------ representation similarity (Fig. 4)
def centred_gram(x):
    """The doubly centred Gram matrix of features ``x`` (n, ...) of n probe images, in float64:
    what :func:`linear_cka` compares (keep it, not the features, when the features are large)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    x = x - x.mean(axis=0, keepdims=True)
    return x.dot(x.T)


def linear_cka(a, b):
    """Linear centred kernel alignment of two representations of the same n probe images, from
    their :func:`centred_gram` matrices: <A, B> / (|A| |B|), in [0, 1]; 1 for representations that
    differ by a rotation and a scale, whatever their widths (Kornblith et al. 2019)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise UsageError("linear_cka needs two n x n Gram matrices, got %r and %r" % (a.shape, b.shape))
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def unit_responses(f, channels):
    """A layer's output ``f`` on n probe images, (n, channels * positions) as
    :func:`zfnet.evaluate.features_function` gives it, as one row per unit: (channels, n * positions)
    in float64, every response of the unit to every probe at every position."""
    f = np.asarray(f, np.float64)
    if f.ndim != 2 or f.shape[1] % channels:
        raise UsageError("unit_responses needs (n, channels * positions) with %d channels, got %r" % (channels, f.shape))
    return f.reshape(len(f), channels, -1).transpose(1, 0, 2).reshape(channels, -1)


def _standardised_pair(name, a, b):
    """Two (units, responses) arrays of one shape, each row centred and scaled to unit length
    (a constant row stays 0), with the masks of the rows that are not constant."""
    if np.ndim(a) != 2 or np.shape(a) != np.shape(b):
        raise UsageError("%s needs two (units, responses) arrays of one shape, got %r and %r"
                         % (name, np.shape(a), np.shape(b)))
    out = []
    for u in (a, b):
        u = np.asarray(u, np.float64)
        u = u - u.mean(axis=1, keepdims=True)
        n = np.linalg.norm(u, axis=1, keepdims=True)
        out += [u / np.where(n > 0, n, 1.0), n[:, 0] > 0]
    return out


def unit_correlations(a, b):
    """Per unit: the Pearson correlation of row i of ``a`` with row i of ``b`` (the same unit's
    responses in two versions of a network, e.g. two epochs of one run). NaN for a unit whose
    responses are constant in either (a dead unit has no pattern to compare)."""
    za, la, zb, lb = _standardised_pair("unit_correlations", a, b)
    r = (za * zb).sum(axis=1)
    r[~(la & lb)] = np.nan
    return r


def matched_unit_correlations(a, b):
    """The units of two networks (rows of ``a`` and ``b``, responses to the same probes) paired one
    to one so that the summed correlation is largest (the Hungarian method): the paired
    correlations, in the order of ``a``'s units. Two training seeds learn the same units in
    another order; this is how close their best pairing is. A constant row correlates 0 with all."""
    from scipy.optimize import linear_sum_assignment
    za, _, zb, _ = _standardised_pair("matched_unit_correlations", a, b)
    c = za.dot(zb.T)
    rows, cols = linear_sum_assignment(-c)
    return c[rows, cols]


# ------------------------------------------------------------------ projections (Fig. 4)
# ------------------------------------------------------------------ few-shot splits (Tables 4, 7)
def per_class_split(y, n_per_class, seed, n_test_per_class=None):
    """Indices (train, test): ``n_per_class`` random images of each class for training,
    the rest (or ``n_test_per_class`` of the rest) for testing."""
    rng = np.random.RandomState(seed)
    tr, te = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) <= n_per_class:
            raise UsageError("class %r has %d images, cannot take %d for training and keep a "
                             "test set" % (int(c), len(idx), n_per_class))
        tr.append(idx[:n_per_class])
        rest = idx[n_per_class:]
        te.append(rest if n_test_per_class is None else rest[:n_test_per_class])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))


SVM_C_GRID = (0.1, 1.0, 10.0, 100.0)


def _svm_fit_predict(k_train, y_train, k_test, C):
    from sklearn.svm import SVC
    return SVC(C=C, kernel="precomputed").fit(k_train, y_train).predict(k_test)


def class_mean_accuracy(y_true, y_pred):
    """The mean over classes of each class's accuracy (Caltech's measure: every class counts
    the same, however many test images it has)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in np.unique(y_true)]))


def linear_probe(x_train, y_train, x_test, y_test, C=None, kind="svm", folds=3, measure=None,
                 max_iter=2000):
    """Accuracy of a linear classifier trained on fixed features.

    ``kind='svm'`` (the paper's Table 7): a linear SVM on L2-normalised feature vectors,
    solved in its dual with a precomputed linear kernel (fast when features outnumber
    images); ``C`` chosen by ``folds``-fold cross-validation on the training images
    among :data:`SVM_C_GRID` unless given. ``kind='softmax'`` (the paper's new softmax
    layer, Tables 4-5): multinomial logistic regression (C=1 unless given) on features
    standardised on the training set.
    ``measure(y_true, y_pred)``: the score returned (default: accuracy over the test images;
    :func:`class_mean_accuracy` for Caltech).
    """
    measure = measure or (lambda t, p: float((p == t).mean()))
    x_train = np.asarray(x_train, np.float64); x_test = np.asarray(x_test, np.float64)
    y_train = np.asarray(y_train); y_test = np.asarray(y_test)
    if kind == "svm":
        unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        a, b = unit(x_train), unit(x_test)
        k_tr, k_te = a.dot(a.T), b.dot(a.T)
        if C is None:
            from sklearn.model_selection import StratifiedKFold
            n_splits = min(folds, int(np.bincount(np.unique(y_train, return_inverse=True)[1]).min()))
            if n_splits < 2:
                C = 1.0
            else:
                cv = list(StratifiedKFold(n_splits, shuffle=True, random_state=0).split(a, y_train))
                score = [np.mean([(_svm_fit_predict(k_tr[np.ix_(t, t)], y_train[t], k_tr[np.ix_(v, t)], c)
                                   == y_train[v]).mean() for t, v in cv]) for c in SVM_C_GRID]
                C = SVM_C_GRID[int(np.argmax(score))]
        return measure(y_test, _svm_fit_predict(k_tr, y_train, k_te, C))
    if kind == "softmax":
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
        sc = StandardScaler().fit(x_train)
        clf = LogisticRegression(C=1.0 if C is None else C, max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(sc.transform(x_train), y_train)
        return measure(y_test, clf.predict(sc.transform(x_test)))
    raise UsageError("kind %r: expected 'svm' or 'softmax'" % (kind,))
