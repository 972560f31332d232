/*
 * Index-driven movement: Gather and GatherElements (indices are data, read at run time), and the
 * fixed rearrangements DepthToSpace and SpaceToDepth (a 6-D transpose each, one strided copy).
 */
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"

/* Index j of an int32 or int64 indices tensor. */
static inline int64_t index_at(const qcal__tensor *t, size_t j)
{
    if (t->dtype == QCAL_DT_INT64)
        return ((const int64_t *)t->data)[j];
    return ((const int32_t *)t->data)[j];
}

/* Checks the indices' dtype and, when they are already known (CONST), their range. */
static qcal_status check_indices(const qcal__node *n, const qcal__tensor *ix, int64_t dim,
                                 qcal_error *err)
{
    if (ix->dtype != QCAL_DT_INT64 && ix->dtype != QCAL_DT_INT32)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "indices '%s' are %s, expected "
                                "int32 or int64", ix->name, qcal_dtype_name(ix->dtype));
    if (ix->kind != QCAL__T_CONST || !ix->data)
        return QCAL_OK;
    for (size_t j = 0; j < ix->nelem; j++) {
        int64_t v = index_at(ix, j);
        if (v < -dim || v >= dim)
            return qcal__node_error(err, n, QCAL_E_INVALID, "index %lld out of range for a dim "
                                    "of %lld", (long long)v, (long long)dim);
    }
    return QCAL_OK;
}

static qcal_status check_common(const qcal__node *n, size_t *esz, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 2, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    *esz = qcal_dtype_size(n->in[0]->dtype);
    if (*esz == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(n->in[0]->dtype));
    if (n->in[0]->rank == 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "data must have rank >= 1");
    return QCAL_OK;
}

/* ---- Gather (ONNX Gather-1/11/13) ---- */

typedef struct gather_params {
    int64_t outer, dim, inner; /* data viewed as [outer, dim, inner] */
    size_t esz;
} gather_params;

