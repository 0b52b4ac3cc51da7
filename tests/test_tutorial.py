"""docs/tutorial.ipynb runs from top to bottom in a fresh kernel and shows its pictures; it is the
notebook scripts/make_tutorial.py writes (the cells live there)."""
import copy
import os
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import make_tutorial  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_committed_notebook_is_the_one_the_script_writes():
    committed = nbformat.read(make_tutorial.PATH, as_version=4)
    built = make_tutorial.build()
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in built.cells]
    pictures = [c for c in committed.cells if c.cell_type == "code"
                and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert len(pictures) == 4  # the committed copy shows its pictures


def test_the_tutorial_runs_in_a_fresh_kernel_and_draws_every_picture(monkeypatch):
    for var in ("ZFNET_TUTORIAL_RUN", "ZFNET_TUTORIAL_COLOUR"):
        monkeypatch.delenv(var, raising=False)   # the defaults: train here, zf64 on the photos
    nb = copy.deepcopy(nbformat.read(make_tutorial.PATH, as_version=4))
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    make_tutorial.execute(nb, timeout=600)   # raises CellExecutionError on any failing cell (its asserts too)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    drew = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert len(drew) == 4, drew   # methods side by side, top-9, occlusion, colour
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "test accuracy on 2,000 images" in text and "Traceback" not in text
    assert "WARNING (theano" not in text   # no wall of Theano warnings
