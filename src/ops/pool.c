/*
 * Pooling kernels: MaxPool and AveragePool (1-D to 3-D), GlobalMaxPool, GlobalAveragePool, LRN
 * (every opset from 1 to 17) and MaxUnpool (9 to 17).
 *
 * MaxPool and AveragePool share one parameter block. infer() resolves kernel_shape, strides,
 * pads, auto_pad, dilations and ceil_mode into the output shape and, per spatial axis and output
 * position, a tap_span: the first input index inside the input, the number of taps inside the
 * input and the number of taps inside the padded input. 1-D and 2-D pools are run as 3-D ones
 * with leading spatial axes of size 1. Because the spans are clipped once at infer time, run()
 * has no per-element bounds checks anywhere, borders included.
 *
 * Precision: window sums (AveragePool, LRN) are accumulated in the input type in a fixed order
 * (row-major over the window): windows are small. GlobalAveragePool sums a whole plane, whose
 * size is set by the data, so it accumulates in double and converts once.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/pool_impl.h"


/*
 * GlobalAveragePool's float32 plane sum is also compiled for AVX-512 on x86-64 with glibc
 * (target_clones: the copy is chosen once at load time). Both copies compute the same values in
 * the same order.
 */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__GLIBC__)
#define POOL_CLONES __attribute__((target_clones("avx512f", "default")))
#else
#define POOL_CLONES
#endif

/* Per-axis settings parsed from the attributes, before padding to 3-D. */
typedef struct pool_axis {
    int64_t in, k, s, d, pb, pe, out;
    bool ceil_full; /* count_include_pad divisor counts the whole window (see axis_spans) */
} pool_axis;

/* Reads an ints attribute of exactly `want` values into out, or fills `def` when absent. */
static qcal_status ints_attr(const qcal__node *n, const char *name, size_t want, int64_t def,
                             int64_t *out, qcal_error *err)
{
    const int64_t *v;
    size_t cnt = qcal__attr_ints(n, name, &v);

    if (cnt == 0) {
        for (size_t i = 0; i < want; i++)
            out[i] = def;
        return QCAL_OK;
    }
    if (cnt != want)
        return qcal__node_error(err, n, QCAL_E_INVALID, "attribute %s has %zu values, expected %zu",
                                name, cnt, want);
    memcpy(out, v, want * sizeof *out);
    return QCAL_OK;
}

/*
 * Output size and pads of one axis (ONNX MaxPool-12 / AveragePool-11 shape rules). With ceil_mode
 * a last window that would start inside the end padding is dropped, as PyTorch and ONNX Runtime
 * do. SAME_UPPER puts the odd pad at the end, SAME_LOWER at the beginning.
 */
static qcal_status axis_resolve(const qcal__node *n, const char *auto_pad, bool ceil_mode,
                                pool_axis *a, qcal_error *err)
{
    int64_t eff, padded, bound;
    qcal_status st;

    if (a->k < 1 || a->s < 1 || a->d < 1 || a->pb < 0 || a->pe < 0)
        return qcal__node_error(err, n, QCAL_E_INVALID,
                                "kernel, strides and dilations must be >= 1 and pads >= 0");
    if (a->k > INT32_MAX)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "kernel_shape %lld is too large",
                                (long long)a->k);
    /* Every later sum (window ends, base + extent) stays below padded + eff + stride. */
    if ((st = qcal__mul_i64(n, "kernel_shape x dilations", a->k - 1, a->d, &eff, err)) !=
            QCAL_OK ||
        (st = qcal__add_i64(n, "kernel_shape x dilations", eff, 1, &eff, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "pads", a->in, a->pb, &padded, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "pads", padded, a->pe, &padded, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "kernel_shape", padded, eff, &bound, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "strides", bound, a->s, &bound, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "kernel_shape", bound, eff, &bound, err)) != QCAL_OK)
        return st;
    if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0) {
        int64_t total;
        a->out = (a->in + a->s - 1) / a->s;
        total = (a->out - 1) * a->s + eff - a->in;
        if (total < 0)
            total = 0;
        a->pb = (auto_pad[5] == 'U') ? total / 2 : total - total / 2;
        a->pe = total - a->pb;
        return QCAL_OK;
    }
    if (strcmp(auto_pad, "VALID") == 0) {
        a->pb = a->pe = 0;
    } else if (strcmp(auto_pad, "NOTSET") != 0 && auto_pad[0] != '\0') {
        return qcal__node_error(err, n, QCAL_E_INVALID, "unknown auto_pad '%s'", auto_pad);
    }
    if (a->in + a->pb + a->pe < eff)
        return qcal__node_error(err, n, QCAL_E_SHAPE,
                                "window of extent %lld does not fit the padded input (%lld)",
                                (long long)eff, (long long)(a->in + a->pb + a->pe));
    a->out = (a->in + a->pb + a->pe - eff) / a->s + 1;
    if (ceil_mode && (a->in + a->pb + a->pe - eff) % a->s != 0) {
        a->out++;
        if ((a->out - 1) * a->s >= a->in + a->pb)
            a->out--;
    }
    return QCAL_OK;
}

