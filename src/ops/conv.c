/*
 * Conv and ConvTranspose (ONNX Conv-1/11, ConvTranspose-1/11; later versions only widen the type
 * list), float32, spatial rank 1 to QCAL_MAX_RANK - 2.
 *
 * A depthwise 1-D/2-D convolution (group == C_in > 1, any channel multiplier) uses its own direct
 * loop over a zero-padded copy of each input plane (a fused kernel for 3x3). Other 1-D/2-D
 * convolutions with constant weights use the blocked direct kernel of conv_blocked.c (weights
 * packed at infer into the node's params) when the CPU has AVX-512. Everything else runs one
 * single-threaded cblas_sgemm per (image, group): Y_g = W_g x col, where col is the im2col matrix
 * [C/g * prod(kernel)] x [prod(output spatial)] built in the node's scratch; a 1x1 convolution
 * with stride 1 and no padding multiplies the input directly. ConvTranspose
 * computes col = W_g^T x X_g with one sgemm and scatters col into Y with col2im.
 *
 * The im2col/col2im loops work row by row: for each (channel, kernel offset) and each position of
 * the outer spatial dims they compute the valid range of the innermost dim once, then copy (or
 * accumulate) a contiguous or strided run without per-element bounds checks.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv_blocked.h"
#include "ops/ops.h"

#define MAX_SP (QCAL_MAX_RANK - 2)

enum conv_mode {
    MODE_IM2COL = 0, /* general: im2col into scratch, then sgemm */
    MODE_DIRECT,     /* 1x1, stride 1, no padding: sgemm on the input itself */
    MODE_DEPTHWISE,  /* group == C_in > 1, 1-D or 2-D: direct loop, no BLAS */
    MODE_BLOCKED,    /* 1-D/2-D with AVX-512: blocked direct kernel (conv_blocked.c) */
};

enum auto_pad { PAD_NOTSET = 0, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

/*
 * Geometry shared by Conv and ConvTranspose. For Conv "in" is X's spatial shape and "out" Y's;
 * for ConvTranspose the same names keep their meaning (X -> in, Y -> out) and pad is the begin
 * padding of the output (it may be negative when output_shape asks for a larger output).
 */
typedef struct conv_params {
    int nsp;  /* spatial rank */
    int mode; /* enum conv_mode (Conv only) */
    int64_t batch, cin, cout, group;
    int64_t in[MAX_SP], out[MAX_SP], k[MAX_SP], stride[MAX_SP], dil[MAX_SP], pad[MAX_SP];
    int64_t in_sz, out_sz, k_sz; /* products of in, out, k */
    /* MODE_BLOCKED: geometry, and byte offsets from the params block of the packed weights
     * (64-byte aligned) and the tap offsets, both stored in the same allocation. */
    qcal__convb cb;
    size_t packed_off, tap_off;
} conv_params;

/* Attributes common to both ops, after defaults; pads split into begin (pb) and end (pe). */
typedef struct conv_attrs {
    int64_t k[MAX_SP], stride[MAX_SP], dil[MAX_SP], pb[MAX_SP], pe[MAX_SP];
    int auto_pad;
} conv_attrs;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/*
 * Reads an optional INTS attribute of exactly want values (absent: every value is def) and
 * checks each is >= lo.
 */
static qcal_status read_ints(const qcal__node *n, const char *name, size_t want, int64_t def,
                             int64_t lo, int64_t *out, qcal_error *err)
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
    for (size_t i = 0; i < want; i++) {
        if (v[i] < lo)
            return qcal__node_error(err, n, QCAL_E_INVALID, "attribute %s[%zu] = %lld, must be "
                                    ">= %lld", name, i, (long long)v[i], (long long)lo);
        out[i] = v[i];
    }
    return QCAL_OK;
}

/*
 * Parses kernel_shape, strides, dilations, pads and auto_pad for nsp spatial dims. wk holds the
 * kernel's spatial dims taken from the weight; kernel_shape, when present, must agree with them.
 */
static qcal_status read_attrs(const qcal__node *n, int nsp, const int64_t *wk, conv_attrs *a,
                              qcal_error *err)
{
    int64_t pads[2 * MAX_SP];
    const char *ap = qcal__attr_str(n, "auto_pad", "NOTSET");
    qcal_status st;

    st = read_ints(n, "kernel_shape", (size_t)nsp, 0, 1, a->k, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < nsp; i++) {
        if (a->k[i] != 0 && a->k[i] != wk[i])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "kernel_shape[%d] = %lld but the "
                                    "weight's kernel dim is %lld", i, (long long)a->k[i],
                                    (long long)wk[i]);
        a->k[i] = wk[i];
    }
    st = read_ints(n, "strides", (size_t)nsp, 1, 1, a->stride, err);
    if (st == QCAL_OK)
        st = read_ints(n, "dilations", (size_t)nsp, 1, 1, a->dil, err);
    if (st == QCAL_OK)
        st = read_ints(n, "pads", 2 * (size_t)nsp, 0, 0, pads, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < nsp; i++) {
        a->pb[i] = pads[i];
        a->pe[i] = pads[nsp + i];
    }
    if (strcmp(ap, "NOTSET") == 0 || ap[0] == '\0')
        a->auto_pad = PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        a->auto_pad = PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        a->auto_pad = PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        a->auto_pad = PAD_VALID;
    else
        return qcal__node_error(err, n, QCAL_E_INVALID, "unknown auto_pad '%s'", ap);
    return QCAL_OK;
}

