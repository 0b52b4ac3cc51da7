/* lrn.c: filled in by zfnet.nn.csource.render (@name@ placeholders); its SHA-256 is part of
   the op's c_code_cache_version, so an edit here can never load a stale compiled module.
   y[c] = x[c] / s[c]^beta, s[c] = k + alpha * sum of x[j]^2 over j in [c - lo, c - lo + n),
   channels outside [0, C) counting as zero (Lasagne's LocalResponseNormalization2DLayer). */
{
PyArrayObject* xc = PyArray_GETCONTIGUOUS(@x@);
if (!xc) @fail@;
const npy_intp B = PyArray_DIMS(xc)[0], C = PyArray_DIMS(xc)[1];
const npy_intp HW = PyArray_DIMS(xc)[2] * PyArray_DIMS(xc)[3];
if (!@y@ || PyArray_NDIM(@y@) != 4 || !PyArray_ISCONTIGUOUS(@y@)
    || !PyArray_CompareLists(PyArray_DIMS(@y@), PyArray_DIMS(xc), 4)) {
    Py_XDECREF(@y@);
    @y@ = (PyArrayObject*)PyArray_EMPTY(4, PyArray_DIMS(xc), NPY_FLOAT32, 0);
}
if (!@y@) { Py_DECREF(xc); @fail@; }
const float* X = (const float*)PyArray_DATA(xc);
float* Y = (float*)PyArray_DATA(@y@);
const npy_intp n = @n@, lo = @lo@;
const float alpha = (float)(@alpha@), k = (float)(@k@);
@omp@
for (npy_intp bc = 0; bc < B * C; ++bc) {
    const npy_intp c = bc % C;
    const float* xb = X + (bc - c) * HW;
    const float* xp = X + bc * HW;
    float* yp = Y + bc * HW;
    const npy_intp j0 = (c - lo < 0) ? 0 : c - lo, j1 = (c - lo + n > C) ? C : c - lo + n;
    for (npy_intp p = 0; p < HW; ++p) yp[p] = 0.0f;  /* the sum of squares, then y */
    for (npy_intp j = j0; j < j1; ++j) {
        const float* xj = xb + j * HW;
        for (npy_intp p = 0; p < HW; ++p) yp[p] += xj[p] * xj[p];
    }
    for (npy_intp p = 0; p < HW; ++p) {
        const float s = k + alpha * yp[p];
        yp[p] = xp[p] / (@pow_beta@);
    }
}
Py_DECREF(xc);
}
