"""Make Lasagne 0.1 (the only Lasagne on PyPI) work on Theano 1.0.

Four patches, applied by :func:`install` before ``lasagne`` is first imported:

1. ``theano.tensor.signal.downsample`` was removed in Theano 0.9, but
   ``lasagne.layers.pool`` imports it. We register a small module of that name
   whose ``max_pool_2d`` forwards to ``theano.tensor.signal.pool.pool_2d``.
2. Lasagne passes ``image_shape=`` to ``theano.tensor.nnet.conv2d``; Theano 1.0
   calls it ``input_shape=`` and warns once per layer. Lasagne binds ``conv2d``
   as a default argument when its module is imported, so we wrap it first.

3. Theano's C-module cache key (``CLinker.cmodule_key_``) appends each op's
   ``__props__`` to the version tuple and calls a graph *unversioned* if any
   entry is empty. An op without parameters (``Alloc``, ``Dot22``,
   ``ScalarFromTensor``, ``AdvancedSubtensor1``, this project's ``Unpool``...) has
   ``__props__ == ()``, so every graph holding one was compiled afresh in every
   process (0.4 s each; 8 of them, 3.6 s of the 7.7 s first projection of the
   demo model, measured) and never stored. :func:`versioned_cmodule_key` keeps
   Theano's key and recomputes only the version without that false alarm: an op's
   own ``c_code_cache_version`` and its types' versions still decide, so an
   op or type that is really unversioned still compiles afresh.
4. ``COp.c_code_cache_version`` (``DimShuffle`` and other ops whose C code lives in
   files) is ``hash(tuple(self.func_codes))``: Python salts ``hash`` of strings per
   process, so the key differed in every process, every such module was compiled
   again (0.45 s each, measured) and the compile cache grew by one copy per run.
   :func:`stable_cop_version` hashes the same code with SHA-256 instead.

Patches 3 and 4 change how Theano keys its compile cache for every graph of the process, so
they are applied only to the exact Theano release they were written for and measured on
(:data:`PATCHED_THEANO`); on another release Theano's own keys stand (slower first calls,
never a wrong module). Nothing else of Lasagne is changed.
"""
import sys
import types


#: the Theano release whose compile-cache keys patches 3 and 4 were written for
PATCHED_THEANO = "1.0.5"


def install():
    """Apply the patches (idempotent). Must run before ``import lasagne``. Returns True when
    the compile-cache patches (3, 4) were applied, False on another Theano release."""
    import theano
    cache_patches = theano.__version__ == PATCHED_THEANO
    if cache_patches:
        versioned_cmodule_key()
        stable_cop_version()
    import theano.tensor as T
    import theano.tensor.nnet
    from theano.tensor.signal import pool

    if "theano.tensor.signal.downsample" not in sys.modules:
        downsample = types.ModuleType("theano.tensor.signal.downsample")

        def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0),
                        mode="max"):
            return pool.pool_2d(input, ws=ds, ignore_border=ignore_border,
                                stride=st, pad=padding, mode=mode)

        downsample.max_pool_2d = max_pool_2d
        sys.modules["theano.tensor.signal.downsample"] = downsample
        import theano.tensor.signal
        theano.tensor.signal.downsample = downsample

    conv2d = theano.tensor.nnet.conv2d
    if not getattr(conv2d, "_zfnet_wrapped", False):
        def conv2d_compat(input, filters, input_shape=None, filter_shape=None,
                          image_shape=None, **kwargs):
            if input_shape is None:
                input_shape = image_shape
            return conv2d(input, filters, input_shape=input_shape,
                          filter_shape=filter_shape, **kwargs)

        conv2d_compat._zfnet_wrapped = True
        theano.tensor.nnet.conv2d = conv2d_compat
        T.nnet.conv2d = conv2d_compat
    return cache_patches


def _version_entries(linker, fgraph):
    """The version entries of ``fgraph``'s C module, as Theano's ``cmodule_key_`` lists
    them, with an op's empty ``__props__`` left out (it says "no parameters", not
    "unversioned")."""
    version = []
    for node in linker.schedule(fgraph):
        if hasattr(node.op, "c_code_cache_version_apply"):
            version.append(node.op.c_code_cache_version_apply(node))
        props = getattr(node.op, "__props__", None)
        if props:
            version.append(props)
        for v in node.inputs + node.outputs:
            version.append(v.type.c_code_cache_version())
    return tuple(version)


def versioned_cmodule_key():
    """Patch 3 (see the module docstring). Idempotent."""
    from theano.gof.cc import CLinker
    orig = CLinker.cmodule_key_
    if getattr(orig, "_zfnet_wrapped", False):
        return

    def cmodule_key_(self, fgraph, no_recycling, *args, **kwargs):
        key = orig(self, fgraph, no_recycling, *args, **kwargs)
        if key is None or key[0] != ():
            return key
        version = _version_entries(self, fgraph)
        if all(version):
            return version, key[1]
        return key

    cmodule_key_._zfnet_wrapped = True
    CLinker.cmodule_key_ = cmodule_key_


def stable_cop_version():
    """Patch 4 (see the module docstring). Idempotent."""
    import hashlib
    from theano.gof.op import COp
    if getattr(COp.c_code_cache_version, "_zfnet_wrapped", False):
        return

    def c_code_cache_version(self):
        digest = hashlib.sha256("\0".join(self.func_codes).encode("utf-8")).hexdigest()
        version = (int(digest[:15], 16),)
        if hasattr(self, "params_type"):
            version += (self.params_type.c_code_cache_version(),)
        return version

    c_code_cache_version._zfnet_wrapped = True
    COp.c_code_cache_version = c_code_cache_version