/*
 * Common input checks: X float32 of rank 3..QCAL_MAX_RANK, W of the same rank, optional 1-D bias
 * of bias_len values, group >= 1 dividing C. Fills batch, cin, group, nsp and in[].
 */
static qcal_status check_io(const qcal__node *n, conv_params *p, qcal_error *err)
{
    const qcal__tensor *x, *w;
    qcal_status st = qcal__check_inputs(n, 2, 3, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    w = n->in[1];
    if (x->dtype != QCAL_DT_FLOAT || w->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "X is %s and W is %s, only float32 "
                                "is supported", qcal_dtype_name(x->dtype),
                                qcal_dtype_name(w->dtype));
    if (x->rank < 3 || w->rank != x->rank)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "X has rank %d and W rank %d, expected "
                                "equal ranks >= 3", x->rank, w->rank);
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output Y is missing");
    p->nsp = x->rank - 2;
    p->batch = x->dims[0];
    p->cin = x->dims[1];
    p->group = qcal__attr_int(n, "group", 1);
    if (p->group < 1 || p->cin % p->group != 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "group %lld does not divide %lld input "
                                "channels", (long long)p->group, (long long)p->cin);
    p->in_sz = 1;
    p->k_sz = 1;
    for (int i = 0; i < p->nsp; i++) {
        p->in[i] = x->dims[2 + i];
        p->in_sz *= p->in[i];
        p->k_sz *= w->dims[2 + i];
    }
    return QCAL_OK;
}

/* Checks the optional bias has cout float32 values. */
static qcal_status check_bias(const qcal__node *n, int64_t cout, qcal_error *err)
{
    const qcal__tensor *b = qcal__in(n, 2);

    if (!b)
        return QCAL_OK;
    if (b->dtype != QCAL_DT_FLOAT || b->nelem != (size_t)cout || b->rank > 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "bias B must be float32 [%lld]",
                                (long long)cout);
    return QCAL_OK;
}

/*
 * Sets Y = [N, cout, out...], the scratch size (floats) and moves p into n->params, followed by
 * extra bytes (64-byte aligned, at the returned *extra when extra is not NULL).
 */
static qcal_status finish_infer_extra(qcal__node *n, const conv_params *p, size_t scratch_floats,
                                      size_t extra_bytes, void **extra, qcal_error *err)
{
    int64_t dims[QCAL_MAX_RANK];
    conv_params *copy;
    size_t head = sizeof *copy + 64;
    qcal_status st;

    dims[0] = p->batch;
    dims[1] = p->cout;
    for (int i = 0; i < p->nsp; i++)
        dims[2 + i] = p->out[i];
    st = qcal__tensor_set_shape(n->out[0], QCAL_DT_FLOAT, p->nsp + 2, dims, err);
    if (st != QCAL_OK)
        return st;
    if (extra_bytes > SIZE_MAX - head)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    copy = malloc(extra ? head + extra_bytes : sizeof *copy);
    if (!copy)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    *copy = *p;
    if (extra) {
        uintptr_t at = ((uintptr_t)(copy + 1) + 63) & ~(uintptr_t)63;
        *extra = (void *)at;
        copy->packed_off = (size_t)(at - (uintptr_t)copy);
    }
    n->params = copy;
    n->scratch = scratch_floats * sizeof(float);
    return QCAL_OK;
}

static qcal_status finish_infer(qcal__node *n, const conv_params *p, size_t scratch_floats,
                                qcal_error *err)
{
    return finish_infer_extra(n, p, scratch_floats, 0, NULL, err);
}

/*
 * Chooses the blocked kernel for a 1-D or 2-D, non-depthwise Conv (1x1 included: about twice the
 * speed of sgemm with the Haswell kernels) with constant weights when the CPU supports it: fills
 * p->cb and returns true. A 1-D convolution is a 2-D one with one row.
 */
