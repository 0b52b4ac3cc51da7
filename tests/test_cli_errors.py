"""Every bad value a user can type gets one `error:` line and exit 1 or 2, never a traceback.

Two walks: every option of every command that the parser checks (typed numbers, epoch lists,
ports, choices) with values of the wrong kind; and the values only a run can check (files
that are not what they claim, layers that do not exist, counts beyond the data) on a tiny
checkpoint. Both run in this process through ``cli.main``.
"""
import argparse
import io
import json
import os
import shutil

import numpy as np
import pytest

from zfnet import cli
from conftest import write_tiny_checkpoint

BAD = {
    "int": ["abc", "-7", "1.5", ""],
    "number": ["nan", "inf", "-inf", "abc", "1e999"],
    "epochs": ["abc", "1,x", "0"],
    "port": ["70000", "-1", "http"],
    "choice": ["no-such-choice"],
}


def _kind(action):
    t = action.type
    if action.choices is not None and t is None:
        return "choice"
    if t is None:
        return None
    if t is cli.epoch_list:
        return "epochs"
    if t is cli.port:
        return "port"
    if t is int or getattr(t, "__name__", "").startswith("integer"):
        return "int"
    if getattr(t, "__name__", "").startswith("number"):
        return "number"
    return "other"


def _positionals(parser):
    out = []
    for a in parser._actions:
        if a.option_strings or a.nargs in ("?", "*") or isinstance(a, argparse._SubParsersAction):
            continue
        out.append(sorted(a.choices)[0] if a.choices else "x")
    return out


def _cases(parser=None, prefix=()):
    """Every typed option of every command, sub-commands (``bench deconv``) included."""
    parser = parser or cli._parser()
    subs = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if prefix:
        for a in parser._actions:
            if not a.option_strings or a.nargs == 0:
                continue
            kind = _kind(a)
            if kind in BAD:
                for v in BAD[kind]:
                    yield " ".join(prefix), _positionals(parser), a.option_strings[-1], v
    if subs is not None:
        for name, sub in sorted(subs.choices.items()):
            yield from _cases(sub, prefix + (name,))


def _one_error_line(err):
    lines = [l for l in err.splitlines() if "error:" in l]
    return len(lines) == 1 and "Traceback" not in err


CASES = list(_cases())


def test_the_walk_covers_every_typed_option_of_every_command():
    commands = {c[0] for c in CASES}
    assert {"train", "visualize", "topk", "serve", "bench model", "bench deconv", "evaluate", "demo"} <= commands
    assert len(CASES) > 100


@pytest.mark.parametrize("command,positionals,option,value", CASES,
                         ids=["%s %s=%r" % (c[0], c[2], c[3]) for c in CASES])
def test_bad_option_values_are_one_line_usage_errors(command, positionals, option, value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(command.split() + positionals + ["%s=%s" % (option, value)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and _one_error_line(err), err
    assert option in err


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from PIL import Image
    d = tmp_path_factory.mktemp("cli_errors")
    ck, ds, _ = write_tiny_checkpoint(d / "ck")
    os.makedirs(str(d / "imgs" / "a")); os.makedirs(str(d / "imgs" / "b"))
    for i in range(10):
        Image.fromarray(ds.x_test[i, 0]).save(str(d / "imgs" / "ab"[i % 2] / ("%d.png" % i)))
    Image.fromarray(ds.x_test[0, 0]).save(str(d / "one.png"))
    (d / "notjson.json").write_text("this is not json")
    (d / "list.json").write_text("[1, 2, 3]")
    (d / "layers.json").write_text(json.dumps({"name": "x", "input_shape": [1, 8, 8], "num_classes": 2,
                                               "layers": [1, 2]}))
    (d / "existing").mkdir()
    (d / "empty.onnx").write_bytes(b"")
    for name, change in (("v99", lambda doc, npz: doc.update(version=99)),
                         ("npz-empty", lambda doc, npz: open(npz, "wb").close()),
                         ("npz-text", lambda doc, npz: open(npz, "w").write("weights: none\n")),
                         ("npz-random", lambda doc, npz: open(npz, "wb").write(os.urandom(300)))):
        dst = d / name
        shutil.copytree(ck, str(dst))
        with open(str(dst / "model.json")) as f:
            doc = json.load(f)
        change(doc, str(dst / "model.npz"))
        (dst / "model.json").write_text(json.dumps(doc))
    return d


RUNTIME = [
    (["train", "--config", "{d}/notjson.json", "--out", "{d}/o"], 2, "is not a JSON configuration"),
    (["train", "--config", "{d}/list.json", "--out", "{d}/o"], 2, "holds a JSON list"),
    (["train", "--config", "{d}/layers.json", "--out", "{d}/o"], 2, "Layer 0 is a int"),
    (["evaluate", "{d}/ck", "--dataset", "{d}/nowhere"], 2, "Unknown dataset"),
    (["evaluate", "{d}/v99"], 1, "format version 99; this release of zfnet reads version 1"),
    (["evaluate", "{d}/npz-empty"], 1, "is not a weights archive"),
    (["evaluate", "{d}/npz-text"], 1, "is not a weights archive"),
    (["evaluate", "{d}/npz-random"], 1, "is not a weights archive"),
    (["visualize", "{d}/ck", "{d}/missing.png", "--layer", "conv1", "--out", "{d}/v"], 2, "missing.png"),
    (["visualize", "{d}/ck", "{d}/one.png", "--layer", "conv9", "--out", "{d}/v"], 2, "conv9"),
    (["topk", "{d}/ck", "--layer", "conv1", "--dataset", "{d}/imgs", "--top", "100000", "--out", "{d}/t"],
     2, "topk --top 100000: the test split scanned has 2 image(s)"),
    (["filters", "{d}/ck", "--out", "{d}/existing"], 1, "existing"),
    (["import-onnx", "{d}/empty.onnx", "--out", "{d}/onnx"], 1, "is not an ONNX model: it holds no graph"),
]


@pytest.mark.parametrize("argv,code,text", RUNTIME, ids=[" ".join(a[:2]) + " " + t[:30] for a, _, t in RUNTIME])
def test_values_only_a_run_can_check_are_one_line_errors(world, argv, code, text, capsys):
    argv = [a.format(d=str(world)) for a in argv]
    before = sorted(os.listdir(str(world)))
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == code and _one_error_line(err) and text in err, err
    if "filters" in argv:  # the user's path is named, not a temporary file
        assert "existing" in err and "/.existing" not in err and ".tmp" not in err
    assert sorted(os.listdir(str(world))) == before  # nothing written beside the inputs


def test_bench_from_an_installed_package_says_where_the_benchmarks_are(monkeypatch, capsys):
    """The benchmarks live in the repository (benchmarks/), not in the wheel: without a clone
    `zfnet bench` says so in one line and exits 2."""
    from zfnet.repro import paths
    monkeypatch.setattr(paths, "REPO", None)
    with pytest.raises(SystemExit) as e:
        cli.main(["bench"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and _one_error_line(err) and "benchmarks/" in err and "clone" in err
