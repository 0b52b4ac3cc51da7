"""zfnet.memory: freed large blocks stay in the process for reuse (glibc)."""
import subprocess
import sys

import pytest

PROBE = r"""
import sys
import numpy as np
if sys.argv[1] == "on":
    from zfnet import memory
    assert memory.keep_freed_memory(), "glibc refused mallopt"
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) * 1024
a = np.ones(200 * 2 ** 18, np.float32)   # 200 MiB, far above glibc's mmap threshold
held = rss()
del a
print(held - rss())                      # bytes handed back to the kernel by the free
"""


def _returned(mode):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt, /proc")
def test_a_freed_large_block_stays_for_reuse():
    size = 200 * 2 ** 20
    assert _returned("off") > size * 0.9     # glibc's default: munmap at once
    assert _returned("on") < size * 0.1      # kept in the heap for the next allocation


def test_the_policy_can_be_switched_off():
    from zfnet import memory
    saved = memory._applied
    try:
        memory._applied = None
        assert memory.keep_freed_memory({"ZFNET_KEEP_FREED_MEMORY": "0"}) is False
    finally:
        memory._applied = saved


def test_importing_the_library_changes_neither_malloc_nor_a_foreign_theano():
    """`import zfnet.backend` leaves glibc's policy alone (only the heavy commands opt in), and
    on a Theano release other than the one the cache-key patches were written for they are not
    applied (the Lasagne shim still is)."""
    code = ("import theano\ntheano.__version__ = {v!r}\nfrom zfnet import backend, memory, compat\n"
            "from theano.gof.cc import CLinker\nfrom theano.gof.op import COp\n"
            "print(memory._applied, getattr(CLinker.cmodule_key_, '_zfnet_wrapped', False), "
            "getattr(COp.c_code_cache_version, '_zfnet_wrapped', False), 'downsample' in dir(theano.tensor.signal))")
    for version, want in (("1.0.5", "None True True True"), ("1.0.6", "None False False True")):
        out = subprocess.run([sys.executable, "-c", code.format(v=version)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[-2].strip() == want, (version, out.stdout)
    from zfnet import memory
    assert set(memory.HEAVY) >= {"train", "visualize", "topk", "bench"} and "serve" not in memory.HEAVY
