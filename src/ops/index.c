/*
 * OneHot (ONNX -9/11) and ReverseSequence (-10): outputs laid out by integer data read at run
 * time. OneHot's out-of-range indices are defined by the spec (the row stays off_value);
 * ReverseSequence's sequence lengths must lie in [0, time steps]: constant ones are checked at
 * infer time, per-sample ones out of range fail the run (qcal__run_fail; the entry is copied
 * unreversed).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"
#include "ops/scatter.h"

/* ---- OneHot: out[outer, d, inner] = on if d == indices[outer, inner] else off ---- */

typedef struct onehot_params {
    int64_t depth;
    size_t outer, inner, esz;
} onehot_params;

/* Reads the scalar depth (any integer or float type) at infer time. */
static qcal_status onehot_depth(const qcal__node *n, int64_t *depth, qcal_error *err)
{
    const qcal__tensor *d = n->in[1];
    int64_t iv[1];
    float fv[1];
    size_t cnt = 0;
    qcal_status st;

    if (d->nelem != 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "depth must have one element, has %zu",
                                d->nelem);
    if (d->dtype == QCAL_DT_FLOAT || d->dtype == QCAL_DT_DOUBLE) {
        if ((st = qcal__const_floats(n, 1, fv, 1, &cnt, err)) != QCAL_OK)
            return st;
        if (!(fv[0] >= 1.0f && fv[0] < 9.0e15f))
            return qcal__node_error(err, n, QCAL_E_INVALID, "depth %g must be >= 1",
                                    (double)fv[0]);
        *depth = (int64_t)fv[0];
        return QCAL_OK;
    }
    if ((st = qcal__const_ints(n, 1, iv, 1, &cnt, err)) != QCAL_OK)
        return st;
    if (iv[0] < 1)
        return qcal__node_error(err, n, QCAL_E_INVALID, "depth %lld must be >= 1",
                                (long long)iv[0]);
    *depth = iv[0];
    return QCAL_OK;
}

static qcal_status onehot_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *ix, *vals;
    int64_t odims[QCAL_MAX_RANK], depth = 0;
    onehot_params *p;
    qcal_status st = qcal__check_inputs(n, 3, 3, err);
    int axis, r, ro = 0;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    ix = n->in[0];
    vals = n->in[2];
    r = ix->rank;
    if (!qcal__cast_supported(ix->dtype) || ix->dtype == QCAL_DT_BOOL)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "indices are %s",
                                qcal_dtype_name(ix->dtype));
    if (vals->nelem != 2 || qcal_dtype_size(vals->dtype) == 0)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "values must hold 2 elements "
                                "[off, on] of a supported type");
    if (r + 1 > QCAL_MAX_RANK)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "output rank exceeds %d",
                                QCAL_MAX_RANK);
    if ((st = qcal__norm_axis(n, qcal__attr_int(n, "axis", -1), r + 1, &axis, err)) != QCAL_OK)
        return st;
    if ((st = onehot_depth(n, &depth, err)) != QCAL_OK)
        return st;
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->depth = depth;
    p->esz = qcal_dtype_size(vals->dtype);
    p->outer = qcal__shape_nelem(axis, ix->dims);
    p->inner = qcal__shape_nelem(r - axis, ix->dims + axis);
    for (int k = 0; k < axis; k++)
        odims[ro++] = ix->dims[k];
    odims[ro++] = depth;
    for (int k = axis; k < r; k++)
        odims[ro++] = ix->dims[k];
    /* set_shape checks that the element count does not overflow. */
    return qcal__tensor_set_shape(n->out[0], vals->dtype, ro, odims, err);
}

