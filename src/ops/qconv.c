/*
 * Integer convolutions: ConvInteger-10 and QLinearConv-10, exactly as the spec's integer math.
 *
 * Both convolve X' = X - x_zero_point (per tensor) with W' = W - w_zero_point (per tensor or per
 * output channel), so padding contributes 0 (as padding X with its zero point). Geometry as
 * Conv-11: N-D spatial, kernel_shape, strides, dilations, pads, auto_pad, group. The sums are
 * exact and wrapped to int32 (the ONNX reference accumulates in int32); QLinearConv adds the int32
 * bias B and requantizes like the reference: y = saturate(round_half_even((double)acc *
 * (x_scale * w_scale[m] / y_scale) + y_zero_point)), the multiplier formed in float32.
 *
 * Per (image, group) run builds an im2col matrix of X' (int32) in scratch and, for each output
 * channel, accumulates its kernel rows into an int64 row of output positions. The float Conv
 * kernels of conv.c are not used: float32 sums of 8-bit products are not exact.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/qint.h"

#define MAX_SP (QCAL_MAX_RANK - 2)

typedef struct qconv_params {
    bool qlinear;
    int nsp;
    int ix, iw, ixz, iwz; /* input indices of X, W and their zero points (-1: none) */
    int64_t batch, cin, cout, group;
    int64_t in[MAX_SP], out[MAX_SP], k[MAX_SP], stride[MAX_SP], dil[MAX_SP], pad[MAX_SP];
    size_t in_sz, out_sz, k_sz, rows; /* rows = C/group * k_sz */
} qconv_params;

/* Reads an INTS attribute of want values >= lo, or fills def when absent. */
static qcal_status attr_vec(const qcal__node *n, const char *name, int want, int64_t def,
                            int64_t lo, int64_t *out, qcal_error *err)
{
    const int64_t *v;
    size_t cnt = qcal__attr_ints(n, name, &v);

    for (int i = 0; i < want; i++) {
        out[i] = cnt ? v[i < (int)cnt ? i : 0] : def;
        if (cnt && (cnt != (size_t)want || out[i] < lo))
            return qcal__node_error(err, n, QCAL_E_INVALID, "attribute %s needs %d values >= "
                                    "%lld", name, want, (long long)lo);
    }
    return QCAL_OK;
}

/* Output size and begin padding of spatial dim i from auto_pad or pads (Conv-11 rules). */
static qcal_status geometry(const qcal__node *n, qconv_params *p, qcal_error *err)
{
    const char *ap = qcal__attr_str(n, "auto_pad", "NOTSET");
    int64_t pads[2 * MAX_SP];
    qcal_status st = attr_vec(n, "strides", p->nsp, 1, 1, p->stride, err);

    if (st == QCAL_OK)
        st = attr_vec(n, "dilations", p->nsp, 1, 1, p->dil, err);
    if (st == QCAL_OK)
        st = attr_vec(n, "pads", 2 * p->nsp, 0, 0, pads, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < p->nsp; i++) {
        const int64_t s = p->stride[i], in = p->in[i];
        int64_t pb = pads[i], pe = pads[p->nsp + i], ext, o = 0, span;

        st = qcal__mul_i64(n, "dilations", p->k[i] - 1, p->dil[i], &ext, err);
        if (st == QCAL_OK)
            st = qcal__add_i64(n, "dilations", ext, 1, &ext, err);
        if (st != QCAL_OK)
            return st;
        if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
            int64_t total;
            o = in / s + (in % s != 0);
            st = qcal__mul_i64(n, "strides", o - 1, s, &total, err);
            if (st == QCAL_OK)
                st = qcal__add_i64(n, "auto_pad", total, ext - in, &total, err);
            if (st != QCAL_OK)
                return st;
            total = total > 0 ? total : 0;
            pb = ap[5] == 'U' ? total / 2 : total - total / 2;
        } else if (strcmp(ap, "VALID") == 0 || strcmp(ap, "NOTSET") == 0 || ap[0] == '\0') {
            if (ap[0] == 'V')
                pb = pe = 0;
            st = qcal__add_i64(n, "pads", in, pb, &span, err);
            if (st == QCAL_OK)
                st = qcal__add_i64(n, "pads", span, pe, &span, err);
            if (st != QCAL_OK)
                return st;
            o = span - ext >= 0 ? (span - ext) / s + 1 : 0;
        } else {
            return qcal__node_error(err, n, QCAL_E_INVALID, "unknown auto_pad '%s'", ap);
        }
        if (o < 1)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "spatial dim %d: input %lld is smaller "
                                    "than the dilated kernel %lld", i, (long long)p->in[i],
                                    (long long)ext);
        p->out[i] = o;
        p->pad[i] = pb;
    }
    return QCAL_OK;
}

