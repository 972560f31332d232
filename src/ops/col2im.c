/*
 * Col2Im (ONNX -18: sums sliding blocks back into an N-D image, the inverse layout of im2col)
 * and CenterCropPad (-18: crops or zero-pads chosen axes to a size, centred). Both take their
 * sizes from constant inputs; every size is checked, with overflow-checked products, at infer.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"

/* ---- Col2Im ---- */

typedef struct col2im_params {
    int nd;
    int64_t img[QCAL_MAX_RANK], blk[QCAL_MAX_RANK], grid[QCAL_MAX_RANK];
    int64_t dil[QCAL_MAX_RANK], pad[QCAL_MAX_RANK], str[QCAL_MAX_RANK];
    size_t kprod, L, plane; /* block elements, block positions, image elements */
} col2im_params;

static qcal_status col2im_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    int64_t pads[2 * QCAL_MAX_RANK], bl[QCAL_MAX_RANK], odims[QCAL_MAX_RANK];
    size_t ni = 0, nb = 0, kprod = 1, L = 1;
    col2im_params *p;
    qcal_status st = qcal__check_inputs(n, 3, 3, err);
    int nd;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    if (x->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input must be float32, is %s",
                                qcal_dtype_name(x->dtype));
    if (x->rank != 3)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must be [N, C*prod(block), L]");
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    if ((st = qcal__const_ints(n, 1, p->img, QCAL_MAX_RANK - 2, &ni, err)) != QCAL_OK ||
        (st = qcal__const_ints(n, 2, bl, QCAL_MAX_RANK - 2, &nb, err)) != QCAL_OK)
        return st;
    if (ni != nb || ni < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "image_shape (%zu values) and "
                                "block_shape (%zu) must match", ni, nb);
    nd = (int)ni;
    p->nd = nd;
    if ((st = qcal__attr_dims(n, "dilations", ni, 1, 1, p->dil, err)) != QCAL_OK ||
        (st = qcal__attr_dims(n, "strides", ni, 1, 1, p->str, err)) != QCAL_OK ||
        (st = qcal__attr_dims(n, "pads", 2 * ni, 0, 0, pads, err)) != QCAL_OK)
        return st;
    for (int i = 0; i < nd; i++) {
        int64_t span;
        if (p->img[i] < 1 || p->img[i] > QCAL__DIM_ATTR_MAX || bl[i] < 1 ||
            bl[i] > QCAL__DIM_ATTR_MAX)
            return qcal__node_error(err, n, QCAL_E_INVALID, "image/block dim %d (%lld, %lld) "
                                    "out of range", i, (long long)p->img[i], (long long)bl[i]);
        p->blk[i] = bl[i];
        p->pad[i] = pads[i];
        /* All operands are <= 2^40, so the products below fit int64. */
        span = p->dil[i] * (bl[i] - 1) + 1;
        if (p->img[i] + pads[i] + pads[nd + i] < span)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "block dim %d (%lld dilated) exceeds "
                                    "the padded image", i, (long long)span);
        p->grid[i] = (p->img[i] + pads[i] + pads[nd + i] - span) / p->str[i] + 1;
        if (__builtin_mul_overflow(kprod, (size_t)bl[i], &kprod) ||
            __builtin_mul_overflow(L, (size_t)p->grid[i], &L))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "block sizes overflow");
    }
    if (x->dims[1] % (int64_t)kprod != 0 || (size_t)x->dims[2] != L)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input dims %lld, %lld do not match %zu "
                                "block elements and %zu blocks", (long long)x->dims[1],
                                (long long)x->dims[2], kprod, L);
    p->kprod = kprod;
    p->L = L;
    p->plane = qcal__shape_nelem(nd, p->img);
    odims[0] = x->dims[0];
    odims[1] = x->dims[1] / (int64_t)kprod;
    memcpy(odims + 2, p->img, (size_t)nd * sizeof odims[0]);
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_FLOAT, nd + 2, odims, err);
}

/* Adds input[n, c * kprod + k, l] to the image pixel that block position l and kernel offset k
 * land on; in (k, l) order, so overlapping blocks sum in a fixed order. */
