/*
 * GridSample (ONNX -16: 4-D, modes bilinear/nearest/bicubic; -20/22: N-D, modes
 * linear/nearest/cubic) and AffineGrid (-20: the sampling grid of a batch of affine matrices).
 *
 * GridSample follows the ONNX reference (itself PyTorch's GridSampler): normalized coordinates
 * in [-1, 1] are denormalized per align_corners, mapped inside by border/reflection padding,
 * then sampled with 1, 2 or 4 taps per dim (nearest, linear, Keys cubic with alpha -0.75); taps
 * outside the image read 0 (zeros), the edge (border) or their mirror image (reflection). The
 * taps of one output position are built once and applied to every channel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/grid.h"
#include "ops/ops.h"
#include "qcal/round.h"

/*
 * Mirrors x into [lo, hi] by the nearer border as often as needed (the ONNX reference's
 * _gs_reflect). The fold count stays a float so that far coordinates cannot overflow an
 * integer; their result may fall outside [lo, hi] by rounding, which callers clamp.
 */
static float reflect(float x, float lo, float hi)
{
    const float rng = hi - lo;
    float dx, q, r;

    if (!(rng > 0.0f))
        return lo;
    if (x < lo) {
        dx = lo - x;
        q = floorf(dx / rng);
        r = dx - q * rng;
        return fmodf(q, 2.0f) == 0.0f ? lo + r : hi - r;
    }
    if (x > hi) {
        dx = x - hi;
        q = floorf(dx / rng);
        r = dx - q * rng;
        return fmodf(q, 2.0f) == 0.0f ? hi - r : lo + r;
    }
    return x;
}

/* Index i of a tap under the padding mode: in [0, d), or -1 for a zero pad. */
static int64_t tap_index(int64_t i, int64_t d, qcal__grid_pad pad, float lo, float hi)
{
    if (i >= 0 && i < d)
        return i;
    if (pad == QCAL__PAD_ZEROS)
        return -1;
    if (pad == QCAL__PAD_REFLECTION) {
        const float r = reflect((float)i, lo, hi);
        i = r > lo ? (int64_t)r : 0;
    }
    return i < 0 ? 0 : (i >= d ? d - 1 : i);
}

/* Keys cubic convolution weights of the 4 taps at offsets -1, 0, 1, 2 from floor(x), t = x -
 * floor(x) in [0, 1). */