static qcal_status qconv_infer(qcal__node *n, bool qlinear, qcal_error *err)
{
    qconv_params p = { 0 };
    const qcal__tensor *x, *w, *xz, *wz, *bias = NULL;
    const int64_t *ks;
    int64_t dims[QCAL_MAX_RANK];
    size_t ksn, col, acc;
    qcal_dtype ydt = QCAL_DT_INT32;
    qcal_status st = qlinear ? qcal__check_inputs(n, 8, 9, err) : qcal__check_inputs(n, 2, 4, err);

    if (st != QCAL_OK)
        return st;
    p.qlinear = qlinear;
    p.ix = 0;
    p.iw = qlinear ? 3 : 1;
    p.ixz = qcal__in(n, 2) ? 2 : -1;
    p.iwz = qcal__in(n, qlinear ? 5 : 3) ? (qlinear ? 5 : 3) : -1;
    x = n->in[p.ix];
    w = n->in[p.iw];
    xz = p.ixz >= 0 ? n->in[p.ixz] : NULL;
    wz = p.iwz >= 0 ? n->in[p.iwz] : NULL;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output y is missing");
    st = qcal__qint_check(n, x, xz, "x", err);
    if (st == QCAL_OK)
        st = qcal__qint_check(n, w, wz, "w", err);
    if (st != QCAL_OK)
        return st;
    if (x->rank < 3 || w->rank != x->rank)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "x has rank %d and w rank %d, expected "
                                "equal ranks >= 3", x->rank, w->rank);
    p.nsp = x->rank - 2;
    p.batch = x->dims[0];
    p.cin = x->dims[1];
    p.cout = w->dims[0];
    p.group = qcal__attr_int(n, "group", 1);
    if (p.group < 1 || p.cin % p.group != 0 || p.cout % p.group != 0 ||
        w->dims[1] != p.cin / p.group)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "w [%lld, %lld, ...] does not fit %lld "
                                "input channels in %lld groups", (long long)w->dims[0],
                                (long long)w->dims[1], (long long)p.cin, (long long)p.group);
    if (xz && xz->nelem != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "x_zero_point must be a scalar");
    if (wz && wz->nelem != 1 && wz->nelem != (size_t)p.cout)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "w_zero_point has %zu values, expected 1 "
                                "or %lld", wz->nelem, (long long)p.cout);
    if (qlinear) {
        const qcal__tensor *yz = n->in[7];
        st = qcal__qint_check(n, yz, NULL, "y_zero_point", err);
        if (st == QCAL_OK)
            st = qcal__qscale_check(n, n->in[1], err); /* x_scale */
        if (st == QCAL_OK)
            st = qcal__qscale_check(n, n->in[4], err); /* w_scale */
        if (st == QCAL_OK)
            st = qcal__qscale_check(n, n->in[6], err); /* y_scale */
        if (st != QCAL_OK)
            return st;
        if (n->in[1]->nelem != 1 || n->in[6]->nelem != 1 || yz->nelem != 1 ||
            (n->in[4]->nelem != 1 && n->in[4]->nelem != (size_t)p.cout))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "x/y scales and zero points must be "
                                    "scalars, w_scale 1 or %lld values", (long long)p.cout);
        bias = qcal__in(n, 8);
        if (bias && (bias->dtype != QCAL_DT_INT32 || bias->nelem != (size_t)p.cout))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "B must be int32 [%lld]",
                                    (long long)p.cout);
        ydt = yz->dtype;
    }
    ksn = qcal__attr_ints(n, "kernel_shape", &ks);
    if (ksn != 0 && ksn != (size_t)p.nsp)
        return qcal__node_error(err, n, QCAL_E_INVALID, "kernel_shape has %zu values, expected "
                                "%d", ksn, p.nsp);
    for (int i = 0; i < p.nsp; i++) {
        p.in[i] = x->dims[2 + i];
        p.k[i] = w->dims[2 + i];
        if (ksn && ks[i] != p.k[i])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "kernel_shape[%d] = %lld but w has "
                                    "%lld", i, (long long)ks[i], (long long)p.k[i]);
    }
    st = geometry(n, &p, err);
    if (st != QCAL_OK)
        return st;
    dims[0] = p.batch;
    dims[1] = p.cout;
    memcpy(dims + 2, p.out, (size_t)p.nsp * sizeof dims[0]);
    st = qcal__tensor_set_shape(n->out[0], ydt, x->rank, dims, err);
    if (st != QCAL_OK)
        return st;
    p.in_sz = qcal__shape_nelem(p.nsp, p.in);
    p.out_sz = qcal__shape_nelem(p.nsp, p.out);
    p.k_sz = qcal__shape_nelem(p.nsp, p.k);
    if (__builtin_mul_overflow((size_t)(p.cin / p.group), p.k_sz, &p.rows) ||
        __builtin_mul_overflow(p.rows, p.out_sz, &col) ||
        __builtin_mul_overflow(col, sizeof(int32_t), &col) ||
        __builtin_mul_overflow(p.out_sz, sizeof(int64_t), &acc) || col > SIZE_MAX / 4 ||
        acc > SIZE_MAX / 4)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "im2col buffer too large");
    n->params = malloc(sizeof p);
    if (!n->params)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    memcpy(n->params, &p, sizeof p);
    n->scratch = ((col + 63) & ~(size_t)63) + acc;
    return QCAL_OK;
}

