/*
 * Resize and Upsample: ONNX Resize-10, Resize-11/13, Resize-18 (antialias, axes,
 * keep_aspect_ratio_policy), Resize-19 (half_pixel_symmetric), Upsample-1
 * (height_scale/width_scale), Upsample-7 (scales attribute) and Upsample-9 (scales input).
 *
 * Antialias (linear and cubic when downscaling, scale s < 1): the filter is stretched by 1 / s,
 * so an axis takes 2 * ceil-ish(1 / s) (linear) or 4 / s (cubic) taps, normalised to sum 1, as in
 * ONNX's reference (_linear_coeffs_antialias, _cubic_coeffs_antialias): the taps are the n input
 * indices nearest x_original, preferring the left one, with ratio in (0, 1].
 *
 * All the geometry is decided in infer: for every axis and output index we store the (clamped)
 * source indices and the interpolation weights, so run() is a gather (nearest) or a sequence of
 * separable 1-D passes (linear, cubic), one per axis that actually changes, innermost axis first.
 * That order reproduces the ONNX reference, which interpolates the inner axes first and then
 * combines the results along the outer axis (ONNX backend test resize.py, interpolate_nd).
 *
 * Coordinate mapping (ONNX Resize-13): x_original from x_resized per the
 * coordinate_transformation_mode, computed once in double as the ONNX reference does (so rounding
 * ties of nearest fall the same way); run() computes in the element type (float32 for float32).
 * When scales are given, an axis' scale is the given value and the "length_resized" used by
 * align_corners / pytorch_half_pixel / tf_crop_and_resize is scale * length_original (not
 * floored), as in the reference implementation; when sizes are given, the scale is
 * size / length_original and length_resized is the size. Output sizes from scales are
 * floor(float(length_original) * scale), as in ONNX shape inference.
 *
 * Opsets before 11 (Upsample, Resize-10) have no coordinate_transformation_mode: they map
 * asymmetrically (x / scale) and take the floor for nearest, as ONNX's Resize 10->11 version
 * converter does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC };
enum {
    CT_HALF_PIXEL,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
    CT_HALF_PIXEL_SYMMETRIC,
};
enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL };

/* The parsed attributes and value inputs of one node. */
typedef struct resize_cfg {
    int mode;            /* MODE_* */
    int coord;           /* CT_* */
    int nearest;         /* NM_* */
    float cubic_a;       /* cubic_coeff_a */
    bool exclude_outside;
    float extrapolation; /* extrapolation_value (tf_crop_and_resize) */
    const float *roi;    /* 2 * rank values (starts, then ends), or NULL for [0, 1] everywhere */
    bool antialias;      /* Resize-18 */
} resize_cfg;

/* The precomputed sampling of one axis. Arrays live in the same allocation as the params. */
typedef struct axis_map {
    int64_t in_len, out_len;
    int taps;         /* source samples per output index: 1 (nearest or one-hot), 2 or 4 */
    bool identity;    /* output index o reads exactly input index o: the axis is skipped */
    int64_t *src;     /* out_len * taps: nearest: element offset (index * stride); else index */
    float *w;         /* out_len * taps weights; NULL for nearest */
    uint8_t *outside; /* out_len flags (tf_crop_and_resize), or NULL when none is outside */
} axis_map;

typedef struct resize_params {
    int mode;
    int rank;
    size_t esize;                   /* element bytes */
    bool is_double;                 /* linear/cubic on float64 data */
    float extrap;                   /* extrapolation value (linear/cubic) */
    unsigned char extrap_elem[8];   /* the extrapolation value in the element type (nearest) */
    int64_t in_dims[QCAL_MAX_RANK];
    int64_t out_dims[QCAL_MAX_RANK];
    axis_map ax[QCAL_MAX_RANK];
    int n_pass;                     /* linear/cubic: axes to interpolate, innermost first */
    int pass_axis[QCAL_MAX_RANK];
    size_t buf_elems[2];            /* ping-pong scratch buffers between passes */
} resize_params;

/* ---------------------------------------------------------------------------------------------
 * Geometry (infer time).
 */

/* x_original for output index o of an axis (ONNX Resize-13 coordinate_transformation_mode).
 * lr is length_resized; *outside is set for tf_crop_and_resize samples outside the input.
 * Geometry is computed once per node, in double like the ONNX reference, so rounding ties
 * (nearest) fall as they do there; only the weights are stored as float. */
