"""The experiments' pages: each experiment's README results block and the comparison table of
``experiments/README.md``, written from the committed ``results.json`` files only."""
import json
import os

from .. import files
from ..errors import UsageError
from . import prose
from .paths import experiment_names, experiments_dir


def _replace_between(path, start, end, body, then=None):
    """Write ``body`` between the markers ``start`` and ``end`` of the file ``path``; ``then``,
    if given, maps the whole new text to what is written (one write either way)."""
    with open(path) as f:
        text = f.read()
    if start not in text or end not in text:
        raise UsageError("%s has no results markers (%s ... %s)" % (path, start, end))
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    text = head + start + "\n" + body + "\n" + end + tail
    files.atomic_write_bytes(path, (then(text) if then else text).encode())
    return path


RESULTS_START = "<!-- results: written by `python -m zfnet reproduce`, do not edit -->"
RESULTS_END = "<!-- end of results -->"


def write_experiment_readme(name, doc):
    """Fill the results section of ``experiments/<name>/README.md`` from ``doc`` (if it
    has the markers): the summary, the run's time, and the figures; and rewrite the numbers
    its prose marks (:mod:`zfnet.repro.prose`)."""
    readme = os.path.join(experiments_dir(), name, "README.md")
    if not os.path.exists(readme):
        return None
    with open(readme) as f:
        if RESULTS_START not in f.read():
            return None
    s = doc["summary"]
    figs = doc["results"].get("figures") or sorted(
        f for f in os.listdir(os.path.join(experiments_dir(), name, "results")) if f.endswith(".png"))
    lines = ["| | |", "|---|---|",
             "| paper | %s |" % _cell(s["paper"]), "| ours | %s |" % _cell(s["ours"]),
             "| holds here? | %s |" % _cell(s["holds"]), "| deviation | %s |" % _cell(s["deviation"]),
             "", "`%s`: %.0f s on %d CPU cores once the shared training runs existed (a first "
             "run trains them too); every parameter is in [results/results.json](results/results.json)."
             % (doc["command"], doc["seconds"], doc["machine"]["cpus"] or 0), ""]
    lines += ["![%s](results/%s)" % (f[:-4], f) for f in figs]
    # and the measured numbers in the prose, from the same results.json
    return _replace_between(readme, RESULTS_START, RESULTS_END, "\n".join(lines),
                            then=lambda text: prose.render(text, doc))


TABLE_START = "<!-- results table: written by `python -m zfnet reproduce`, do not edit -->"
TABLE_END = "<!-- end of results table -->"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


#: the paper's figures and tables (v3), in its order
PAPER_ORDER = ["Fig. %d" % i for i in range(1, 10)] + ["Table %d" % i for i in range(1, 8)]

#: why an item of the paper has no experiment here
NOT_COVERED = {
    "Fig. 1": "A diagram of the method, not a result. The deconvnet it draws is `zfnet/vis/deconv.py` "
              "(unpooling with the forward pass's switches, the ReLU rule, transposed filters), tested "
              "against float64 numpy references, finite differences and Theano's own gradient.",
    "Fig. 3": "A diagram of the architecture, not a result. `python -m zfnet train --config zf` builds it "
              "(`zfnet/nn/configs.py`; its layer sizes and its 62,357,608 parameters are tested).",
}


