"""Configure Theano *before* it is imported.

Theano reads its configuration once, at import time, from ``THEANO_FLAGS`` and
``~/.theanorc``. This module fills in the settings this project needs and that
the user has not chosen themselves (the user's own flags always win):

``floatX=float32``
    float64 inputs with float32 weights make Theano's gradInputs optimisation
    fail with an obscure "no implementation available" error.
``blas.ldflags``
    Theano has no CPU convolution without a BLAS. A system OpenBLAS is used if
    one is found; otherwise the OpenBLAS bundled inside scipy's wheel
    (``site-packages/scipy.libs/libopenblasp-*.so``), which exports the
    standard ``sgemm_`` symbols and needs no root to install.
``openmp=True``
    CorrMM and large elementwise ops run on all cores (1.6x faster training
    step of the small model on 2 cores, measured).
``base_compiledir`` / ``compiledir_format``
    A per-user cache (``~/.cache/zfnet/theano``, or ``$ZFNET_THEANO_DIR``) with a
    stable name, so the compiled C modules survive kernel updates. The name carries a
    generation (``compiledir2_...``): zfnet 0.x before the cache-key fixes of
    :mod:`zfnet.compat` filled ``compiledir_py...`` with one never-reused copy of some
    modules per process, and Theano reads the index of every entry at start-up (0.6 s
    for 1,000 entries, measured), so the fixed keys start a clean directory. The old
    one is left in place; remove it by hand.

Nothing here imports Theano; :func:`configure` only edits ``os.environ``.
"""
import configparser
import glob
import os
import sys
import warnings

_SYSTEM_BLAS_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
                     "/usr/local/lib", "/usr/lib/aarch64-linux-gnu")


def _user_flags():
    """Return the set of Theano flag names the user has set themselves."""
    names = set()
    for item in os.environ.get("THEANO_FLAGS", "").split(","):
        if "=" in item:
            names.add(item.split("=", 1)[0].strip())
    rc_files = os.environ.get("THEANORC", "~/.theanorc").split(os.pathsep)
    for rc in rc_files:
        path = os.path.expanduser(rc)
        if not os.path.isfile(path):
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except configparser.Error:
            continue
        for section in parser.sections():
            for key in parser[section]:
                names.add(key if section == "global" else section + "." + key)
    return names


def find_blas_ldflags():
    """Return linker flags for an OpenBLAS with standard symbols, or None.

    A system ``libopenblas.so`` (Debian's ``libopenblas-dev``) is preferred;
    else the library bundled in scipy's wheel, found without importing scipy.
    """
    for d in _SYSTEM_BLAS_DIRS:
        if os.path.exists(os.path.join(d, "libopenblas.so")):
            return "-L%s -lopenblas" % d
    for site in sys.path:
        libs = sorted(glob.glob(os.path.join(site, "scipy.libs", "libopenblas*.so")))
        if libs:
            d, f = os.path.split(libs[0])
            # Theano adds "-Wl,-rpath,<dir>" for every -L itself.
            return "-L%s -l:%s" % (d, f)
    return None


def compile_dir():
    """The directory Theano's compiled modules are cached in."""
    return os.environ.get("ZFNET_THEANO_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "zfnet", "theano")


def configure():
    """Set the project's Theano defaults in ``THEANO_FLAGS`` (user flags win).

    Must run before the first ``import theano``; importing :mod:`zfnet` does it.
    Returns the resulting ``THEANO_FLAGS`` string.
    """
    if "theano" in sys.modules:
        return os.environ.get("THEANO_FLAGS", "")
    user = _user_flags()
    ours = {
        "floatX": "float32",
        "base_compiledir": compile_dir(),
        "compiledir_format": "compiledir2_py%(python_version)s-%(processor)s",
        # CorrMM and large elementwise ops use both cores (1.6x on a train step).
        "openmp": "True",
    }
    if "blas.ldflags" not in user:
        ldflags = find_blas_ldflags()
        if ldflags:
            ours["blas.ldflags"] = ldflags
        else:
            warnings.warn(
                "zfnet: no OpenBLAS found (looked for a system libopenblas.so in "
                "%s and for scipy's bundled one); Theano will have no fast CPU "
                "convolution. Install scipy from its wheel or libopenblas-dev."
                % ", ".join(_SYSTEM_BLAS_DIRS), RuntimeWarning)
    extra = ["%s=%s" % (k, v) for k, v in ours.items() if k not in user]
    existing = os.environ.get("THEANO_FLAGS", "").strip(",")
    flags = ",".join(extra + ([existing] if existing else []))
    os.environ["THEANO_FLAGS"] = flags
    return flags


def silence_warnings():
    """Hide the thousands of numpy DeprecationWarnings Theano triggers."""
    for cat in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=cat, module=r"theano(\.|$)")
        warnings.filterwarnings("ignore", category=cat, module=r"lasagne(\.|$)")
        warnings.filterwarnings("ignore", category=cat, module=r"numpy(\.|$)")
    warnings.filterwarnings("ignore", message=r".*np\.(complex|bool|int|float|object)")