static double src_coord(const resize_cfg *c, int64_t o, int64_t in_len, int64_t out_len,
                        double scale, double lr, double start, double end, bool *outside)
{
    double x = (double)o;
    double span = (double)(in_len - 1);
    double v;

    *outside = false;
    switch (c->coord) {
    case CT_HALF_PIXEL:
        return (x + 0.5) / scale - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: { /* Resize-19: the sampling grid centred on the input */
        double adjust = (double)out_len / lr, center = (double)in_len / 2.0;
        return center * (1.0 - adjust) + (x + 0.5) / scale - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL:
        return lr > 1.0 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CT_ALIGN_CORNERS:
        return lr == 1.0 ? 0.0 : x * span / (lr - 1.0);
    case CT_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE:
        if (lr > 1.0)
            v = x * (end - start) * span / (lr - 1.0) + start * span;
        else
            v = 0.5 * (start + end) * span;
        *outside = !(v >= 0.0 && v <= span);
        return v;
    default: /* CT_ASYMMETRIC */
        return x / scale;
    }
}

/* Rounds x_original to a source index per nearest_mode. The caller clamps the result; v is
 * already limited to a small range around the axis so the conversion cannot overflow. */
static int64_t nearest_index(double v, int mode)
{
    double f = floor(v);
    double r = v - f;

    switch (mode) {
    case NM_ROUND_PREFER_FLOOR: return (int64_t)f + (r > 0.5 ? 1 : 0);
    case NM_ROUND_PREFER_CEIL: return (int64_t)f + (r >= 0.5 ? 1 : 0);
    case NM_FLOOR: return (int64_t)f;
    default: return (int64_t)ceil(v);
    }
}

/* Keys cubic convolution coefficients for the four samples at offsets -1, 0, 1, 2 from
 * floor(x), with r = x - floor(x) (ONNX Resize-13, cubic_coeff_a = A). */
static void cubic_coeffs(double r, double a, double *c)
{
    double s = r + 1.0, t = 1.0 - r, u = 2.0 - r;

    if (r == 0.0) { /* exact one-hot, so integer coordinates copy */
        c[0] = 0.0, c[1] = 1.0, c[2] = 0.0, c[3] = 0.0;
        return;
    }
    c[0] = ((a * s - 5.0 * a) * s + 8.0 * a) * s - 4.0 * a;
    c[1] = ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0;
    c[2] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    c[3] = ((a * u - 5.0 * a) * u + 8.0 * a) * u - 4.0 * a;
}

static int64_t clamp_i64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/*
 * Fills the sampling of axis m (in_len, out_len, taps and the arrays already set). stride is the
 * axis' input stride in elements (nearest stores offsets). Taps falling outside [0, in_len) read
 * the edge sample (the reference pads in 'edge' mode), or get weight 0 with exclude_outside, the
 * others renormalised. Does not allocate.
 */
/* Antialias coefficient of the cubic kernel at distance x (ONNX reference compute_coeff). */
static double cubic_aa(double x, double a)
{
    x = fabs(x);
    if (x <= 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

/* Taps of an antialiased linear/cubic axis at scale s (< 1): 2 - 2 * (floor(-R / s) + 1), R the
 * kernel radius (1 linear, 2 cubic). */
static int aa_taps(int mode, double s)
{
    double r = mode == MODE_CUBIC ? 2.0 : 1.0;
    return (int)(2.0 - 2.0 * (floor(-r / s) + 1.0));
}

static void fill_axis(const resize_cfg *c, axis_map *m, int64_t stride, double scale, double lr,
                      double start, double end)
{
    double lim_lo = -4.0 - m->taps, lim_hi = (double)m->in_len + 4.0 + m->taps;
    int64_t last = m->in_len - 1;
    bool aa = c->antialias && c->mode != MODE_NEAREST && scale < 1.0;

    for (int64_t o = 0; o < m->out_len; o++) {
        bool out;
        double v = src_coord(c, o, m->in_len, m->out_len, scale, lr, start, end, &out);
        int64_t *src = m->src + o * m->taps;
        double w[4], f, r, sum = 0.0;
        int64_t i0;

        if (m->outside && out)
            m->outside[o] = 1;
        /* Beyond a few samples outside the axis every tap reads the same edge value. */
        if (!(v >= lim_lo)) /* also catches NaN */
            v = lim_lo;
        if (v > lim_hi)
            v = lim_hi;
        if (c->mode == MODE_NEAREST) {
            src[0] = clamp_i64(nearest_index(v, c->nearest), 0, last) * stride;
            continue;
        }
        f = floor(v);
        r = v - f;
        i0 = (int64_t)f;
        if (aa) {
            /* n taps nearest v, left preferred: ratio in (0, 1] (an integer v has ratio 1). */
            int nt = m->taps;
            double wsum = 0.0, wk[512];
            if (r == 0.0) {
                i0 -= 1;
                r = 1.0;
            }
            for (int t = 0; t < nt; t++) {
                double arg = (double)(1 - nt / 2 + t) - r;
                src[t] = i0 + 1 - nt / 2 + t;
                wk[t] = c->mode == MODE_LINEAR ? fmax(0.0, 1.0 - fabs(arg * scale))
                                               : cubic_aa(arg * scale, (double)c->cubic_a);
                wsum += wk[t];
            }
            for (int t = 0; t < nt; t++)
                wk[t] = wsum != 0.0 ? wk[t] / wsum : 0.0;
            if (c->exclude_outside) {
                wsum = 0.0;
                for (int t = 0; t < nt; t++) {
                    if (src[t] < 0 || src[t] > last)
                        wk[t] = 0.0;
                    wsum += wk[t];
                }
                for (int t = 0; t < nt && wsum != 0.0; t++)
                    wk[t] = wk[t] / wsum;
            }
            for (int t = 0; t < nt; t++) {
                src[t] = clamp_i64(src[t], 0, last);
                m->w[o * nt + t] = (float)wk[t];
            }
            continue;
        }
        if (c->mode == MODE_LINEAR) {
            src[0] = i0, src[1] = i0 + 1;
            w[0] = 1.0 - r, w[1] = r;
        } else {
            for (int t = 0; t < 4; t++)
                src[t] = i0 - 1 + t;
            cubic_coeffs(r, (double)c->cubic_a, w);
        }
        if (c->exclude_outside) {
            for (int t = 0; t < m->taps; t++) {
                if (src[t] < 0 || src[t] > last)
                    w[t] = 0.0;
                sum += w[t];
            }
            if (sum != 0.0)
                for (int t = 0; t < m->taps; t++)
                    w[t] = w[t] / sum;
        }
        for (int t = 0; t < m->taps; t++) {
            src[t] = clamp_i64(src[t], 0, last);
            m->w[o * m->taps + t] = (float)w[t];
        }
    }
}

/* Linear/cubic: when every row is one-hot (a single weight 1, the rest 0), rewrites the axis
 * to one tap in place; marks it identity when that tap reads the same index. */
static void compact_axis(axis_map *m)
{
    bool identity = m->in_len == m->out_len && !m->outside;

    for (int64_t o = 0; o < m->out_len; o++) {
        int hot = -1;
        for (int t = 0; t < m->taps; t++) {
            float w = m->w[o * m->taps + t];
            if (w == 0.0f)
                continue;
            if (w != 1.0f || hot >= 0)
                return;
            hot = t;
        }
        if (hot < 0)
            return;
        if (m->src[o * m->taps + hot] != o)
            identity = false;
    }
    for (int64_t o = 0; o < m->out_len; o++) {
        int hot = 0;
        while (m->w[o * m->taps + hot] == 0.0f)
            hot++;
        m->src[o] = m->src[o * m->taps + hot];
        m->w[o] = 1.0f;
    }
    m->taps = 1;
    m->identity = identity;
}

/* Converts the extrapolation value to the element type (saturating), for nearest on any
 * type. float16 is written as 0 (only used by tf_crop_and_resize). */
static void extrap_to_elem(float v, qcal_dtype dt, unsigned char *out)
{
    double d = (double)v;
    int64_t i;

    memset(out, 0, 8);
    if (dt == QCAL_DT_FLOAT) {
        memcpy(out, &v, 4);
        return;
    }
    if (dt == QCAL_DT_DOUBLE) {
        memcpy(out, &d, 8);
        return;
    }
    if (dt == QCAL_DT_BOOL) {
        out[0] = v != 0.0f;
        return;
    }
    if (dt == QCAL_DT_FLOAT16)
        return;
    i = (int64_t)(isnan(d) ? 0.0 : fmax(-9.2e18, fmin(9.2e18, d)));
    switch (dt) {
    case QCAL_DT_INT8: i = clamp_i64(i, INT8_MIN, INT8_MAX); break;
    case QCAL_DT_UINT8: i = clamp_i64(i, 0, UINT8_MAX); break;
    case QCAL_DT_INT16: i = clamp_i64(i, INT16_MIN, INT16_MAX); break;
    case QCAL_DT_UINT16: i = clamp_i64(i, 0, UINT16_MAX); break;
    case QCAL_DT_INT32: i = clamp_i64(i, INT32_MIN, INT32_MAX); break;
    case QCAL_DT_UINT32: i = clamp_i64(i, 0, UINT32_MAX); break;
    case QCAL_DT_UINT64: i = i < 0 ? 0 : i; break;
    default: break;
    }
    /* Conversion to unsigned is modular: the bytes are the two's complement of i. */
    switch (qcal_dtype_size(dt)) {
    case 1: { uint8_t t = (uint8_t)i; memcpy(out, &t, 1); break; }
    case 2: { uint16_t t = (uint16_t)i; memcpy(out, &t, 2); break; }
    case 4: { uint32_t t = (uint32_t)i; memcpy(out, &t, 4); break; }
    case 8: { uint64_t t = (uint64_t)i; memcpy(out, &t, 8); break; }
    default: break;
    }
}

static size_t round8(size_t v)
{
    return (v + 7) & ~(size_t)7;
}

/*
 * Shared infer: given the node's configuration and either per-axis scales or sizes (one of them
 * non-NULL, rank values), sets the output shape, builds the params block (one malloc holding
 * the struct and every axis' arrays) and the scratch size.
 */
static qcal_status resize_build(qcal__node *n, const resize_cfg *c, const float *scales,
                                const int64_t *sizes, qcal_error *err)
{
    const qcal__tensor *x = n->in[0];
    qcal__tensor *y = n->out[0];
    int rank = x->rank;
    int64_t out_dims[QCAL_MAX_RANK], stride[QCAL_MAX_RANK];
    double scale[QCAL_MAX_RANK], lr[QCAL_MAX_RANK];
    size_t esize = qcal_dtype_size(x->dtype), bytes, off;
    resize_params *p;
    unsigned char *base;
    qcal_status st;

    if (n->n_out < 1 || !y)
        return qcal__node_error(err, n, QCAL_E_INVALID, "output Y is missing");
    if (esize == 0 || x->dtype == QCAL_DT_STRING)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (c->mode != MODE_NEAREST && x->dtype != QCAL_DT_FLOAT && x->dtype != QCAL_DT_DOUBLE)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "%s interpolation supports float32 and float64, not %s",
                                c->mode == MODE_LINEAR ? "linear" : "cubic",
                                qcal_dtype_name(x->dtype));
    for (int a = 0; a < rank; a++) {
        int64_t in = x->dims[a];
        if (sizes && scales) { /* keep_aspect_ratio_policy: both decided by the caller */
            out_dims[a] = sizes[a];
            scale[a] = (double)scales[a];
            lr[a] = (double)in * scale[a];
        } else if (sizes) {
            if (sizes[a] < 0)
                return qcal__node_error(err, n, QCAL_E_INVALID, "sizes[%d] = %lld is negative",
                                        a, (long long)sizes[a]);
            out_dims[a] = sizes[a];
            scale[a] = in > 0 ? (double)sizes[a] / (double)in : 1.0;
            lr[a] = (double)sizes[a];
        } else {
            float len;
            if (!(scales[a] > 0.0f) || !isfinite(scales[a]))
                return qcal__node_error(err, n, QCAL_E_INVALID,
                                        "scales[%d] = %g, expected a positive finite value", a,
                                        (double)scales[a]);
            /* The size as ONNX shape inference computes it, in float; the coordinate
             * mapping uses the unrounded product, as the reference does. */
            scale[a] = (double)scales[a];
            lr[a] = (double)in * scale[a];
            len = floorf((float)in * scales[a]);
            if (!(len < 4.0e18f))
                return qcal__node_error(err, n, QCAL_E_SHAPE, "scales[%d] = %g gives a too "
                                        "large output", a, (double)scales[a]);
            out_dims[a] = (int64_t)len;
        }
        if (in == 0 && out_dims[a] > 0)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "cannot resize empty axis %d to %lld",
                                    a, (long long)out_dims[a]);
    }
    st = qcal__tensor_set_shape(y, x->dtype, rank, out_dims, err);
    if (st != QCAL_OK)
        return st;

    /* One block: the struct, then per axis the offsets, weights and outside flags. */
    int taps = c->mode == MODE_CUBIC ? 4 : (c->mode == MODE_LINEAR ? 2 : 1);
    int ataps[QCAL_MAX_RANK];
    bool crop = c->coord == CT_TF_CROP_AND_RESIZE;
    for (int a = 0; a < rank; a++) {
        ataps[a] = taps;
        if (c->antialias && c->mode != MODE_NEAREST && scale[a] < 1.0) {
            if (!(scale[a] >= 1.0 / 64.0))
                return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "antialias with scale %g "
                                        "on axis %d (at most 1/64 supported)", scale[a], a);
            ataps[a] = aa_taps(c->mode, scale[a]);
        }
    }
    bytes = round8(sizeof *p);
    for (int a = 0; a < rank && y->nelem > 0; a++) {
        size_t len = (size_t)out_dims[a] * (size_t)ataps[a];
        bytes += round8(len * sizeof(int64_t));
        if (c->mode != MODE_NEAREST)
            bytes += round8(len * sizeof(float));
        if (crop)
            bytes += round8((size_t)out_dims[a]);
    }
    base = calloc(1, bytes);
    if (!base)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory (%zu bytes)", bytes);
    p = (resize_params *)base;
    p->mode = c->mode;
    p->rank = rank;
    p->esize = esize;
    p->is_double = x->dtype == QCAL_DT_DOUBLE;
    p->extrap = c->extrapolation;
    extrap_to_elem(c->extrapolation, x->dtype, p->extrap_elem);
    memcpy(p->in_dims, x->dims, sizeof p->in_dims);
    memcpy(p->out_dims, out_dims, (size_t)rank * sizeof out_dims[0]);
    n->params = p;
    n->scratch = 0;
    if (y->nelem == 0)
        return QCAL_OK;

    qcal__strides(rank, x->dims, stride);
    off = round8(sizeof *p);
    for (int a = 0; a < rank; a++) {
        axis_map *m = &p->ax[a];
        size_t len = (size_t)out_dims[a] * (size_t)ataps[a];
        m->in_len = x->dims[a];
        m->out_len = out_dims[a];
        m->taps = ataps[a];
        m->src = (int64_t *)(base + off);
        off += round8(len * sizeof(int64_t));
        if (c->mode != MODE_NEAREST) {
            m->w = (float *)(base + off);
            off += round8(len * sizeof(float));
        }
        if (crop) {
            m->outside = base + off;
            off += round8((size_t)out_dims[a]);
        }
        fill_axis(c, m, c->mode == MODE_NEAREST ? stride[a] : 1, scale[a], lr[a],
                  c->roi ? (double)c->roi[a] : 0.0, c->roi ? (double)c->roi[a + rank] : 1.0);
        if (m->outside) {
            bool any = false;
            for (int64_t o = 0; o < m->out_len && !any; o++)
                any = m->outside[o] != 0;
            if (!any)
                m->outside = NULL;
        }
        if (c->mode != MODE_NEAREST)
            compact_axis(m);
    }
    if (c->mode == MODE_NEAREST)
        return QCAL_OK;

    /* Passes innermost axis first; buffers alternate, the last pass writes Y. */
    int64_t dims[QCAL_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    for (int a = rank - 1; a >= 0; a--)
        if (!p->ax[a].identity)
            p->pass_axis[p->n_pass++] = a;
    for (int k = 0; k < p->n_pass; k++) {
        size_t ne;
        dims[p->pass_axis[k]] = out_dims[p->pass_axis[k]];
        ne = qcal__shape_nelem(rank, dims);
        if (k < p->n_pass - 1 && ne > p->buf_elems[k & 1])
            p->buf_elems[k & 1] = ne;
    }
    n->scratch = ((p->buf_elems[0] * esize + 63) & ~(size_t)63) + p->buf_elems[1] * esize;
    return QCAL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Attributes and inputs of each version.
 */

static qcal_status parse_mode(const qcal__node *n, bool allow_cubic, int *mode, qcal_error *err)
{
    const char *s = qcal__attr_str(n, "mode", "nearest");

    if (strcmp(s, "nearest") == 0)
        *mode = MODE_NEAREST;
    else if (strcmp(s, "linear") == 0 || strcmp(s, "bilinear") == 0)
        *mode = MODE_LINEAR;
    else if (allow_cubic && strcmp(s, "cubic") == 0)
        *mode = MODE_CUBIC;
    else
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "mode '%s' is not supported", s);
    return QCAL_OK;
}

/* Opsets before 11: asymmetric mapping, floor for nearest. */
static void old_cfg(resize_cfg *c, int mode)
{
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->coord = CT_ASYMMETRIC;
    c->nearest = NM_FLOOR;
    c->cubic_a = -0.75f;
}

static qcal_status check_x(const qcal__node *n, int lo, int hi, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, lo, hi, err);

    if (st == QCAL_OK && n->in[0]->rank > QCAL_MAX_RANK)
        st = qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "rank %d", n->in[0]->rank);
    return st;
}

