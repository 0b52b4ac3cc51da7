"""Numbers in an experiment README's prose, written from its ``results.json``.

A measured number in hand-written text is a marker around the number as shown::

    <!--= .1% | mean(j('/results/seeds/*/test_top1')) -->13.2%<!--/=-->

``format`` is Python's format spec (``.1%`` multiplies by 100 and adds the sign, ``.2f``,
``.0f``, ``+.1f``); the expression reads the experiment's ``results.json`` through
``j(pointer)``, a JSON pointer (RFC 6901: ``/``-separated keys, ``~1`` for a ``/`` in a key,
``~0`` for ``~``) in which a ``*`` segment takes every key or item (then ``j`` gives a list).
Arithmetic works element by element on lists; ``min``, ``max``, ``mean``, ``abs`` and ``sd``
(the sample standard deviation) reduce or map them. Nothing else is evaluated: the expression
is parsed and walked, never passed to ``eval``.

``python -m zfnet reproduce`` (and ``--table``) rewrites the shown numbers from the JSON, and
``tests/repro/test_prose.py`` fails when a committed README's number differs from its JSON.
"""
import ast
import re

import numpy as np

from ..errors import UsageError

MARKER = re.compile(r"<!--=\s*(?P<fmt>\S+)\s*\|\s*(?P<expr>.*?)\s*-->(?P<shown>.*?)<!--/=-->", re.S)


def _segments(pointer):
    if not pointer.startswith("/"):
        raise UsageError("JSON pointer %r must start with '/'" % pointer)
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/")]


def lookup(doc, pointer):
    """The value at ``pointer`` in ``doc``; a list of values where a segment is ``*``."""
    def walk(node, segs):
        if not segs:
            return node
        s, rest = segs[0], segs[1:]
        if s == "*":
            items = node.values() if isinstance(node, dict) else node
            return [walk(v, rest) for v in items]
        if isinstance(node, list):
            try:
                return walk(node[int(s)], rest)
            except (ValueError, IndexError):
                raise UsageError("JSON pointer %r: no item %r in a list of %d" % (pointer, s, len(node)))
        if not isinstance(node, dict) or s not in node:
            raise UsageError("JSON pointer %r: no key %r (keys: %s)" % (
                pointer, s, ", ".join(sorted(str(k) for k in node)[:12]) if isinstance(node, dict) else type(node).__name__))
        return walk(node[s], rest)
    return walk(doc, _segments(pointer))


def _sd(v):
    v = np.asarray(v, np.float64)
    return float(np.std(v, ddof=1)) if v.size > 1 else 0.0


FUNCTIONS = {"min": lambda v: float(np.min(v)), "max": lambda v: float(np.max(v)),
             "mean": lambda v: float(np.mean(v)), "abs": np.abs, "sd": _sd}
OPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}


def evaluate(expr, doc):
    """The value of a marker's expression over ``doc`` (see the module docstring)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise UsageError("prose expression %r: %s" % (expr, e.msg))

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            return OPS[type(node.op)](np.asarray(ev(node.left), np.float64), np.asarray(ev(node.right), np.float64))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -np.asarray(ev(node.operand), np.float64)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords \
                and len(node.args) == 1:
            name = node.func.id
            if name == "j":
                arg = node.args[0]
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise UsageError("prose expression %r: j() takes a JSON pointer string" % expr)
                return lookup(doc, arg.value)
            if name in FUNCTIONS:
                return FUNCTIONS[name](np.asarray(ev(node.args[0]), np.float64))
        raise UsageError("prose expression %r: only numbers, j('/pointer'), + - * /, and %s are allowed"
                         % (expr, ", ".join(sorted(FUNCTIONS))))
    return ev(tree)


def shown(fmt, value):
    """``value`` as the prose shows it (one number; a list is an error)."""
    v = np.asarray(value)
    if v.ndim:
        raise UsageError("a prose number must be one value; the expression gives %d (reduce it with "
                         "min, max or mean)" % v.size)
    return format(float(v), fmt)


def render(text, doc):
    """``text`` with every marker's number rewritten from ``doc``."""
    return MARKER.sub(lambda m: m.group(0)[:m.start("shown") - m.start(0)] + shown(m.group("fmt"), evaluate(
        m.group("expr"), doc)) + "<!--/=-->", text)


def disagreements(text, doc):
    """[(expression, shown, what the JSON gives)] for every marker whose number is stale."""
    out = []
    for m in MARKER.finditer(text):
        want = shown(m.group("fmt"), evaluate(m.group("expr"), doc))
        if m.group("shown") != want:
            out.append((m.group("expr"), m.group("shown"), want))
    return out
