/* batched_corr.c: filled in by zfnet.nn.csource.render (its at-sign placeholders); its SHA-256 is part
   of the op's c_code_cache_version, so an edit here can never load a stale compiled module.

   A correlation (no flip) of x (B, C, H, W) with w (M, C, kh, kw), stride (sh, sw), zero padding
   (ph, pw), as im2col + one matrix product per chunk of G images (CorrMM does one per image):
   cols (K, G*P), K = C*kh*kw, P = Ho*Wo, column bb*P + p for image bb's output pixel p.
     kind 0, forward:        y (B, M, Ho, Wo) = w (M, K) . cols
     kind 1, weight grad.:   dw (M, C, kh, kw) = sum over chunks of dy (M, G*P) . cols^T
     kind 2, input grad.:    dx (B, C, H, W) = col2im(w^T (K, M) . dy (M, G*P))
   G is chosen so a chunk's columns stay in a core's cache; the chunks are shared out among the
   OpenMP threads (static schedule), each doing its own with a single-threaded sgemm. Kind 1
   sums each thread's chunks into its own buffer and adds the buffers in thread order, so the
   result is the same on every run with the same number of threads. Inputs: a (x for kinds 0,
   1; w for kind 2), b (w for kind 0; dy for kinds 1, 2), and for kind 2 the input size (H, W),
   which a stride > 1 leaves ambiguous. */
{
const int kind = @kind@;
const npy_intp kh = @kh@, kw = @kw@, sh = @sh@, sw = @sw@, ph = @ph@, pw = @pw@;
PyArrayObject* ac = PyArray_GETCONTIGUOUS(@a@);
PyArrayObject* bc = PyArray_GETCONTIGUOUS(@b@);
int ok = (ac != NULL && bc != NULL);
npy_intp B = 0, C = 0, H = 0, W = 0, M = 0, Ho = 0, Wo = 0;
if (ok) {
    if (kind == 0) {
        B = PyArray_DIMS(ac)[0]; C = PyArray_DIMS(ac)[1]; H = PyArray_DIMS(ac)[2]; W = PyArray_DIMS(ac)[3];
        M = PyArray_DIMS(bc)[0];
        if (PyArray_DIMS(bc)[1] != C || PyArray_DIMS(bc)[2] != kh || PyArray_DIMS(bc)[3] != kw) {
            PyErr_Format(PyExc_ValueError, "BatchedCorr: filters (%ld, %ld, %ld, %ld) for %ld input "
                         "channels, expected (M, %ld, %ld, %ld)", (long)PyArray_DIMS(bc)[0],
                         (long)PyArray_DIMS(bc)[1], (long)PyArray_DIMS(bc)[2], (long)PyArray_DIMS(bc)[3],
                         (long)C, (long)C, (long)kh, (long)kw);
            ok = 0;
        }
        Ho = (H + 2 * ph - kh) / sh + 1; Wo = (W + 2 * pw - kw) / sw + 1;
    } else if (kind == 1) {
        B = PyArray_DIMS(ac)[0]; C = PyArray_DIMS(ac)[1]; H = PyArray_DIMS(ac)[2]; W = PyArray_DIMS(ac)[3];
        M = PyArray_DIMS(bc)[1]; Ho = PyArray_DIMS(bc)[2]; Wo = PyArray_DIMS(bc)[3];
        if (PyArray_DIMS(bc)[0] != B || Ho != (H + 2 * ph - kh) / sh + 1 || Wo != (W + 2 * pw - kw) / sw + 1) {
            PyErr_Format(PyExc_ValueError, "BatchedCorr: output gradient (%ld, %ld, %ld, %ld) does not "
                         "fit inputs (%ld, %ld, %ld, %ld)", (long)PyArray_DIMS(bc)[0], (long)M, (long)Ho,
                         (long)Wo, (long)B, (long)C, (long)H, (long)W);
            ok = 0;
        }
    } else {
        M = PyArray_DIMS(ac)[0]; C = PyArray_DIMS(ac)[1];
        B = PyArray_DIMS(bc)[0]; Ho = PyArray_DIMS(bc)[2]; Wo = PyArray_DIMS(bc)[3];
        @read_shape@
        if (PyArray_DIMS(bc)[1] != M || PyArray_DIMS(ac)[2] != kh || PyArray_DIMS(ac)[3] != kw
            || Ho != (H + 2 * ph - kh) / sh + 1 || Wo != (W + 2 * pw - kw) / sw + 1) {
            PyErr_Format(PyExc_ValueError, "BatchedCorr: output gradient (%ld, %ld, %ld, %ld) does not "
                         "fit filters (%ld, %ld, %ld, %ld) and inputs of %ld x %ld", (long)B,
                         (long)PyArray_DIMS(bc)[1], (long)Ho, (long)Wo, (long)M, (long)C,
                         (long)PyArray_DIMS(ac)[2], (long)PyArray_DIMS(ac)[3], (long)H, (long)W);
            ok = 0;
        }
    }
    if (ok && (Ho < 1 || Wo < 1)) {
        PyErr_Format(PyExc_ValueError, "BatchedCorr: inputs of %ld x %ld are smaller than the "
                     "%ld x %ld filters with padding (%ld, %ld)", (long)H, (long)W, (long)kh, (long)kw,
                     (long)ph, (long)pw);
        ok = 0;
    }
}
if (ok) {
    npy_intp dims[4];
    if (kind == 0) { dims[0] = B; dims[1] = M; dims[2] = Ho; dims[3] = Wo; }
    else if (kind == 1) { dims[0] = M; dims[1] = C; dims[2] = kh; dims[3] = kw; }
    else { dims[0] = B; dims[1] = C; dims[2] = H; dims[3] = W; }
    if (!@o@ || PyArray_NDIM(@o@) != 4 || !PyArray_ISCONTIGUOUS(@o@)
        || !PyArray_CompareLists(PyArray_DIMS(@o@), dims, 4)) {
        Py_XDECREF(@o@);
        @o@ = (PyArrayObject*)PyArray_EMPTY(4, dims, NPY_FLOAT32, 0);
        if (!@o@) ok = 0;
    }
}
const npy_intp K = C * kh * kw, P = Ho * Wo;
if (ok) {
    if (kind == 2) memset(PyArray_DATA(@o@), 0, B * C * H * W * sizeof(float));
    if (kind == 1) memset(PyArray_DATA(@o@), 0, M * K * sizeof(float));
}
if (ok && B > 0 && K > 0 && M > 0 && P > 0) {
    const float* A = (const float*)PyArray_DATA(ac);
    const float* Bm = (const float*)PyArray_DATA(bc);
    float* O = (float*)PyArray_DATA(@o@);
    int nthreads = 1;
    @get_max_threads@
    /* images per chunk: a chunk's columns about @chunk_floats@ floats (in a core's cache), at
       least one image, and no more than a thread's share of the batch */
    npy_intp G = @chunk_floats@ / (K * P);
    const npy_intp share = (B + nthreads - 1) / nthreads;
    if (G > share) G = share;
    if (G < 1) G = 1;
    const npy_intp nchunks = (B + G - 1) / G;
    float* partial = NULL;  /* kind 1: each thread's sum of dw, added up in thread order */
    if (kind == 1 && nthreads > 1) {
        partial = (float*)calloc((size_t)nthreads * M * K, sizeof(float));
        if (!partial) { PyErr_NoMemory(); ok = 0; }
    }
    int failed = 0;
    int saved_threads = @get_threads@;
    (void)saved_threads;
    @set1@
    if (ok) {
    @omp_parallel@
    {
        int tid = 0;
        @thread_id@
        float* cols = (float*)malloc(K * G * P * sizeof(float));
        float* mat = (float*)malloc(M * G * P * sizeof(float));
        float* dw = (kind == 1) ? (partial ? partial + (npy_intp)tid * M * K : O) : NULL;
        if (!cols || !mat) failed = 1;
        @omp_for@
        for (npy_intp ch = 0; ch < nchunks; ++ch) {
            if (!cols || !mat) continue;
            const npy_intp b0 = ch * G;
            const npy_intp n = (B - b0 < G) ? B - b0 : G;
            const npy_intp N = n * P;
            const int iN = (int)N, ik = (int)K, im = (int)M;
            const float one = 1.0f, zero = 0.0f;
            char NN = 'N', TT = 'T';
            if (kind != 2) {  /* im2col of the chunk's inputs */
                const float* X = A + b0 * C * H * W;
                for (npy_intp r = 0; r < K; ++r) {
                    const npy_intp c = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
                    for (npy_intp bb = 0; bb < n; ++bb) {
                        const float* xp = X + (bb * C + c) * H * W;
                        float* d = cols + r * N + bb * P;
                        for (npy_intp oh = 0; oh < Ho; ++oh, d += Wo) {
                            const npy_intp h = oh * sh + i - ph;
                            if (h < 0 || h >= H) { for (npy_intp ow = 0; ow < Wo; ++ow) d[ow] = 0.0f; continue; }
                            /* w = ow * sw + j - pw lies in [0, W) for ow in [lo, hi) */
                            const npy_intp lo = (pw - j > 0) ? (pw - j + sw - 1) / sw : 0;
                            npy_intp hi = (W - 1 + pw - j >= 0) ? (W - 1 + pw - j) / sw + 1 : 0;
                            if (hi > Wo) hi = Wo;
                            const float* xr = xp + h * W + j - pw;
                            npy_intp ow = 0;
                            for (; ow < lo && ow < Wo; ++ow) d[ow] = 0.0f;
                            if (sw == 1) for (; ow < hi; ++ow) d[ow] = xr[ow];
                            else for (; ow < hi; ++ow) d[ow] = xr[ow * sw];
                            for (; ow < Wo; ++ow) d[ow] = 0.0f;
                        }
                    }
                }
            }
            if (kind != 0) {  /* the chunk's output gradient as (M, n*P) */
                for (npy_intp m = 0; m < M; ++m) for (npy_intp bb = 0; bb < n; ++bb)
                    memcpy(mat + m * N + bb * P, Bm + ((b0 + bb) * M + m) * P, P * sizeof(float));
            }
            if (kind == 0) {
                /* mat (M x N) = w (M x K) . cols (K x N); BLAS is column-major: mat^T = cols^T w^T */
                sgemm_(&NN, &NN, &iN, &im, &ik, &one, cols, &iN, Bm, &ik, &zero, mat, &iN);
                for (npy_intp bb = 0; bb < n; ++bb) for (npy_intp m = 0; m < M; ++m)
                    memcpy(O + ((b0 + bb) * M + m) * P, mat + m * N + bb * P, P * sizeof(float));
            } else if (kind == 1) {
                /* dw (M x K) += mat (M x N) . cols^T: dw^T = cols (read transposed) . mat^T */
                sgemm_(&TT, &NN, &ik, &im, &iN, &one, cols, &iN, mat, &iN, &one, dw, &ik);
            } else {
                /* cols (K x N) = w^T (K x M) . mat (M x N): cols^T = mat^T . w */
                sgemm_(&NN, &TT, &iN, &ik, &im, &one, mat, &iN, A, &ik, &zero, cols, &iN);
                /* col2im, one input plane at a time */
                for (npy_intp bb = 0; bb < n; ++bb) for (npy_intp c = 0; c < C; ++c) {
                    float* dx = O + ((b0 + bb) * C + c) * H * W;
                    for (npy_intp i = 0; i < kh; ++i) for (npy_intp j = 0; j < kw; ++j) {
                        const float* s = cols + ((c * kh + i) * kw + j) * N + bb * P;
                        for (npy_intp oh = 0; oh < Ho; ++oh) {
                            const npy_intp h = oh * sh + i - ph;
                            if (h < 0 || h >= H) continue;
                            float* dr = dx + h * W;
                            const float* sr = s + oh * Wo;
                            for (npy_intp ow = 0; ow < Wo; ++ow) {
                                const npy_intp w = ow * sw + j - pw;
                                if (w >= 0 && w < W) dr[w] += sr[ow];
                            }
                        }
                    }
                }
            }
        }
        free(cols); free(mat);
    }
    }
    @restore@
    if (failed) { PyErr_NoMemory(); ok = 0; }
    if (ok && partial) {  /* the threads' sums of dw, in thread order */
        for (int t = 0; t < nthreads; ++t) {
            const float* pt = partial + (npy_intp)t * M * K;
            for (npy_intp q = 0; q < M * K; ++q) O[q] += pt[q];
        }
    }
    free(partial);
}
Py_XDECREF(ac); Py_XDECREF(bc);
if (!ok) { @fail@; }
}