/* Reads a float CONST input holding one value per axis. */
static qcal_status read_scales(const qcal__node *n, int i, float *scales, qcal_error *err)
{
    size_t count;
    int rank = n->in[0]->rank;
    qcal_status st = qcal__const_floats(n, i, scales, QCAL_MAX_RANK, &count, err);

    if (st != QCAL_OK)
        return st;
    if (count != (size_t)rank)
        return qcal__node_error(err, n, QCAL_E_INVALID, "scales has %zu values for rank %d",
                                count, rank);
    return QCAL_OK;
}

/* Upsample-1: height_scale and width_scale on NCHW (the scales attribute is also accepted). */
static qcal_status upsample1_infer(qcal__node *n, qcal_error *err)
{
    resize_cfg c;
    float scales[4] = { 1.0f, 1.0f, 1.0f, 1.0f };
    const float *attr;
    size_t na;
    int mode;
    qcal_status st = check_x(n, 1, 1, err);

    if (st == QCAL_OK)
        st = parse_mode(n, false, &mode, err);
    if (st != QCAL_OK)
        return st;
    old_cfg(&c, mode);
    na = qcal__attr_floats(n, "scales", &attr);
    if (na > 0) {
        if (na != (size_t)n->in[0]->rank)
            return qcal__node_error(err, n, QCAL_E_INVALID, "scales has %zu values for rank %d",
                                    na, n->in[0]->rank);
        return resize_build(n, &c, attr, NULL, err);
    }
    if (n->in[0]->rank != 4)
        return qcal__node_error(err, n, QCAL_E_INVALID, "expects a 4-D input, got rank %d",
                                n->in[0]->rank);
    if (!qcal__attr_find(n, "height_scale") || !qcal__attr_find(n, "width_scale"))
        return qcal__node_error(err, n, QCAL_E_INVALID,
                                "attributes height_scale and width_scale are required");
    scales[2] = qcal__attr_float(n, "height_scale", 1.0f);
    scales[3] = qcal__attr_float(n, "width_scale", 1.0f);
    return resize_build(n, &c, scales, NULL, err);
}