static bool blocked_plan(const qcal__node *n, conv_params *p)
{
    qcal__convb *g = &p->cb;
    const int r = 2 - p->nsp; /* index of the first spatial dim in g's 2-D arrays */

    if (p->nsp > 2 || n->in[1]->kind != QCAL__T_CONST || !n->in[1]->data ||
        !qcal__convb_available())
        return false;
    memset(g, 0, sizeof *g);
    g->batch = p->batch;
    g->group = p->group;
    g->cg = p->cin / p->group;
    g->mg = p->cout / p->group;
    g->in[0] = g->out[0] = g->k[0] = g->s[0] = g->d[0] = 1;
    g->pad[0] = 0;
    for (int i = 0; i < p->nsp; i++) {
        g->in[r + i] = p->in[i];
        g->out[r + i] = p->out[i];
        g->k[r + i] = p->k[i];
        g->s[r + i] = p->stride[i];
        g->d[r + i] = p->dil[i];
        g->pad[r + i] = p->pad[i];
    }
    return qcal__convb_plan(g);
}

/* Finishes infer for MODE_BLOCKED: packs the weights and tap offsets into the params block. */
static qcal_status blocked_finish(qcal__node *n, conv_params *p, qcal_error *err)
{
    const qcal__convb *g = &p->cb;
    size_t scratch = qcal__convb_scratch(g), wbytes = (size_t)g->packed * sizeof(float);
    void *extra = NULL;
    conv_params *q;
    qcal_status st;

    if (g->packed > (int64_t)(SIZE_MAX / 8 / sizeof(float)) || g->kk > (int64_t)(SIZE_MAX / 8))
        return qcal__node_error(err, n, QCAL_E_NOMEM, "weights too large");
    st = finish_infer_extra(n, p, (scratch + sizeof(float) - 1) / sizeof(float),
                            wbytes + (size_t)g->kk * sizeof(int32_t), &extra, err);
    if (st != QCAL_OK)
        return st;
    q = n->params;
    q->tap_off = q->packed_off + wbytes;
    qcal__convb_pack(g, n->in[1]->data, extra, (int32_t *)((char *)extra + wbytes));
    return QCAL_OK;
}

/* Size of rows x cols floats, or SIZE_MAX when it would not fit in memory sizes. */
static size_t mat_floats(int64_t rows, int64_t cols)
{
    if (rows <= 0 || cols <= 0)
        return 0;
    if ((uint64_t)rows > (SIZE_MAX / sizeof(float)) / (uint64_t)cols)
        return SIZE_MAX;
    return (size_t)rows * (size_t)cols;
}

/*
 * Depthwise geometry as 2-D (a 1-D convolution is one row): index 0 is the row dim, 1 the
 * column dim.
 */
typedef struct dw_geom {
    int64_t in[2], out[2], k[2], s[2], d[2], pad[2];
    int64_t ph, pw; /* padded plane rows and columns: the extent the taps read */
} dw_geom;

static void dw_geom_init(const conv_params *p, dw_geom *g)
{
    for (int i = 0; i < 2; i++) {
        int j = p->nsp - 2 + i; /* -1 for the missing row dim of 1-D */
        g->in[i] = j >= 0 ? p->in[j] : 1;
        g->out[i] = j >= 0 ? p->out[j] : 1;
        g->k[i] = j >= 0 ? p->k[j] : 1;
        g->s[i] = j >= 0 ? p->stride[j] : 1;
        g->d[i] = j >= 0 ? p->dil[j] : 1;
        g->pad[i] = j >= 0 ? p->pad[j] : 0;
    }
    g->ph = (g->out[0] - 1) * g->s[0] + (g->k[0] - 1) * g->d[0] + 1;
    g->pw = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
}

/* True when the taps never read outside the input, so no padded copy is needed. */
static bool dw_unpadded(const dw_geom *g)
{
    return g->pad[0] == 0 && g->pad[1] == 0 && g->ph <= g->in[0] && g->pw <= g->in[1];
}

/*
 * ONNX Conv-1/11: Y[N, M, out...] from X[N, C, in...], W[M, C/group, k...], optional B[M].
 * NOTSET: out = floor((in + pb + pe - ((k - 1) * d + 1)) / s) + 1. SAME_*: out = ceil(in / s),
 * total padding max(0, (out - 1) * s + (k - 1) * d + 1 - in), the odd one at the end for
 * SAME_UPPER and at the begin for SAME_LOWER. VALID: no padding.
 */
/*
 * Checked geometry of one spatial axis: kernel >= 1 and the sums every later computation forms
 * (dilated extent, padded input, window ends) fit int64. *ext gets (k - 1) * d + 1.
 */
