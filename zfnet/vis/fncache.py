"""Compiled projection functions kept from one process to the next.

A first picture in a fresh process spends more time optimising its graph (about 0.55 s for
``visualize`` of four layers, ``zfnet bench first-picture``) than computing it. Theano's own
cache keeps the compiled C modules, not the optimised graph; this module keeps the graph. After
a :class:`~zfnet.vis.deconv.Projector` on a checkpoint compiles a function, the optimised
graph (Theano's ``FunctionMaker``) is pickled into ``zfnet-functions/`` inside Theano's
compile directory; a later process that asks for the same function of the same architecture
loads it and only links it (the C modules come from Theano's cache), skipping the graph's
build and optimisation.

* **The key** is a SHA-256 of everything the graph depends on: this format, zfnet's own source
  (every ``.py`` and ``.c`` file of the package, so an edit gives new keys; and the module
  switches that change a graph, :data:`zfnet.nn.winograd.FORWARD`), the Theano, numpy
  and Python versions, the Theano flags that shape a graph, the checkpoint's architecture
  (``model.json``'s config and input shape), the projector's function key (layers, method,
  selection, LRN rule, optimiser, Winograd) and the parameter names. Weights are not in it.
* **Weights are never stored.** Arrays that are the network's parameters are pickled as
  references (``param:<name>``); a loaded function is linked to the loading network's own
  shared variables, so it always computes with that network's current weights.
* **Trust.** The files are read only from this user's compile directory, the same directory
  whose compiled modules Theano loads and runs as machine code; nothing from outside the
  process (a checkpoint, an upload, a dataset) is ever unpickled here.
* **Failure is silent and safe:** a missing, damaged or stale file, or an unwritable
  directory, means the function is compiled as before. The directory stops growing at
  :data:`MAX_BYTES` (nothing is deleted; remove it by hand to start over).
  ``ZFNET_FUNCTION_CACHE=0`` turns the cache off, as does ``Projector(function_cache=False)``.
"""
import hashlib
import io
import json
import logging
import os
import pickle
import sys
import tempfile
import threading

FORMAT = 1
#: the directory stops growing beyond this many bytes
MAX_BYTES = 256 << 20
_log = logging.getLogger("zfnet.fncache")
_source = None


def enabled():
    """False when ``ZFNET_FUNCTION_CACHE`` is 0/off/no/false."""
    return os.environ.get("ZFNET_FUNCTION_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def directory():
    """``zfnet-functions`` inside Theano's compile directory (``ZFNET_FUNCTION_CACHE_DIR``
    overrides it)."""
    from ..backend import theano
    return os.environ.get("ZFNET_FUNCTION_CACHE_DIR") or os.path.join(theano.config.compiledir,
                                                                       "zfnet-functions")


def source_digest():
    """SHA-256 of zfnet's own ``.py`` and ``.c`` files (computed once per process)."""
    global _source
    if _source is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256()
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(files):
                if f.endswith((".py", ".c")):
                    path = os.path.join(dirpath, f)
                    h.update(os.path.relpath(path, root).encode("utf-8") + b"\0")
                    with open(path, "rb") as fh:
                        h.update(fh.read())
        _source = h.hexdigest()
    return _source


def key(config, input_shape, function_key, param_names):
    """The file name (hex SHA-256) of one function; see the module docstring."""
    import numpy
    from ..backend import theano
    from ..nn import winograd
    c = theano.config
    parts = [FORMAT, source_digest(), winograd.FORWARD, theano.__version__, numpy.__version__, sys.version,
             c.floatX, str(c.mode), c.optimizer, bool(c.openmp), c.cxx, c.blas.ldflags,
             json.dumps(config, sort_keys=True), [int(s) for s in input_shape], repr(function_key),
             list(param_names)]
    return hashlib.sha256(json.dumps(parts, default=repr).encode("utf-8")).hexdigest()


def _shared_names(fn, params):
    """The name of each of ``fn``'s inputs that is one of ``params`` (None for the others), or
    None when ``fn`` has a shared input that is not a parameter of the network."""
    names = []
    for inp in fn.maker.inputs:
        if not getattr(inp, "shared", False):
            names.append(None)
            continue
        name = inp.variable.name
        if name not in params or params[name] is not inp.variable:
            return None
        names.append(name)
    return names


def _big_stack(job):
    """Run ``job()`` in a thread with a large stack and a high recursion limit (pickling a deep
    graph recurses once per node) and return its result or raise its exception."""
    out = {}

    def run():
        try:
            out["value"] = job()
        except BaseException as e:  # re-raised in the caller
            out["error"] = e
    old_stack, old_limit = threading.stack_size(), sys.getrecursionlimit()
    threading.stack_size(512 << 20)
    try:
        t = threading.Thread(target=run, name="zfnet-fncache")
        sys.setrecursionlimit(max(old_limit, 200000))
        t.start()
        t.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if "error" in out:
        raise out["error"]
    return out["value"]


def _size(folder):
    total = 0
    for f in os.listdir(folder):
        try:
            total += os.path.getsize(os.path.join(folder, f))
        except OSError:
            pass
    return total


def save(name, fn, extra, params):
    """Keep compiled ``fn`` (with picklable ``extra``) under ``name``; ``params``: the network's
    parameters by name. Returns True when written."""
    names = _shared_names(fn, params)
    if names is None:
        return False
    refs = {id(p.get_value(borrow=True)): n for n, p in params.items()}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            n = refs.get(id(obj))
            return None if n is None else "param:" + n
    try:
        folder = directory()
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if _size(folder) > MAX_BYTES:
            return False
        buf = io.BytesIO()
        _big_stack(lambda: Pickler(buf, protocol=4).dump((FORMAT, fn.maker, extra, names)))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, os.path.join(folder, name + ".pkl"))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return True
    except Exception as e:  # a cache that cannot be written is no cache
        _log.debug("function cache: not written (%s: %s)", type(e).__name__, e)
        return False


def load(name, params):
    """``(fn, extra)`` kept under ``name``, linked to ``params`` (the network's parameters by
    name), or None when there is none or it cannot be used."""
    path = os.path.join(directory(), name + ".pkl")
    if not os.path.isfile(path):
        return None

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            if not (isinstance(pid, str) and pid.startswith("param:") and pid[6:] in params):
                raise pickle.UnpicklingError("unknown reference %r" % (pid,))
            return params[pid[6:]].get_value(borrow=True)
    try:
        with open(path, "rb") as f:
            fmt, maker, extra, names = Unpickler(f).load()
        if fmt != FORMAT or maker is None or len(names) != len(maker.inputs):
            return None
        storage = [params[n].container if n else None for n in names]
        fn = maker.create(storage)
        if any(n and fn.input_storage[i].storage is not params[n].container.storage
               for i, n in enumerate(names)):
            return None
        return fn, extra
    except Exception as e:  # damaged or stale: compile instead
        _log.debug("function cache: %s not used (%s: %s)", path, type(e).__name__, e)
        return None
