/*
 * Fourier transforms: DFT-17/20 and STFT-17, float32 and float64, as plain O(n^2) reference loops
 * computed in double and rounded once to the output type.
 *
 * DFT: the input is [..., signal dims ..., 1 | 2] (real, or complex as (re, im) pairs); the
 * transform runs along `axis` (the attribute at opset 17, default 1; input 2 from opset 20,
 * default -2; accepted range [-r, -2] u [0, r - 2]) over dft_length points (input 1: the signal
 * is truncated or zero-padded; default its length). y[k] = sum_n x[n] e^(-+2 pi i k n / L), the
 * inverse divided by L; onesided keeps bins 0 .. L/2. Output [..., L or L/2 + 1, ..., 2].
 *
 * STFT: signal [batch, length, 1 | 2], frame_step (input 1), optional window [L] (input 2) and
 * frame_length (input 3); L is frame_length or the window's length (both given: they must agree).
 * frames = (length - L) / frame_step + 1; each frame x[f * step + n] * window[n] is transformed;
 * onesided (default 1) keeps bins 0 .. L/2. Output [batch, frames, bins, 2].
 *
 * The twiddle factors e^(2 pi i m / L), m < L, are tabulated once at infer (params); each sum
 * runs over n in index order, so results do not depend on anything but the inputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#define PI 3.14159265358979323846

typedef struct spectral_params {
    bool stft, inverse;
    qcal_dtype dt;
    size_t outer, inner; /* DFT: dims before / between the axis and the last dim */
    size_t n_in, comp;   /* signal points available along the axis; 1 real, 2 complex */
    size_t len, bins;    /* transform length L and the bins kept */
    size_t frames, step; /* STFT */
    double tw[];         /* 2 * len: cos, sin of 2 pi m / L */
} spectral_params;