/* Upsample-7: scales attribute, one per axis. */
static qcal_status upsample7_infer(qcal__node *n, qcal_error *err)
{
    resize_cfg c;
    const float *scales;
    size_t na;
    int mode;
    qcal_status st = check_x(n, 1, 1, err);

    if (st == QCAL_OK)
        st = parse_mode(n, false, &mode, err);
    if (st != QCAL_OK)
        return st;
    na = qcal__attr_floats(n, "scales", &scales);
    if (na != (size_t)n->in[0]->rank)
        return qcal__node_error(err, n, QCAL_E_INVALID, "scales has %zu values for rank %d", na,
                                n->in[0]->rank);
    old_cfg(&c, mode);
    return resize_build(n, &c, scales, NULL, err);
}

/* Upsample-9 and Resize-10: X and a scales input. */
static qcal_status scales_input_infer(qcal__node *n, qcal_error *err)
{
    resize_cfg c;
    float scales[QCAL_MAX_RANK];
    int mode;
    qcal_status st = check_x(n, 2, 2, err);

    if (st == QCAL_OK)
        st = parse_mode(n, false, &mode, err);
    if (st == QCAL_OK)
        st = read_scales(n, 1, scales, err);
    if (st != QCAL_OK)
        return st;
    old_cfg(&c, mode);
    return resize_build(n, &c, scales, NULL, err);
}

