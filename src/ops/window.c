/*
 * Window and filter-bank generators (opset 17): HannWindow, HammingWindow, BlackmanWindow and
 * MelWeightMatrix. Their inputs are scalars whose values infer needs; the outputs depend on
 * nothing else, so the executor folds them at prepare time. Computed in double, rounded once to
 * output_datatype (float32 by default, or float64).
 *
 * Windows of size S (input 0): N = S when periodic (default 1), else S - 1, and for n < S
 *   Hann     w = 0.5 - 0.5 cos(2 pi n / N)
 *   Hamming  w = 25/46 - 21/46 cos(2 pi n / N)
 *   Blackman w = 0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N)
 * A symmetric window of size 1 is (1).
 *
 * MelWeightMatrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz) is
 * [dft_length / 2 + 1, num_mel_bins] of triangular filters, as the ONNX reference computes them:
 * mel(f) = 2595 log10(1 + f / 700) of both edges (float32, as numpy evaluates the float32 edge
 * inputs), num_mel_bins + 2 points spaced by (high - low) / (num_mel_bins + 2) from low, back to
 * Hertz and to bins floor((dft_length + 1) f / sample_rate); filter i rises from point i to
 * point i + 1 and falls to point i + 2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#define PI 3.14159265358979323846

enum window_kind { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN };

typedef struct window_params {
    int kind;
    int64_t size;
    bool periodic;
} window_params;

typedef struct mel_params {
    int64_t mels, bins;
    int64_t point[]; /* mels + 2 bin indices */
} mel_params;

static qcal_status out_type(const qcal__node *n, qcal_dtype *dt, qcal_error *err)
{
    int64_t v = qcal__attr_int(n, "output_datatype", QCAL_DT_FLOAT);

    if (v != QCAL_DT_FLOAT && v != QCAL_DT_DOUBLE)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output_datatype %lld: only float32 "
                                "(1) and float64 (11) are supported", (long long)v);
    *dt = (qcal_dtype)v;
    return QCAL_OK;
}

static void put(const qcal__tensor *t, size_t i, double v)
{
    if (t->dtype == QCAL_DT_DOUBLE)
        ((double *)t->data)[i] = v;
    else
        ((float *)t->data)[i] = (float)v;
}