static void cubic_weights(float t, float *w)
{
    const float a = -0.75f;
    const float t1 = t + 1.0f, u = 1.0f - t, u1 = 2.0f - t;

    w[0] = ((a * t1 - 5.0f * a) * t1 + 8.0f * a) * t1 - 4.0f * a;
    w[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
    w[2] = ((a + 2.0f) * u - (a + 3.0f)) * u * u + 1.0f;
    w[3] = ((a * u1 - 5.0f * a) * u1 + 8.0f * a) * u1 - 4.0f * a;
}

int qcal__grid_taps(float x, int64_t d, qcal__grid_mode mode, qcal__grid_pad pad,
                    bool align_corners, int64_t *idx, float *w)
{
    const float lo = align_corners ? 0.0f : -0.5f;
    const float hi = align_corners ? (float)d - 1.0f : (float)d - 0.5f;
    const float far = (float)d + 4.0f; /* every tap of a coordinate beyond is outside */
    int64_t i0;
    float t;

    if (mode == QCAL__GRID_NEAREST)
        /* Half to even (nearbyint), as the ONNX 1.17 test data has it for 2-D and 3-D. */
        x = qcal_round_half_evenf(x);
    if (x < lo || x > hi) {
        if (pad == QCAL__PAD_BORDER)
            x = x < 0.0f ? 0.0f : (x > (float)d - 1.0f ? (float)d - 1.0f : x);
        else if (pad == QCAL__PAD_REFLECTION)
            x = reflect(x, lo, hi);
    }
    /* NaN and far coordinates: fmaxf/fminf keep the integer conversion defined. */
    x = fminf(fmaxf(x, -far), far);
    if (mode == QCAL__GRID_NEAREST) {
        idx[0] = tap_index((int64_t)x, d, pad, lo, hi);
        w[0] = 1.0f;
        return 1;
    }
    i0 = (int64_t)floorf(x);
    t = x - (float)i0;
    if (mode == QCAL__GRID_LINEAR) {
        idx[0] = tap_index(i0, d, pad, lo, hi);
        idx[1] = tap_index(i0 + 1, d, pad, lo, hi);
        w[0] = 1.0f - t;
        w[1] = t;
        return 2;
    }
    cubic_weights(t, w);
    for (int k = 0; k < 4; k++)
        idx[k] = tap_index(i0 - 1 + k, d, pad, lo, hi);
    return 4;
}

/* ---- GridSample ---- */

typedef struct gs_params {
    int nd;                       /* spatial dims */
    qcal__grid_mode mode;
    qcal__grid_pad pad;
    bool align;
    size_t taps;                  /* taps per output position (product over dims) */
    size_t npos;                  /* output positions per (n, c) */
    int64_t dims[QCAL_MAX_RANK];  /* input spatial dims */
    int64_t st[QCAL_MAX_RANK];    /* their strides */
} gs_params;

static qcal_status gs_parse(qcal__node *n, gs_params *p, qcal_error *err)
{
    const bool v20 = n->opset >= 20;
    const char *mode = qcal__attr_str(n, "mode", v20 ? "linear" : "bilinear");
    const char *pad = qcal__attr_str(n, "padding_mode", "zeros");

    if (strcmp(mode, "nearest") == 0)
        p->mode = QCAL__GRID_NEAREST;
    else if (strcmp(mode, v20 ? "linear" : "bilinear") == 0)
        p->mode = QCAL__GRID_LINEAR;
    else if (strcmp(mode, v20 ? "cubic" : "bicubic") == 0)
        p->mode = QCAL__GRID_CUBIC;
    else
        return qcal__node_error(err, n, QCAL_E_INVALID, "mode '%s' is not valid at opset %d",
                                mode, n->opset);
    if (strcmp(pad, "zeros") == 0)
        p->pad = QCAL__PAD_ZEROS;
    else if (strcmp(pad, "border") == 0)
        p->pad = QCAL__PAD_BORDER;
    else if (strcmp(pad, "reflection") == 0)
        p->pad = QCAL__PAD_REFLECTION;
    else
        return qcal__node_error(err, n, QCAL_E_INVALID, "padding_mode '%s'", pad);
    p->align = qcal__attr_int(n, "align_corners", 0) != 0;
    return QCAL_OK;
}

static qcal_status gs_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *g;
    int64_t odims[QCAL_MAX_RANK];
    size_t per = 1, bytes;
    gs_params *p;
    qcal_status st = qcal__check_inputs(n, 2, 2, err);
    int nd;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    g = n->in[1];
    if (x->dtype != QCAL_DT_FLOAT || g->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "X and grid must be float32 (are "
                                "%s, %s)", qcal_dtype_name(x->dtype), qcal_dtype_name(g->dtype));
    nd = x->rank - 2;
    if (nd < 1 || (n->opset < 20 && nd != 2))
        return qcal__node_error(err, n, QCAL_E_SHAPE, "X is %d-D, expected %s", x->rank,
                                n->opset < 20 ? "4-D at this opset" : "at least 3-D");
    if (g->rank != x->rank || g->dims[0] != x->dims[0] || g->dims[g->rank - 1] != nd)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "grid must be [N, out dims..., %d] with "
                                "N = %lld", nd, (long long)x->dims[0]);
    for (int k = 0; k < nd; k++)
        if (x->dims[2 + k] < 1)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "X has an empty spatial dim");
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    if ((st = gs_parse(n, p, err)) != QCAL_OK)
        return st;
    p->nd = nd;
    memcpy(p->dims, x->dims + 2, (size_t)nd * sizeof p->dims[0]);
    qcal__strides(nd, p->dims, p->st);
    for (int k = 0; k < nd; k++)
        if (__builtin_mul_overflow(per, (size_t)(p->mode == QCAL__GRID_CUBIC ? 4 : p->mode ==
                                                 QCAL__GRID_LINEAR ? 2 : 1), &per))
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "too many taps");
    p->taps = per;
    if (__builtin_mul_overflow(per, sizeof(size_t) + sizeof(float), &bytes))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "too many taps");
    n->scratch = bytes;
    p->npos = qcal__shape_nelem(nd, g->dims + 1);
    odims[0] = x->dims[0];
    odims[1] = x->dims[1];
    memcpy(odims + 2, g->dims + 1, (size_t)nd * sizeof odims[0]);
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_FLOAT, x->rank, odims, err);
}