static bool present(const qcal__node *n, int i)
{
    const qcal__tensor *t = qcal__in(n, i);
    return t && t->nelem > 0;
}

/*
 * Resize-18 axes: scales, sizes and roi name only the listed axes; spreads them over the rank
 * (scale 1, the input size and roi [0, 1] elsewhere). cnt is the count read.
 */
static qcal_status spread_axes(const qcal__node *n, const int *ax, size_t nax, size_t cnt,
                               const char *what, qcal_error *err)
{
    if (cnt != nax)
        return qcal__node_error(err, n, QCAL_E_INVALID, "%s has %zu values for %zu axes", what,
                                cnt, nax);
    (void)ax;
    return QCAL_OK;
}

/* Resize-11/13/18/19: X, roi, scales, sizes; empty roi/scales/sizes mean absent. */
static qcal_status resize11_infer(qcal__node *n, qcal_error *err)
{
    static const char *const CT_NAMES[] = {
        "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
        "tf_half_pixel_for_nearest", "tf_crop_and_resize", "half_pixel_symmetric",
    };
    static const char *const NM_NAMES[] = {
        "round_prefer_floor", "round_prefer_ceil", "floor", "ceil",
    };
    resize_cfg c;
    float scales[QCAL_MAX_RANK], roi[2 * QCAL_MAX_RANK], given_f[2 * QCAL_MAX_RANK];
    int64_t sizes[QCAL_MAX_RANK], given_i[QCAL_MAX_RANK];
    int ax[QCAL_MAX_RANK];
    size_t count, nax;
    int rank, policy = 0;
    const char *s;
    qcal_status st = check_x(n, 1, 4, err);

    if (st != QCAL_OK)
        return st;
    rank = n->in[0]->rank;
    /* Resize-18: axes (default all, in order), keep_aspect_ratio_policy, antialias. */
    nax = (size_t)rank;
    for (int a = 0; a < rank; a++)
        ax[a] = a;
    memset(&c, 0, sizeof c);
    if (n->opset >= 18) {
        const int64_t *axes;
        size_t na = qcal__attr_ints(n, "axes", &axes);
        bool seen[QCAL_MAX_RANK] = { false };
        const char *pol = qcal__attr_str(n, "keep_aspect_ratio_policy", "stretch");
        if (na > (size_t)rank)
            return qcal__node_error(err, n, QCAL_E_INVALID, "%zu axes for rank %d", na, rank);
        if (na) {
            nax = na;
            for (size_t k = 0; k < na; k++) {
                if ((st = qcal__norm_axis(n, axes[k], rank, &ax[k], err)) != QCAL_OK)
                    return st;
                if (seen[ax[k]])
                    return qcal__node_error(err, n, QCAL_E_INVALID, "axis %d is listed twice",
                                            ax[k]);
                seen[ax[k]] = true;
            }
        }
        if (strcmp(pol, "stretch") == 0)
            policy = 0;
        else if (strcmp(pol, "not_larger") == 0)
            policy = 1;
        else if (strcmp(pol, "not_smaller") == 0)
            policy = 2;
        else
            return qcal__node_error(err, n, QCAL_E_INVALID, "keep_aspect_ratio_policy '%s'",
                                    pol);
        c.antialias = qcal__attr_int(n, "antialias", 0) != 0;
    }
    st = parse_mode(n, true, &c.mode, err);
    if (st != QCAL_OK)
        return st;
    s = qcal__attr_str(n, "coordinate_transformation_mode", "half_pixel");
    c.coord = -1;
    for (int i = 0; i < (int)(sizeof CT_NAMES / sizeof CT_NAMES[0]); i++)
        if (strcmp(s, CT_NAMES[i]) == 0)
            c.coord = i;
    if (strcmp(s, "tf_half_pixel_for_nn") == 0) /* the name used by early opset-11 models */
        c.coord = CT_TF_HALF_PIXEL_FOR_NN;
    if (c.coord < 0 || (c.coord == CT_HALF_PIXEL_SYMMETRIC && n->opset < 19))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "coordinate_transformation_mode '%s' is not supported", s);
    s = qcal__attr_str(n, "nearest_mode", "round_prefer_floor");
    c.nearest = -1;
    for (int i = 0; i < (int)(sizeof NM_NAMES / sizeof NM_NAMES[0]); i++)
        if (strcmp(s, NM_NAMES[i]) == 0)
            c.nearest = i;
    if (c.nearest < 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "nearest_mode '%s' is not supported",
                                s);
    c.cubic_a = qcal__attr_float(n, "cubic_coeff_a", -0.75f);
    c.exclude_outside = qcal__attr_int(n, "exclude_outside", 0) != 0;
    c.extrapolation = qcal__attr_float(n, "extrapolation_value", 0.0f);

    if (c.coord == CT_TF_CROP_AND_RESIZE && present(n, 1)) {
        st = qcal__const_floats(n, 1, given_f, 2 * QCAL_MAX_RANK, &count, err);
        if (st != QCAL_OK)
            return st;
        if ((st = spread_axes(n, ax, 2 * nax, count, "roi", err)) != QCAL_OK)
            return st;
        for (int a = 0; a < rank; a++) {
            roi[a] = 0.0f;
            roi[a + rank] = 1.0f;
        }
        for (size_t k = 0; k < nax; k++) {
            roi[ax[k]] = given_f[k];
            roi[ax[k] + rank] = given_f[k + nax];
        }
        c.roi = roi;
    }
    /* sizes takes precedence when both are given. */
    if (present(n, 3)) {
        const qcal__tensor *x = n->in[0];
        st = qcal__const_ints(n, 3, given_i, QCAL_MAX_RANK, &count, err);
        if (st != QCAL_OK)
            return st;
        if ((st = spread_axes(n, ax, nax, count, "sizes", err)) != QCAL_OK)
            return st;
        for (int a = 0; a < rank; a++)
            sizes[a] = x->dims[a];
        for (size_t k = 0; k < nax; k++)
            sizes[ax[k]] = given_i[k];
        if (policy != 0) {
            /* One scale for the listed axes: the smallest (not_larger) or largest ratio; each
             * listed size becomes floor(scale * in + 0.5), as ONNX's reference computes it. */
            double sc = 0.0;
            for (size_t k = 0; k < nax; k++) {
                double r;
                if (x->dims[ax[k]] <= 0 || given_i[k] < 0)
                    return qcal__node_error(err, n, QCAL_E_SHAPE, "keep_aspect_ratio_policy "
                                            "on an empty axis or a negative size");
                r = (double)given_i[k] / (double)x->dims[ax[k]];
                if (k == 0 || (policy == 1 ? r < sc : r > sc))
                    sc = r;
            }
            for (int a = 0; a < rank; a++)
                scales[a] = 1.0f;
            for (size_t k = 0; k < nax; k++) {
                double len = floor(sc * (double)x->dims[ax[k]] + 0.5);
                if (!(len < 4.0e18))
                    return qcal__node_error(err, n, QCAL_E_SHAPE, "sizes too large");
                sizes[ax[k]] = (int64_t)len;
                scales[ax[k]] = (float)sc;
            }
            return resize_build(n, &c, scales, sizes, err);
        }
        return resize_build(n, &c, NULL, sizes, err);
    }
    if (!present(n, 2))
        return qcal__node_error(err, n, QCAL_E_INVALID, "one of scales and sizes is required");
    if (nax == (size_t)rank && n->opset < 18) {
        st = read_scales(n, 2, scales, err);
    } else {
        st = qcal__const_floats(n, 2, given_f, QCAL_MAX_RANK, &count, err);
        if (st == QCAL_OK)
            st = spread_axes(n, ax, nax, count, "scales", err);
        for (int a = 0; st == QCAL_OK && a < rank; a++)
            scales[a] = 1.0f;
        for (size_t k = 0; st == QCAL_OK && k < nax; k++)
            scales[ax[k]] = given_f[k];
    }
    if (st != QCAL_OK)
        return st;
    return resize_build(n, &c, scales, NULL, err);
}

