/* lrn_grad.c: filled in by zfnet.nn.csource.render (@name@ placeholders); its SHA-256 is part
   of the op's c_code_cache_version. The vector-Jacobian product of lrn.c:
   gx[c] = gy[c] s[c]^-beta - 2 alpha beta x[c] sum_{j : c in window(j)} gy[j] x[j] s[j]^(-beta-1),
   window(j) = [j - lo, j - lo + n), so the sum runs over j in [c + lo - n + 1, c + lo]. */
{
PyArrayObject* xc = PyArray_GETCONTIGUOUS(@x@);
PyArrayObject* gc = PyArray_GETCONTIGUOUS(@gy@);
if (!xc || !gc) { Py_XDECREF(xc); Py_XDECREF(gc); @fail@; }
if (!PyArray_CompareLists(PyArray_DIMS(xc), PyArray_DIMS(gc), 4)) {
    PyErr_SetString(PyExc_ValueError, "LRNGrad: the input and its output gradient differ in shape");
    Py_DECREF(xc); Py_DECREF(gc); @fail@;
}
const npy_intp B = PyArray_DIMS(xc)[0], C = PyArray_DIMS(xc)[1];
const npy_intp HW = PyArray_DIMS(xc)[2] * PyArray_DIMS(xc)[3];
if (!@gx@ || PyArray_NDIM(@gx@) != 4 || !PyArray_ISCONTIGUOUS(@gx@)
    || !PyArray_CompareLists(PyArray_DIMS(@gx@), PyArray_DIMS(xc), 4)) {
    Py_XDECREF(@gx@);
    @gx@ = (PyArrayObject*)PyArray_EMPTY(4, PyArray_DIMS(xc), NPY_FLOAT32, 0);
}
if (!@gx@) { Py_DECREF(xc); Py_DECREF(gc); @fail@; }
const float* X = (const float*)PyArray_DATA(xc);
const float* G = (const float*)PyArray_DATA(gc);
float* GX = (float*)PyArray_DATA(@gx@);
const npy_intp n = @n@, lo = @lo@;
const float alpha = (float)(@alpha@), beta = (float)(@beta@), k = (float)(@k@);
int nomem = 0;
@omp@
for (npy_intp b = 0; b < B; ++b) {
    /* per image: s^-beta and t = gy x s^(-beta-1) for every channel */
    float* spb = (float*)malloc(2 * C * HW * sizeof(float));
    if (!spb) { nomem = 1; continue; }
    float* t = spb + C * HW;
    const float* xb = X + b * C * HW;
    const float* gb = G + b * C * HW;
    float* gxb = GX + b * C * HW;
    for (npy_intp c = 0; c < C; ++c) {
        float* sp = spb + c * HW;
        const npy_intp j0 = (c - lo < 0) ? 0 : c - lo, j1 = (c - lo + n > C) ? C : c - lo + n;
        for (npy_intp p = 0; p < HW; ++p) sp[p] = 0.0f;
        for (npy_intp j = j0; j < j1; ++j) {
            const float* xj = xb + j * HW;
            for (npy_intp p = 0; p < HW; ++p) sp[p] += xj[p] * xj[p];
        }
        const float* xp = xb + c * HW;
        const float* gp = gb + c * HW;
        float* tp = t + c * HW;
        for (npy_intp p = 0; p < HW; ++p) {
            const float s = k + alpha * sp[p];
            const float inv = 1.0f / (@pow_beta@);  /* s^-beta */
            sp[p] = inv;
            tp[p] = gp[p] * xp[p] * inv / s;
        }
    }
    const float coef = 2.0f * alpha * beta;
    for (npy_intp c = 0; c < C; ++c) {
        float* gxp = gxb + c * HW;
        const npy_intp j0 = (c + lo - n + 1 < 0) ? 0 : c + lo - n + 1, j1 = (c + lo + 1 > C) ? C : c + lo + 1;
        for (npy_intp p = 0; p < HW; ++p) gxp[p] = 0.0f;
        for (npy_intp j = j0; j < j1; ++j) {
            const float* tj = t + j * HW;
            for (npy_intp p = 0; p < HW; ++p) gxp[p] += tj[p];
        }
        const float* xp = xb + c * HW;
        const float* gp = gb + c * HW;
        const float* sp = spb + c * HW;
        for (npy_intp p = 0; p < HW; ++p) gxp[p] = gp[p] * sp[p] - coef * xp[p] * gxp[p];
    }
    free(spb);
}
Py_DECREF(xc); Py_DECREF(gc);
if (nomem) { PyErr_NoMemory(); @fail@; }
}