static qcal_status convinteger_infer(qcal__node *n, qcal_error *err)
{
    return qconv_infer(n, false, err);
}

static qcal_status qlinearconv_infer(qcal__node *n, qcal_error *err)
{
    return qconv_infer(n, true, err);
}

/*
 * col[(c * k_sz + kk) * out_sz + o] = X'[c, position of output o at kernel offset kk] for the
 * cg channels of one (image, group) starting at element x0 of X; 0 in the padding.
 */
static void im2col_int(const qconv_params *p, const qcal__tensor *x, size_t x0, int32_t xz,
                       int32_t *restrict col)
{
    const size_t cg = (size_t)(p->cin / p->group);
    int64_t kk[MAX_SP] = { 0 };

    for (size_t c = 0; c < cg; c++) {
        for (size_t r = 0; r < p->k_sz; r++) {
            int32_t *dst = col + (c * p->k_sz + r) * p->out_sz;
            int64_t o[MAX_SP] = { 0 };

            size_t rem = r;
            for (int d = p->nsp - 1; d >= 0; d--) {
                kk[d] = (int64_t)(rem % (size_t)p->k[d]);
                rem /= (size_t)p->k[d];
            }
            for (size_t oi = 0; oi < p->out_sz; oi++) {
                size_t off = 0;
                bool inside = true;
                for (int d = 0; d < p->nsp; d++) {
                    int64_t pos = o[d] * p->stride[d] - p->pad[d] + kk[d] * p->dil[d];
                    inside = inside && pos >= 0 && pos < p->in[d];
                    off = off * (size_t)p->in[d] + (size_t)pos;
                }
                dst[oi] = inside ? qcal__qint_at(x, x0 + c * p->in_sz + off) - xz : 0;
                for (int d = p->nsp - 1; d >= 0; d--) {
                    if (++o[d] < p->out[d])
                        break;
                    o[d] = 0;
                }
            }
        }
    }
}

static void qconv_run(const qcal__node *n, void *scratch)
{
    const qconv_params *p = n->params;
    const qcal__tensor *x = n->in[p->ix], *w = n->in[p->iw], *y = n->out[0];
    const qcal__tensor *wz = p->iwz >= 0 ? n->in[p->iwz] : NULL;
    const qcal__tensor *bias = p->qlinear ? qcal__in(n, 8) : NULL;
    const int32_t xz = p->ixz >= 0 ? qcal__qint_at(n->in[p->ixz], 0) : 0;
    const size_t cg = (size_t)(p->cin / p->group), mg = (size_t)(p->cout / p->group);
    const size_t colb = (p->rows * p->out_sz * sizeof(int32_t) + 63) & ~(size_t)63;
    int32_t *col = scratch;
    int64_t *acc = (int64_t *)(void *)((char *)scratch + colb);

    for (size_t b = 0; b < (size_t)p->batch; b++) {
        for (size_t g = 0; g < (size_t)p->group; g++) {
            im2col_int(p, x, (b * (size_t)p->cin + g * cg) * p->in_sz, xz, col);
            for (size_t mi = 0; mi < mg; mi++) {
                const size_t m = g * mg + mi, yo = (b * (size_t)p->cout + m) * p->out_sz;
                const int32_t z = wz ? qcal__qint_at(wz, wz->nelem == 1 ? 0 : m) : 0;
                const int64_t b0 = bias ? ((const int32_t *)bias->data)[m] : 0;

                for (size_t o = 0; o < p->out_sz; o++)
                    acc[o] = b0;
                for (size_t r = 0; r < p->rows; r++) {
                    const int64_t wv = (int64_t)qcal__qint_at(w, m * p->rows + r) - z;
                    const int32_t *crow = col + r * p->out_sz;
                    if (wv == 0)
                        continue;
                    for (size_t o = 0; o < p->out_sz; o++)
                        acc[o] += wv * crow[o];
                }
                if (!p->qlinear) {
                    for (size_t o = 0; o < p->out_sz; o++)
                        ((int32_t *)y->data)[yo + o] = qcal__wrap_i32(acc[o]);
                } else {
                    const float *ws = n->in[4]->data;
                    const float mult = ((const float *)n->in[1]->data)[0] *
                                       ws[n->in[4]->nelem == 1 ? 0 : m] /
                                       ((const float *)n->in[6]->data)[0];
                    const double yz = (double)qcal__qint_at(n->in[7], 0);
                    for (size_t o = 0; o < p->out_sz; o++)
                        qcal__qint_store(y, yo + o,
                                         (double)qcal__wrap_i32(acc[o]) * (double)mult + yz);
                }
            }
        }
    }
}

const qcal__op qcal__ops_qconv[] = {
    { "ConvInteger", 10, QCAL__OPSET_LAST, convinteger_infer, qconv_run, 0 },
    { "QLinearConv", 10, QCAL__OPSET_LAST, qlinearconv_infer, qconv_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