static qcal_status axis_check(const qcal__node *n, const conv_attrs *a, int i, int64_t in,
                              int64_t *ext, qcal_error *err)
{
    int64_t v;
    qcal_status st;

    if (a->k[i] < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "kernel dim %d is %lld", i,
                                (long long)a->k[i]);
    if ((st = qcal__mul_i64(n, "dilations", a->k[i] - 1, a->dil[i], ext, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "dilations", *ext, 1, ext, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "pads", in, a->pb[i], &v, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "pads", v, a->pe[i], &v, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "kernel_shape", v, *ext, &v, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "strides", v, a->stride[i], &v, err)) != QCAL_OK ||
        (st = qcal__add_i64(n, "kernel_shape", v, *ext, &v, err)) != QCAL_OK)
        return st;
    return QCAL_OK;
}

static qcal_status conv_infer(qcal__node *n, qcal_error *err)
{
    conv_params p = { 0 };
    conv_attrs a;
    const qcal__tensor *w;
    bool one_by_one = true;
    size_t scratch = 0;
    qcal_status st = check_io(n, &p, err);

    if (st != QCAL_OK)
        return st;
    w = n->in[1];
    p.cout = w->dims[0];
    if (w->dims[1] != p.cin / p.group || p.cout % p.group != 0)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "W[%lld, %lld, ...] does not fit %lld input "
                                "channels in %lld groups", (long long)w->dims[0],
                                (long long)w->dims[1], (long long)p.cin, (long long)p.group);
    st = check_bias(n, p.cout, err);
    if (st == QCAL_OK)
        st = read_attrs(n, p.nsp, w->dims + 2, &a, err);
    if (st != QCAL_OK)
        return st;
    p.out_sz = 1;
    for (int i = 0; i < p.nsp; i++) {
        int64_t ext, in = p.in[i], s = a.stride[i];
        int64_t pb = a.pb[i], pe = a.pe[i], out, total;

        if ((st = axis_check(n, &a, i, in, &ext, err)) != QCAL_OK)
            return st;
        if (a.auto_pad == PAD_SAME_UPPER || a.auto_pad == PAD_SAME_LOWER) {
            out = (in + s - 1) / s;
            total = (out - 1) * s + ext - in;
            if (total < 0)
                total = 0;
            pb = (a.auto_pad == PAD_SAME_UPPER) ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            if (a.auto_pad == PAD_VALID)
                pb = pe = 0;
            out = (in + pb + pe - ext >= 0) ? (in + pb + pe - ext) / s + 1 : 0;
        }
        if (out < 1)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "spatial dim %d: input %lld with pads "
                                    "%lld+%lld is smaller than the dilated kernel %lld", i,
                                    (long long)in, (long long)pb, (long long)pe, (long long)ext);
        p.out[i] = out;
        p.k[i] = a.k[i];
        p.stride[i] = s;
        p.dil[i] = a.dil[i];
        p.pad[i] = pb;
        if ((st = qcal__mul_i64(n, "pads", p.out_sz, out, &p.out_sz, err)) != QCAL_OK)
            return st;
        if (a.k[i] != 1 || s != 1 || pb != 0 || pe != 0)
            one_by_one = false;
    }
    if (p.group > 1 && p.group == p.cin && p.nsp <= 2) {
        dw_geom g;

        p.mode = MODE_DEPTHWISE;
        dw_geom_init(&p, &g);
        scratch = dw_unpadded(&g) ? 0 : mat_floats(g.ph, g.pw);
    } else if (blocked_plan(n, &p)) {
        p.mode = MODE_BLOCKED;
        return blocked_finish(n, &p, err);
    } else if (one_by_one) {
        p.mode = MODE_DIRECT;
    } else {
        p.mode = MODE_IM2COL;
        scratch = mat_floats(p.cin / p.group * p.k_sz, p.out_sz);
        if (scratch == SIZE_MAX)
            return qcal__node_error(err, n, QCAL_E_NOMEM, "im2col buffer too large");
        if (p.nsp == 2) {
            dw_geom g;
            dw_geom_init(&p, &g);
            scratch += mat_floats(g.ph, g.pw);
        }
    }
    return finish_infer(n, &p, scratch, err);
}

/*
 * Range [*lo, *hi) of loop indices o in [0, count) whose position o * s + off lies in
 * [0, extent). Empty ranges come back as lo == hi.
 */
