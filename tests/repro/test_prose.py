"""Measured numbers in the experiments' prose come from their results.json (zfnet.repro.prose)."""
import json
import os
import re

import pytest

from zfnet.errors import UsageError
from zfnet.repro import prose
from zfnet.repro.paths import experiment_names, experiments_dir

DOC = {"results": {"arms": {"a/b": {"1": {"err": 0.125}, "2": {"err": 0.25}},
                            "c": {"1": {"err": 0.5}, "2": {"err": 0.75}}},
                   "list": [3, 4, 5], "t~x": 7}}


def test_pointers_wildcards_and_arithmetic_by_hand():
    assert prose.lookup(DOC, "/results/arms/a~1b/2/err") == 0.25          # ~1 is a '/' in a key
    assert prose.lookup(DOC, "/results/t~0x") == 7                         # ~0 is a '~'
    assert prose.lookup(DOC, "/results/list/1") == 4
    assert prose.lookup(DOC, "/results/arms/*/1/err") == [0.125, 0.5]
    e = "100 * mean(j('/results/arms/c/*/err') - j('/results/arms/a~1b/*/err'))"
    assert prose.evaluate(e, DOC) == pytest.approx(100 * ((0.5 - 0.125) + (0.75 - 0.25)) / 2)
    assert prose.evaluate("max(j('/results/list')) - min(j('/results/list'))", DOC) == 2
    assert prose.evaluate("sd(j('/results/list'))", DOC) == pytest.approx(1.0)
    assert prose.shown(".1%", 0.1234) == "12.3%" and prose.shown("+.1f", -0.04) == "-0.0"


def test_render_rewrites_a_stale_number_and_disagreements_name_it():
    text = "grey (<!--= .0f | j('/results/t~0x') -->6<!--/=-->) and <!--= .1% | j('/results/arms/c/2/err') -->75.0%<!--/=-->"
    assert prose.disagreements(text, DOC) == [("j('/results/t~0x')", "6", "7")]
    fixed = prose.render(text, DOC)
    assert "-->7<!--/=-->" in fixed and "-->75.0%<!--/=-->" in fixed and prose.disagreements(fixed, DOC) == []


@pytest.mark.parametrize("expr", ["__import__('os').system('true')", "j('/results/list').count(3)",
                                  "open('x')", "j(name)", "[1, 2]", "j('/results/nope')", "j('/results/list/9')"])
def test_anything_but_the_small_language_is_refused(expr):
    with pytest.raises(UsageError):
        prose.evaluate(expr, DOC)


def test_a_list_must_be_reduced_to_be_shown():
    with pytest.raises(UsageError, match="one value"):
        prose.shown(".1f", prose.evaluate("j('/results/list')", DOC))


@pytest.mark.parametrize("name", experiment_names())
def test_every_marked_number_in_a_readme_agrees_with_its_results_json(name):
    path = os.path.join(experiments_dir(), name, "results", "results.json")
    with open(os.path.join(experiments_dir(), name, "README.md")) as f:
        text = f.read()
    if not os.path.exists(path):
        assert not prose.MARKER.search(text), "%s marks numbers but has no results.json" % name
        return
    with open(path) as f:
        doc = json.load(f)
    assert prose.disagreements(text, doc) == []


NUMBER = re.compile(r"(?<![\w.~/^])(\d+\.\d+%?|\d+%)")


@pytest.mark.parametrize("name", experiment_names())
def test_what_the_numbers_say_marks_every_measured_number(name):
    """In the "What the numbers say" bullet, a number with a decimal point or a % sign is a
    marker, unless it is a constant the experiment states before its results (its rule, the
    paper's numbers) or its run.py holds."""
    folder = os.path.join(experiments_dir(), name)
    with open(os.path.join(folder, "README.md")) as f:
        text = f.read()
    start = text.find("What the numbers say")
    if start < 0 or not os.path.exists(os.path.join(folder, "results", "results.json")):
        return
    with open(os.path.join(folder, "run.py")) as f:
        source = f.read()
    stated = text[:text.find("## Results")]
    rest = text[start:]
    end = re.search(r"\n- |\n## ", rest)
    block = prose.MARKER.sub("", rest[:end.start()] if end else rest)
    unmarked = [n for n in NUMBER.findall(block) if n not in stated and n.rstrip("%") not in source]
    assert unmarked == [], "%s: measured numbers written by hand: %s" % (name, unmarked)


def test_a_missing_key_is_named_even_among_integer_keys():
    """results.json written from Python dicts can hold int keys; the error still lists them."""
    from zfnet.errors import UsageError
    from zfnet.repro.prose import lookup
    with pytest.raises(UsageError, match=r"no key '7' \(keys: 15, 30\)"):
        lookup({"a": {15: 1, 30: 2}}, "/a/7")