static double at(qcal_dtype dt, const void *p, size_t i)
{
    return dt == QCAL_DT_DOUBLE ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static void put(qcal_dtype dt, void *p, size_t i, double v)
{
    if (dt == QCAL_DT_DOUBLE)
        ((double *)p)[i] = v;
    else
        ((float *)p)[i] = (float)v;
}

/* Reads the scalar integer CONST input i (absent: *v unchanged). */
static qcal_status scalar_input(const qcal__node *n, int i, const char *what, int64_t *v,
                                qcal_error *err)
{
    int64_t buf[1];
    size_t cnt = 0;
    qcal_status st;

    if (!qcal__in(n, i))
        return QCAL_OK;
    st = qcal__const_ints(n, i, buf, 1, &cnt, err);
    if (st != QCAL_OK)
        return st;
    if (cnt != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "%s must be a scalar", what);
    *v = buf[0];
    return QCAL_OK;
}

/* Allocates params with the twiddle table for length len (>= 1) and stores it in n->params. */
static spectral_params *params_new(qcal__node *n, size_t len, qcal_error *err)
{
    spectral_params *p;

    if (len > (SIZE_MAX - sizeof *p) / (2 * sizeof p->tw[0]) / 4) {
        qcal__node_error(err, n, QCAL_E_NOMEM, "transform length %zu too large", len);
        return NULL;
    }
    p = calloc(1, sizeof *p + 2 * len * sizeof p->tw[0]);
    if (!p) {
        qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
        return NULL;
    }
    n->params = p;
    p->len = len;
    for (size_t m = 0; m < len; m++) {
        double a = 2.0 * PI * (double)m / (double)len;
        p->tw[2 * m] = cos(a);
        p->tw[2 * m + 1] = sin(a);
    }
    return p;
}

/*
 * Transforms sig (len complex values, interleaved) into out (bins complex values): out[k] =
 * sum_n sig[n] * e^(-+2 pi i k n / L), divided by L when inverse. Does not allocate.
 */
static void dft_line(const spectral_params *p, const double *restrict sig, double *restrict out)
{
    const size_t len = p->len;
    const double sign = p->inverse ? 1.0 : -1.0, scale = p->inverse ? 1.0 / (double)len : 1.0;

    for (size_t k = 0; k < p->bins; k++) {
        double re = 0.0, im = 0.0;
        size_t m = 0; /* k * n mod len */
        for (size_t j = 0; j < len; j++) {
            const double c = p->tw[2 * m], s = sign * p->tw[2 * m + 1];
            const double xr = sig[2 * j], xi = sig[2 * j + 1];
            re += xr * c - xi * s;
            im += xr * s + xi * c;
            m += k; /* k < len and m < len: one subtraction wraps it */
            if (m >= len)
                m -= len;
        }
        out[2 * k] = re * scale;
        out[2 * k + 1] = im * scale;
    }
}

/* ---- DFT ---- */

static qcal_status dft_infer(qcal__node *n, qcal_error *err)
{
    const bool v20 = n->opset >= 20;
    const qcal__tensor *x;
    int64_t axis = v20 ? -2 : qcal__attr_int(n, "axis", 1), len, dims[QCAL_MAX_RANK];
    bool onesided = qcal__attr_int(n, "onesided", 0) != 0;
    spectral_params *p;
    int r, ax;
    qcal_status st = qcal__check_inputs(n, 1, v20 ? 3 : 2, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    r = x->rank;
    if (x->dtype != QCAL_DT_FLOAT && x->dtype != QCAL_DT_DOUBLE)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input is %s, expected float32 or "
                                "float64", qcal_dtype_name(x->dtype));
    if (r < 2 || (x->dims[r - 1] != 1 && x->dims[r - 1] != 2))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must be [..., 1] (real) or "
                                "[..., 2] (complex), rank >= 2");
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output is missing");
    if (v20)
        st = scalar_input(n, 2, "axis", &axis, err);
    if (st != QCAL_OK)
        return st;
    if (axis < -r || axis > r - 2 || axis == -1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "axis %lld outside [-%d, -2] and "
                                "[0, %d]", (long long)axis, r, r - 2);
    ax = (int)(axis < 0 ? axis + r : axis);
    len = x->dims[ax];
    st = scalar_input(n, 1, "dft_length", &len, err);
    if (st != QCAL_OK)
        return st;
    if (len < 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "dft_length %lld must be >= 1",
                                (long long)len);
    p = params_new(n, (size_t)len, err);
    if (!p)
        return QCAL_E_NOMEM;
    p->dt = x->dtype;
    p->inverse = qcal__attr_int(n, "inverse", 0) != 0;
    p->bins = onesided ? p->len / 2 + 1 : p->len;
    p->n_in = (size_t)x->dims[ax];
    p->comp = (size_t)x->dims[r - 1];
    p->outer = qcal__shape_nelem(ax, x->dims);
    p->inner = qcal__shape_nelem(r - 2 - ax, x->dims + ax + 1);
    memcpy(dims, x->dims, sizeof dims);
    dims[ax] = (int64_t)p->bins;
    dims[r - 1] = 2;
    st = qcal__tensor_set_shape(n->out[0], x->dtype, r, dims, err);
    if (st != QCAL_OK)
        return st;
    n->scratch = (2 * p->len + 2 * p->bins) * sizeof(double);
    return QCAL_OK;
}

static void dft_run(const qcal__node *n, void *scratch)
{
    const spectral_params *p = n->params;
    const void *x = n->in[0]->data;
    void *y = n->out[0]->data;
    double *sig = scratch, *out = sig + 2 * p->len;
    const size_t take = p->n_in < p->len ? p->n_in : p->len;

    for (size_t o = 0; o < p->outer; o++) {
        for (size_t i = 0; i < p->inner; i++) {
            memset(sig, 0, 2 * p->len * sizeof *sig);
            for (size_t j = 0; j < take; j++) {
                size_t at_x = ((o * p->n_in + j) * p->inner + i) * p->comp;
                sig[2 * j] = at(p->dt, x, at_x);
                sig[2 * j + 1] = p->comp == 2 ? at(p->dt, x, at_x + 1) : 0.0;
            }
            dft_line(p, sig, out);
            for (size_t k = 0; k < p->bins; k++) {
                size_t at_y = ((o * p->bins + k) * p->inner + i) * 2;
                put(p->dt, y, at_y, out[2 * k]);
                put(p->dt, y, at_y + 1, out[2 * k + 1]);
            }
        }
    }
}