/* Clips the window of every output position of axis a to the input and to the padded input. */
static void axis_spans(const pool_axis *a, tap_span *sp)
{
    for (int64_t o = 0; o < a->out; o++) {
        int64_t base = o * a->s - a->pb;
        int64_t lo = 0, hi = a->k, phi = a->k;

        if (base < 0)
            lo = (-base + a->d - 1) / a->d;
        if (base + (a->k - 1) * a->d > a->in - 1)
            hi = (a->in - 1 - base < 0) ? 0 : (a->in - 1 - base) / a->d + 1;
        if (base + (a->k - 1) * a->d > a->in + a->pe - 1 && !a->ceil_full)
            phi = (a->in + a->pe - 1 - base) / a->d + 1;
        if (hi < lo)
            hi = lo;
        sp[o].start = base + lo * a->d;
        sp[o].count = (int32_t)(hi - lo);
        sp[o].padded = (int32_t)phi;
    }
}

static bool pool_dtype_ok(int kind, qcal_dtype dt)
{
    if (dt == QCAL_DT_FLOAT || dt == QCAL_DT_DOUBLE)
        return true;
    return kind == POOL_MAX && (dt == QCAL_DT_INT8 || dt == QCAL_DT_UINT8);
}

/*
 * Shared infer of MaxPool and AveragePool: parses the attributes, sets Y (and MaxPool's optional
 * Indices, int64) and builds the parameter block with its span tables in one allocation.
 */
