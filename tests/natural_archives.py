"""Small Tiny ImageNet and Caltech-101 copies in their official layouts, for the tests: each
image one colour (or, with ``pattern``, a learnable class pattern), so what is stored can be
checked against what was written."""
import hashlib
import io
import os
import tarfile
import zipfile

import numpy as np
from PIL import Image


def _jpeg(colour, size=(64, 64), mode="RGB"):
    im = Image.new(mode, size, colour if mode == "RGB" else int(np.mean(colour)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _colour(c, i):
    return (40 + 60 * c, 20 + 25 * i, 200 - 50 * c)


WNIDS = ["n01443537", "n01629819", "n01641577"]


def tiny_layout(train_per_class=3, val_per_class=2, grey=True, extra_class=True):
    """{relative path: bytes} of a small Tiny ImageNet (3 classes), official layout."""
    files = {"tiny-imagenet-200/wnids.txt": ("\n".join(WNIDS) + "\n").encode(),
             "tiny-imagenet-200/words.txt": "n01443537\tgoldfish, Carassius auratus\n"
                                            "n01629819\tEuropean fire salamander\n"
                                            "n09999999\tnot a class\n".encode()}
    for c, w in enumerate(WNIDS):
        for i in range(train_per_class):
            mode = "L" if (grey and c == 1 and i == 0) else "RGB"
            files["tiny-imagenet-200/train/%s/images/%s_%d.JPEG" % (w, w, i)] = _jpeg(_colour(c, i), mode=mode)
        files["tiny-imagenet-200/train/%s/%s_boxes.txt" % (w, w)] = b""
    if extra_class:  # a folder wnids.txt does not list (the shared copy once had two)
        files["tiny-imagenet-200/train/n02480855/images/n02480855_0.JPEG"] = _jpeg((0, 0, 0))
    ann, j = [], 0
    for i in range(val_per_class):
        for c in (2, 0, 1):  # validation files are not in class order
            name = "val_%d.JPEG" % j
            files["tiny-imagenet-200/val/images/" + name] = _jpeg(_colour(c, i + 3))
            ann.append("%s\t%s\t%d\t%d\t%d\t%d" % (name, WNIDS[c], c, i, 40 + c, 50 + i))
            j += 1
    files["tiny-imagenet-200/val/val_annotations.txt"] = ("\n".join(ann) + "\n").encode()
    files["tiny-imagenet-200/test/images/test_0.JPEG"] = _jpeg((1, 2, 3))  # unlabelled: ignored
    return files


def write_folder(root, files):
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return root


def write_zip(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for rel, data in files.items():
            z.writestr(rel, data)
    return path


def write_tar(path, files, mode="w:gz"):
    with tarfile.open(path, mode) as t:
        for rel, data in files.items():
            ti = tarfile.TarInfo(rel); ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return path


def tree_digest(path):
    h = hashlib.sha256()
    if os.path.isfile(path):
        with open(path, "rb") as f:
            h.update(f.read())
        h.update(str(os.stat(path).st_mtime_ns).encode())
        return h.hexdigest()
    for d, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                h.update(p.encode() + fh.read() + str(os.stat(p).st_mtime_ns).encode())
    return h.hexdigest()


CATS = ["BACKGROUND_Google", "accordion", "Faces_easy"]


def caltech_layout(per_class=(5, 4, 3)):
    files = {}
    for c, (cat, n) in enumerate(zip(CATS, per_class)):
        for i in range(n):
            size = (90 + 10 * i, 60) if i % 2 else (50, 120)  # landscape and portrait
            mode = "L" if (c == 2 and i == 1) else "RGB"
            files["101_ObjectCategories/%s/image_%04d.jpg" % (cat, i + 1)] = _jpeg(_colour(c, i), size, mode)
    return files




def learnable_tiny(root, classes=4, train=60, val=10, seed=0):
    """A Tiny ImageNet folder whose classes differ in colour and stripe direction (a network
    learns them in a few epochs); returns the ``tiny-imagenet-200`` folder."""
    rng = np.random.RandomState(seed)
    wnids = ["n%08d" % (1000 + c) for c in range(classes)]
    files = {"tiny-imagenet-200/wnids.txt": ("\n".join(wnids) + "\n").encode(),
             "tiny-imagenet-200/words.txt": "".join("%s\tclass %d\n" % (w, c) for c, w in enumerate(wnids)).encode()}

    def img(c):
        a = rng.randint(0, 60, (64, 64, 3))
        band = (np.arange(64) // 8) % 2 == 0
        a[band if c % 2 else slice(None), slice(None) if c % 2 else band, c % 3] += 150
        return _png(a.astype(np.uint8))
    ann = []
    for c, w in enumerate(wnids):
        for i in range(train):
            files["tiny-imagenet-200/train/%s/images/%s_%d.JPEG" % (w, w, i)] = img(c)
        for i in range(val):
            name = "val_%d_%d.JPEG" % (c, i)
            files["tiny-imagenet-200/val/images/" + name] = img(c)
            ann.append("%s\t%s\t0\t0\t63\t63" % (name, w))
    files["tiny-imagenet-200/val/val_annotations.txt"] = ("\n".join(ann) + "\n").encode()
    write_folder(root, files)
    return os.path.join(root, "tiny-imagenet-200")


def learnable_caltech(root, classes=4, per_class=12, seed=1):
    """A ``101_ObjectCategories`` folder of ``classes`` categories (the first is
    ``BACKGROUND_Google``) of images at several sizes; returns its parent."""
    rng = np.random.RandomState(seed)
    files = {}
    cats = ["BACKGROUND_Google"] + ["cat%02d" % c for c in range(1, classes)]
    for c, cat in enumerate(cats):
        for i in range(per_class):
            h, w = 70 + 10 * (i % 3), 90
            a = rng.randint(0, 60, (h, w, 3))
            a[:, :, c % 3] += 120 + 30 * (c // 3)
            files["101_ObjectCategories/%s/image_%04d.jpg" % (cat, i + 1)] = _jpeg_array(a.astype(np.uint8))
    write_folder(root, files)
    return root


def _png(a):
    buf = io.BytesIO(); Image.fromarray(a).save(buf, "PNG"); return buf.getvalue()


def _jpeg_array(a):
    buf = io.BytesIO(); Image.fromarray(a).save(buf, "JPEG", quality=95); return buf.getvalue()