/* Reads the integer scalar CONST input i. */
static qcal_status int_scalar(const qcal__node *n, int i, int64_t *v, qcal_error *err)
{
    size_t cnt = 0;
    qcal_status st = qcal__const_ints(n, i, v, 1, &cnt, err);

    if (st == QCAL_OK && cnt != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input %d must be a scalar", i);
    return st;
}

static qcal_status window_infer(qcal__node *n, int kind, qcal_error *err)
{
    window_params *p;
    qcal_dtype dt = QCAL_DT_FLOAT;
    int64_t size = 0;
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st == QCAL_OK)
        st = out_type(n, &dt, err);
    if (st == QCAL_OK)
        st = int_scalar(n, 0, &size, err);
    if (st != QCAL_OK)
        return st;
    if (size < 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "size %lld is negative",
                                (long long)size);
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output is missing");
    st = qcal__tensor_set_shape(n->out[0], dt, 1, &size, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->kind = kind;
    p->size = size;
    p->periodic = qcal__attr_int(n, "periodic", 1) != 0;
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

static qcal_status hann_infer(qcal__node *n, qcal_error *err)
{
    return window_infer(n, WIN_HANN, err);
}

static qcal_status hamming_infer(qcal__node *n, qcal_error *err)
{
    return window_infer(n, WIN_HAMMING, err);
}

static qcal_status blackman_infer(qcal__node *n, qcal_error *err)
{
    return window_infer(n, WIN_BLACKMAN, err);
}

static void window_run(const qcal__node *n, void *scratch)
{
    const window_params *p = n->params;
    const double den = (double)(p->periodic ? p->size : p->size - 1);

    (void)scratch;
    for (int64_t i = 0; i < p->size; i++) {
        const double a = den > 0.0 ? 2.0 * PI * (double)i / den : 0.0;
        double w;
        switch (p->kind) {
        case WIN_HANN: w = 0.5 - 0.5 * cos(a); break;
        case WIN_HAMMING: w = 25.0 / 46.0 - (21.0 / 46.0) * cos(a); break;
        default: w = 0.42 - 0.5 * cos(a) + 0.08 * cos(2.0 * a); break;
        }
        put(n->out[0], (size_t)i, den > 0.0 ? w : 1.0);
    }
}

/* ---- MelWeightMatrix ---- */

static qcal_status mel_infer(qcal__node *n, qcal_error *err)
{
    int64_t mels = 0, dft = 0, rate = 0, dims[2];
    float edge[2];
    size_t cnt = 0;
    qcal_dtype dt = QCAL_DT_FLOAT;
    mel_params *p;
    float lo_mel, hi_mel, step;
    qcal_status st = qcal__check_inputs(n, 5, 5, err);

    if (st == QCAL_OK)
        st = out_type(n, &dt, err);
    if (st == QCAL_OK)
        st = int_scalar(n, 0, &mels, err);
    if (st == QCAL_OK)
        st = int_scalar(n, 1, &dft, err);
    if (st == QCAL_OK)
        st = int_scalar(n, 2, &rate, err);
    for (int i = 0; i < 2 && st == QCAL_OK; i++) {
        st = qcal__const_floats(n, 3 + i, &edge[i], 1, &cnt, err);
        if (st == QCAL_OK && cnt != 1)
            st = qcal__node_error(err, n, QCAL_E_SHAPE, "input %d must be a scalar", 3 + i);
    }
    if (st != QCAL_OK)
        return st;
    if (mels < 1 || dft < 1 || rate < 1 || mels > (1 << 20) || dft > (INT64_C(1) << 40) ||
        !(edge[0] >= 0.0f) || !(edge[1] > edge[0]))
        return qcal__node_error(err, n, QCAL_E_INVALID, "num_mel_bins, dft_length and "
                                "sample_rate must be >= 1 and 0 <= lower_edge_hertz < "
                                "upper_edge_hertz");
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output is missing");
    dims[0] = dft / 2 + 1;
    dims[1] = mels;
    st = qcal__tensor_set_shape(n->out[0], dt, 2, dims, err);
    if (st != QCAL_OK)
        return st;
    p = malloc(sizeof *p + (size_t)(mels + 2) * sizeof p->point[0]);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->mels = mels;
    p->bins = dims[0];
    lo_mel = 2595.0f * log10f(1.0f + edge[0] / 700.0f);
    hi_mel = 2595.0f * log10f(1.0f + edge[1] / 700.0f);
    step = (hi_mel - lo_mel) / (float)(mels + 2);
    for (int64_t i = 0; i < mels + 2; i++) {
        double mel = (double)i * (double)step + (double)lo_mel;
        double hz = 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
        double bin = floor((double)(dft + 1) * hz / (double)rate);
        if (!(bin >= 0.0 && bin < (double)p->bins))
            return qcal__node_error(err, n, QCAL_E_INVALID, "upper_edge_hertz %g maps past the "
                                    "last of %lld spectrogram bins", (double)edge[1],
                                    (long long)p->bins);
        p->point[i] = (int64_t)bin;
    }
    n->scratch = 0;
    return QCAL_OK;
}

static void mel_run(const qcal__node *n, void *scratch)
{
    const mel_params *p = n->params;
    const qcal__tensor *y = n->out[0];
    const size_t m = (size_t)p->mels;

    (void)scratch;
    if (y->dtype == QCAL_DT_DOUBLE)
        memset(y->data, 0, y->nelem * sizeof(double));
    else
        memset(y->data, 0, y->nelem * sizeof(float));
    for (size_t i = 0; i < m; i++) {
        const int64_t lo = p->point[i], c = p->point[i + 1], hi = p->point[i + 2];
        if (c == lo)
            put(y, (size_t)c * m + i, 1.0);
        else
            for (int64_t j = lo; j <= c; j++)
                put(y, (size_t)j * m + i, (double)(j - lo) / (double)(c - lo));
        for (int64_t j = c; j < hi; j++)
            put(y, (size_t)j * m + i, (double)(hi - j) / (double)(hi - c));
    }
}

const qcal__op qcal__ops_window[] = {
    { "BlackmanWindow", 17, QCAL__OPSET_LAST, blackman_infer, window_run, 1u },
    { "HammingWindow", 17, QCAL__OPSET_LAST, hamming_infer, window_run, 1u },
    { "HannWindow", 17, QCAL__OPSET_LAST, hann_infer, window_run, 1u },
    { "MelWeightMatrix", 17, QCAL__OPSET_LAST, mel_infer, mel_run, 0x1fu },
    { NULL, 0, 0, NULL, NULL, 0 },
};