static qcal_status pool_infer(qcal__node *n, int kind, qcal_error *err)
{
    const qcal__tensor *x;
    const int64_t *ks;
    pool_axis ax[POOL_MAX_SPATIAL];
    int64_t strides[POOL_MAX_SPATIAL], dil[POOL_MAX_SPATIAL], pads[2 * POOL_MAX_SPATIAL];
    int64_t ydims[QCAL_MAX_RANK];
    const char *auto_pad = qcal__attr_str(n, "auto_pad", "NOTSET");
    bool ceil_mode = qcal__attr_int(n, "ceil_mode", 0) != 0;
    size_t nsp, total = 0;
    pool_params *p;
    qcal_status st;

    st = qcal__check_inputs(n, 1, 1, err);
    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (!pool_dtype_ok(kind, x->dtype))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    nsp = qcal__attr_ints(n, "kernel_shape", &ks);
    if (nsp < 1 || nsp > POOL_MAX_SPATIAL)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "kernel_shape has %zu values; 1 to 3 spatial axes supported", nsp);
    if (x->rank != (int)nsp + 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input rank %d does not match a %zu-D kernel",
                                x->rank, nsp);
    if ((st = ints_attr(n, "strides", nsp, 1, strides, err)) != QCAL_OK ||
        (st = ints_attr(n, "dilations", nsp, 1, dil, err)) != QCAL_OK ||
        (st = ints_attr(n, "pads", 2 * nsp, 0, pads, err)) != QCAL_OK)
        return st;
    if (kind == POOL_AVG && n->opset < 19 &&
        (dil[0] != 1 || (nsp > 1 && dil[1] != 1) || (nsp > 2 && dil[2] != 1)))
        return qcal__node_error(err, n, QCAL_E_INVALID, "AveragePool has dilations from opset 19 "
                                "on");

    /* Pad to 3-D: leading spatial axes of extent 1 with a 1-tap window. */
    for (size_t a = 0; a < POOL_MAX_SPATIAL; a++) {
        size_t lead = POOL_MAX_SPATIAL - nsp;
        pool_axis one = { 1, 1, 1, 1, 0, 0, 1, false };
        if (a < lead) {
            ax[a] = one;
            continue;
        }
        ax[a].in = x->dims[2 + a - lead];
        ax[a].k = ks[a - lead];
        ax[a].s = strides[a - lead];
        ax[a].d = dil[a - lead];
        ax[a].pb = pads[a - lead];
        ax[a].pe = pads[a - lead + nsp];
        /* ONNX's reference (opset 19+) divides a ceil_mode window that runs past the end pad by
         * its whole size with count_include_pad; earlier opsets follow PyTorch and ONNX Runtime
         * (the taps inside the padded input). */
        ax[a].ceil_full = kind == POOL_AVG && n->opset >= 19;
        st = axis_resolve(n, auto_pad, ceil_mode, &ax[a], err);
        if (st != QCAL_OK)
            return st;
    }

    ydims[0] = x->dims[0];
    ydims[1] = x->dims[1];
    for (size_t a = 0; a < nsp; a++)
        ydims[2 + a] = ax[POOL_MAX_SPATIAL - nsp + a].out;
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, ydims, err);
    if (st != QCAL_OK)
        return st;
    if (n->n_out > 1 && n->out[1]) {
        if (kind != POOL_MAX)
            return qcal__node_error(err, n, QCAL_E_INVALID, "AveragePool has one output");
        st = qcal__tensor_set_shape(n->out[1], QCAL_DT_INT64, x->rank, ydims, err);
        if (st != QCAL_OK)
            return st;
    }

    for (size_t a = 0; a < POOL_MAX_SPATIAL; a++)
        total += (size_t)ax[a].out;
    p = malloc(sizeof *p + total * sizeof(tap_span));
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->kind = kind;
    p->include_pad = qcal__attr_int(n, "count_include_pad", 0) != 0;
    p->col_major = qcal__attr_int(n, "storage_order", 0) != 0;
    p->dilated = false;
    p->planes = x->dims[0] * x->dims[1];
    total = 0;
    for (size_t a = 0; a < POOL_MAX_SPATIAL; a++) {
        p->in[a] = ax[a].in;
        p->out[a] = ax[a].out;
        p->dil[a] = ax[a].d;
        p->dilated = p->dilated || ax[a].d != 1;
        p->span[a] = (tap_span *)(p + 1) + total;
        axis_spans(&ax[a], p->span[a]);
        total += (size_t)ax[a].out;
    }
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

/* Index of input position (id, ih, iw) within its plane, as ONNX MaxPool's Indices need. */
static int64_t flat_index(const pool_params *p, int64_t id, int64_t ih, int64_t iw)
{
    if (p->col_major)
        return id + ih * p->in[0] + iw * p->in[0] * p->in[1];
    return (id * p->in[1] + ih) * p->in[2] + iw;
}

/*
 * Generic MaxPool over the span tables, for any dilation, with optional Indices (idx may be
 * NULL). Ties keep the first tap in row-major window order (ONNX Runtime). A window with no tap
 * inside the input (only possible with pads as large as the kernel) gives the lowest value and
 * index -1.
 */