qcal_status qcal__gather_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *ix;
    int64_t odims[QCAL_MAX_RANK];
    gather_params *p;
    size_t esz = 0;
    qcal_status st;
    int axis, r, ro = 0;

    if ((st = check_common(n, &esz, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    ix = n->in[1];
    r = x->rank;
    if ((st = qcal__norm_axis(n, qcal__attr_int(n, "axis", 0), r, &axis, err)) != QCAL_OK)
        return st;
    if ((st = check_indices(n, ix, x->dims[axis], err)) != QCAL_OK)
        return st;
    if (r - 1 + ix->rank > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank %d exceeds %d",
                                r - 1 + ix->rank, QCAL_MAX_RANK);
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->outer = 1;
    p->inner = 1;
    p->dim = x->dims[axis];
    p->esz = esz;
    for (int k = 0; k < axis; k++) {
        odims[ro++] = x->dims[k];
        p->outer *= x->dims[k];
    }
    for (int k = 0; k < ix->rank; k++)
        odims[ro++] = ix->dims[k];
    for (int k = axis + 1; k < r; k++) {
        odims[ro++] = x->dims[k];
        p->inner *= x->dims[k];
    }
    return qcal__tensor_set_shape(n->out[0], x->dtype, ro, odims, err);
}

/* Copies one inner block per (outer, index) pair. Constant indices were range-checked by infer;
 * a per-sample index out of range zero-fills its block and fails the run (qcal__run_fail). */
void qcal__gather_run(const qcal__node *n, void *scratch)
{
    const gather_params *p = n->params;
    const qcal__tensor *ix = n->in[1];
    const unsigned char *src = n->in[0]->data;
    unsigned char *dst = n->out[0]->data;
    const size_t block = (size_t)p->inner * p->esz, nidx = ix->nelem;

    (void)scratch;
    for (int64_t o = 0; o < p->outer; o++) {
        for (size_t j = 0; j < nidx; j++) {
            int64_t v = index_at(ix, j);
            unsigned char *d = dst + ((size_t)o * nidx + j) * block;
            if (v < 0)
                v += p->dim;
            if (v < 0 || v >= p->dim) {
                memset(d, 0, block);
                qcal__run_fail(n, "an index is out of range");
            } else
                memcpy(d, src + (size_t)(o * p->dim + v) * block, block);
        }
    }
}

/* ---- GatherElements (ONNX GatherElements-11/13) ---- */

typedef struct gather_el_params {
    int rank, axis;
    size_t esz;
    int64_t dims[QCAL_MAX_RANK];  /* indices (= output) dims */
    int64_t dst_st[QCAL_MAX_RANK]; /* data strides */
} gather_el_params;

qcal_status qcal__gather_elements_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *ix;
    gather_el_params *p;
    size_t esz = 0;
    qcal_status st;
    int axis, r;

    if ((st = check_common(n, &esz, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    ix = n->in[1];
    r = x->rank;
    if ((st = qcal__norm_axis(n, qcal__attr_int(n, "axis", 0), r, &axis, err)) != QCAL_OK)
        return st;
    if ((st = check_indices(n, ix, x->dims[axis], err)) != QCAL_OK)
        return st;
    if (ix->rank != r)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "indices have rank %d, data %d",
                                ix->rank, r);
    for (int k = 0; k < r; k++)
        if (k != axis && ix->dims[k] > x->dims[k])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "indices dim %d (%lld) exceeds data "
                                    "dim (%lld)", k, (long long)ix->dims[k],
                                    (long long)x->dims[k]);
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->rank = r;
    p->axis = axis;
    p->esz = esz;
    memcpy(p->dims, ix->dims, sizeof p->dims);
    qcal__move_strides(r, x->dims, p->dst_st);
    return qcal__tensor_set_shape(n->out[0], x->dtype, r, ix->dims, err);
}

/* out[i] = data[i with axis coordinate replaced by indices[i]]; an out-of-range index gives 0
 * and fails the run. The offset is formed only after the bounds check. */
void qcal__gather_elements_run(const qcal__node *n, void *scratch)
{
    const gather_el_params *p = n->params;
    const qcal__tensor *ix = n->in[1];
    const unsigned char *src = n->in[0]->data;
    unsigned char *dst = n->out[0]->data;
    const int64_t dim = n->in[0]->dims[p->axis];
    int64_t idx[QCAL_MAX_RANK] = { 0 };

    (void)scratch;
    for (size_t j = 0; j < ix->nelem; j++) {
        int64_t v = index_at(ix, j), off = 0;
        int k;
        if (v < 0)
            v += dim;
        if (v < 0 || v >= dim) {
            memset(dst + j * p->esz, 0, p->esz);
            qcal__run_fail(n, "an index is out of range");
        } else {
            for (k = 0; k < p->rank; k++)
                off += (k == p->axis ? v : idx[k]) * p->dst_st[k];
            memcpy(dst + j * p->esz, src + (size_t)off * p->esz, p->esz);
        }
        for (k = p->rank - 1; k >= 0; k--) {
            if (++idx[k] < p->dims[k])
                break;
            idx[k] = 0;
        }
    }
}

/* ---- DepthToSpace (ONNX -1/11/13) and SpaceToDepth (-1/13) ---- */

/* Shared checks: 4-D input, blocksize > 0. */
static qcal_status block_check(const qcal__node *n, int64_t *b, size_t *esz, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    if (n->in[0]->rank != 4)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must be 4-D, is %d-D",
                                n->in[0]->rank);
    *b = qcal__attr_int(n, "blocksize", 0);
    if (*b <= 0)
        return qcal__node_error(err, n, QCAL_E_INVALID, "blocksize must be > 0, is %lld",
                                (long long)*b);
    *esz = qcal_dtype_size(n->in[0]->dtype);
    if (*esz == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(n->in[0]->dtype));
    return QCAL_OK;
}

/* Stores the 6-D plan (destination contiguous over d6) and sets the 4-D output shape. */
static qcal_status block_plan(qcal__node *n, const int64_t *d6, const int64_t *s6, size_t esz,
                              const int64_t *odims, qcal_error *err)
{
    int64_t ost[6];
    qcal__copy_plan *plan = calloc(1, sizeof *plan);

    if (!plan)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = plan;
    qcal__move_strides(6, d6, ost);
    qcal__copy_plan_init(plan, 6, d6, ost, s6, esz, 0, 0);
    return qcal__tensor_set_shape(n->out[0], n->in[0]->dtype, 4, odims, err);
}

/*
 * DCR (default): input viewed as [N, b, b, C', H, W] is transposed to [N, C', H, b, W, b];
 * CRD (opset 11+): input viewed as [N, C', b, b, H, W] goes to the same output layout.
 */
qcal_status qcal__depth_to_space_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    const char *mode = n->opset >= 11 ? qcal__attr_str(n, "mode", "DCR") : "DCR";
    int64_t b = 0, N, C, H, W, Cp, hw, bb, Hb, Wb;
    size_t esz = 0;
    qcal_status st;

    if ((st = block_check(n, &b, &esz, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    N = x->dims[0];
    C = x->dims[1];
    H = x->dims[2];
    W = x->dims[3];
    if ((st = qcal__mul_i64(n, "blocksize", b, b, &bb, err)) != QCAL_OK ||
        (st = qcal__mul_i64(n, "blocksize", H, b, &Hb, err)) != QCAL_OK ||
        (st = qcal__mul_i64(n, "blocksize", W, b, &Wb, err)) != QCAL_OK)
        return st;
    if (C % bb != 0)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "channels (%lld) not divisible by "
                                "blocksize^2 (%lld)", (long long)C, (long long)bb);
    Cp = C / bb;
    hw = H * W;
    {
        const int64_t d6[6] = { N, Cp, H, b, W, b };
        const int64_t odims[4] = { N, Cp, Hb, Wb };
        int64_t s6[6];
        if (strcmp(mode, "DCR") == 0) {
            /* Source [N, b1, b2, C', H, W]. */
            const int64_t t[6] = { C * hw, hw, W, b * Cp * hw, 1, Cp * hw };
            memcpy(s6, t, sizeof s6);
        } else if (strcmp(mode, "CRD") == 0) {
            /* Source [N, C', b1, b2, H, W]. */
            const int64_t t[6] = { C * hw, b * b * hw, W, b * hw, 1, hw };
            memcpy(s6, t, sizeof s6);
        } else {
            return qcal__node_error(err, n, QCAL_E_INVALID, "mode '%s' (expected DCR or CRD)",
                                    mode);
        }
        return block_plan(n, d6, s6, esz, odims, err);
    }
}

/* Input viewed as [N, C, H', b1, W', b2] is transposed to [N, b1, b2, C, H', W']. */
qcal_status qcal__space_to_depth_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    int64_t b = 0, N, C, H, W, Hp, Wp, Cbb;
    size_t esz = 0;
    qcal_status st;

    if ((st = block_check(n, &b, &esz, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    N = x->dims[0];
    C = x->dims[1];
    H = x->dims[2];
    W = x->dims[3];
    if (H % b != 0 || W % b != 0)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "spatial dims %lldx%lld not divisible "
                                "by blocksize %lld", (long long)H, (long long)W, (long long)b);
    Hp = H / b;
    Wp = W / b;
    if ((st = qcal__mul_i64(n, "blocksize", C, b, &Cbb, err)) != QCAL_OK ||
        (st = qcal__mul_i64(n, "blocksize", Cbb, b, &Cbb, err)) != QCAL_OK)
        return st;
    {
        const int64_t d6[6] = { N, b, b, C, Hp, Wp };
        const int64_t s6[6] = { C * H * W, W, 1, H * W, b * W, b };
        const int64_t odims[4] = { N, Cbb, Hp, Wp };
        return block_plan(n, d6, s6, esz, odims, err);
    }
}