/* ---------------------------------------------------------------------------------------------
 * Run.
 */

/* Nearest: a gather over the output, one row of the last axis at a time; offsets per axis
 * are precomputed (index * input stride), rows wholly outside write the extrapolation value. */
static void run_nearest(const resize_params *p, const unsigned char *x, unsigned char *y)
{
    const int last = p->rank - 1;
    const size_t es = p->esize;
    int64_t coord[QCAL_MAX_RANK] = { 0 };
    int64_t rows = 1, width;
    const int64_t *off;
    const uint8_t *ol;

    if (p->rank == 0) {
        memcpy(y, x, es);
        return;
    }
    width = p->out_dims[last];
    off = p->ax[last].src;
    ol = p->ax[last].outside;
    for (int a = 0; a < last; a++)
        rows *= p->out_dims[a];
    for (int64_t row = 0; row < rows; row++) {
        unsigned char *yr = y + (size_t)(row * width) * es;
        const unsigned char *xr = x;
        bool out_row = false;
        for (int a = 0; a < last; a++) {
            xr += (size_t)p->ax[a].src[coord[a]] * es;
            if (p->ax[a].outside && p->ax[a].outside[coord[a]])
                out_row = true;
        }
        if (out_row || ol) {
            for (int64_t o = 0; o < width; o++)
                memcpy(yr + (size_t)o * es,
                       (out_row || ol[o]) ? p->extrap_elem : xr + (size_t)off[o] * es, es);
        } else if (es == 4) { /* constant sizes: the copies compile to plain moves */
            for (int64_t o = 0; o < width; o++)
                memcpy(yr + (size_t)o * 4, xr + (size_t)off[o] * 4, 4);
        } else if (es == 1) {
            for (int64_t o = 0; o < width; o++)
                yr[o] = xr[off[o]];
        } else if (es == 8) {
            for (int64_t o = 0; o < width; o++)
                memcpy(yr + (size_t)o * 8, xr + (size_t)off[o] * 8, 8);
        } else {
            for (int64_t o = 0; o < width; o++)
                memcpy(yr + (size_t)o * es, xr + (size_t)off[o] * es, es);
        }
        for (int a = last - 1; a >= 0; a--) {
            if (++coord[a] < p->out_dims[a])
                break;
            coord[a] = 0;
        }
    }
}