#define DEFINE_MAXPOOL(NAME, T, LOWEST)                                                          \
    static void NAME(const pool_params *p, const T *x, T *y, int64_t *idx)                      \
    {                                                                                            \
        const int64_t H = p->in[1], W = p->in[2], plane = p->in[0] * H * W;                      \
        for (int64_t pl = 0; pl < p->planes; pl++) {                                             \
            const T *xp = x + pl * plane;                                                        \
            for (int64_t od = 0; od < p->out[0]; od++) {                                         \
                const tap_span *sd = &p->span[0][od];                                            \
                for (int64_t oh = 0; oh < p->out[1]; oh++) {                                     \
                    const tap_span *sh = &p->span[1][oh];                                        \
                    for (int64_t ow = 0; ow < p->out[2]; ow++) {                                 \
                        const tap_span *sw = &p->span[2][ow];                                    \
                        T best = LOWEST;                                                         \
                        int64_t bd = -1, bh = 0, bw = 0;                                         \
                        for (int32_t jd = 0; jd < sd->count; jd++) {                             \
                            int64_t id = sd->start + jd * p->dil[0];                             \
                            for (int32_t jh = 0; jh < sh->count; jh++) {                         \
                                int64_t ih = sh->start + jh * p->dil[1];                         \
                                const T *row = xp + (id * H + ih) * W + sw->start;               \
                                for (int32_t jw = 0; jw < sw->count; jw++) {                     \
                                    T v = row[jw * p->dil[2]];                                   \
                                    if (v > best || bd < 0) {                                    \
                                        best = v;                                                \
                                        bd = id;                                                 \
                                        bh = ih;                                                 \
                                        bw = sw->start + jw * p->dil[2];                         \
                                    }                                                            \
                                }                                                                \
                            }                                                                    \
                        }                                                                        \
                        *y++ = best;                                                             \
                        if (idx)                                                                 \
                            *idx++ = bd < 0 ? -1 : pl * plane + flat_index(p, bd, bh, bw);       \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

DEFINE_MAXPOOL(maxpool_f32, float, -INFINITY)
DEFINE_MAXPOOL(maxpool_f64, double, -(double)INFINITY)
DEFINE_MAXPOOL(maxpool_i8, int8_t, INT8_MIN)
DEFINE_MAXPOOL(maxpool_u8, uint8_t, 0)

/*
 * Fast path: float 2-D MaxPool without dilation and without Indices. Each window is a clipped
 * rectangle of contiguous row segments; no bounds checks, no index bookkeeping.
 */
static void maxpool2x2s2_f32(const pool_params *p, const float *restrict x, float *restrict y)
{
    const int64_t H = p->in[1], W = p->in[2], OH = p->out[1], OW = p->out[2];

    for (int64_t pl = 0; pl < p->planes; pl++) {
        const float *xp = x + pl * H * W;
        for (int64_t oh = 0; oh < OH; oh++, y += OW) {
            const float *r0 = xp + 2 * oh * W, *r1 = r0 + W;
            for (int64_t o = 0; o < OW; o++) {
                float m = -INFINITY, v;
                v = r0[2 * o];
                m = v > m ? v : m;
                v = r0[2 * o + 1];
                m = v > m ? v : m;
                v = r1[2 * o];
                m = v > m ? v : m;
                v = r1[2 * o + 1];
                m = v > m ? v : m;
                y[o] = m;
            }
        }
    }
}

static bool is_2x2s2(const pool_params *p)
{
    for (int64_t o = 0; o < p->out[1]; o++)
        if (p->span[1][o].start != 2 * o || p->span[1][o].count != 2)
            return false;
    for (int64_t o = 0; o < p->out[2]; o++)
        if (p->span[2][o].start != 2 * o || p->span[2][o].count != 2)
            return false;
    return true;
}

static void maxpool2d_f32(const pool_params *p, const float *restrict x, float *restrict y)
{
    if (is_2x2s2(p)) {
        maxpool2x2s2_f32(p, x, y);
        return;
    }
    const int64_t H = p->in[1], W = p->in[2], plane = H * W;

    for (int64_t pl = 0; pl < p->planes; pl++) {
        const float *xp = x + pl * plane;
        for (int64_t oh = 0; oh < p->out[1]; oh++) {
            const tap_span *sh = &p->span[1][oh];
            for (int64_t ow = 0; ow < p->out[2]; ow++) {
                const tap_span *sw = &p->span[2][ow];
                const float *r = xp + sh->start * W + sw->start;
                float m = -INFINITY;
                for (int32_t i = 0; i < sh->count; i++, r += W)
                    for (int32_t j = 0; j < sw->count; j++)
                        m = r[j] > m ? r[j] : m;
                *y++ = m;
            }
        }
    }
}

/*
 * AveragePool: the sum of the taps inside the input divided by their count, or with
 * count_include_pad by the taps inside the padded input (ONNX AveragePool-7+). A window entirely
 * in the padding with count_include_pad 0 gives 0.
 */
#define DEFINE_AVGPOOL(NAME, T)                                                                  \
    static void NAME(const pool_params *p, const T *restrict x, T *restrict y)                  \
    {                                                                                            \
        const int64_t H = p->in[1], W = p->in[2], plane = p->in[0] * H * W;                      \
        const int64_t dd = p->dil[0], dh = p->dil[1], dw = p->dil[2];                            \
        for (int64_t pl = 0; pl < p->planes; pl++) {                                             \
            const T *xp = x + pl * plane;                                                        \
            for (int64_t od = 0; od < p->out[0]; od++) {                                         \
                const tap_span *sd = &p->span[0][od];                                            \
                for (int64_t oh = 0; oh < p->out[1]; oh++) {                                     \
                    const tap_span *sh = &p->span[1][oh];                                        \
                    for (int64_t ow = 0; ow < p->out[2]; ow++) {                                 \
                        const tap_span *sw = &p->span[2][ow];                                    \
                        T sum = 0;                                                               \
                        int64_t cnt;                                                             \
                        for (int32_t jd = 0; jd < sd->count; jd++) {                             \
                            const T *r =                                                         \
                                xp + ((sd->start + jd * dd) * H + sh->start) * W + sw->start;    \
                            for (int32_t jh = 0; jh < sh->count; jh++, r += W * dh)              \
                                for (int32_t jw = 0; jw < sw->count; jw++)                       \
                                    sum += r[jw * dw];                                           \
                        }                                                                        \
                        cnt = p->include_pad                                                     \
                                  ? (int64_t)sd->padded * sh->padded * sw->padded                \
                                  : (int64_t)sd->count * sh->count * sw->count;                  \
                        *y++ = cnt > 0 ? sum / (T)cnt : (T)0;                                    \
                    }                                                                            \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

DEFINE_AVGPOOL(avgpool_f32, float)
DEFINE_AVGPOOL(avgpool_f64, double)

static qcal_status maxpool_infer(qcal__node *n, qcal_error *err)
{
    return pool_infer(n, POOL_MAX, err);
}

static qcal_status avgpool_infer(qcal__node *n, qcal_error *err)
{
    return pool_infer(n, POOL_AVG, err);
}

static void maxpool_run(const qcal__node *n, void *scratch)
{
    const pool_params *p = n->params;
    const qcal__tensor *x = n->in[0];
    int64_t *idx = (n->n_out > 1 && n->out[1]) ? n->out[1]->data : NULL;
    void *y = n->out[0]->data;

    (void)scratch;
    switch (x->dtype) {
    case QCAL_DT_FLOAT:
        if (!idx && !p->dilated && p->in[0] == 1 && p->out[0] == 1 && p->span[0][0].count == 1)
            maxpool2d_f32(p, x->data, y);
        else
            maxpool_f32(p, x->data, y, idx);
        break;
    case QCAL_DT_DOUBLE: maxpool_f64(p, x->data, y, idx); break;
    case QCAL_DT_INT8: maxpool_i8(p, x->data, y, idx); break;
    case QCAL_DT_UINT8: maxpool_u8(p, x->data, y, idx); break;
    default: break;
    }
}

static void avgpool_run(const qcal__node *n, void *scratch)
{
    const qcal__tensor *x = n->in[0];

    (void)scratch;
    if (x->dtype == QCAL_DT_FLOAT)
        avgpool_f32(n->params, x->data, n->out[0]->data);
    else
        avgpool_f64(n->params, x->data, n->out[0]->data);
}

/* ---- GlobalAveragePool, GlobalMaxPool: N x C x D1... -> N x C x 1... ---- */

static qcal_status global_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    int64_t dims[QCAL_MAX_RANK];
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT && x->dtype != QCAL_DT_DOUBLE)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input rank %d, expected N x C x ...",
                                x->rank);
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < 2 ? x->dims[i] : 1;
    n->scratch = 0;
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, dims, err);
}

/* Plane count and plane size of a global pool's input. */
static void global_geometry(const qcal__tensor *x, size_t *planes, size_t *size)
{
    *planes = (size_t)(x->dims[0] * x->dims[1]);
    *size = *planes ? x->nelem / *planes : 0;
}

/*
 * Sum of a float32 plane in double: element i goes to partial sum i % 8 (independent chains the
 * compiler can vectorise), the eight are added in a fixed order at the end.
 */
POOL_CLONES static double plane_sum_f32(const float *restrict x, size_t n)
{
    double s[8] = { 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0 };
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        for (size_t k = 0; k < 8; k++)
            s[k] += (double)x[i + k];
    }
    for (size_t k = 0; i < n; i++, k++)
        s[k] += (double)x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* The plane sum is accumulated in double (a plane can be large) and divided once. */
static void gap_run(const qcal__node *n, void *scratch)
{
    const qcal__tensor *x = n->in[0];
    size_t planes, size;

    (void)scratch;
    global_geometry(x, &planes, &size);
    if (x->dtype == QCAL_DT_FLOAT) {
        const float *restrict xp = x->data;
        float *restrict y = n->out[0]->data;
        for (size_t pl = 0; pl < planes; pl++, xp += size)
            y[pl] = size ? (float)(plane_sum_f32(xp, size) / (double)size) : 0.0f;
    } else {
        const double *restrict xp = x->data;
        double *restrict y = n->out[0]->data;
        for (size_t pl = 0; pl < planes; pl++, xp += size) {
            double s = 0.0;
            for (size_t i = 0; i < size; i++)
                s += xp[i];
            y[pl] = size ? s / (double)size : 0.0;
        }
    }
}

static void gmp_run(const qcal__node *n, void *scratch)
{
    const qcal__tensor *x = n->in[0];
    size_t planes, size;

    (void)scratch;
    global_geometry(x, &planes, &size);
    if (x->dtype == QCAL_DT_FLOAT) {
        const float *restrict xp = x->data;
        float *restrict y = n->out[0]->data;
        for (size_t pl = 0; pl < planes; pl++, xp += size) {
            float m = -INFINITY;
            for (size_t i = 0; i < size; i++)
                m = xp[i] > m ? xp[i] : m;
            y[pl] = m;
        }
    } else {
        const double *restrict xp = x->data;
        double *restrict y = n->out[0]->data;
        for (size_t pl = 0; pl < planes; pl++, xp += size) {
            double m = -(double)INFINITY;
            for (size_t i = 0; i < size; i++)
                m = xp[i] > m ? xp[i] : m;
            y[pl] = m;
        }
    }
}

/* ---- LRN (ONNX LRN-1/13): y = x / (bias + alpha / size * sum of x^2 over channels)^beta ---- */

typedef struct lrn_params {
    int64_t half_lo, half_hi; /* floor((size-1)/2), ceil((size-1)/2) */
    float alpha_over_size, beta, bias;
} lrn_params;

static qcal_status lrn_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    int64_t size = qcal__attr_int(n, "size", 0);
    lrn_params *p;
    size_t planes;
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input rank %d, expected N x C x ...",
                                x->rank);
    if (size < 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "attribute size must be >= 1");
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    /* Clamped to the channel count: a window never reaches further, and c + half stays small. */
    p->half_lo = (size - 1) / 2 < x->dims[1] ? (size - 1) / 2 : x->dims[1];
    p->half_hi = size / 2 < x->dims[1] ? size / 2 : x->dims[1];
    p->alpha_over_size = qcal__attr_float(n, "alpha", 1e-4f) / (float)size;
    p->beta = qcal__attr_float(n, "beta", 0.75f);
    p->bias = qcal__attr_float(n, "bias", 1.0f);
    n->params = p;
    /* One plane of channel-window square sums. */
    planes = (size_t)(x->dims[0] * x->dims[1]);
    n->scratch = (planes > 0 ? x->nelem / planes : 0) * sizeof(float);
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

static void lrn_run(const qcal__node *n, void *scratch)
{
    const lrn_params *p = n->params;
    const qcal__tensor *xt = n->in[0];
    const int64_t N = xt->dims[0], C = xt->dims[1];
    const size_t plane = (N > 0 && C > 0) ? xt->nelem / (size_t)(N * C) : 0;
    const float *x = xt->data;
    float *y = n->out[0]->data;
    float *sq = scratch;

    for (int64_t b = 0; b < N; b++) {
        const float *xb = x + (size_t)(b * C) * plane;
        float *yb = y + (size_t)(b * C) * plane;
        for (int64_t c = 0; c < C; c++) {
            int64_t lo = c - p->half_lo < 0 ? 0 : c - p->half_lo;
            int64_t hi = c + p->half_hi > C - 1 ? C - 1 : c + p->half_hi;
            const float *xc = xb + (size_t)c * plane;
            float *yc = yb + (size_t)c * plane;
            memset(sq, 0, plane * sizeof *sq);
            for (int64_t k = lo; k <= hi; k++) {
                const float *xk = xb + (size_t)k * plane;
                for (size_t i = 0; i < plane; i++)
                    sq[i] += xk[i] * xk[i];
            }
            for (size_t i = 0; i < plane; i++)
                yc[i] = xc[i] / powf(p->bias + p->alpha_over_size * sq[i], p->beta);
        }
    }
}

/* ---- MaxUnpool-9/11: scatter X into zeros at the flat Indices of a MaxPool ---- */

typedef struct unpool_params {
    int rank;
    int64_t inferred[QCAL_MAX_RANK]; /* (in - 1) * stride - pads + kernel: what I indexes */
    int64_t out[QCAL_MAX_RANK];      /* output_shape when given, else the inferred shape */
    int64_t total;                   /* elements of the inferred shape: indices are below */
} unpool_params;

/*
 * Indices are flat over the inferred shape. A larger output_shape keeps the inferred block at
 * the start of every axis and zeros after it (the ONNX reference's placement); elements whose
 * index falls outside the output are dropped.
 */
static qcal_status unpool_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *ind;
    const int64_t *ks;
    int64_t strides[POOL_MAX_SPATIAL], pads[2 * POOL_MAX_SPATIAL];
    unpool_params *p;
    size_t nsp;
    qcal_status st = qcal__check_inputs(n, 2, 3, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    ind = n->in[1];
    if (x->dtype != QCAL_DT_FLOAT && x->dtype != QCAL_DT_DOUBLE)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (ind->dtype != QCAL_DT_INT64 || ind->nelem != x->nelem)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "I must be int64 with X's shape");
    nsp = qcal__attr_ints(n, "kernel_shape", &ks);
    if (nsp < 1 || nsp > POOL_MAX_SPATIAL || x->rank != (int)nsp + 2)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "kernel_shape has %zu values for input rank %d", nsp, x->rank);
    if ((st = ints_attr(n, "strides", nsp, 1, strides, err)) != QCAL_OK ||
        (st = ints_attr(n, "pads", 2 * nsp, 0, pads, err)) != QCAL_OK)
        return st;
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->rank = x->rank;
    p->inferred[0] = x->dims[0];
    p->inferred[1] = x->dims[1];
    for (size_t a = 0; a < nsp; a++) {
        int64_t v;
        if (strides[a] < 1 || ks[a] < 1 || pads[a] < 0 || pads[a + nsp] < 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "kernel_shape and strides must be "
                                    ">= 1 and pads >= 0");
        if ((st = qcal__mul_i64(n, "strides", x->dims[2 + a] - 1, strides[a], &v, err)) !=
                QCAL_OK ||
            (st = qcal__sub_i64(n, "pads", v, pads[a], &v, err)) != QCAL_OK ||
            (st = qcal__sub_i64(n, "pads", v, pads[a + nsp], &v, err)) != QCAL_OK ||
            (st = qcal__add_i64(n, "kernel_shape", v, ks[a], &v, err)) != QCAL_OK)
            return st;
        if (v < 0)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "pads exceed the output on axis %zu",
                                    a);
        p->inferred[2 + a] = v;
    }
    if ((st = qcal__dims_product(n, "kernel_shape", x->rank, p->inferred, &p->total, err)) !=
        QCAL_OK)
        return st;
    /* Constant indices are checked now; per-sample ones at run time (qcal__run_fail). */
    if (ind->kind == QCAL__T_CONST && ind->data) {
        for (size_t j = 0; j < ind->nelem; j++) {
            int64_t v = ((const int64_t *)ind->data)[j];
            if (v < 0 || v >= p->total)
                return qcal__node_error(err, n, QCAL_E_INVALID, "index %lld out of range for "
                                        "an output of %lld elements", (long long)v,
                                        (long long)p->total);
        }
    }
    memcpy(p->out, p->inferred, sizeof p->out);
    if (qcal__in(n, 2)) {
        size_t cnt;
        st = qcal__const_ints(n, 2, p->out, QCAL_MAX_RANK, &cnt, err);
        if (st != QCAL_OK)
            return st;
        if (cnt != (size_t)x->rank)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "output_shape has %zu values, "
                                    "expected %d", cnt, x->rank);
    }
    n->scratch = 0;
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, p->out, err);
}