static void valid_range(int64_t off, int64_t s, int64_t extent, int64_t count, int64_t *lo,
                        int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = (extent - 1 - off >= 0) ? (extent - 1 - off) / s + 1 : 0;

    if (h > count)
        h = count;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* Advances a row-major odometer idx over dims[0..nd); returns false after the last index. */
static bool odometer_next(int nd, const int64_t *dims, int64_t *idx)
{
    for (int j = nd - 1; j >= 0; j--) {
        if (++idx[j] < dims[j])
            return true;
        idx[j] = 0;
    }
    return false;
}

/*
 * Builds col[(c * k_sz + kk) * out_sz + o] = x[c, in position of output o at kernel offset kk]
 * (0 in the padding) for cg channels of one image. Rows are written sequentially; the innermost
 * output dim is copied as one run per row (memcpy when its stride is 1). Does not allocate.
 */
static void im2col(const conv_params *p, const float *restrict x, int64_t cg,
                   float *restrict col)
{
    const int last = p->nsp - 1;
    const int64_t ow = p->out[last], iw = p->in[last], sw = p->stride[last];
    const int64_t n_outer = p->out_sz / ow;
    int64_t kidx[MAX_SP] = { 0 }, oidx[MAX_SP], istr[MAX_SP];

    qcal__strides(p->nsp, p->in, istr);
    for (int64_t c = 0; c < cg; c++) {
        const float *xc = x + c * p->in_sz;

        for (int64_t kk = 0; kk < p->k_sz; kk++) {
            const int64_t off = kidx[last] * p->dil[last] - p->pad[last];
            int64_t lo, hi;

            valid_range(off, sw, iw, ow, &lo, &hi);
            memset(oidx, 0, sizeof oidx);
            for (int64_t r = 0; r < n_outer; r++, col += ow) {
                int64_t base = 0;
                bool ok = lo < hi;

                for (int j = 0; j < last && ok; j++) {
                    int64_t ip = oidx[j] * p->stride[j] - p->pad[j] + kidx[j] * p->dil[j];
                    ok = ip >= 0 && ip < p->in[j];
                    base += ip * istr[j];
                }
                odometer_next(last, p->out, oidx);
                if (!ok) {
                    memset(col, 0, (size_t)ow * sizeof *col);
                    continue;
                }
                memset(col, 0, (size_t)lo * sizeof *col);
                if (sw == 1) {
                    memcpy(col + lo, xc + base + lo + off, (size_t)(hi - lo) * sizeof *col);
                } else {
                    const float *src = xc + base + lo * sw + off;
                    for (int64_t o = 0; o < hi - lo; o++)
                        col[lo + o] = src[o * sw];
                }
                memset(col + hi, 0, (size_t)(ow - hi) * sizeof *col);
            }
            odometer_next(p->nsp, p->k, kidx);
        }
    }
}

/* Fills rows x cols of y with bias[row] (bias NULL: zeros). */
static void fill_rows(float *restrict y, const float *restrict bias, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++, y += cols) {
        const float b = bias ? bias[r] : 0.0f;
        for (int64_t i = 0; i < cols; i++)
            y[i] = b;
    }
}

/*
 * Copies one input plane (in[0] x in[1]) into plane (ph x pw) at offset (pad[0], pad[1]) with
 * zeros around it; input beyond the read extent is left out. Does not allocate.
 */
static void dw_pad_plane(const dw_geom *g, const float *restrict x, float *restrict plane)
{
    int64_t lo = g->pad[1] < g->pw ? g->pad[1] : g->pw;
    int64_t hi = g->pad[1] + g->in[1] < g->pw ? g->pad[1] + g->in[1] : g->pw;

    for (int64_t r = 0; r < g->ph; r++, plane += g->pw) {
        const int64_t sr = r - g->pad[0];

        if (sr < 0 || sr >= g->in[0]) {
            memset(plane, 0, (size_t)g->pw * sizeof *plane);
            continue;
        }
        memset(plane, 0, (size_t)lo * sizeof *plane);
        memcpy(plane + lo, x + sr * g->in[1], (size_t)(hi - lo) * sizeof *plane);
        memset(plane + hi, 0, (size_t)(g->pw - hi) * sizeof *plane);
    }
}

/* 2-D im2col through a zero-padded copy of each input plane (after col in scratch): every row
 * of col is then a plain strided copy, no range checks. */
static void im2col_2d_pad(const conv_params *p, const float *restrict x, int64_t cg,
                          float *restrict col, float *restrict plane)
{
    const int64_t oh_n = p->out[0], ow = p->out[1];
    dw_geom g;

    dw_geom_init(p, &g);
    for (int64_t c = 0; c < cg; c++) {
        dw_pad_plane(&g, x + c * p->in_sz, plane);
        for (int64_t kh = 0; kh < g.k[0]; kh++) {
            for (int64_t kw = 0; kw < g.k[1]; kw++) {
                const float *base = plane + kh * g.d[0] * g.pw + kw * g.d[1];
                for (int64_t oh = 0; oh < oh_n; oh++, col += ow) {
                    const float *src = base + oh * g.s[0] * g.pw;
                    if (g.s[1] == 1) {
                        for (int64_t o = 0; o < ow; o++)
                            col[o] = src[o];
                    } else {
                        for (int64_t o = 0; o < ow; o++)
                            col[o] = src[o * g.s[1]];
                    }
                }
            }
        }
    }
}

