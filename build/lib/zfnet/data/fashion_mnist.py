"""Fashion-MNIST: obtained without network, verified, read from its gzipped IDX files.

Obtained from Debian's ``dataset-fashion-mnist`` package (``apt-get download`` +
``dpkg-deb -x``, no root needed) into ``data/fashion-mnist/``, checked (counts and
SHA-256 of the decompressed IDX files). No Theano here.
"""
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np

from ..report import info
from ..errors import DataError, DataNotFound
from .dataset import DATA_DIR, Dataset

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# SHA-256 of the *decompressed* IDX files (stable whatever gzip produced them)
# and the number of items in each.
FASHION_FILES = {
    "train-images-idx3-ubyte.gz": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 60000),
    "train-labels-idx1-ubyte.gz": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60000),
    "t10k-images-idx3-ubyte.gz": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 10000),
    "t10k-labels-idx1-ubyte.gz": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10000),
}
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FETCH_COMMAND = "python -m zfnet data fetch fashion-mnist"

def read_idx(path):
    """Read an IDX file (gzipped or not) into a numpy array.

    Raises DataError naming the file for a missing file, a wrong magic number
    or a file shorter than its header says.
    """
    if not os.path.exists(path):
        raise DataError("IDX file %s does not exist" % path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError("Cannot read IDX file %s: %s (truncated or not gzip?)" % (path, e))
    if len(raw) < 4:
        raise DataError("IDX file %s is %d bytes long; an IDX header is at least 4" % (path, len(raw)))
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if zero != 0 or dtype_code not in dtypes or not 1 <= ndim <= 4:
        raise DataError("%s is not an IDX file: magic number 0x%08x (expected 0x0000080%d "
                        "style: two zero bytes, a type code in %s, 1-4 dimensions)"
                        % (path, struct.unpack(">I", raw[:4])[0], 3, sorted(hex(k) for k in dtypes)))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError("IDX file %s is truncated inside its header" % path)
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(dtypes[dtype_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header < expected:
        raise DataError("IDX file %s is truncated: header says shape %r (%d bytes of data), "
                        "the file has %d" % (path, shape, expected, len(raw) - header))
    return np.frombuffer(raw, dtype, int(np.prod(shape)), header).reshape(shape).astype(
        dtype.newbyteorder("="))


def _sha256_gz(path):
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_fashion_mnist(root):
    """Check the four files: present, decompressed SHA-256 as published. Raises DataError."""
    for fname, (sha, count) in FASHION_FILES.items():
        path = os.path.join(root, fname)
        if not os.path.exists(path):
            raise DataNotFound("Fashion-MNIST file %s is missing. Fetch the dataset with:\n  %s"
                            % (path, FETCH_COMMAND))
        try:
            got = _sha256_gz(path)
        except (OSError, EOFError) as e:
            raise DataError("Fashion-MNIST file %s is unreadable (%s); delete it and run:\n  %s"
                            % (path, e, FETCH_COMMAND))
        if got != sha:
            raise DataError("Fashion-MNIST file %s has SHA-256 %s of its content, expected %s; "
                            "delete it and run:\n  %s" % (path, got, sha, FETCH_COMMAND))


PUBLISHED = "https://github.com/zalandoresearch/fashion-mnist (data/fashion/ in the repository)"


def manual_instructions(root):
    """What to do by hand where Debian's package cannot be had (macOS, Fedora, conda ...)."""
    return ("Get the four files %s, published at %s, then either copy them into %s or run:\n"
            "  python -m zfnet data fetch fashion-mnist --from FOLDER_WITH_THE_FILES"
            % (", ".join(FASHION_FILES), PUBLISHED, root))


def fetch_fashion_mnist(root=None, verbose=True, source=None):
    """Obtain Fashion-MNIST without network access, into ``root`` (``<data dir>/fashion-mnist``).

    ``source``: a folder holding the four ``*-ubyte.gz`` files (downloaded elsewhere); else
    the installed Debian package if present (``/usr/share/datasets/``), else the package
    downloaded with ``apt-get download`` (no root needed) and unpacked with ``dpkg-deb -x``.
    Verifies checksums. Returns ``root``.
    """
    root = root or os.path.join(DATA_DIR, "fashion-mnist")
    try:
        verify_fashion_mnist(root)
        if verbose:
            info("Fashion-MNIST already present and verified in %s" % root)
        return root
    except DataError:
        pass
    os.makedirs(root, exist_ok=True)
    if source is not None:
        missing = [f for f in FASHION_FILES if not os.path.isfile(os.path.join(source, f))]
        if missing:
            raise DataNotFound("--from %s lacks %s. %s" % (source, ", ".join(missing), manual_instructions(root)))
        src = source
    else:
        src = DEBIAN_DIR if all(os.path.exists(os.path.join(DEBIAN_DIR, f)) for f in FASHION_FILES) else None
    with tempfile.TemporaryDirectory() as tmp:
        if src is None:
            if verbose:
                info("Downloading Debian package %s with apt-get download ..." % DEBIAN_PACKAGE)
            try:
                subprocess.run(["apt-get", "download", DEBIAN_PACKAGE], cwd=tmp, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
                subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, debs[0]),
                                os.path.join(tmp, "x")], check=True)
            except (OSError, subprocess.CalledProcessError, IndexError) as e:
                why = getattr(e, "stderr", None) or e
                why = why.decode(errors="replace").strip() if isinstance(why, bytes) else why
                raise DataNotFound(
                    "Could not obtain Fashion-MNIST from Debian's %s package (%s). On Debian or "
                    "Ubuntu: `apt-get install %s`. Elsewhere: %s"
                    % (DEBIAN_PACKAGE, why, DEBIAN_PACKAGE, manual_instructions(root)))
            src = os.path.join(tmp, "x" + DEBIAN_DIR)
        for fname in FASHION_FILES:
            part = os.path.join(root, fname + ".part")
            shutil.copyfile(os.path.join(src, fname), part)
            os.replace(part, os.path.join(root, fname))
    verify_fashion_mnist(root)
    if verbose:
        info("Fashion-MNIST (60,000 train + 10,000 test) verified in %s" % root)
    return root


def load_fashion_mnist(root=None):
    """Load Fashion-MNIST as a :class:`Dataset` of (N, 1, 28, 28) uint8 images."""
    root = root or os.path.join(DATA_DIR, "fashion-mnist")
    missing = [f for f in FASHION_FILES if not os.path.exists(os.path.join(root, f))]
    if missing:
        raise DataNotFound("Fashion-MNIST not found in %s (missing %s). Fetch it with:\n  %s\n%s"
                           % (root, ", ".join(missing), FETCH_COMMAND, manual_instructions(root)))
    arrays = {}
    for fname, (_, count) in FASHION_FILES.items():
        a = read_idx(os.path.join(root, fname))
        if len(a) != count:
            raise DataError("%s has %d items, expected %d" % (os.path.join(root, fname), len(a), count))
        arrays[fname.split("-")[0] + "-" + fname.split("-")[1]] = a
    x_tr = arrays["train-images"][:, None]
    x_te = arrays["t10k-images"][:, None]
    return Dataset("fashion-mnist", x_tr, arrays["train-labels"], x_te, arrays["t10k-labels"],
                   FASHION_CLASSES)