/*
 * One separable pass along an axis: the data is viewed as [outer, in_len, inner] and becomes
 * [outer, out_len, inner]; each output row is the weighted sum of its taps' input rows, summed in
 * tap order, or the extrapolation value when outside. T is the element type.
 */
#define DEFINE_PASS(NAME, T)                                                                   \
    static void NAME(const T *x, T *y, int64_t outer, int64_t inner, const axis_map *m,        \
                     T extrap)                                                                 \
    {                                                                                          \
        const int k = m->taps;                                                                 \
        for (int64_t b = 0; b < outer; b++) {                                                  \
            const T *xb = x + b * m->in_len * inner;                                           \
            T *yb = y + b * m->out_len * inner;                                                \
            for (int64_t o = 0; o < m->out_len; o++) {                                         \
                const int64_t *src = m->src + o * k;                                           \
                const float *w = m->w + o * k;                                                 \
                T *yo = yb + o * inner;                                                        \
                if (m->outside && m->outside[o]) {                                             \
                    for (int64_t i = 0; i < inner; i++)                                        \
                        yo[i] = extrap;                                                        \
                } else if (inner == 1) {                                                       \
                    T acc = (T)w[0] * xb[src[0]];                                              \
                    for (int t = 1; t < k; t++)                                                \
                        acc += (T)w[t] * xb[src[t]];                                           \
                    yo[0] = acc;                                                               \
                } else {                                                                       \
                    const T *x0 = xb + src[0] * inner;                                         \
                    const T w0 = (T)w[0];                                                      \
                    for (int64_t i = 0; i < inner; i++)                                        \
                        yo[i] = w0 * x0[i];                                                    \
                    for (int t = 1; t < k; t++) {                                              \
                        const T *xt = xb + src[t] * inner;                                     \
                        const T wt = (T)w[t];                                                  \
                        for (int64_t i = 0; i < inner; i++)                                    \
                            yo[i] += wt * xt[i];                                               \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

DEFINE_PASS(pass_f32, float)
DEFINE_PASS(pass_f64, double)

static void resize_run(const qcal__node *n, void *scratch)
{
    const resize_params *p = n->params;
    const qcal__tensor *x = n->in[0];
    qcal__tensor *y = n->out[0];
    unsigned char *buf[2];
    int64_t dims[QCAL_MAX_RANK];
    const void *src = x->data;

    if (y->nelem == 0)
        return;
    if (p->mode == MODE_NEAREST) {
        run_nearest(p, x->data, y->data);
        return;
    }
    if (p->n_pass == 0) {
        memcpy(y->data, x->data, y->nelem * p->esize);
        return;
    }
    buf[0] = scratch;
    buf[1] = (unsigned char *)scratch + ((p->buf_elems[0] * p->esize + 63) & ~(size_t)63);
    memcpy(dims, p->in_dims, sizeof dims);
    for (int k = 0; k < p->n_pass; k++) {
        int a = p->pass_axis[k];
        int64_t outer = 1, inner = 1;
        void *dst = k == p->n_pass - 1 ? y->data : buf[k & 1];
        for (int i = 0; i < a; i++)
            outer *= dims[i];
        for (int i = a + 1; i < p->rank; i++)
            inner *= dims[i];
        if (p->is_double)
            pass_f64(src, dst, outer, inner, &p->ax[a], (double)p->extrap);
        else
            pass_f32(src, dst, outer, inner, &p->ax[a], p->extrap);
        dims[a] = p->out_dims[a];
        src = dst;
    }
}

const qcal__op qcal__ops_resize[] = {
    { "Resize", 10, 10, scales_input_infer, resize_run, 1u << 1 },
    /* 11 and 13 share semantics and defaults; 18 adds antialias, axes, keep_aspect_ratio. */
    { "Resize", 11, 17, resize11_infer, resize_run, (1u << 1) | (1u << 2) | (1u << 3) },
    { "Resize", 18, 18, resize11_infer, resize_run, (1u << 1) | (1u << 2) | (1u << 3) },
    /* 19 adds half_pixel_symmetric */
    { "Resize", 19, QCAL__OPSET_LAST, resize11_infer, resize_run,
      (1u << 1) | (1u << 2) | (1u << 3) },
    { "Upsample", 1, 6, upsample1_infer, resize_run, 0 },
    { "Upsample", 7, 8, upsample7_infer, resize_run, 0 },
    /* Upsample is deprecated from opset 10 on (Resize replaces it). */
    { "Upsample", 9, 9, scales_input_infer, resize_run, 1u << 1 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