/* ---- STFT ---- */

static qcal_status stft_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *win;
    int64_t step = 0, len = -1, dims[4];
    spectral_params *p;
    qcal_status st = qcal__check_inputs(n, 2, 4, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    win = qcal__in(n, 2);
    if (x->dtype != QCAL_DT_FLOAT && x->dtype != QCAL_DT_DOUBLE)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "signal is %s, expected float32 or "
                                "float64", qcal_dtype_name(x->dtype));
    if (x->rank != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "signal must be [batch, length, 1 or 2]");
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output is missing");
    st = scalar_input(n, 1, "frame_step", &step, err);
    if (st == QCAL_OK)
        st = scalar_input(n, 3, "frame_length", &len, err);
    if (st != QCAL_OK)
        return st;
    if (win && (win->rank != 1 || win->dtype != x->dtype))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "window must be 1-D of the signal's type");
    if (win && len >= 0 && win->dims[0] != len)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "window has %lld values but frame_length "
                                "is %lld", (long long)win->dims[0], (long long)len);
    if (win)
        len = win->dims[0];
    if (len < 1 || step < 1 || len > x->dims[1])
        return qcal__node_error(err, n, QCAL_E_INVALID, "frame_length %lld and frame_step %lld "
                                "must be >= 1, frame_length at most the signal length %lld",
                                (long long)len, (long long)step, (long long)x->dims[1]);
    p = params_new(n, (size_t)len, err);
    if (!p)
        return QCAL_E_NOMEM;
    p->stft = true;
    p->dt = x->dtype;
    p->bins = qcal__attr_int(n, "onesided", 1) != 0 ? p->len / 2 + 1 : p->len;
    p->comp = (size_t)x->dims[2];
    p->n_in = (size_t)x->dims[1];
    p->step = (size_t)step;
    p->frames = (p->n_in - p->len) / p->step + 1;
    p->outer = (size_t)x->dims[0];
    dims[0] = x->dims[0];
    dims[1] = (int64_t)p->frames;
    dims[2] = (int64_t)p->bins;
    dims[3] = 2;
    st = qcal__tensor_set_shape(n->out[0], x->dtype, 4, dims, err);
    if (st != QCAL_OK)
        return st;
    n->scratch = (2 * p->len + 2 * p->bins) * sizeof(double);
    return QCAL_OK;
}

static void stft_run(const qcal__node *n, void *scratch)
{
    const spectral_params *p = n->params;
    const void *x = n->in[0]->data;
    const qcal__tensor *win = qcal__in(n, 2);
    void *y = n->out[0]->data;
    double *sig = scratch, *out = sig + 2 * p->len;

    for (size_t b = 0; b < p->outer; b++) {
        for (size_t f = 0; f < p->frames; f++) {
            for (size_t j = 0; j < p->len; j++) {
                size_t at_x = (b * p->n_in + f * p->step + j) * p->comp;
                double w = win ? at(p->dt, win->data, j) : 1.0;
                sig[2 * j] = at(p->dt, x, at_x) * w;
                sig[2 * j + 1] = p->comp == 2 ? at(p->dt, x, at_x + 1) * w : 0.0;
            }
            dft_line(p, sig, out);
            for (size_t k = 0; k < p->bins; k++) {
                size_t at_y = ((b * p->frames + f) * p->bins + k) * 2;
                put(p->dt, y, at_y, out[2 * k]);
                put(p->dt, y, at_y + 1, out[2 * k + 1]);
            }
        }
    }
}

const qcal__op qcal__ops_spectral[] = {
    { "DFT", 17, 19, dft_infer, dft_run, 1u << 1 },
    { "DFT", 20, QCAL__OPSET_LAST, dft_infer, dft_run, (1u << 1) | (1u << 2) },
    { "STFT", 17, QCAL__OPSET_LAST, stft_infer, stft_run, (1u << 1) | (1u << 3) },
    { NULL, 0, 0, NULL, NULL, 0 },
};
