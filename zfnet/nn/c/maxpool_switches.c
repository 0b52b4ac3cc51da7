/* maxpool_switches.c: filled in by zfnet.nn.csource.render (@name@ placeholders); its SHA-256 is part of
   the op's c_code_cache_version, so an edit here can never load a stale compiled module. */
{
PyArrayObject* xc = PyArray_GETCONTIGUOUS(@x@);
if (!xc) @fail@;
const npy_intp B = PyArray_DIMS(xc)[0], C = PyArray_DIMS(xc)[1];
const npy_intp H = PyArray_DIMS(xc)[2], W = PyArray_DIMS(xc)[3];
const int ws = @ws@, st = @s@, ib = @ib@;
npy_intp ho, wo;
if (ib) { ho = (H - ws) / st + 1; wo = (W - ws) / st + 1; }
else if (st >= ws) { ho = (H - 1) / st + 1; wo = (W - 1) / st + 1; }
else {
    ho = (H - 1 - ws + st) / st; if (ho < 0) ho = 0; ho += 1;
    wo = (W - 1 - ws + st) / st; if (wo < 0) wo = 0; wo += 1;
}
if (H < 1 || W < 1 || ho < 1 || wo < 1) {
    Py_DECREF(xc);
    PyErr_Format(PyExc_ValueError, "MaxPoolSwitches: input map %ldx%ld is too small for "
                 "%dx%d windows", (long)H, (long)W, ws, ws);
    @fail@;
}
npy_intp dims[4] = {B, C, ho, wo};
if (!@z@ || PyArray_NDIM(@z@) != 4 || !PyArray_ISCONTIGUOUS(@z@)
    || PyArray_DIMS(@z@)[0] != B || PyArray_DIMS(@z@)[1] != C
    || PyArray_DIMS(@z@)[2] != ho || PyArray_DIMS(@z@)[3] != wo) {
    Py_XDECREF(@z@);
    @z@ = (PyArrayObject*)PyArray_EMPTY(4, dims, NPY_FLOAT32, 0);
}
if (!@sw@ || PyArray_NDIM(@sw@) != 4 || !PyArray_ISCONTIGUOUS(@sw@)
    || PyArray_DIMS(@sw@)[0] != B || PyArray_DIMS(@sw@)[1] != C
    || PyArray_DIMS(@sw@)[2] != ho || PyArray_DIMS(@sw@)[3] != wo) {
    Py_XDECREF(@sw@);
    @sw@ = (PyArrayObject*)PyArray_EMPTY(4, dims, NPY_INT32, 0);
}
if (!@z@ || !@sw@) { Py_DECREF(xc); @fail@; }
const float* X = (const float*)PyArray_DATA(xc);
float* Z = (float*)PyArray_DATA(@z@);
npy_int32* S = (npy_int32*)PyArray_DATA(@sw@);
const npy_intp planes = B * C;
@omp@
for (npy_intp p = 0; p < planes; ++p) {
    const float* xp = X + p * H * W;
    float* zp = Z + p * ho * wo;
    npy_int32* sp = S + p * ho * wo;
    for (npy_intp i = 0; i < ho; ++i) {
        const npy_intp y0 = i * st, y1 = (y0 + ws < H) ? y0 + ws : H;
        for (npy_intp j = 0; j < wo; ++j) {
            const npy_intp x0 = j * st, x1 = (x0 + ws < W) ? x0 + ws : W;
            /* one pass without branches: the maximum of the non-NaN values (v > m is false
               for a NaN) and whether the window holds a NaN at all */
            float m = -INFINITY;
            int has_nan = 0;
            for (npy_intp y = y0; y < y1; ++y) {
                const float* row = xp + y * W;
                for (npy_intp xx = x0; xx < x1; ++xx) {
                    const float v = row[xx];
                    m = (v > m) ? v : m;
                    has_nan |= (v != v);
                }
            }
            if (has_nan) {  /* NaN wins its window (the first one), as numpy's max propagates it */
                npy_intp nanpos = -1;
                for (npy_intp y = y0; y < y1 && nanpos < 0; ++y)
                    for (npy_intp xx = x0; xx < x1; ++xx)
                        if (isnan(xp[y * W + xx])) { nanpos = y * W + xx; break; }
                zp[i * wo + j] = xp[nanpos];
                sp[i * wo + j] = (npy_int32)nanpos;
                continue;
            }
            /* the first value within the tie tolerance of the maximum wins; an
               infinite maximum is matched exactly (inf - rtol * inf is NaN) */
            const float floor_ = isinf(m) ? m : m - (float)@rtol@ * fabsf(m);
            /* backwards without branches: the last candidate written is the first in row-major
               order (the maximum itself qualifies, so one always does) */
            npy_intp best = -1;
            for (npy_intp y = y1 - 1; y >= y0; --y) {
                const float* row = xp + y * W;
                for (npy_intp xx = x1 - 1; xx >= x0; --xx)
                    best = (row[xx] >= floor_) ? y * W + xx : best;
            }
            zp[i * wo + j] = m;
            sp[i * wo + j] = (npy_int32)best;
        }
    }
}
Py_DECREF(xc);
}
