"""The C sources of the project's Theano ops: ``zfnet/nn/c/*.c``, shipped with the package.

A source is C with ``@name@`` placeholders (the op's inputs, outputs and settings), filled
in by :func:`render`. Theano reuses a compiled module whenever its key matches, and a
module's key carries the op's ``c_code_cache_version``, not its code; so each op's version
includes :func:`source_version`, a hash of its source files: an edited source always gets a
new key and is compiled again, and a stale module can never be loaded.
"""
import hashlib
import os
import re

from ..errors import ZfnetError

C_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c")
_PLACEHOLDER = re.compile(r"@(\w+)@")
_TEXT = {}


def source(name):
    """The text of ``zfnet/nn/c/<name>`` (read once per process)."""
    if name not in _TEXT:
        with open(os.path.join(C_DIR, name)) as f:
            _TEXT[name] = f.read()
    return _TEXT[name]


def source_version(*names):
    """A version number (a non-negative int) from the SHA-256 of the sources ``names``."""
    h = hashlib.sha256()
    for n in names:
        h.update(n.encode() + b"\0" + source(n).encode() + b"\0")
    return int(h.hexdigest()[:12], 16)


def render(name, values):
    """``name``'s source with every ``@key@`` replaced by ``str(values[key])``."""
    def fill(m):
        key = m.group(1)
        if key not in values:
            raise ZfnetError("C source %s uses @%s@, which its op does not provide" % (name, key))
        return str(values[key])
    return _PLACEHOLDER.sub(fill, source(name))
