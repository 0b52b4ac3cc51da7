/* winograd.c: filled in by zfnet.nn.csource.render (@name@ placeholders); its SHA-256 is part of
   the op's c_code_cache_version, so an edit here can never load a stale compiled module. */
{
PyArrayObject* xc[@m@];
PyArrayObject* wc = NULL;
float* U = NULL; const float** src = NULL; float** dst = NULL;
int ok = 1;
for (int i = 0; i < @m@; ++i) xc[i] = NULL;
@take@
wc = PyArray_GETCONTIGUOUS(@w@);
for (int i = 0; i < @m@; ++i) if (!xc[i]) ok = 0;
if (!wc) ok = 0;
npy_intp Bn = 0, Rtot = 0, Cin = 0, H = 0, W = 0, NI = 0;
npy_intp K0 = 0, C0 = 0, Cout = 0, Ho = 0, Wo = 0;
const int q = @q@;
if (ok) {
    const int nd = @nd@;
    Bn = PyArray_DIMS(xc[0])[0];
    Cin = PyArray_DIMS(xc[0])[nd - 3]; H = PyArray_DIMS(xc[0])[nd - 2]; W = PyArray_DIMS(xc[0])[nd - 1];
    for (int i = 0; i < @m@; ++i) {
        if (PyArray_DIMS(xc[i])[0] != Bn || PyArray_DIMS(xc[i])[nd - 3] != Cin
            || PyArray_DIMS(xc[i])[nd - 2] != H || PyArray_DIMS(xc[i])[nd - 1] != W) {
            PyErr_SetString(PyExc_ValueError, "Winograd3x3: the parts differ in batch, channels or size");
            ok = 0; break;
        }
        Rtot += (nd == 5) ? PyArray_DIMS(xc[i])[1] : 1;
    }
    K0 = PyArray_DIMS(wc)[0]; C0 = PyArray_DIMS(wc)[1];
    Cout = @transposed@ ? C0 : K0;
    Ho = H + 2 * q - 2; Wo = W + 2 * q - 2;
    if (ok && (PyArray_DIMS(wc)[2] != 3 || PyArray_DIMS(wc)[3] != 3
               || (@transposed@ ? K0 : C0) != Cin || Ho < 1 || Wo < 1)) {
        PyErr_Format(PyExc_ValueError, "Winograd3x3: inputs of %ld channels, %ld x %ld, do not fit "
                     "filters (%ld, %ld, %ld, %ld)", (long)Cin, (long)H, (long)W,
                     (long)K0, (long)C0, (long)PyArray_DIMS(wc)[2], (long)PyArray_DIMS(wc)[3]);
        ok = 0;
    }
    NI = Bn * Rtot;
}
if (ok) {
    npy_intp dims[5];
    if (@nd@ == 4) { dims[0] = Bn; dims[1] = Cout; dims[2] = Ho; dims[3] = Wo; }
    else { dims[0] = Bn; dims[1] = Rtot; dims[2] = Cout; dims[3] = Ho; dims[4] = Wo; }
    int fits = @o@ && PyArray_NDIM(@o@) == @nd@ && PyArray_ISCONTIGUOUS(@o@);
    for (int d = 0; fits && d < @nd@; ++d) fits = PyArray_DIMS(@o@)[d] == dims[d];
    if (!fits) {
        Py_XDECREF(@o@);
        @o@ = (PyArrayObject*)PyArray_EMPTY(@nd@, dims, NPY_FLOAT32, 0);
        if (!@o@) ok = 0;
    }
}
if (ok && NI > 0 && Cout > 0 && Cin == 0)
    memset(PyArray_DATA(@o@), 0, NI * Cout * Ho * Wo * sizeof(float));
if (ok && NI > 0 && Cout > 0 && Cin > 0) {
    /* each image of the (virtual) concatenation: where it is read and written */
    src = (const float**)malloc(NI * sizeof(float*));
    dst = (float**)malloc(NI * sizeof(float*));
    U = (float*)malloc(16 * Cout * Cin * sizeof(float));
    if (!src || !dst || !U) { PyErr_NoMemory(); ok = 0; }
}
if (ok && src) {
    float* O = (float*)PyArray_DATA(@o@);
    npy_intp n = 0;
    for (npy_intp b = 0; b < Bn; ++b) {
        for (int i = 0; i < @m@; ++i) {
            const npy_intp Ri = (@nd@ == 5) ? PyArray_DIMS(xc[i])[1] : 1;
            const float* base = (const float*)PyArray_DATA(xc[i]);
            for (npy_intp r = 0; r < Ri; ++r, ++n) {
                src[n] = base + (b * Ri + r) * Cin * H * W;
                dst[n] = O + n * Cout * Ho * Wo;
            }
        }
    }
    /* filter transform U[xi][co][ci] = (G f G^T)[xi] */
    const float* Wt = (const float*)PyArray_DATA(wc);
    @omp_for_static@
    for (npy_intp co = 0; co < Cout; ++co) for (npy_intp ci = 0; ci < Cin; ++ci) {
        const float* f0 = @transposed@ ? Wt + (ci * C0 + co) * 9 : Wt + (co * C0 + ci) * 9;
        float f[3][3], r[4][3];
        for (int i = 0; i < 3; ++i) for (int j = 0; j < 3; ++j)
            f[i][j] = @flip@ ? f0[(2 - i) * 3 + (2 - j)] : f0[i * 3 + j];
        for (int j = 0; j < 3; ++j) {
            r[0][j] = f[0][j];
            r[1][j] = 0.5f * (f[0][j] + f[1][j] + f[2][j]);
            r[2][j] = 0.5f * (f[0][j] - f[1][j] + f[2][j]);
            r[3][j] = f[2][j];
        }
        for (int i = 0; i < 4; ++i) {
            float u[4];
            u[0] = r[i][0];
            u[1] = 0.5f * (r[i][0] + r[i][1] + r[i][2]);
            u[2] = 0.5f * (r[i][0] - r[i][1] + r[i][2]);
            u[3] = r[i][2];
            for (int j = 0; j < 4; ++j) U[((i * 4 + j) * Cout + co) * Cin + ci] = u[j];
        }
    }
    /* 2x2 output tiles, TW to a tile row; a chunk is CR whole tile rows */
    const npy_intp TH = (Ho + 1) / 2, TW = (Wo + 1) / 2, rows_total = NI * TH;
    const npy_intp WP = 2 * TW + 2;            /* a padded input row of a tile row */
    npy_intp CR = (npy_intp)(1048576 / (16 * (Cin + Cout) * TW));  /* about 4 MiB of V and M */
    if (CR < 1) CR = 1;
    if (CR * TW < 256) CR = (256 + TW - 1) / TW;
    if (CR > rows_total) CR = rows_total;
    const npy_intp chunk = CR * TW;
    const npy_intp nchunks = (rows_total + CR - 1) / CR;
    int failed = 0;
    int saved_threads = @get_threads@;
    (void)saved_threads;
    @set1@
    @omp_parallel@
    {
        float* V = (float*)malloc(16 * Cin * chunk * sizeof(float));
        float* M = (float*)malloc(16 * Cout * chunk * sizeof(float));
        float* buf = (float*)malloc(8 * WP * sizeof(float));
        if (!V || !M || !buf) failed = 1;
        @omp_for@
        for (npy_intp ch = 0; ch < nchunks; ++ch) {
            if (!V || !M || !buf) continue;
            const npy_intp row0 = ch * CR;
            const npy_intp nrows = (rows_total - row0 < CR) ? rows_total - row0 : CR;
            const int nt = (int)(nrows * TW);
            /* input transform, a tile row at a time: V[xi][c][t] = (B^T d B)[xi] */
            for (npy_intp rr = 0; rr < nrows; ++rr) {
                const npy_intp n = (row0 + rr) / TH, ty = (row0 + rr) % TH;
                const npy_intp tb = rr * TW;
                for (npy_intp c = 0; c < Cin; ++c) {
                    const float* Xp = src[n] + c * H * W;
                    float* b[4];
                    for (int i = 0; i < 4; ++i) {
                        b[i] = buf + i * WP;
                        const npy_intp yy = 2 * ty - q + i;
                        if (yy < 0 || yy >= H) { memset(b[i], 0, WP * sizeof(float)); continue; }
                        /* padded row: b[i][xp] = X[yy][xp - q], zero outside */
                        const npy_intp lo = q, hi = (q + W < WP) ? q + W : WP;
                        for (npy_intp xp = 0; xp < lo; ++xp) b[i][xp] = 0.0f;
                        memcpy(b[i] + lo, Xp + yy * W, (hi - lo) * sizeof(float));
                        for (npy_intp xp = hi; xp < WP; ++xp) b[i][xp] = 0.0f;
                    }
                    float* r0 = buf + 4 * WP; float* r1 = r0 + WP; float* r2 = r1 + WP; float* r3 = r2 + WP;
                    for (npy_intp x = 0; x < WP; ++x) {
                        const float d0 = b[0][x], d1 = b[1][x], d2 = b[2][x], d3 = b[3][x];
                        r0[x] = d0 - d2; r1[x] = d1 + d2; r2[x] = d2 - d1; r3[x] = d1 - d3;
                    }
                    const float* rs[4] = {r0, r1, r2, r3};
                    for (int i = 0; i < 4; ++i) {
                        const float* ri = rs[i];
                        float* v0 = V + ((i * 4 + 0) * Cin + c) * chunk + tb;
                        float* v1 = V + ((i * 4 + 1) * Cin + c) * chunk + tb;
                        float* v2 = V + ((i * 4 + 2) * Cin + c) * chunk + tb;
                        float* v3 = V + ((i * 4 + 3) * Cin + c) * chunk + tb;
                        for (npy_intp tx = 0; tx < TW; ++tx) {
                            const float e0 = ri[2 * tx], e1 = ri[2 * tx + 1], e2 = ri[2 * tx + 2],
                                        e3 = ri[2 * tx + 3];
                            v0[tx] = e0 - e2; v1[tx] = e1 + e2; v2[tx] = e2 - e1; v3[tx] = e1 - e3;
                        }
                    }
                }
            }
            /* 16 products M[xi] (Cout x nt) = U[xi] (Cout x Cin) V[xi] (Cin x nt) */
            {
                const float one = 1.0f, zero = 0.0f;
                const int ld = (int)chunk, ci = (int)Cin, co = (int)Cout;
                char NN = 'N';
                for (int xi = 0; xi < 16; ++xi)
                    sgemm_(&NN, &NN, &nt, &co, &ci, &one, V + xi * Cin * chunk, &ld,
                           U + xi * Cout * Cin, &ci, &zero, M + xi * Cout * chunk, &ld);
            }
            /* output transform y = A^T m A, a tile row at a time */
            float* o0 = buf; float* o1 = buf + WP;
            for (npy_intp k = 0; k < Cout; ++k) {
                for (npy_intp rr = 0; rr < nrows; ++rr) {
                    const npy_intp n = (row0 + rr) / TH, ty = (row0 + rr) % TH;
                    const float* e[16];
                    for (int xi = 0; xi < 16; ++xi) e[xi] = M + (xi * Cout + k) * chunk + rr * TW;
                    for (npy_intp tx = 0; tx < TW; ++tx) {
                        float a0[4], a1[4];
                        for (int j = 0; j < 4; ++j) {
                            a0[j] = e[j][tx] + e[4 + j][tx] + e[8 + j][tx];
                            a1[j] = e[4 + j][tx] - e[8 + j][tx] - e[12 + j][tx];
                        }
                        o0[2 * tx] = a0[0] + a0[1] + a0[2]; o0[2 * tx + 1] = a0[1] - a0[2] - a0[3];
                        o1[2 * tx] = a1[0] + a1[1] + a1[2]; o1[2 * tx + 1] = a1[1] - a1[2] - a1[3];
                    }
                    float* Op = dst[n] + k * Ho * Wo + 2 * ty * Wo;
                    memcpy(Op, o0, Wo * sizeof(float));
                    if (2 * ty + 1 < Ho) memcpy(Op + Wo, o1, Wo * sizeof(float));
                }
            }
        }
        free(V); free(M); free(buf);
    }
    @restore@
    if (failed) { PyErr_NoMemory(); ok = 0; }
}
free(U); free((void*)src); free(dst);
for (int i = 0; i < @m@; ++i) Py_XDECREF(xc[i]);
Py_XDECREF(wc);
if (!ok) { @fail@; }
}