size_t qcal__grid_point_taps(int nd, const int64_t *dims, const int64_t *st, const float *px,
                             qcal__grid_mode mode, qcal__grid_pad pad, bool align_corners,
                             size_t *off, float *wt)
{
    int64_t idx[QCAL_MAX_RANK][QCAL__GRID_MAX_TAPS];
    float w[QCAL_MAX_RANK][QCAL__GRID_MAX_TAPS];
    int cnt[QCAL_MAX_RANK], k[QCAL_MAX_RANK] = { 0 };
    size_t kept = 0, taps = 1;

    for (int i = 0; i < nd; i++) {
        cnt[i] = qcal__grid_taps(px[i], dims[i], mode, pad, align_corners, idx[i], w[i]);
        taps *= (size_t)cnt[i];
    }
    for (size_t t = 0; t < taps; t++) {
        float wp = 1.0f;
        int64_t o = 0;
        bool valid = true;
        for (int i = 0; i < nd; i++) {
            if (idx[i][k[i]] < 0)
                valid = false;
            wp *= w[i][k[i]];
            o += idx[i][k[i]] * st[i];
        }
        if (valid) {
            off[kept] = (size_t)o;
            wt[kept++] = wp;
        }
        for (int i = nd - 1; i >= 0; i--) {
            if (++k[i] < cnt[i])
                break;
            k[i] = 0;
        }
    }
    return kept;
}

/* Denormalizes one grid point (innermost dim first, as the grid stores it) and builds its taps. */
static size_t gs_position(const gs_params *p, const float *coord, size_t *off, float *wt)
{
    float px[QCAL_MAX_RANK];

    for (int i = 0; i < p->nd; i++) {
        const float nc = coord[p->nd - 1 - i];
        const float d = (float)p->dims[i];
        px[i] = p->align ? (nc + 1.0f) / 2.0f * (d - 1.0f) : ((nc + 1.0f) * d - 1.0f) / 2.0f;
    }
    return qcal__grid_point_taps(p->nd, p->dims, p->st, px, p->mode, p->pad, p->align, off, wt);
}

static void gs_run(const qcal__node *n, void *scratch)
{
    const gs_params *p = n->params;
    const qcal__tensor *x = n->in[0];
    const float *src = x->data, *grid = n->in[1]->data;
    float *dst = n->out[0]->data;
    const int64_t N = x->dims[0], C = x->dims[1];
    const size_t plane = qcal__shape_nelem(p->nd, p->dims);
    size_t *off = scratch;
    float *wt = (float *)(off + p->taps);

    for (int64_t b = 0; b < N; b++) {
        for (size_t q = 0; q < p->npos; q++) {
            const size_t kept = gs_position(p, grid + ((size_t)b * p->npos + q) * (size_t)p->nd,
                                            off, wt);
            for (int64_t c = 0; c < C; c++) {
                const float *s = src + ((size_t)b * (size_t)C + (size_t)c) * plane;
                float acc = 0.0f;
                for (size_t t = 0; t < kept; t++)
                    acc += wt[t] * s[off[t]];
                dst[((size_t)b * (size_t)C + (size_t)c) * p->npos + q] = acc;
            }
        }
    }
}

