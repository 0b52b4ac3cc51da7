"""Natural-image datasets: Tiny ImageNet and Caltech-101, from what a user downloads.

``fetch_tiny_imagenet(source)`` and ``fetch_caltech101(source)`` take the official download
(``tiny-imagenet-200.zip``; Caltech's ``caltech-101.zip``, which holds
``101_ObjectCategories.tar.gz``, or that ``.tar.gz`` itself), a folder with the same layout,
or a zip / tar.gz of that layout, complete or with fewer images. The source is only read.
Each image is decoded once into ``<data dir>/<name>/`` as uint8 ``.npy`` arrays, read back
memory-mapped, so an epoch never decodes a JPEG.

Resize policy (the paper's "short side to 256, centre 256x256 crop", scaled to 64): each
image's short side is resized to :data:`STORED_SIZE` (64) with bilinear filtering and the
centre 64x64 is kept; grey and CMYK images become RGB. Tiny ImageNet's images are already
64x64 and are stored as they are. Networks then train on random 56x56 crops (the paper's
224 of 256) and test on the centre crop.

No Theano here.
"""
import io
import json
import os
import re
import shutil
import tarfile
import zipfile
from collections import OrderedDict

import numpy as np

from ..errors import DataError, DataNotFound, UsageError
from ..files import atomic_write_json, fsync_dir
from ..report import info, progress_bar
from .dataset import Dataset, default_data_dir

STORED_SIZE = 64
TINY_OFFICIAL = {"classes": 200, "train_per_class": 500, "val_per_class": 50}
TINY_SOURCE = ("the CS231N course page at Stanford (tiny-imagenet-200.zip, 248 MB: "
               "200 classes, 500 training and 50 validation images each)")
CALTECH_SOURCE = ("the Caltech data repository, CaltechDATA (caltech-101.zip, which holds "
                  "101_ObjectCategories.tar.gz; 102 folders, 31 to 800 images each; CC BY 4.0)")
CALTECH_BACKGROUND = "BACKGROUND_Google"
# One member of an archive is at most this large (the largest Caltech-101 JPEG is ~0.5 MB);
# a nested archive (caltech-101.zip's 101_ObjectCategories.tar.gz) at most this.
MAX_MEMBER = 64 << 20
MAX_NESTED = 2 << 30
IMAGE_RE = re.compile(r"\.(jpe?g|png)$", re.I)


def data_root(name):
    """``<data dir>/<name>``, the data folder read when called (``$ZFNET_DATA`` may change)."""
    return os.path.join(default_data_dir(), name)


# ------------------------------------------------------------------ reading a source
def _is_archive(path):
    p = path.lower()
    return p.endswith((".zip", ".tar", ".tar.gz", ".tgz"))