static void col2im_run(const qcal__node *n, void *scratch)
{
    const col2im_params *p = n->params;
    const float *src = n->in[0]->data;
    float *dst = n->out[0]->data;
    const size_t NC = (size_t)n->out[0]->dims[0] * (size_t)n->out[0]->dims[1];
    int64_t ist[QCAL_MAX_RANK];

    (void)scratch;
    qcal__strides(p->nd, p->img, ist);
    memset(dst, 0, n->out[0]->nelem * sizeof *dst);
    for (size_t nc = 0; nc < NC; nc++) {
        float *img = dst + nc * p->plane;
        int64_t k[QCAL_MAX_RANK] = { 0 };
        for (size_t kk = 0; kk < p->kprod; kk++) {
            const float *col = src + (nc * p->kprod + kk) * p->L;
            int64_t l[QCAL_MAX_RANK] = { 0 };
            for (size_t ll = 0; ll < p->L; ll++) {
                int64_t off = 0;
                bool in = true;
                for (int i = 0; i < p->nd; i++) {
                    const int64_t c = l[i] * p->str[i] - p->pad[i] + k[i] * p->dil[i];
                    in = in && c >= 0 && c < p->img[i];
                    off += c * ist[i];
                }
                if (in)
                    img[off] += col[ll];
                for (int i = p->nd - 1; i >= 0; i--) {
                    if (++l[i] < p->grid[i])
                        break;
                    l[i] = 0;
                }
            }
            for (int i = p->nd - 1; i >= 0; i--) {
                if (++k[i] < p->blk[i])
                    break;
                k[i] = 0;
            }
        }
    }
}

/* ---- CenterCropPad: one strided copy into a zeroed output ---- */

static qcal_status ccp_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    const int64_t *axes = NULL;
    int64_t shape[QCAL_MAX_RANK], odims[QCAL_MAX_RANK], cdims[QCAL_MAX_RANK];
    int64_t sst[QCAL_MAX_RANK], dst_st[QCAL_MAX_RANK], soff = 0, doff = 0;
    size_t ns = 0, na, esz;
    bool seen[QCAL_MAX_RANK] = { false };
    qcal__copy_plan *plan;
    qcal_status st = qcal__check_inputs(n, 2, 2, err);
    int r;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    r = x->rank;
    esz = qcal_dtype_size(x->dtype);
    if (esz == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(x->dtype));
    if ((st = qcal__const_ints(n, 1, shape, QCAL_MAX_RANK, &ns, err)) != QCAL_OK)
        return st;
    na = qcal__attr_ints(n, "axes", &axes);
    if ((na ? na : (size_t)r) != ns)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "shape has %zu values for %zu axes", ns,
                                na ? na : (size_t)r);
    memcpy(odims, x->dims, sizeof odims);
    for (size_t i = 0; i < ns; i++) {
        int a = (int)i;
        if (na && (st = qcal__norm_axis(n, axes[i], r, &a, err)) != QCAL_OK)
            return st;
        if (seen[a])
            return qcal__node_error(err, n, QCAL_E_INVALID, "axis %d repeated", a);
        seen[a] = true;
        if (shape[i] < 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "shape[%zu] = %lld < 0", i,
                                    (long long)shape[i]);
        odims[a] = shape[i];
    }
    /* Output dims are checked by set_shape; the copy covers min(in, out) per axis, offset by
     * half the difference (floor) on the larger side. */
    if ((st = qcal__tensor_set_shape(n->out[0], x->dtype, r, odims, err)) != QCAL_OK)
        return st;
    qcal__strides(r, x->dims, sst);
    qcal__strides(r, odims, dst_st);
    for (int a = 0; a < r; a++) {
        cdims[a] = x->dims[a] < odims[a] ? x->dims[a] : odims[a];
        if (x->dims[a] > odims[a])
            soff += (x->dims[a] - odims[a]) / 2 * sst[a];
        else
            doff += (odims[a] - x->dims[a]) / 2 * dst_st[a];
    }
    plan = calloc(1, sizeof *plan);
    if (!plan)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = plan;
    qcal__copy_plan_init(plan, r, cdims, dst_st, sst, esz, doff, soff);
    return QCAL_OK;
}

static void ccp_run(const qcal__node *n, void *scratch)
{
    const qcal__copy_plan *plan = n->params;

    (void)scratch;
    memset(n->out[0]->data, 0, n->out[0]->nelem * plan->esz);
    qcal__copy_run(plan, n->out[0]->data, n->in[0]->data);
}

const qcal__op qcal__ops_col2im[] = {
    { "CenterCropPad", 18, QCAL__OPSET_LAST, ccp_infer, ccp_run, 1u << 1 },
    { "Col2Im", 18, QCAL__OPSET_LAST, col2im_infer, col2im_run, (1u << 1) | (1u << 2) },
    { NULL, 0, 0, NULL, NULL, 0 },
};
