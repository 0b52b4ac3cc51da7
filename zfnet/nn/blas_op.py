"""The base of the project's C ops that call the BLAS's ``sgemm`` themselves.

:class:`BlasOp` links the BLAS Theano uses (its headers, libraries and flags) and gives the
C placeholders that run such an op's products single-threaded inside its own OpenMP threads
(OpenBLAS's thread count set to 1 for the call and put back after). Used by
:class:`~zfnet.nn.winograd.Winograd3x3` and :class:`~zfnet.nn.batched_conv.BatchedCorr`.
"""
from ..backend import theano
from theano.gof import OpenMPOp
from theano.tensor import blas_headers
from theano.tensor.blas import ldflags


class BlasOp(OpenMPOp):
    """An OpenMP C op linked against Theano's BLAS (``sgemm_`` declared)."""

    def _openblas_threads(self):
        return self.openmp and "openblas" in theano.config.blas.ldflags

    def blas_thread_values(self):
        """C snippets for a source: ``get_threads`` (the BLAS's thread count, to save),
        ``set1`` (one BLAS thread) and ``restore``; empty where the BLAS is not OpenBLAS or the
        op runs without OpenMP."""
        openblas = self._openblas_threads()
        return dict(set1="openblas_set_num_threads(1);" if openblas else "",
                    restore="openblas_set_num_threads(saved_threads);" if openblas else "",
                    get_threads="openblas_get_num_threads()" if openblas else "0")

    def c_support_code(self):
        code = blas_headers.blas_header_text()
        if self._openblas_threads():
            code += blas_headers.openblas_threads_text()
        return code

    def c_libraries(self):
        return ldflags()

    def c_compile_args(self):
        return super(BlasOp, self).c_compile_args() + ldflags(libs=False, flags=True)

    def c_lib_dirs(self):
        return ldflags(libs=False, libs_dir=True)

    def c_header_dirs(self):
        return ldflags(libs=False, include_dir=True)

    def c_headers(self):
        return super(BlasOp, self).c_headers() + ["<string.h>", "<stdlib.h>"]