/*
 * One output row of a 3x3, dilation-1 depthwise kernel with column stride S (1 or 2): the nine
 * taps are summed per element in (kh, kw) order starting from the bias, which is the same order
 * and so the same result as dw_row_generic.
 */
#define DW_ROW3(S)                                                                               \
    for (int64_t o = 0; o < ow; o++) {                                                           \
        float acc = bv;                                                                          \
        acc += w[0] * r0[o * S];                                                                 \
        acc += w[1] * r0[o * S + 1];                                                             \
        acc += w[2] * r0[o * S + 2];                                                             \
        acc += w[3] * r1[o * S];                                                                 \
        acc += w[4] * r1[o * S + 1];                                                             \
        acc += w[5] * r1[o * S + 2];                                                             \
        acc += w[6] * r2[o * S];                                                                 \
        acc += w[7] * r2[o * S + 1];                                                             \
        acc += w[8] * r2[o * S + 2];                                                             \
        y[o] = acc;                                                                              \
    }

static void dw_row3(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                    const float *restrict w, float bv, int64_t ow, int64_t sw,
                    float *restrict y)
{
    if (sw == 1) {
        DW_ROW3(1)
    } else {
        DW_ROW3(2)
    }
}

/*
 * One output row of any depthwise kernel: y = bias, then one axpy per tap in (kh, kw) order
 * over the whole row (the plane is padded, so every tap is in range).
 */
static void dw_row_generic(const dw_geom *g, const float *restrict base, int64_t stride,
                           const float *restrict w, float bv, float *restrict y)
{
    const int64_t ow = g->out[1], sw = g->s[1];

    for (int64_t o = 0; o < ow; o++)
        y[o] = bv;
    for (int64_t i = 0; i < g->k[0]; i++) {
        for (int64_t j = 0; j < g->k[1]; j++) {
            const float *src = base + i * g->d[0] * stride + j * g->d[1];
            const float wv = w[i * g->k[1] + j];

            if (sw == 1) {
                for (int64_t o = 0; o < ow; o++)
                    y[o] += wv * src[o];
            } else {
                for (int64_t o = 0; o < ow; o++)
                    y[o] += wv * src[o * sw];
            }
        }
    }
}

/*
 * Depthwise 1-D/2-D convolution (group == C_in): output channel m reads input channel
 * m / (cout / cin). Each input plane is first copied into a zero-padded plane in scratch (skipped
 * without padding) so the row kernels need no bounds checks; 3x3 kernels with dilation 1 and
 * stride 1 or 2 use the fused dw_row3. Does not allocate.
 */
static void depthwise(const conv_params *p, const float *restrict x, const float *restrict w,
                      const float *restrict bias, float *restrict y, float *restrict scratch)
{
    const int64_t mult = p->cout / p->cin;
    dw_geom g;

    dw_geom_init(p, &g);
    const bool unpadded = dw_unpadded(&g);
    const int64_t stride = unpadded ? g.in[1] : g.pw;
    const bool fused = g.k[0] == 3 && g.k[1] == 3 && g.d[0] == 1 && g.d[1] == 1 &&
                       (g.s[1] == 1 || g.s[1] == 2);

    for (int64_t b = 0; b < p->batch; b++) {
        for (int64_t c = 0; c < p->cin; c++) {
            const float *plane = x + (b * p->cin + c) * p->in_sz;

            if (!unpadded) {
                dw_pad_plane(&g, plane, scratch);
                plane = scratch;
            }
            for (int64_t m = c * mult; m < (c + 1) * mult; m++) {
                const float *wm = w + m * p->k_sz;
                const float bv = bias ? bias[m] : 0.0f;
                float *ym = y + (b * p->cout + m) * p->out_sz;

                for (int64_t r = 0; r < g.out[0]; r++) {
                    const float *base = plane + r * g.s[0] * stride;
                    float *yrow = ym + r * g.out[1];

                    if (fused)
                        dw_row3(base, base + stride, base + 2 * stride, wm, bv, g.out[1], g.s[1],
                                yrow);
                    else
                        dw_row_generic(&g, base, stride, wm, bv, yrow);
                }
            }
        }
    }
}

