"""Keep freed memory for reuse instead of handing it back to the kernel.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB) with a
fresh ``mmap`` and returns it with ``munmap`` when freed. A deconvnet walk down VGG16
allocates and frees arrays of 100-500 MiB at every layer of every call, so each call paid
the kernel to map and zero those pages again: 1.4 GB/s of page faults, a third of the
time of seed 003's VGG16 workload (6.2 s -> 4.1 s per image, measured with
``python -m zfnet bench deconv --config vgg16-notop --mode map --rank l2 --top 3``).

:func:`keep_freed_memory` tells glibc (``mallopt``) to serve large blocks from its heap
and never to trim that heap, so a freed block is reused by the next allocation of the
same size without a page fault. The price: the process keeps its peak heap until it
exits. Importing zfnet does not apply it: the command line's heavy commands (:data:`HEAVY`:
train, evaluate, features, visualize, topk, bench, reproduce, demo) do, unless
``ZFNET_KEEP_FREED_MEMORY=0``; a long-lived server (``serve``) does not, so it hands memory
back. A library user calls :func:`keep_freed_memory` for the same speed. Elsewhere than glibc
it does nothing.
"""
import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

_applied = None

#: the commands that opt in (zfnet.cli)
HEAVY = ("train", "evaluate", "features", "visualize", "topk", "bench", "reproduce", "demo")


def keep_freed_memory(env=None):
    """Apply the policy once; returns True if glibc accepted it, False if off or unavailable."""
    global _applied
    env = os.environ if env is None else env
    if _applied is not None:
        return _applied
    if env.get("ZFNET_KEEP_FREED_MEMORY", "1").strip() in ("0", "no", "false", "off"):
        _applied = False
        return _applied
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl...)
        _applied = False
        return _applied
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # trim threshold: the largest int (glibc takes it as the byte count to keep)
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))
    return _applied
