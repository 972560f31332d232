/*
 * GatherND (ONNX -11/12/13) and ScatterND (-11/13/16/18): the last axis of `indices` addresses
 * a slice of `data` (the trailing dims not indexed), and every slice is moved with one memcpy
 * (or one reduction pass), so the cost per index tuple is k index reads plus one contiguous copy.
 *
 * Constant indices are checked at infer time and an out-of-range one is refused naming the node.
 * An out-of-range tuple in per-sample indices fails the run through qcal__run_fail (GatherND
 * writes zeros for it, ScatterND skips it); nothing is read or written out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/scatter.h"

typedef struct nd_params {
    int k;                          /* length of the last indices axis */
    qcal__reduction red;            /* ScatterND only */
    size_t esz;
    size_t nbatch, nidx;            /* GatherND: batches x tuples per batch */
    size_t slice;                   /* elements per addressed slice */
    size_t batch_elems;             /* data elements per batch (GatherND) */
    int64_t dims[QCAL_MAX_RANK];    /* the k indexed data dims */
    int64_t strides[QCAL_MAX_RANK]; /* their strides in elements */
} nd_params;

/*
 * Byte offset of tuple t (k values at ix[t*k...]) into the indexed dims, or -1 when some value
 * is outside [-dim, dim).
 */
static int64_t tuple_offset(const nd_params *p, const qcal__tensor *ix, size_t t)
{
    int64_t off = 0;

    for (int j = 0; j < p->k; j++) {
        int64_t v = qcal__index_at(ix, t * (size_t)p->k + (size_t)j);
        if (v < 0)
            v += p->dims[j];
        if (v < 0 || v >= p->dims[j])
            return -1;
        off += v * p->strides[j];
    }
    return off;
}

/* Checks CONST indices tuple by tuple (tuples of nidx_total), naming the first bad one. */
static qcal_status check_const_tuples(const qcal__node *n, const nd_params *p,
                                      const qcal__tensor *ix, size_t ntuples, qcal_error *err)
{
    if (ix->kind != QCAL__T_CONST || !ix->data)
        return QCAL_OK;
    for (size_t t = 0; t < ntuples; t++) {
        if (tuple_offset(p, ix, t) >= 0)
            continue;
        for (int j = 0; j < p->k; j++) {
            int64_t v = qcal__index_at(ix, t * (size_t)p->k + (size_t)j);
            if (v < -p->dims[j] || v >= p->dims[j])
                return qcal__node_error(err, n, QCAL_E_INVALID, "index %lld (tuple %zu, "
                                        "position %d) out of range for a dim of %lld",
                                        (long long)v, t, j, (long long)p->dims[j]);
        }
    }
    return QCAL_OK;
}

/* Common checks: inputs, output, element size, indices dtype and rank >= 1, k in [1, r - b]. */
static qcal_status nd_common(qcal__node *n, int nin, int b, nd_params **out, qcal_error *err)
{
    const qcal__tensor *x, *ix;
    nd_params *p;
    qcal_status st = qcal__index_op_check(n, nin, "indices", err);
    int64_t k;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    ix = n->in[1];
    if (x->rank < 1 || ix->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "data and indices need rank >= 1 (are "
                                "%d, %d)", x->rank, ix->rank);
    if (b < 0 || b >= x->rank || b >= ix->rank)
        return qcal__node_error(err, n, QCAL_E_INVALID, "batch_dims %d must be below both "
                                "ranks (%d, %d)", b, x->rank, ix->rank);
    k = ix->dims[ix->rank - 1];
    if (k < 1 || k > x->rank - b)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "last indices dim %lld must be in [1, "
                                "%d]", (long long)k, x->rank - b);
    for (int j = 0; j < b; j++)
        if (x->dims[j] != ix->dims[j])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "batch dim %d differs: data %lld, "
                                    "indices %lld", j, (long long)x->dims[j],
                                    (long long)ix->dims[j]);
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->k = (int)k;
    p->esz = qcal_dtype_size(x->dtype);
    {
        int64_t st_all[QCAL_MAX_RANK];
        qcal__strides(x->rank, x->dims, st_all);
        for (int j = 0; j < p->k; j++) {
            p->dims[j] = x->dims[b + j];
            p->strides[j] = st_all[b + j];
        }
        /* Sub-products of a shaped tensor's dims cannot overflow (nelem was checked). */
        p->slice = (size_t)qcal__shape_nelem(x->rank - b - p->k, x->dims + b + p->k);
        p->batch_elems = (size_t)qcal__shape_nelem(x->rank - b, x->dims + b);
        p->nbatch = (size_t)qcal__shape_nelem(b, x->dims);
        p->nidx = (size_t)qcal__shape_nelem(ix->rank - 1 - b, ix->dims + b);
    }
    *out = p;
    return QCAL_OK;
}

/* ---- GatherND: out[batch, tuple, :] = data[batch, indices[batch, tuple], :] ---- */

