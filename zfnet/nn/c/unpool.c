/* unpool.c: filled in by zfnet.nn.csource.render (@name@ placeholders); its SHA-256 is part of
   the op's c_code_cache_version, so an edit here can never load a stale compiled module. */
{
PyArrayObject* gc = PyArray_GETCONTIGUOUS(@g@);
PyArrayObject* sc = PyArray_GETCONTIGUOUS(@sw@);
if (!gc || !sc) { Py_XDECREF(gc); Py_XDECREF(sc); @fail@; }
const npy_intp N = PyArray_DIMS(gc)[0], C = PyArray_DIMS(gc)[1];
const npy_intp HW_out = PyArray_DIMS(gc)[2] * PyArray_DIMS(gc)[3];
const npy_intp M = PyArray_DIMS(sc)[0];
const npy_intp H = ((dtype_@h@*)PyArray_DATA(@h@))[0];
const npy_intp W = ((dtype_@w@*)PyArray_DATA(@w@))[0];
if (M < 1 || N % M != 0 || PyArray_DIMS(sc)[1] != C
    || PyArray_DIMS(sc)[2] * PyArray_DIMS(sc)[3] != HW_out) {
    PyErr_Format(PyExc_ValueError, "Unpool: signal (%ld, %ld, %ld, %ld) does not fit "
                 "switches (%ld, %ld, %ld, %ld): expected the same C, Ho, Wo and a "
                 "signal batch that is a multiple of the switches' batch",
                 (long)N, (long)C, (long)PyArray_DIMS(gc)[2], (long)PyArray_DIMS(gc)[3],
                 (long)M, (long)PyArray_DIMS(sc)[1], (long)PyArray_DIMS(sc)[2],
                 (long)PyArray_DIMS(sc)[3]);
    Py_DECREF(gc); Py_DECREF(sc); @fail@;
}
npy_intp dims[4] = {N, C, H, W};
/* Reuse the previous call's output when it fits: a fresh zeroed array of
   this size costs more in page faults than the scatter itself. */
if (!@o@ || PyArray_NDIM(@o@) != 4 || !PyArray_ISCONTIGUOUS(@o@)
    || PyArray_DIMS(@o@)[0] != N || PyArray_DIMS(@o@)[1] != C
    || PyArray_DIMS(@o@)[2] != H || PyArray_DIMS(@o@)[3] != W) {
    Py_XDECREF(@o@);
    @o@ = (PyArrayObject*)PyArray_EMPTY(4, dims, NPY_FLOAT32, 0);
}
if (!@o@) { Py_DECREF(gc); Py_DECREF(sc); @fail@; }
const float* G = (const float*)PyArray_DATA(gc);
const npy_int32* S = (const npy_int32*)PyArray_DATA(sc);
float* O = (float*)PyArray_DATA(@o@);
const npy_intp R = N / M, planes = N * C, HW = H * W;
int bad = 0;
@omp@
for (npy_intp p = 0; p < planes; ++p) {
    const npy_intp n = p / C, c = p % C;
    const float* gp = G + p * HW_out;
    const npy_int32* sp = S + ((n / R) * C + c) * HW_out;
    float* op = O + p * HW;
    memset(op, 0, HW * sizeof(float));
    for (npy_intp k = 0; k < HW_out; ++k) {
        const npy_int32 t = sp[k];
        if (t < 0 || t >= HW) { bad = 1; continue; }
        op[t] += gp[k];
    }
}
Py_DECREF(gc); Py_DECREF(sc);
if (bad) {
    PyErr_SetString(PyExc_ValueError, "Unpool: a switch points outside the %ld x %ld map");
    @fail@;
}
}