def _constant(name, key, root=None):
    """The literal value of ``key = ...`` at the top of an experiment's ``run.py``, read without
    importing it (None when absent)."""
    import ast
    path = os.path.join(root or experiments_dir(), name, "run.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == key for t in node.targets):
            return ast.literal_eval(node.value), path
    return None, path


def experiment_tier(name, root=None):
    """``'natural'`` for an experiment on the natural-image model (its ``run.py`` says
    ``TIER = "natural"``), else ``'fashion-mnist'``."""
    tier, path = _constant(name, "TIER", root)
    if tier not in (None, "natural", "fashion-mnist"):
        raise UsageError("%s: TIER %r: expected 'natural' or 'fashion-mnist'" % (path, tier))
    return tier or "fashion-mnist"


def experiment_role(name, root=None):
    """``'control'`` for an experiment that runs beside the paper's setting as a control
    (its ``run.py`` says ``ROLE = "control"``), else ``'main'``."""
    role, path = _constant(name, "ROLE", root)
    if role not in (None, "main", "control"):
        raise UsageError("%s: ROLE %r: expected 'main' or 'control'" % (path, role))
    return role or "main"


def paper_items(name, root=None):
    """The paper items an experiment reproduces: its ``run.py``'s ``PAPER_ITEMS = [...]``, read
    without importing it."""
    items, path = _constant(name, "PAPER_ITEMS", root)
    if items is None:
        return []
    unknown = [i for i in items if i not in PAPER_ORDER]
    if unknown:
        raise UsageError("%s: PAPER_ITEMS %r are not items of the paper (%s)"
                         % (path, unknown, ", ".join(PAPER_ORDER)))
    return list(items)


def _row(name, root, item=None):
    """A table row for experiment ``name``; an experiment covering several paper items may
    give each its own summary under ``results.item_summaries[item]``."""
    path = os.path.join(root, name, "results", "results.json")
    if not os.path.exists(path):
        return "[%s](%s/) | `python -m zfnet reproduce %s` | | not run yet | | |" % (name, name, name)
    with open(path) as f:
        doc = json.load(f)
    s = doc["summary"]
    per_item = doc.get("results", {}).get("item_summaries") or {}
    if item in per_item:
        s = per_item[item]
    return "[%s](%s/) | `%s` | %s | %s | %s | %s |" % (
        name, name, doc["command"], _cell(s["paper"]), _cell(s["ours"]), _cell(s["holds"]),
        _cell(s["deviation"]))


def summary_table(root=None):
    """Markdown built from every ``experiments/*/results/results.json``: one row per figure and
    table of the paper in its order (an experiment names its items in ``PAPER_ITEMS``; the
    others say why they are not covered), then the experiments beyond the paper."""
    root = root or experiments_dir()
    names = experiment_names()
    items = {n: paper_items(n, root) for n in names}
    rows = ["| paper | experiment | command | the paper says | ours | holds here? | deviation |",
            "|---|---|---|---|---|---|---|"]
    role = {n: experiment_role(n, root) for n in names}
    tier = {n: experiment_tier(n, root) for n in names}
    for item in PAPER_ORDER:
        # the natural-image result first (the row's main result), then the Fashion-MNIST tier
        # beside it, then the controls
        covering = sorted((n for n in names if item in items[n]),
                          key=lambda n: (role[n] == "control", tier[n] != "natural", n))
        natural = any(tier[n] == "natural" for n in covering)
        if not covering:
            rows.append("| %s | | | | %s | not covered | |" % (item, _cell(NOT_COVERED.get(item, "Not yet."))))
        for n in covering:
            label = item + (" (control)" if role[n] == "control" else
                            " (natural images)" if tier[n] == "natural" else
                            " (Fashion-MNIST tier)" if natural else "")
            rows.append("| %s | %s" % (label, _row(n, root, item)))
    others = [n for n in names if not items[n]]
    if others:
        rows += ["", "Beyond the paper's figures and tables:", "",
                 "| experiment | command | claim | ours | holds here? | deviation |",
                 "|---|---|---|---|---|---|"]
        rows += ["| " + _row(n, root) for n in others]
    return "\n".join(rows)


def refresh_readmes():
    """Rewrite every experiment's results section and the comparison table from the
    committed ``results.json`` files (no experiment is run)."""
    for name in experiment_names():
        path = os.path.join(experiments_dir(), name, "results", "results.json")
        if os.path.exists(path):
            with open(path) as f:
                write_experiment_readme(name, json.load(f))
    return write_summary_table()


def write_summary_table(readme=None):
    """Replace the table between the markers of ``experiments/README.md``."""
    readme = readme or os.path.join(experiments_dir(), "README.md")
    return _replace_between(readme, TABLE_START, TABLE_END, summary_table(os.path.dirname(readme)))