/* ---- AffineGrid: grid[n, ..., i] = sum_j theta[n, i, j] * (x, y[, z], 1)_j ---- */

typedef struct ag_params {
    int nd;
    int64_t dims[3]; /* spatial output dims, outermost first (H, W) or (D, H, W) */
    bool align;
} ag_params;

static qcal_status ag_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *th;
    int64_t size[5], odims[5];
    size_t cnt = 0;
    ag_params *p;
    qcal_status st = qcal__check_inputs(n, 2, 2, err);
    int nd;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    th = n->in[0];
    if (th->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "theta must be float32, is %s",
                                qcal_dtype_name(th->dtype));
    if ((st = qcal__const_ints(n, 1, size, 5, &cnt, err)) != QCAL_OK)
        return st;
    if (cnt != 4 && cnt != 5)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "size has %zu values, expected 4 or 5",
                                cnt);
    nd = (int)cnt - 2;
    if (th->rank != 3 || th->dims[0] != size[0] || th->dims[1] != nd || th->dims[2] != nd + 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "theta must be [%lld, %d, %d]",
                                (long long)size[0], nd, nd + 1);
    for (int k = 2; k < (int)cnt; k++)
        if (size[k] < 1)
            return qcal__node_error(err, n, QCAL_E_INVALID, "size[%d] = %lld must be >= 1", k,
                                    (long long)size[k]);
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->nd = nd;
    p->align = qcal__attr_int(n, "align_corners", 0) != 0;
    odims[0] = size[0];
    for (int k = 0; k < nd; k++)
        p->dims[k] = odims[1 + k] = size[2 + k];
    odims[1 + nd] = nd;
    /* set_shape checks the element count for overflow. */
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_FLOAT, nd + 2, odims, err);
}

/* Normalized coordinate of pixel i of L: corners at +-1 (align_corners) or pixel centres. */
static float ag_coord(int64_t i, int64_t L, bool align)
{
    if (align)
        return L > 1 ? -1.0f + (float)i * (2.0f / (float)(L - 1)) : -1.0f;
    return -1.0f + (2.0f * (float)i + 1.0f) / (float)L;
}

static void ag_run(const qcal__node *n, void *scratch)
{
    const ag_params *p = n->params;
    const float *theta = n->in[0]->data;
    float *dst = n->out[0]->data;
    const int nd = p->nd;
    const int64_t N = n->out[0]->dims[0];
    const int64_t D = nd == 3 ? p->dims[0] : 1, H = p->dims[nd - 2], W = p->dims[nd - 1];

    (void)scratch;
    for (int64_t b = 0; b < N; b++) {
        const float *t = theta + (size_t)b * (size_t)(nd * (nd + 1));
        for (int64_t z = 0; z < D; z++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++) {
                    /* Homogeneous base point, innermost dim first: (x, y[, z], 1). */
                    const float base[4] = { ag_coord(x, W, p->align), ag_coord(y, H, p->align),
                                            nd == 3 ? ag_coord(z, D, p->align) : 1.0f, 1.0f };
                    for (int i = 0; i < nd; i++) {
                        float acc = 0.0f;
                        for (int j = 0; j < nd; j++)
                            acc += t[i * (nd + 1) + j] * base[j];
                        *dst++ = acc + t[i * (nd + 1) + nd];
                    }
                }
    }
}

const qcal__op qcal__ops_grid[] = {
    { "AffineGrid", 20, QCAL__OPSET_LAST, ag_infer, ag_run, 1u << 1 },
    { "GridSample", 16, QCAL__OPSET_LAST, gs_infer, gs_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
