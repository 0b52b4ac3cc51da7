import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from zfnet.data import load_dataset
from zfnet.data.cifar import load_cifar
from zfnet.data.dataset import DATA_DIR, channel_stats, check_channels, crop_batch, normalize
from zfnet.data.fashion_mnist import FASHION_FILES, load_fashion_mnist, read_idx, verify_fashion_mnist
from zfnet.data.images import load_image, load_image_folder
from zfnet.errors import DataError


def _write_idx(path, arr, magic_type=0x08, compress=True):
    head = struct.pack(">HBB", 0, magic_type, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    raw = head + arr.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)
    return raw


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, compress):
    a = np.random.RandomState(0).randint(0, 256, (5, 4, 3)).astype(np.uint8)
    p = str(tmp_path / ("a.idx" + (".gz" if compress else "")))
    _write_idx(p, a, compress=compress)
    np.testing.assert_array_equal(read_idx(p), a)


def test_idx_wrong_magic_and_truncated(tmp_path):
    p = str(tmp_path / "bad.gz")
    with gzip.open(p, "wb") as f:
        f.write(b"\x50\x4b\x03\x04" + b"\x00" * 20)  # a zip header, not IDX
    with pytest.raises(DataError, match=r"bad.gz is not an IDX file: magic number 0x504b0304"):
        read_idx(p)
    raw = _write_idx(str(tmp_path / "ok.gz"), np.zeros((10, 4, 4)))
    t = str(tmp_path / "trunc.gz")
    with gzip.open(t, "wb") as f:
        f.write(raw[:-5])
    with pytest.raises(DataError, match=r"trunc.gz is truncated: header says shape \(10, 4, 4\)"):
        read_idx(t)
    bad_gz = str(tmp_path / "cut.gz")
    with open(str(tmp_path / "ok.gz"), "rb") as f:
        blob = f.read()
    with open(bad_gz, "wb") as f:
        f.write(blob[:len(blob) // 2])
    with pytest.raises(DataError, match="cut.gz"):
        read_idx(bad_gz)


def test_missing_fashion_mnist_names_fetch_command(tmp_path):
    with pytest.raises(DataError, match=r"python -m zfnet data fetch fashion-mnist"):
        load_fashion_mnist(str(tmp_path))


def test_verify_catches_a_changed_file(tmp_path):
    for f in FASHION_FILES:
        _write_idx(str(tmp_path / f), np.zeros((2, 2)))
    with pytest.raises(DataError, match="SHA-256"):
        verify_fashion_mnist(str(tmp_path))


def test_real_fashion_mnist_counts_and_classes():
    root = os.path.join(DATA_DIR, "fashion-mnist")
    if not os.path.exists(os.path.join(root, "t10k-labels-idx1-ubyte.gz")):
        pytest.skip("Fashion-MNIST not fetched (make test fetches it)")
    verify_fashion_mnist(root)
    ds = load_fashion_mnist(root)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert len(ds.class_names) == 10


def _cifar_batch(path, n, key="labels", classes=10, seed=0):
    rng = np.random.RandomState(seed)
    d = {"data": rng.randint(0, 256, (n, 3072)).astype(np.uint8),
         key: rng.randint(0, classes, n).tolist()}
    with open(path, "wb") as f:
        pickle.dump(d, f)
    return d


def test_cifar10_batches(tmp_path):
    batches = [_cifar_batch(str(tmp_path / ("data_batch_%d" % i)), 4, seed=i) for i in range(1, 6)]
    test = _cifar_batch(str(tmp_path / "test_batch"), 3, seed=9)
    with open(str(tmp_path / "batches.meta"), "wb") as f:
        pickle.dump({"label_names": ["c%d" % i for i in range(10)]}, f)
    ds = load_dataset(str(tmp_path))
    assert ds.name == "cifar10" and ds.x_train.shape == (20, 3, 32, 32)
    # CIFAR rows are 1024 red, 1024 green, 1024 blue values, each row-major.
    np.testing.assert_array_equal(ds.x_train[5, 1, 2, 3], batches[1]["data"][1, 1024 + 2 * 32 + 3])
    assert ds.y_test.tolist() == test["labels"] and ds.class_names[3] == "c3"


def test_cifar100_and_bad_batch(tmp_path):
    _cifar_batch(str(tmp_path / "train"), 5, "fine_labels", 100)
    _cifar_batch(str(tmp_path / "test"), 2, "fine_labels", 100)
    ds = load_cifar(str(tmp_path))
    assert ds.name == "cifar100" and len(ds.class_names) == 100 and len(ds.x_test) == 2
    with open(str(tmp_path / "test"), "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"test: data has shape \(2, 100\), expected \(N, 3072\)"):
        load_cifar(str(tmp_path))


def _png(path, color, size=(40, 30), fmt=None):
    from PIL import Image
    Image.new("RGB", size, color).save(path, fmt)


def test_image_folder_with_splits_and_resizing(tmp_path):
    for split in ("train", "val"):
        for c, color in (("cat", (200, 10, 10)), ("dog", (10, 10, 200))):
            os.makedirs(str(tmp_path / split / c))
            for i in range(2):
                _png(str(tmp_path / split / c / ("%d.jpg" % i)), color, fmt="JPEG")
    ds = load_image_folder(str(tmp_path), size=16)
    assert ds.class_names == ["cat", "dog"] and ds.x_train.shape == (4, 3, 16, 16)
    assert ds.y_test.tolist() == [0, 0, 1, 1]
    red = ds.x_train[0].reshape(3, -1).mean(axis=1)
    assert red[0] > 150 and red[2] < 60  # channel order is RGB


def test_image_folder_single_level_and_bad_image(tmp_path):
    for c in ("a", "b"):
        os.makedirs(str(tmp_path / c))
        for i in range(5):
            _png(str(tmp_path / c / ("%d.png" % i)), (i * 40, 0, 0))
    ds = load_image_folder(str(tmp_path), size=8, test_fraction=0.2)
    assert len(ds.x_train) == 8 and len(ds.x_test) == 2
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"Cannot read image .*broken.png"):
        load_image_folder(str(tmp_path), size=8)


def test_load_image_short_side_and_grey(tmp_path):
    p = str(tmp_path / "x.png")
    _png(p, (255, 255, 255), size=(60, 30))
    assert load_image(p, 20).shape == (3, 20, 20)
    assert load_image(p, (10, 12), channels=1).shape == (1, 10, 12)


def test_channel_mismatch_message():
    with pytest.raises(DataError, match=r"have 1 channel\(s\).*takes 3-channel input"):
        check_channels((5, 1, 28, 28), (3, 224, 224))


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="Unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_crop_batch_centre_random_and_flip():
    x = np.arange(2 * 1 * 6 * 6).reshape(2, 1, 6, 6)
    np.testing.assert_array_equal(crop_batch(x, (4, 4)), x[:, :, 1:5, 1:5])
    rng = np.random.RandomState(0)
    out = crop_batch(x, (6, 6), rng, pad=2, flip=True)
    assert out.shape == x.shape
    # each output is a (possibly flipped) window of the zero-padded image
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(2):
        found = any(np.array_equal(out[i], w) or np.array_equal(out[i], w[:, :, ::-1])
                    for t in range(5) for l in range(5) for w in [xp[i, :, t:t + 6, l:l + 6]])
        assert found


def test_normalize_and_stats():
    x = np.random.RandomState(0).randint(0, 256, (50, 3, 4, 4)).astype(np.uint8)
    mean, std = channel_stats(x)
    z = normalize(x, mean, std)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-3)
    assert z.dtype == np.float32


def test_validation_split_is_disjoint_and_fixed():
    from conftest import toy_dataset
    ds = toy_dataset()
    a = ds.split_validation(40, seed=0)
    b = ds.split_validation(40, seed=0)
    assert len(a[2]) == 40 and len(a[0]) == 200
    np.testing.assert_array_equal(a[2], b[2])
    with pytest.raises(DataError, match="validation size 500"):
        ds.split_validation(500)


def test_a_crafted_cifar_batch_cannot_run_code(tmp_path):
    """CIFAR batches are pickles: a crafted one naming os.system is refused, nothing runs."""
    marker = tmp_path / "ran"

    class Evil(object):
        def __reduce__(self):
            return (os.system, ("touch %s" % marker,))
    for name in ("data_batch_1", "test_batch"):
        with open(str(tmp_path / name), "wb") as f:
            pickle.dump({"data": Evil(), "labels": [0]}, f)
    with pytest.raises(DataError, match=r"refusing to load (posix|os)\.system: a CIFAR batch holds only"):
        load_dataset(str(tmp_path))
    assert not marker.exists()
    with open(str(tmp_path / "data_batch_1"), "wb") as f:   # an object array is refused too
        pickle.dump({"data": np.array([object()]), "labels": [0]}, f)
    with pytest.raises(DataError, match="refusing to load|expected numbers"):
        load_dataset(str(tmp_path))


def test_image_folders_skip_special_files_and_need_a_test_split(tmp_path):
    for c, v in (("a", 10), ("b", 200)):
        os.makedirs(str(tmp_path / "ds" / c))
        for i in range(3):
            _png(str(tmp_path / "ds" / c / ("%d.png" % i)), (v, v, v))
    os.mkfifo(str(tmp_path / "ds" / "a" / "x.png"))  # reading it would block forever
    ds = load_image_folder(str(tmp_path / "ds"), size=8)
    assert len(ds.x_train) + len(ds.x_test) == 6
    os.makedirs(str(tmp_path / "one" / "shoe"))
    _png(str(tmp_path / "one" / "shoe" / "a.png"), (1, 2, 3))
    with pytest.raises(DataError, match="has 1 image.s.: too few to hold out 20% for testing"):
        load_image_folder(str(tmp_path / "one"), size=8)


def test_16_bit_pngs_are_scaled_and_huge_images_refused_from_the_header(tmp_path):
    from PIL import Image
    from zfnet.data.images import open_image
    from zfnet.errors import TooLarge
    a = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    Image.fromarray(a).save(str(tmp_path / "g16.png"))
    x = load_image(str(tmp_path / "g16.png"), channels=1)[0]
    np.testing.assert_array_equal(x, np.round(a / 257.0).astype(np.uint8))  # 65535 -> 255, not clipped
    _png(str(tmp_path / "big.png"), (5, 5, 5), size=(40, 30))
    with pytest.raises(TooLarge, match=r"big.png is 40x30 = 1200 pixels; at most 1000 are accepted"):
        open_image(str(tmp_path / "big.png"), max_pixels=1000)


def test_a_folder_of_small_grey_pngs_is_read_as_it_is(tmp_path):
    """28x28 grey PNGs: read as 1 channel at 28x28, pixel for pixel (they were once read as
    3 channels upsampled to 256x256); as 3 equal channels when a colour model asks; a folder
    of several sizes goes to the paper's 256; the log says what was found."""
    from PIL import Image
    rng = np.random.RandomState(0)
    want = {}
    for c in ("a", "b"):
        os.makedirs(str(tmp_path / "g" / c))
        for i in range(5):
            a = rng.randint(0, 256, (28, 28)).astype(np.uint8)
            p = str(tmp_path / "g" / c / ("%d.png" % i))
            Image.fromarray(a).save(p)
            want[p] = a
    logs = []
    ds = load_image_folder(str(tmp_path / "g"), log=logs.append)
    assert ds.x_train.shape[1:] == (1, 28, 28) and len(ds.x_train) + len(ds.x_test) == 10
    assert any(np.array_equal(ds.x_train[0, 0], a) for a in want.values())
    assert logs and "10 grey images of 28x28, read as 1 channel(s) at 28x28" in logs[0]
    rgb = load_dataset(str(tmp_path / "g"), channels=3)
    assert rgb.x_train.shape[1:] == (3, 28, 28)
    np.testing.assert_array_equal(rgb.x_train[:, 0], ds.x_train[:, 0])
    np.testing.assert_array_equal(rgb.x_train[:, 2], ds.x_train[:, 0])
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(str(tmp_path / "g" / "a" / "big.png"))
    mixed = load_image_folder(str(tmp_path / "g"), log=logs.append)
    assert mixed.x_train.shape[1:] == (3, 256, 256) and "10 grey and 1 colour images of 2 different sizes" in logs[-1]