static void unpool_run(const qcal__node *n, void *scratch)
{
    const unpool_params *p = n->params;
    const qcal__tensor *x = n->in[0];
    const int64_t *ind = n->in[1]->data;
    const size_t es = qcal_dtype_size(x->dtype);
    const int64_t total = p->total;
    char *y = n->out[0]->data;

    (void)scratch;
    memset(y, 0, n->out[0]->nelem * es);
    for (size_t j = 0; j < x->nelem; j++) {
        int64_t rest = ind[j], off = 0, stride = 1;
        bool inside = ind[j] >= 0 && ind[j] < total;
        if (!inside)
            qcal__run_fail(n, "an index is out of range");
        for (int a = p->rank - 1; a >= 0 && inside; a--) {
            int64_t c = rest % p->inferred[a];
            rest /= p->inferred[a];
            inside = c < p->out[a];
            off += c * stride;
            stride *= p->out[a];
        }
        if (inside)
            memcpy(y + (size_t)off * es, (const char *)x->data + j * es, es);
    }
}

qcal_status qcal__pool_infer(qcal__node *n, int kind, qcal_error *err)
{
    return pool_infer(n, kind, err);
}

qcal_status qcal__pool_global_infer(qcal__node *n, qcal_error *err)
{
    return global_infer(n, err);
}

const qcal__op qcal__ops_pool[] = {
    { "MaxPool", 1, QCAL__OPSET_LAST, maxpool_infer, maxpool_run, 0 },
    { "AveragePool", 1, 18, avgpool_infer, avgpool_run, 0 },
    { "AveragePool", 19, QCAL__OPSET_LAST, avgpool_infer, avgpool_run, 0 }, /* dilations */
    { "GlobalAveragePool", 1, QCAL__OPSET_LAST, global_infer, gap_run, 0 },
    { "GlobalMaxPool", 1, QCAL__OPSET_LAST, global_infer, gmp_run, 0 },
    { "LRN", 1, QCAL__OPSET_LAST, lrn_infer, lrn_run, 0 },
    { "MaxUnpool", 9, QCAL__OPSET_LAST, unpool_infer, unpool_run, 1u << 2 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
