"""Tiny ImageNet and Caltech-101 from synthetic copies of their official layouts.

Each image is filled with one colour that encodes its class and index, so what the fetch
stored can be checked against what was written, independently of the decoder's resizing.
"""
import io
import os

import numpy as np
import pytest
from PIL import Image

from natural_archives import (CATS, WNIDS, _colour, _jpeg, caltech_layout, tiny_layout, tree_digest,
                              write_folder, write_tar, write_zip)
from zfnet.data import natural
from zfnet.errors import DataError, DataNotFound, UsageError


@pytest.mark.parametrize("kind", ["folder", "zip", "tar.gz"])
def test_tiny_imagenet_from_each_kind_of_source(tmp_path, kind):
    files = tiny_layout()
    if kind == "folder":
        src = os.path.join(write_folder(str(tmp_path / "dl"), files), "tiny-imagenet-200")
    elif kind == "zip":
        src = write_zip(str(tmp_path / "tiny-imagenet-200.zip"), files)
    else:
        src = write_tar(str(tmp_path / "tiny.tar.gz"), files)
    before = tree_digest(src)
    logs = []
    root = natural.fetch_tiny_imagenet(src, root=str(tmp_path / "store"), progress=False, log=logs.append)
    assert tree_digest(src) == before  # the source is never modified
    ds = natural.load_tiny_imagenet(root)
    assert isinstance(ds.x_train, np.memmap) and ds.x_train.dtype == np.uint8
    assert ds.x_train.shape == (9, 3, 64, 64) and ds.x_test.shape == (6, 3, 64, 64)
    assert ds.class_names[:2] == ["goldfish, Carassius auratus", "European fire salamander"]
    assert ds.class_names[2] == WNIDS[2]  # no words.txt entry: the id itself
    np.testing.assert_array_equal(ds.y_train, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(ds.y_test, [0, 0, 1, 1, 2, 2])
    # each stored image has the colour its file was written with (JPEG: within a few levels)
    for k, (c, i) in enumerate((c, i) for c in range(3) for i in range(3)):
        want = np.array(_colour(c, i), float)
        if c == 1 and i == 0:  # the grey JPEG becomes RGB with three equal channels
            want = np.full(3, float(int(np.mean(_colour(c, i)))))
        got = ds.x_train[k].reshape(3, -1).mean(axis=1)
        assert np.abs(got - want).max() < 3, (k, got, want)
    for k, (c, i) in enumerate((c, i) for c in range(3) for i in range(2)):
        got = ds.x_test[k].reshape(3, -1).mean(axis=1)
        assert np.abs(got - np.array(_colour(c, i + 3), float)).max() < 3
    boxes = natural.tiny_val_boxes(root)
    assert boxes.shape == (6, 4) and boxes.dtype == np.int16
    np.testing.assert_array_equal(boxes, [[c, i, 40 + c, 50 + i] for c in range(3) for i in range(2)])
    assert any("fewer than the official 500" in m for m in logs)
    assert any("3 classes" in m and "official set has 200" in m for m in logs)


def test_tiny_imagenet_bad_layouts(tmp_path):
    files = tiny_layout()
    del files["tiny-imagenet-200/wnids.txt"]
    src = write_zip(str(tmp_path / "a.zip"), files)
    with pytest.raises(DataError, match=r"not Tiny ImageNet's layout: missing wnids.txt"):
        natural.fetch_tiny_imagenet(src, root=str(tmp_path / "s"), progress=False, log=lambda m: None)
    files = tiny_layout()
    files["tiny-imagenet-200/val/val_annotations.txt"] += b"val_0.JPEG\tn07777777\t0\t0\t1\t1\n"
    src = write_zip(str(tmp_path / "b.zip"), files)
    with pytest.raises(DataError, match=r"labels val_0.JPEG with 'n07777777'"):
        natural.fetch_tiny_imagenet(src, root=str(tmp_path / "s"), progress=False, log=lambda m: None)
    with open(str(tmp_path / "junk.zip"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataError, match="junk.zip"):
        natural.fetch_tiny_imagenet(str(tmp_path / "junk.zip"), root=str(tmp_path / "s"),
                                    progress=False, log=lambda m: None)
    files = tiny_layout()
    files["tiny-imagenet-200/train/%s/images/%s_0.JPEG" % (WNIDS[0], WNIDS[0])] = b"\xff\xd8 broken"
    src = write_tar(str(tmp_path / "c.tar.gz"), files)
    with pytest.raises(DataError, match=r"n01443537_0.JPEG"):
        natural.fetch_tiny_imagenet(src, root=str(tmp_path / "s"), progress=False, log=lambda m: None)
    assert not os.path.exists(str(tmp_path / "s"))  # nothing half-written is left


def test_missing_data_is_one_line_naming_source_and_command(tmp_path):
    for load, what in ((natural.load_tiny_imagenet, "Stanford"), (natural.load_caltech101, "CaltechDATA")):
        with pytest.raises(DataNotFound) as e:
            load(str(tmp_path / "none"))
        msg = str(e.value)
        assert "\n" not in msg and what in msg and "--from" in msg
    with pytest.raises(UsageError, match="needs --from"):
        natural.fetch_caltech101(None, root=str(tmp_path / "x"))


@pytest.mark.parametrize("kind", ["official-zip", "tar.gz", "folder", "parent-folder"])
def test_caltech101_from_each_kind_of_source(tmp_path, kind):
    files = caltech_layout()
    if kind == "official-zip":  # caltech-101.zip holds 101_ObjectCategories.tar.gz
        inner = write_tar(str(tmp_path / "inner.tar.gz"), files)
        with open(inner, "rb") as f:
            blob = f.read()
        src = write_zip(str(tmp_path / "caltech-101.zip"), {
            "caltech-101/101_ObjectCategories.tar.gz": blob, "caltech-101/show_annotation.m": b"%"})
    elif kind == "tar.gz":
        src = write_tar(str(tmp_path / "101_ObjectCategories.tar.gz"), files)
    else:
        write_folder(str(tmp_path / "dl"), files)
        src = str(tmp_path / "dl" / ("101_ObjectCategories" if kind == "folder" else ""))
    before = tree_digest(src)
    logs = []
    root = natural.fetch_caltech101(src, root=str(tmp_path / "store"), progress=False, log=logs.append)
    assert tree_digest(src) == before
    cal = natural.Caltech101(root)
    assert cal.class_names == sorted(CATS) and cal.x.shape == (12, 3, 64, 64)
    assert any("3 folders (with BACKGROUND_Google)" in m for m in logs)
    assert any("official set has 102" in m for m in logs)
    for k, f in enumerate(cal.files):
        cat, name = f.split("/")
        c, i = CATS.index(cat), int(name[6:10]) - 1
        assert cal.y[k] == sorted(CATS).index(cat)
        want = np.array(_colour(c, i), float)
        if c == 2 and i == 1:
            want = np.full(3, float(int(np.mean(_colour(c, i)))))
        assert np.abs(cal.x[k].reshape(3, -1).mean(axis=1) - want).max() < 3, f
    nobg = natural.Caltech101(root, background=False)
    assert nobg.class_names == ["Faces_easy", "accordion"] and len(nobg.x) == 7
    np.testing.assert_array_equal(np.bincount(nobg.y), [3, 4])


def test_caltech_resize_is_short_side_then_centre_crop(tmp_path):
    """A 128x64 image with a left, middle and right third of different colours: the short
    side goes to 64 (no change of scale here), the centre 64 columns keep only the middle."""
    a = np.zeros((64, 192, 3), np.uint8)
    a[:, :64] = (255, 0, 0); a[:, 64:128] = (0, 255, 0); a[:, 128:] = (0, 0, 255)
    buf = io.BytesIO(); Image.fromarray(a).save(buf, "PNG")
    out = natural.decode(buf.getvalue(), "x.png")
    assert out.shape == (3, 64, 64)
    np.testing.assert_array_equal(out[:, :, 2:-2], np.broadcast_to(np.array([0, 255, 0], np.uint8)[:, None, None], (3, 64, 60)))
    big = np.zeros((256, 128, 3), np.uint8); big[64:192] = 200
    buf = io.BytesIO(); Image.fromarray(big).save(buf, "PNG")
    out = natural.decode(buf.getvalue(), "y.png")  # 128 wide -> 64 (x0.5): rows 64..192 -> 32..96, crop 32..96
    assert out.shape == (3, 64, 64) and out[:, 2:-2].min() == 200


def test_caltech_split_protocol(tmp_path):
    files = caltech_layout(per_class=(8, 7, 6))
    root = natural.fetch_caltech101(write_zip(str(tmp_path / "c.zip"), files), root=str(tmp_path / "s"),
                                    progress=False, log=lambda m: None)
    cal = natural.Caltech101(root)
    a = cal.split(3, n_test=2, seed=0)
    np.testing.assert_array_equal(np.bincount(a.y_train), [3, 3, 3])
    np.testing.assert_array_equal(np.bincount(a.y_test), [2, 2, 2])
    tr = {x.tobytes() for x in a.x_train}; te = {x.tobytes() for x in a.x_test}
    assert not tr & te  # disjoint
    b = cal.split(3, n_test=2, seed=0)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    seeds = [cal.split(3, n_test=50, seed=s) for s in range(5)]
    assert len({s.x_train.tobytes() for s in seeds}) > 1
    assert all(len(s.y_test) == 5 + 4 + 3 for s in seeds)  # all the rest, up to 50
    with pytest.raises(DataError, match=r"has 6 images: too few for 6 training images"):
        cal.split(6)


def test_cli_fetch_needs_from(tmp_path, monkeypatch, capsys):
    from zfnet import cli
    monkeypatch.setenv("ZFNET_DATA", str(tmp_path))
    with pytest.raises(SystemExit) as e:
        cli.main(["data", "fetch", "tiny-imagenet"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "needs --from" in err and "Traceback" not in err