static void conv_run(const qcal__node *n, void *scratch)
{
    const conv_params *p = n->params;
    const float *x = n->in[0]->data, *w = n->in[1]->data;
    const qcal__tensor *bt = qcal__in(n, 2);
    const float *bias = bt ? bt->data : NULL;
    float *y = n->out[0]->data;
    const int64_t cg = p->cin / p->group, mg = p->cout / p->group, kc = cg * p->k_sz;

    if (p->mode == MODE_DEPTHWISE) {
        depthwise(p, x, w, bias, y, scratch);
        return;
    }
    if (p->mode == MODE_BLOCKED) {
        const char *base = (const char *)p;
        qcal__convb_run(&p->cb, (const float *)(base + p->packed_off),
                        (const int32_t *)(base + p->tap_off), x, bias, y, scratch);
        return;
    }
    for (int64_t b = 0; b < p->batch; b++) {
        for (int64_t g = 0; g < p->group; g++) {
            const float *xg = x + (b * p->cin + g * cg) * p->in_sz;
            const float *src = xg;
            float *yg = y + (b * p->cout + g * mg) * p->out_sz;

            /* With a bias, Y starts as the bias and BLAS accumulates onto it (beta 1). */
            if (bias || kc == 0)
                fill_rows(yg, bias ? bias + g * mg : NULL, mg, p->out_sz);
            if (mg == 0 || kc == 0)
                continue;
            if (p->mode == MODE_IM2COL) {
                if (p->nsp == 2)
                    im2col_2d_pad(p, xg, cg, scratch,
                                  (float *)scratch + (size_t)(kc * p->out_sz));
                else
                    im2col(p, xg, cg, scratch);
                src = scratch;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)mg,
                        (blasint)p->out_sz, (blasint)kc, 1.0f, w + g * mg * kc, (blasint)kc, src,
                        (blasint)p->out_sz, bias ? 1.0f : 0.0f, yg, (blasint)p->out_sz);
        }
    }
}

/*
 * ONNX ConvTranspose-1/11: Y[N, M, out...] from X[N, C, in...], W[C, M/group, k...], B[M].
 * Without output_shape: out = s * (in - 1) + output_padding + (k - 1) * d + 1 - pb - pe, pads 0
 * for VALID. With output_shape, or with SAME_* (output in * s), the total padding
 * s * (in - 1) + output_padding + (k - 1) * d + 1 - out is split as the spec says: SAME_UPPER
 * begins with floor(total / 2), otherwise the begin gets total - floor(total / 2). A negative
 * total (output larger than the natural size) leaves zeros (or the bias) at the ends.
 */
static qcal_status convt_infer(qcal__node *n, qcal_error *err)
{
    conv_params p = { 0 };
    conv_attrs a;
    const qcal__tensor *w;
    const int64_t *oshape;
    int64_t opad[MAX_SP];
    size_t n_oshape, scratch;
    qcal_status st = check_io(n, &p, err);

    if (st != QCAL_OK)
        return st;
    w = n->in[1];
    p.cout = w->dims[1] * p.group;
    if (w->dims[0] != p.cin)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "W has %lld input channels, X has %lld",
                                (long long)w->dims[0], (long long)p.cin);
    st = check_bias(n, p.cout, err);
    if (st == QCAL_OK)
        st = read_attrs(n, p.nsp, w->dims + 2, &a, err);
    if (st == QCAL_OK)
        st = read_ints(n, "output_padding", (size_t)p.nsp, 0, 0, opad, err);
    if (st != QCAL_OK)
        return st;
    n_oshape = qcal__attr_ints(n, "output_shape", &oshape);
    if (n_oshape == (size_t)p.nsp + 2) {
        oshape += 2;
        n_oshape -= 2;
    }
    if (n_oshape != 0 && n_oshape != (size_t)p.nsp)
        return qcal__node_error(err, n, QCAL_E_INVALID, "output_shape has %zu values, expected "
                                "%d", n_oshape, p.nsp);
    p.out_sz = 1;
    for (int i = 0; i < p.nsp; i++) {
        int64_t ext, s = a.stride[i], full, out, pb, diff, bound;

        if ((st = axis_check(n, &a, i, p.in[i], &ext, err)) != QCAL_OK)
            return st;
        /* full = s * (in - 1) + output_padding + ext, checked */
        if ((st = qcal__mul_i64(n, "strides", s, p.in[i] - 1, &full, err)) != QCAL_OK ||
            (st = qcal__add_i64(n, "output_padding", full, opad[i], &full, err)) != QCAL_OK ||
            (st = qcal__add_i64(n, "kernel_shape", full, ext, &full, err)) != QCAL_OK)
            return st;
        if (n_oshape != 0 || a.auto_pad == PAD_SAME_UPPER || a.auto_pad == PAD_SAME_LOWER) {
            if (n_oshape != 0)
                out = oshape[i];
            else if ((st = qcal__mul_i64(n, "strides", p.in[i], s, &out, err)) != QCAL_OK)
                return st;
            /* The scatter forms positions up to |full| + |out| away from 0. */
            if ((st = qcal__sub_i64(n, "output_shape", full, out, &diff, err)) != QCAL_OK ||
                (st = qcal__add_i64(n, "output_shape", full < 0 ? -full : full,
                                    out < 0 ? -out : out, &bound, err)) != QCAL_OK ||
                (st = qcal__add_i64(n, "output_shape", bound, full < 0 ? -full : full, &bound,
                                    err)) != QCAL_OK)
                return st;
            pb = (a.auto_pad == PAD_SAME_UPPER) ? floor_div(diff, 2) : diff - floor_div(diff, 2);
        } else {
            int64_t pe = (a.auto_pad == PAD_VALID) ? 0 : a.pe[i];
            pb = (a.auto_pad == PAD_VALID) ? 0 : a.pb[i];
            if ((st = qcal__sub_i64(n, "pads", full, pb, &out, err)) != QCAL_OK ||
                (st = qcal__sub_i64(n, "pads", out, pe, &out, err)) != QCAL_OK)
                return st;
        }
        if (out < 1)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "spatial dim %d: output size %lld",
                                    i, (long long)out);
        p.out[i] = out;
        p.k[i] = a.k[i];
        p.stride[i] = s;
        p.dil[i] = a.dil[i];
        p.pad[i] = pb;
        if ((st = qcal__mul_i64(n, "output_shape", p.out_sz, out, &p.out_sz, err)) != QCAL_OK)
            return st;
    }
    scratch = mat_floats(p.cout / p.group * p.k_sz, p.in_sz);
    if (scratch == SIZE_MAX)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "col2im buffer too large");
    return finish_infer(n, &p, scratch, err);
}