def _walk_archive(fileobj, name, wanted, nested):
    """Yield (member name, bytes) of the regular files of a zip or tar(.gz) read from
    ``fileobj`` for which ``wanted(name)`` holds; members named in ``nested`` (a predicate)
    are archives opened in turn (one level)."""
    head = fileobj.read(4)
    fileobj.seek(0)
    if head[:2] == b"PK":
        try:
            z = zipfile.ZipFile(fileobj)
        except zipfile.BadZipFile as e:
            raise DataError("%s is not a readable zip archive: %s" % (name, e))
        with z:
            for m in z.infolist():
                if m.is_dir():
                    continue
                if nested and nested(m.filename):
                    if m.file_size > MAX_NESTED:
                        raise DataError("%s: nested archive %s is %d bytes, over the %d accepted"
                                        % (name, m.filename, m.file_size, MAX_NESTED))
                    with z.open(m) as inner:
                        buf = io.BytesIO(inner.read())
                    yield from _walk_archive(buf, "%s:%s" % (name, m.filename), wanted, None)
                elif wanted(m.filename):
                    if m.file_size > MAX_MEMBER:
                        raise DataError("%s: member %s is %d bytes, over the %d accepted for one "
                                        "image or list" % (name, m.filename, m.file_size, MAX_MEMBER))
                    yield m.filename, z.read(m)
        return
    try:
        t = tarfile.open(fileobj=fileobj, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError("%s is neither a zip nor a tar(.gz) archive: %s" % (name, e))
    try:
        with t:
            for m in t:  # streaming: members in archive order
                if not m.isfile():  # links, devices, FIFOs are never followed
                    continue
                if nested and nested(m.name):
                    if m.size > MAX_NESTED:
                        raise DataError("%s: nested archive %s is %d bytes, over the %d accepted"
                                        % (name, m.name, m.size, MAX_NESTED))
                    buf = io.BytesIO(t.extractfile(m).read())
                    yield from _walk_archive(buf, "%s:%s" % (name, m.name), wanted, None)
                elif wanted(m.name):
                    if m.size > MAX_MEMBER:
                        raise DataError("%s: member %s is %d bytes, over the %d accepted for one "
                                        "image or list" % (name, m.name, m.size, MAX_MEMBER))
                    yield m.name, t.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError("%s: the archive is truncated or damaged (%s)" % (name, e))


def walk_source(path, wanted, nested=None):
    """Yield (relative name with '/' separators, bytes) of the files of ``path`` (a folder,
    a zip or a tar/tar.gz) for which ``wanted(name)`` holds. Only regular files are read;
    nothing is written or changed in the source."""
    if os.path.isdir(path):
        base = os.path.abspath(path)
        for d, dirs, files in os.walk(base):
            dirs.sort()
            for f in sorted(files):
                full = os.path.join(d, f)
                rel = os.path.relpath(full, os.path.dirname(base)).replace(os.sep, "/")
                if not os.path.isfile(full) or os.path.islink(full):
                    continue
                if nested and nested(rel):
                    with open(full, "rb") as fh:
                        yield from _walk_archive(fh, full, wanted, None)
                elif wanted(rel):
                    with open(full, "rb") as fh:
                        yield rel, fh.read(MAX_MEMBER + 1)
        return
    if not os.path.isfile(path):
        raise DataNotFound("--from %s does not exist" % path)
    with open(path, "rb") as fh:
        yield from _walk_archive(fh, path, wanted, nested)


def decode(data, name, size=STORED_SIZE):
    """JPEG/PNG bytes -> uint8 (3, size, size): RGB, short side to ``size``, centre crop."""
    from .images import fit_image, open_image
    try:
        im = open_image(io.BytesIO(data), name=name)
        im.load()
        return fit_image(im, size if im.size != (size, size) else None, channels=3)
    except DataError:
        raise
    except Exception as e:  # Pillow raises many kinds for a damaged file
        raise DataError("Cannot decode image %s: %s (expected a JPEG or PNG)" % (name, e))


def _decode_all(items, size, desc, progress):
    out = np.empty((len(items), 3, size, size), np.uint8)
    bar = progress_bar(progress, total=len(items), desc=desc, unit="img", leave=False)
    for i, (name, data) in enumerate(items):
        out[i] = decode(data, name, size)
        bar.update(1)
    bar.close()
    return out


def _write_arrays(root, arrays, meta):
    """Write ``arrays`` (name -> array, as ``name.npy``) and ``meta.json`` into ``root``
    as a whole: assembled in a temporary folder beside it, then renamed into place."""
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, ".%s.tmp-%d" % (os.path.basename(root), os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for k, a in arrays.items():
        with open(os.path.join(tmp, k + ".npy"), "wb") as f:
            np.save(f, a)
            f.flush(); os.fsync(f.fileno())
    atomic_write_json(os.path.join(tmp, "meta.json"), meta)
    old = None
    if os.path.exists(root):
        old = os.path.join(parent, ".%s.old-%d" % (os.path.basename(root), os.getpid()))
        os.replace(root, old)
    os.replace(tmp, root)
    fsync_dir(parent)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _read_meta(root, name, fetch_hint):
    path = os.path.join(root, "meta.json")
    if not os.path.isfile(path):
        raise DataNotFound("%s is not fetched (no %s). %s" % (name, path, fetch_hint))
    try:
        with open(path) as f:
            meta = json.load(f)
    except ValueError as e:
        raise DataError("%s is damaged (%s); fetch it again. %s" % (path, e, fetch_hint))
    return meta


def _load_npy(root, key, shape_tail=None):
    path = os.path.join(root, key + ".npy")
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError("%s is missing or damaged (%s); fetch the dataset again" % (path, e))
    if shape_tail is not None and tuple(a.shape[1:]) != tuple(shape_tail):
        raise DataError("%s has shape %r; expected (N,) + %r" % (path, a.shape, tuple(shape_tail)))
    return a


def _per_class_summary(counts, official, what):
    counts = np.asarray(counts)
    line = "%d %s images, %d to %d per class" % (counts.sum(), what, counts.min(), counts.max())
    few = int((counts < official).sum()) if official else 0
    if few:
        line += "; %d classes have fewer than the official %d" % (few, official)
    return line


# ------------------------------------------------------------------ Tiny ImageNet
TINY_FETCH = "python -m zfnet data fetch tiny-imagenet --from PATH/tiny-imagenet-200.zip"


def _tiny_hint():
    return "Download it from %s, then run: %s" % (TINY_SOURCE, TINY_FETCH)


def fetch_tiny_imagenet(source, root=None, progress=True, log=info):
    """Read Tiny ImageNet from ``source`` (zip, tar.gz or folder in the official layout:
    ``tiny-imagenet-200/wnids.txt``, ``words.txt``, ``train/<wnid>/images/*.JPEG``,
    ``val/images/*.JPEG``, ``val/val_annotations.txt``), check it and store it decoded in
    ``root`` (``<data dir>/tiny-imagenet``). The unlabelled ``test/`` split is not read."""
    root = root or data_root("tiny-imagenet")
    if source is None:
        raise UsageError("data fetch tiny-imagenet needs --from: Tiny ImageNet cannot be downloaded "
                         "here. %s" % _tiny_hint())
    train_re = re.compile(r"(^|.*/)train/(n\d+)/images/[^/]+\.jpe?g$", re.I)
    val_re = re.compile(r"(^|.*/)val/images/([^/]+\.jpe?g)$", re.I)
    lists = ("wnids.txt", "words.txt", "val_annotations.txt")

    def wanted(n):
        return n.rsplit("/", 1)[-1] in lists or bool(train_re.match(n) or val_re.match(n))

    texts, train, val = {}, [], {}
    bar = progress_bar(progress, desc="reading %s" % os.path.basename(os.path.normpath(source)),
                       unit="file", leave=False)
    for name, data in walk_source(source, wanted):
        base = name.rsplit("/", 1)[-1]
        if base in lists:
            texts.setdefault(base, data)
        else:
            m = train_re.match(name)
            if m:
                train.append((m.group(2), name, data))
            else:
                val[val_re.match(name).group(2)] = (name, data)
        bar.update(1)
    bar.close()
    missing = [f for f in ("wnids.txt", "val_annotations.txt") if f not in texts]
    if missing or not train:
        raise DataError("%s is not Tiny ImageNet's layout: %s. Expected tiny-imagenet-200/wnids.txt, "
                        "train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt. %s"
                        % (source, "missing " + ", ".join(missing) if missing else
                           "no train/<wnid>/images/*.JPEG files", _tiny_hint()))
    wnids = [w.strip() for w in texts["wnids.txt"].decode("utf-8", "replace").split() if w.strip()]
    if len(set(wnids)) != len(wnids) or not all(re.match(r"^n\d+$", w) for w in wnids):
        raise DataError("%s: wnids.txt must list distinct WordNet ids (n01443537 ...); got %r..."
                        % (source, wnids[:3]))
    index = {w: i for i, w in enumerate(wnids)}
    names = {}
    for line in texts.get("words.txt", b"").decode("utf-8", "replace").splitlines():
        parts = line.split("\t", 1)
        if len(parts) == 2 and parts[0] in index:
            names[parts[0]] = parts[1].strip()
    train = [t for t in train if t[0] in index]  # folders beyond wnids.txt are not classes
    train.sort(key=lambda t: (index[t[0]], t[1]))
    val_items, val_labels, val_boxes = [], [], []
    for line in texts["val_annotations.txt"].decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip():
            continue
        f, w = parts[0].strip(), parts[1].strip()
        if w not in index:
            raise DataError("%s: val_annotations.txt labels %s with %r, which wnids.txt does not list"
                            % (source, f, w))
        if f in val:
            val_items.append(val[f]); val_labels.append(index[w])
            val_boxes.append(_box(parts[2:6]))
    order = np.argsort(np.asarray(val_labels, np.int64), kind="stable")
    val_items = [val_items[i] for i in order]
    y_val = np.asarray(val_labels, np.int32)[order]
    boxes = np.asarray(val_boxes, np.int16).reshape(-1, 4)[order]
    y_train = np.asarray([index[t[0]] for t in train], np.int32)
    tr_counts = np.bincount(y_train, minlength=len(wnids))
    va_counts = np.bincount(y_val, minlength=len(wnids))
    empty = [wnids[i] for i in np.flatnonzero(tr_counts == 0)]
    if empty:
        raise DataError("%s: %d of the %d classes of wnids.txt have no training images (%s ...)"
                        % (source, len(empty), len(wnids), ", ".join(empty[:3])))
    log("Tiny ImageNet in %s: %d classes; %s; %s" % (
        source, len(wnids), _per_class_summary(tr_counts, TINY_OFFICIAL["train_per_class"], "training"),
        _per_class_summary(va_counts, TINY_OFFICIAL["val_per_class"], "validation")))
    if len(wnids) != TINY_OFFICIAL["classes"]:
        log("note: %d classes, the official set has %d" % (len(wnids), TINY_OFFICIAL["classes"]))
    x_train = _decode_all([(t[1], t[2]) for t in train], STORED_SIZE, "decoding train", progress)
    x_val = _decode_all(val_items, STORED_SIZE, "decoding val", progress)
    meta = OrderedDict(format="zfnet-dataset", version=1, name="tiny-imagenet", source=os.path.abspath(source),
                       wnids=wnids, class_names=[names.get(w, w) for w in wnids],
                       train_per_class=tr_counts.tolist(), val_per_class=va_counts.tolist(),
                       official=TINY_OFFICIAL, stored_size=STORED_SIZE,
                       resize="stored as given (64x64); other sizes: short side to 64, centre crop")
    _write_arrays(root, OrderedDict(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
                                    val_boxes=boxes), meta)
    log("stored %d training and %d validation images (uint8, 3x%dx%d) in %s"
        % (len(x_train), len(x_val), STORED_SIZE, STORED_SIZE, root))
    return root


def _box(fields):
    """An annotation's object box (x0, y0, x1, y1, inclusive pixels of the 64x64 image); the
    whole image when the line has none or it does not parse."""
    try:
        x0, y0, x1, y1 = (int(v) for v in fields)
        if 0 <= x0 <= x1 <= 63 and 0 <= y0 <= y1 <= 63:
            return (x0, y0, x1, y1)
    except ValueError:
        pass
    return (0, 0, 63, 63)


def tiny_val_boxes(root=None):
    """The object box of each validation image (the dataset's test split, in its order):
    int16 (N, 4) ``x0, y0, x1, y1``, inclusive pixel coordinates of the 64x64 image."""
    root = root or data_root("tiny-imagenet")
    _read_meta(root, "Tiny ImageNet", _tiny_hint())
    return np.asarray(_load_npy(root, "val_boxes", (4,)))


def load_tiny_imagenet(root=None):
    """Tiny ImageNet as a :class:`Dataset`: the official training images as ``train`` and the
    official validation images as ``test`` (the test split's labels are not public), uint8
    (N, 3, 64, 64), memory-mapped."""
    root = root or data_root("tiny-imagenet")
    meta = _read_meta(root, "Tiny ImageNet", _tiny_hint())
    s = meta.get("stored_size", STORED_SIZE)
    return Dataset("tiny-imagenet", _load_npy(root, "x_train", (3, s, s)), _load_npy(root, "y_train"),
                   _load_npy(root, "x_val", (3, s, s)), _load_npy(root, "y_val"), meta["class_names"])


# ------------------------------------------------------------------ Caltech-101
CALTECH_FETCH = "python -m zfnet data fetch caltech101 --from PATH/caltech-101.zip"
CALTECH_RE = re.compile(r"(^|.*/)101_ObjectCategories/([^/]+)/([^/]+\.jpe?g)$", re.I)


def _caltech_hint():
    return "Download it from %s, then run: %s" % (CALTECH_SOURCE, CALTECH_FETCH)


def fetch_caltech101(source, root=None, progress=True, log=info, size=STORED_SIZE):
    """Read Caltech-101 from ``source`` (``caltech-101.zip`` holding
    ``101_ObjectCategories.tar.gz``, that tar.gz, a zip of the folder, or the
    ``101_ObjectCategories`` folder or its parent) and store it decoded in ``root``
    (``<data dir>/caltech101``): every image, short side to ``size``, centre crop, RGB."""
    root = root or data_root("caltech101")
    if source is None:
        raise UsageError("data fetch caltech101 needs --from: Caltech-101 cannot be downloaded "
                         "here. %s" % _caltech_hint())
    def wanted(n):  # a folder's names start with its own name, so its parent works too
        return bool(CALTECH_RE.match(n))

    def nested(n):
        return bool(re.search(r"(^|/)101_ObjectCategories\.(tar\.gz|tgz|tar|zip)$", n))

    by_class = {}
    bar = progress_bar(progress, desc="reading %s" % os.path.basename(os.path.normpath(source)),
                       unit="file", leave=False)
    for name, data in walk_source(source, wanted, nested):
        m = CALTECH_RE.match(name)
        by_class.setdefault(m.group(2), []).append((m.group(3), name, data))
        bar.update(1)
    bar.close()
    if not by_class:
        raise DataError("%s holds no 101_ObjectCategories/<category>/*.jpg files: not Caltech-101's "
                        "layout. %s" % (source, _caltech_hint()))
    classes = sorted(by_class)
    items, labels, files = [], [], []
    for c, cls in enumerate(classes):
        for fname, name, data in sorted(by_class[cls]):
            items.append((name, data)); labels.append(c); files.append("%s/%s" % (cls, fname))
    y = np.asarray(labels, np.int32)
    counts = np.bincount(y, minlength=len(classes))
    log("Caltech-101 in %s: %d folders (%s%s); %s" % (
        source, len(classes), "with" if CALTECH_BACKGROUND in classes else "without",
        " " + CALTECH_BACKGROUND, _per_class_summary(counts, 0, "")))
    if len(classes) != 102:
        log("note: %d category folders, the official set has 102 (101 + %s)"
            % (len(classes), CALTECH_BACKGROUND))
    x = _decode_all(items, size, "decoding", progress)
    meta = OrderedDict(format="zfnet-dataset", version=1, name="caltech101", source=os.path.abspath(source),
                       class_names=classes, per_class=counts.tolist(), files=files, stored_size=size,
                       resize="short side to %d (bilinear), centre %dx%d crop, RGB" % (size, size, size))
    _write_arrays(root, OrderedDict(x=x, y=y), meta)
    log("stored %d images (uint8, 3x%dx%d) in %s" % (len(x), size, size, root))
    return root


class Caltech101(object):
    """All of Caltech-101's stored images (``x`` uint8 (N, 3, S, S), ``y``, ``class_names``);
    :meth:`split` draws the paper's train/test protocol."""

    def __init__(self, root=None, background=True):
        root = root or data_root("caltech101")
        meta = _read_meta(root, "Caltech-101", _caltech_hint())
        s = meta.get("stored_size", STORED_SIZE)
        x, y = _load_npy(root, "x", (3, s, s)), np.asarray(_load_npy(root, "y"), np.int32)
        names = list(meta["class_names"])
        if not background and CALTECH_BACKGROUND in names:
            b = names.index(CALTECH_BACKGROUND)
            keep = np.flatnonzero(y != b)
            x, y = x[keep], y[keep]
            y = np.where(y > b, y - 1, y).astype(np.int32)
            names.pop(b)
        self.x, self.y, self.class_names, self.files = x, y, names, meta.get("files")
        self.background = background

    def split_indices(self, n_train, n_test=50, seed=0):
        """Indices (train, test) of split ``seed``: each class's images in one random order
        (fixed by ``seed``), the first ``n_train`` for training and up to ``n_test`` of the
        following ones for testing, so the training sets of one split are nested across sizes.
        A class with at most ``n_train`` images raises."""
        rng = np.random.RandomState(int(seed))
        tr, te = [], []
        for c in range(len(self.class_names)):
            idx = np.flatnonzero(self.y == c)
            if len(idx) <= n_train:
                raise DataError("Caltech-101 class %r has %d images: too few for %d training images "
                                "and a test image" % (self.class_names[c], len(idx), n_train))
            idx = rng.permutation(idx)
            tr.append(idx[:n_train]); te.append(idx[n_train:n_train + n_test])
        return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))

    def split(self, n_train, n_test=50, seed=0):
        """A :class:`Dataset` of ``n_train`` random training images per class and up to
        ``n_test`` of the others for testing (Fei-Fei et al.'s protocol, the paper's Sec. 5.1);
        ``seed`` numbers the random split (:meth:`split_indices`)."""
        tr, te = self.split_indices(n_train, n_test, seed)
        return Dataset("caltech101", np.asarray(self.x[tr]), self.y[tr], np.asarray(self.x[te]),
                       self.y[te], self.class_names)


def load_caltech101(root=None, n_train=30, n_test=50, seed=0):
    """Caltech-101 as a :class:`Dataset`: split ``seed`` of ``n_train`` training and up to
    ``n_test`` test images per class (102 classes, ``BACKGROUND_Google`` included)."""
    return Caltech101(root).split(n_train, n_test, seed)