static qcal_status gathernd_infer(qcal__node *n, qcal_error *err)
{
    const int64_t b64 = n->opset >= 12 ? qcal__attr_int(n, "batch_dims", 0) : 0;
    const qcal__tensor *x, *ix;
    int64_t odims[QCAL_MAX_RANK];
    nd_params *p = NULL;
    qcal_status st;
    int ro = 0;

    if (b64 < 0 || b64 > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_INVALID, "batch_dims %lld out of range",
                                (long long)b64);
    if ((st = nd_common(n, 2, (int)b64, &p, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    ix = n->in[1];
    if (ix->rank - 1 + x->rank - (int)b64 - p->k > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank exceeds %d",
                                QCAL_MAX_RANK);
    if ((st = check_const_tuples(n, p, ix, p->nbatch * p->nidx, err)) != QCAL_OK)
        return st;
    for (int j = 0; j < ix->rank - 1; j++)
        odims[ro++] = ix->dims[j];
    for (int j = (int)b64 + p->k; j < x->rank; j++)
        odims[ro++] = x->dims[j];
    return qcal__tensor_set_shape(n->out[0], x->dtype, ro, odims, err);
}

static void gathernd_run(const qcal__node *n, void *scratch)
{
    const nd_params *p = n->params;
    const qcal__tensor *ix = n->in[1];
    const unsigned char *src = n->in[0]->data;
    unsigned char *dst = n->out[0]->data;
    const size_t bytes = p->slice * p->esz;

    (void)scratch;
    for (size_t bi = 0; bi < p->nbatch; bi++) {
        const unsigned char *sb = src + bi * p->batch_elems * p->esz;
        for (size_t j = 0; j < p->nidx; j++) {
            const size_t t = bi * p->nidx + j;
            const int64_t off = tuple_offset(p, ix, t);
            if (off < 0) {
                memset(dst + t * bytes, 0, bytes);
                qcal__run_fail(n, "index out of range");
            } else
                memcpy(dst + t * bytes, sb + (size_t)off * p->esz, bytes);
        }
    }
}

/* ---- ScatterND: out = data; out[indices[tuple], :] (op)= updates[tuple, :] ---- */

static qcal_status scatternd_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *ix, *up;
    nd_params *p = NULL;
    qcal_status st;
    int ru;

    if ((st = nd_common(n, 3, 0, &p, err)) != QCAL_OK)
        return st;
    x = n->in[0];
    ix = n->in[1];
    up = n->in[2];
    if ((st = qcal__reduction_parse(n, x->dtype, &p->red, err)) != QCAL_OK)
        return st;
    if (up->dtype != x->dtype)
        return qcal__node_error(err, n, QCAL_E_INVALID, "updates are %s, data %s",
                                qcal_dtype_name(up->dtype), qcal_dtype_name(x->dtype));
    /* updates.shape == indices.shape[:-1] + data.shape[k:] */
    ru = ix->rank - 1 + x->rank - p->k;
    if (up->rank != ru)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "updates have rank %d, expected %d",
                                up->rank, ru);
    for (int j = 0; j < ru; j++) {
        int64_t want = j < ix->rank - 1 ? ix->dims[j] : x->dims[p->k + j - (ix->rank - 1)];
        if (up->dims[j] != want)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "updates dim %d is %lld, expected "
                                    "%lld", j, (long long)up->dims[j], (long long)want);
    }
    if ((st = check_const_tuples(n, p, ix, p->nidx, err)) != QCAL_OK)
        return st;
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

/* Updates are applied in tuple order, so duplicates resolve as the ONNX reference does. */
static void scatternd_run(const qcal__node *n, void *scratch)
{
    const nd_params *p = n->params;
    const qcal__tensor *ix = n->in[1];
    const unsigned char *up = n->in[2]->data;
    unsigned char *dst = n->out[0]->data;
    const size_t bytes = p->slice * p->esz;

    (void)scratch;
    if (n->in[0]->nelem)
        memcpy(dst, n->in[0]->data, n->in[0]->nelem * p->esz);
    for (size_t t = 0; t < p->nidx; t++) {
        const int64_t off = tuple_offset(p, ix, t);
        unsigned char *d;
        if (off < 0) {
            qcal__run_fail(n, "index out of range");
            continue;
        }
        d = dst + (size_t)off * p->esz;
        if (p->red == QCAL__RED_NONE)
            memcpy(d, up + t * bytes, bytes);
        else
            qcal__reduce_into(d, up + t * bytes, p->slice, n->in[0]->dtype, p->red);
    }
}

const qcal__op qcal__ops_gather_nd[] = {
    { "GatherND", 11, QCAL__OPSET_LAST, gathernd_infer, gathernd_run, 0 },
    { "ScatterND", 11, QCAL__OPSET_LAST, scatternd_infer, scatternd_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