static void onehot_run(const qcal__node *n, void *scratch)
{
    const onehot_params *p = n->params;
    const qcal__tensor *ix = n->in[0];
    const unsigned char *vals = n->in[2]->data;
    unsigned char *dst = n->out[0]->data;
    const size_t isz = qcal_dtype_size(ix->dtype), nout = n->out[0]->nelem;
    /* Negative indices count from the end from opset 11 on. */
    const int64_t lo = n->opset >= 11 ? -p->depth : 0;

    (void)scratch;
    for (size_t j = 0; j < nout; j++)
        memcpy(dst + j * p->esz, vals, p->esz);
    for (size_t o = 0; o < p->outer; o++) {
        for (size_t i = 0; i < p->inner; i++) {
            int64_t v;
            qcal__cast_elem(&v, QCAL_DT_INT64, (const unsigned char *)ix->data +
                            (o * p->inner + i) * isz, ix->dtype);
            if (v < lo || v >= p->depth)
                continue;
            if (v < 0)
                v += p->depth;
            memcpy(dst + ((o * (size_t)p->depth + (size_t)v) * p->inner + i) * p->esz,
                   vals + p->esz, p->esz);
        }
    }
}

/* ---- ReverseSequence: reverse the first sequence_lens[b] time steps of every batch b ---- */

typedef struct revseq_params {
    int rank, batch_axis, time_axis;
    size_t esz;
    int64_t st[QCAL_MAX_RANK];
} revseq_params;

static qcal_status revseq_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *lens;
    revseq_params *p;
    qcal_status st = qcal__index_op_check(n, 2, "sequence_lens", err);
    int ba, ta;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    lens = n->in[1];
    if (x->rank < 2)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must have rank >= 2");
    if ((st = qcal__norm_axis(n, qcal__attr_int(n, "batch_axis", 1), x->rank, &ba, err)) ||
        (st = qcal__norm_axis(n, qcal__attr_int(n, "time_axis", 0), x->rank, &ta, err)))
        return st;
    if (ba > 1 || ta > 1 || ba == ta)
        return qcal__node_error(err, n, QCAL_E_INVALID, "batch_axis %d and time_axis %d must "
                                "be 0 and 1", ba, ta);
    if (lens->rank != 1 || lens->dims[0] != x->dims[ba])
        return qcal__node_error(err, n, QCAL_E_SHAPE, "sequence_lens must be 1-D of the batch "
                                "size %lld", (long long)x->dims[ba]);
    if (lens->kind == QCAL__T_CONST && lens->data)
        for (size_t b = 0; b < lens->nelem; b++) {
            int64_t v = qcal__index_at(lens, b);
            if (v < 0 || v > x->dims[ta])
                return qcal__node_error(err, n, QCAL_E_INVALID, "sequence_lens[%zu] = %lld is "
                                        "outside [0, %lld]", b, (long long)v,
                                        (long long)x->dims[ta]);
        }
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->rank = x->rank;
    p->batch_axis = ba;
    p->time_axis = ta;
    p->esz = qcal_dtype_size(x->dtype);
    qcal__strides(x->rank, x->dims, p->st);
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

/* Axes 0 and 1 are batch and time; each (time, batch) pair is one contiguous inner block. */
static void revseq_run(const qcal__node *n, void *scratch)
{
    const revseq_params *p = n->params;
    const qcal__tensor *x = n->in[0], *lens = n->in[1];
    const unsigned char *src = x->data;
    unsigned char *dst = n->out[0]->data;
    const int64_t T = x->dims[p->time_axis], B = x->dims[p->batch_axis];
    const size_t block = (size_t)p->st[1] * p->esz;

    (void)scratch;
    for (int64_t b = 0; b < B; b++) {
        int64_t len = qcal__index_at(lens, (size_t)b);
        if (len < 0 || len > T) {
            qcal__run_fail(n, "sequence_lens value out of range");
            len = 0;
        }
        for (int64_t t = 0; t < T; t++) {
            const int64_t ts = t < len ? len - 1 - t : t;
            const size_t od = (size_t)(t * p->st[p->time_axis] + b * p->st[p->batch_axis]);
            const size_t os = (size_t)(ts * p->st[p->time_axis] + b * p->st[p->batch_axis]);
            memcpy(dst + od * p->esz, src + os * p->esz, block);
        }
    }
}

const qcal__op qcal__ops_index[] = {
    { "OneHot", 9, QCAL__OPSET_LAST, onehot_infer, onehot_run, 1u << 1 },
    { "ReverseSequence", 10, QCAL__OPSET_LAST, revseq_infer, revseq_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
