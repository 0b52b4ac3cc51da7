"""The ops' C sources live in zfnet/nn/c/*.c, and a changed source always changes the compiled
module's key (Theano reuses a module whenever its key matches)."""
import re

import pytest

from zfnet.backend import T, theano
from zfnet.errors import ZfnetError
from zfnet.nn import csource
from zfnet.nn.pool_ops import MaxPoolSwitches, Unpool
from zfnet.nn.winograd import Winograd3x3

OPS = [(lambda: MaxPoolSwitches(3, 2, False), "maxpool_switches.c"), (lambda: Unpool(), "unpool.c"),
       (lambda: Winograd3x3(1, True, False), "winograd.c")]


def _module_key(op):
    """The key Theano's C linker gives the module of a graph holding ``op``."""
    from theano.gof.cc import CLinker
    if isinstance(op, MaxPoolSwitches):
        outs = op(T.tensor4("x"))
    elif isinstance(op, Unpool):
        outs = [op(T.tensor4("g"), T.itensor4("s"), T.lscalar("h"), T.lscalar("w"))]
    else:
        outs = [op(T.tensor4("x"), T.tensor4("w"))]
    fg = theano.FunctionGraph(theano.gof.graph.inputs(outs), outs)
    return CLinker().accept(fg).cmodule_key()


@pytest.mark.parametrize("make,name", OPS, ids=[n for _, n in OPS])
def test_changing_a_source_changes_the_module_key(make, name, monkeypatch):
    op = make()
    before_version, before_key = op.c_code_cache_version(), _module_key(op)
    assert before_version[0] == csource.source_version(name)
    monkeypatch.setitem(csource._TEXT, name, csource.source(name) + "\n/* one more comment */\n")
    after_version, after_key = op.c_code_cache_version(), _module_key(op)
    assert after_version != before_version and after_key != before_key


@pytest.mark.parametrize("make,name", OPS, ids=[n for _, n in OPS])
def test_sources_are_plain_c_filled_completely(make, name):
    text = csource.source(name)
    assert "%(" not in text and "%%" not in text  # no Python formatting left in the C file
    keys = set(re.findall(r"@(\w+)@", text))
    filled = csource.render(name, {k: "X" for k in keys})
    assert "@" not in filled
    with pytest.raises(ZfnetError, match="uses @%s@" % sorted(keys)[0]):
        csource.render(name, {k: "X" for k in sorted(keys)[1:]})
