"""Measurements behind the paper's figures and tables (used by ``experiments/``).

Pure numpy functions (image transforms, occlusion, the correspondence score,
filter health, projection similarity, digits) plus two compiled helpers
(:func:`features_function`, :func:`batched`). Each is tested on its own in
``tests/test_analysis.py``.
"""
import numpy as np


# ------------------------------------------------------------------ features
def features_function(net, layers):
    """Compiled ``x -> [layer output flattened to (B, D)]`` for ``layers`` (deterministic)."""
    from .backend import lasagne, theano
    unknown = [l for l in layers if l not in net]
    if unknown:
        raise ValueError("Unknown layer(s) %s: the network has %s" % (unknown, ", ".join(net)))
    outs = lasagne.layers.get_output([net[l] for l in layers], deterministic=True)
    return theano.function([net["input"].input_var], [o.flatten(2) for o in outs])


def batched(fn, x, batch_size=256, prepare=None):
    """Apply a compiled multi-output ``fn`` to ``x`` in batches; concatenate each output."""
    parts = None
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        out = fn(prepare(xb) if prepare else xb)
        out = out if isinstance(out, (list, tuple)) else [out]
        if parts is None:
            parts = [[] for _ in out]
        for p, o in zip(parts, out):
            p.append(np.asarray(o))
    return [np.concatenate(p) for p in parts]


def softmax(logits):
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_classes(p, class_names, k=5):
    """The ``k`` most probable classes of one probability vector ``p``, highest first, as
    ``[{'class', 'index', 'probability'}]`` (ties keep index order)."""
    order = np.argsort(-np.asarray(p), kind="stable")[:max(1, min(int(k), len(p)))]
    return [{"class": class_names[i], "index": int(i), "probability": float(p[i])} for i in order]


# ------------------------------------------------------------------ transforms (Fig. 5)
def _pil(img):
    from PIL import Image
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError("expected a uint8 image (C, H, W), got dtype %s" % img.dtype)
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
        raise ValueError("scale factor must be > 0, got %r" % (factor,))
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


def relative_distance(feats, ref):
    """``||f - f0|| / ||f0||`` per row of ``feats`` (N, D) against ``ref`` (D,)."""
    feats = np.asarray(feats, np.float64); ref = np.asarray(ref, np.float64)
    return np.linalg.norm(feats - ref[None], axis=1) / max(np.linalg.norm(ref), 1e-12)


# ------------------------------------------------------------------ occlusion (Fig. 7, Table 1)
def occlusion_grid(h, w, size, stride):
    """Top-left corners (rows, cols) of a ``size`` square swept with ``stride`` over an h x w
    image, from 0 to the last position that keeps the square inside."""
    if size < 1 or size > min(h, w):
        raise ValueError("occluder size %r must be between 1 and %d" % (size, min(h, w)))
    if stride < 1:
        raise ValueError("occluder stride must be >= 1, got %r" % (stride,))
    return np.arange(0, h - size + 1, stride), np.arange(0, w - size + 1, stride)


def occlude(img, top, left, size, value):
    """A copy of ``img`` (C, H, W) with the square [top:top+size, left:left+size] set to ``value``
    (a number or one value per channel)."""
    out = np.array(img, copy=True)
    v = np.asarray(value, out.dtype).reshape(-1, 1, 1)
    out[:, top:top + size, left:left + size] = v
    return out


def occlusion_batch(img, size, stride, value):
    """All occluded copies of ``img``: (N, C, H, W) plus the (rows, cols) grid."""
    c, h, w = np.asarray(img).shape
    rows, cols = occlusion_grid(h, w, size, stride)
    batch = np.stack([occlude(img, t, l, size, value) for t in rows for l in cols])
    return batch, (rows, cols)


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
        raise ValueError("need at least 2 images to compare, got %d" % n)
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


# ------------------------------------------------------------------ projections (Fig. 4)
def correlation(a, b):
    """Pearson correlation of two arrays (flattened); 0 when either is constant."""
    a = np.asarray(a, np.float64).ravel(); b = np.asarray(b, np.float64).ravel()
    a = a - a.mean(); b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


# ------------------------------------------------------------------ digits (Tables 4, 7)
def digits_as_fashion_mnist():
    """scikit-learn's 1,797 8x8 digits as 28x28 uint8 images (N, 1, 28, 28), like MNIST:
    values 0-16 scaled to 0-255, the 8x8 image resized to 20x20 (bilinear) and centred
    on a 28x28 black canvas. Returns (images, labels)."""
    from PIL import Image
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - requirements.txt has it
        raise ImportError("the digits experiments need scikit-learn (pip install -r requirements.txt)")
    d = load_digits()
    imgs = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    out = np.zeros((len(imgs), 1, 28, 28), np.uint8)
    for i, im in enumerate(imgs):
        out[i, 0, 4:24, 4:24] = np.asarray(Image.fromarray(im).resize((20, 20), Image.BILINEAR))
    return out, d.target.astype(np.int32)


def per_class_split(y, n_per_class, seed, n_test_per_class=None):
    """Indices (train, test): ``n_per_class`` random images of each class for training,
    the rest (or ``n_test_per_class`` of the rest) for testing."""
    rng = np.random.RandomState(seed)
    tr, te = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) <= n_per_class:
            raise ValueError("class %r has %d images, cannot take %d for training and keep a "
                             "test set" % (int(c), len(idx), n_per_class))
        tr.append(idx[:n_per_class])
        rest = idx[n_per_class:]
        te.append(rest if n_test_per_class is None else rest[:n_test_per_class])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))


SVM_C_GRID = (0.1, 1.0, 10.0, 100.0)


def _svm_fit_predict(k_train, y_train, k_test, C):
    from sklearn.svm import SVC
    return SVC(C=C, kernel="precomputed").fit(k_train, y_train).predict(k_test)


def linear_probe(x_train, y_train, x_test, y_test, C=None, kind="svm", folds=3):
    """Accuracy of a linear classifier trained on fixed features.

    ``kind='svm'`` (the paper's Table 7): a linear SVM on L2-normalised feature vectors,
    solved in its dual with a precomputed linear kernel (fast when features outnumber
    images); ``C`` chosen by ``folds``-fold cross-validation on the training images
    among :data:`SVM_C_GRID` unless given. ``kind='softmax'`` (the paper's new softmax
    layer, Tables 4-5): multinomial logistic regression (C=1 unless given) on features
    standardised on the training set.
    """
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
        return float((_svm_fit_predict(k_tr, y_train, k_te, C) == y_test).mean())
    if kind == "softmax":
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
        sc = StandardScaler().fit(x_train)
        clf = LogisticRegression(C=1.0 if C is None else C, max_iter=2000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(sc.transform(x_train), y_train)
        return float((clf.predict(sc.transform(x_test)) == y_test).mean())
    raise ValueError("kind %r: expected 'svm' or 'softmax'" % (kind,))