/*
 * Scatters col[(m * k_sz + kk) * in_sz + i] into y[m, out position of input i at offset kk]
 * for mg output channels, accumulating in (m, kk, i) order. Positions outside the output
 * (padding) are dropped. Does not allocate.
 */
static void col2im(const conv_params *p, const float *restrict col, int64_t mg,
                   float *restrict y)
{
    const int last = p->nsp - 1;
    const int64_t ow = p->out[last], iw = p->in[last], sw = p->stride[last];
    const int64_t n_outer = p->in_sz / iw;
    int64_t kidx[MAX_SP] = { 0 }, iidx[MAX_SP], ostr[MAX_SP];

    qcal__strides(p->nsp, p->out, ostr);
    for (int64_t m = 0; m < mg; m++) {
        float *ym = y + m * p->out_sz;

        for (int64_t kk = 0; kk < p->k_sz; kk++) {
            const int64_t off = kidx[last] * p->dil[last] - p->pad[last];
            int64_t lo, hi;

            valid_range(off, sw, ow, iw, &lo, &hi);
            memset(iidx, 0, sizeof iidx);
            for (int64_t r = 0; r < n_outer; r++, col += iw) {
                int64_t base = 0;
                bool ok = lo < hi;

                for (int j = 0; j < last && ok; j++) {
                    int64_t op = iidx[j] * p->stride[j] - p->pad[j] + kidx[j] * p->dil[j];
                    ok = op >= 0 && op < p->out[j];
                    base += op * ostr[j];
                }
                odometer_next(last, p->in, iidx);
                if (!ok)
                    continue;
                float *dst = ym + base + lo * sw + off;
                const float *src = col + lo;
                if (sw == 1) {
                    for (int64_t i = 0; i < hi - lo; i++)
                        dst[i] += src[i];
                } else {
                    for (int64_t i = 0; i < hi - lo; i++)
                        dst[i * sw] += src[i];
                }
            }
            odometer_next(p->nsp, p->k, kidx);
        }
    }
}

static void convt_run(const qcal__node *n, void *scratch)
{
    const conv_params *p = n->params;
    const float *x = n->in[0]->data, *w = n->in[1]->data;
    const qcal__tensor *bt = qcal__in(n, 2);
    const float *bias = bt ? bt->data : NULL;
    float *y = n->out[0]->data;
    const int64_t cg = p->cin / p->group, mg = p->cout / p->group, rows = mg * p->k_sz;

    for (int64_t b = 0; b < p->batch; b++) {
        for (int64_t g = 0; g < p->group; g++) {
            float *yg = y + (b * p->cout + g * mg) * p->out_sz;

            fill_rows(yg, bias ? bias + g * mg : NULL, mg, p->out_sz);
            if (rows == 0 || cg == 0)
                continue;
            /* col[rows, in_sz] = W_g^T x X_g, W_g being [cg, rows] row-major. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)rows,
                        (blasint)p->in_sz, (blasint)cg, 1.0f, w + g * cg * rows, (blasint)rows,
                        x + (b * p->cin + g * cg) * p->in_sz, (blasint)p->in_sz, 0.0f, scratch,
                        (blasint)p->in_sz);
            col2im(p, scratch, mg, yg);
        }
    }
}

const qcal__op qcal__ops_conv[] = {
    { "Conv", 1, QCAL__OPSET_LAST, conv_infer, conv_run, 0 },
    { "ConvTranspose", 1, QCAL__OPSET_LAST, convt_infer, convt_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
