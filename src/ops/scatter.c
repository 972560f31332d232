/*
 * ScatterElements (ONNX -11/13/16/18) and its predecessor Scatter (-9, deprecated at 11), plus
 * the helpers the index-driven families share (scatter.h): index dtype checks, the `reduction`
 * attribute and the element-wise reductions.
 *
 * Constant indices are checked at infer time; an out-of-range one is refused naming the node.
 * Per-sample indices out of range fail the run (qcal__run_fail); they are skipped, never written
 * out of bounds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/scatter.h"

/* ---- shared helpers (scatter.h) ---- */

qcal_status qcal__index_op_check(const qcal__node *n, int nin, const char *what,
                                 qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, nin, nin, err);
    const qcal__tensor *t;

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    if (qcal_dtype_size(n->in[0]->dtype) == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(n->in[0]->dtype));
    t = n->in[1];
    if (t->dtype != QCAL_DT_INT64 && t->dtype != QCAL_DT_INT32)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "%s '%s' are %s, expected int32 "
                                "or int64", what, t->name, qcal_dtype_name(t->dtype));
    return QCAL_OK;
}

static bool numeric(qcal_dtype dt)
{
    switch (dt) {
    case QCAL_DT_FLOAT: case QCAL_DT_DOUBLE: case QCAL_DT_INT8: case QCAL_DT_INT16:
    case QCAL_DT_INT32: case QCAL_DT_INT64: case QCAL_DT_UINT8: case QCAL_DT_UINT16:
    case QCAL_DT_UINT32: case QCAL_DT_UINT64:
        return true;
    default:
        return false;
    }
}

qcal_status qcal__reduction_parse(const qcal__node *n, qcal_dtype dt, qcal__reduction *out,
                                  qcal_error *err)
{
    static const struct {
        const char *name;
        qcal__reduction red;
        int since;
    } NAMES[] = {
        { "none", QCAL__RED_NONE, 1 }, { "add", QCAL__RED_ADD, 16 },
        { "mul", QCAL__RED_MUL, 16 },  { "max", QCAL__RED_MAX, 18 },
        { "min", QCAL__RED_MIN, 18 },
    };
    const char *s = qcal__attr_str(n, "reduction", "none");

    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        if (strcmp(s, NAMES[i].name) != 0 || n->opset < NAMES[i].since)
            continue;
        if (NAMES[i].red != QCAL__RED_NONE && !numeric(dt))
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "reduction '%s' on %s", s,
                                    qcal_dtype_name(dt));
        *out = NAMES[i].red;
        return QCAL_OK;
    }
    return qcal__node_error(err, n, QCAL_E_INVALID, "reduction '%s' is not valid at opset %d",
                            s, n->opset);
}

/* One typed loop per dtype; max/min keep a NaN in either operand (numpy.maximum/minimum). */
#define REDUCE_LOOP(T, ISNAN)                                                                    \
    do {                                                                                         \
        T *d = dst;                                                                              \
        const T *s = src;                                                                        \
        switch (red) {                                                                           \
        case QCAL__RED_ADD: for (size_t i = 0; i < count; i++) d[i] = (T)(d[i] + s[i]); break;   \
        case QCAL__RED_MUL: for (size_t i = 0; i < count; i++) d[i] = (T)(d[i] * s[i]); break;   \
        case QCAL__RED_MAX:                                                                      \
            for (size_t i = 0; i < count; i++)                                                   \
                if (s[i] > d[i] || ISNAN(s[i]))                                                  \
                    d[i] = s[i];                                                                 \
            break;                                                                               \
        case QCAL__RED_MIN:                                                                      \
            for (size_t i = 0; i < count; i++)                                                   \
                if (s[i] < d[i] || ISNAN(s[i]))                                                  \
                    d[i] = s[i];                                                                 \
            break;                                                                               \
        case QCAL__RED_NONE: memcpy(d, s, count * sizeof(T)); break;                             \
        }                                                                                        \
    } while (0)
#define NO_NAN(v) ((void)(v), 0)

void qcal__reduce_into(void *dst, const void *src, size_t count, qcal_dtype dt,
                       qcal__reduction red)
{
    switch (dt) {
    case QCAL_DT_FLOAT: REDUCE_LOOP(float, isnan); break;
    case QCAL_DT_DOUBLE: REDUCE_LOOP(double, isnan); break;
    case QCAL_DT_INT8: REDUCE_LOOP(int8_t, NO_NAN); break;
    case QCAL_DT_INT16: REDUCE_LOOP(int16_t, NO_NAN); break;
    case QCAL_DT_INT32: REDUCE_LOOP(int32_t, NO_NAN); break;
    /* int64 add/mul wrap as unsigned arithmetic would (no signed-overflow UB). */
    case QCAL_DT_INT64:
        if (red == QCAL__RED_ADD || red == QCAL__RED_MUL) {
            int64_t *d64 = dst;
            const int64_t *s64 = src;
            for (size_t i = 0; i < count; i++)
                d64[i] = (int64_t)(red == QCAL__RED_ADD ? (uint64_t)d64[i] + (uint64_t)s64[i]
                                                        : (uint64_t)d64[i] * (uint64_t)s64[i]);
        } else {
            REDUCE_LOOP(int64_t, NO_NAN);
        }
        break;
    case QCAL_DT_UINT8: REDUCE_LOOP(uint8_t, NO_NAN); break;
    case QCAL_DT_UINT16: REDUCE_LOOP(uint16_t, NO_NAN); break;
    case QCAL_DT_UINT32: REDUCE_LOOP(uint32_t, NO_NAN); break;
    case QCAL_DT_UINT64: REDUCE_LOOP(uint64_t, NO_NAN); break;
    default: break;
    }
}

/* ---- ScatterElements / Scatter ---- */

typedef struct scatter_el_params {
    int rank, axis;
    qcal__reduction red;
    size_t esz;
    int64_t dims[QCAL_MAX_RANK];     /* indices (= updates) dims */
    int64_t data_st[QCAL_MAX_RANK];  /* data strides in elements */
} scatter_el_params;

static qcal_status scatter_el_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x, *ix, *up;
    scatter_el_params *p;
    qcal_status st = qcal__index_op_check(n, 3, "indices", err);
    qcal__reduction red = QCAL__RED_NONE;
    int axis;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    ix = n->in[1];
    up = n->in[2];
    if (strcmp(n->op_type, "ScatterElements") == 0 &&
        (st = qcal__reduction_parse(n, x->dtype, &red, err)) != QCAL_OK)
        return st;
    if (x->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "data must have rank >= 1");
    if ((st = qcal__norm_axis(n, qcal__attr_int(n, "axis", 0), x->rank, &axis, err)) != QCAL_OK)
        return st;
    if (up->dtype != x->dtype)
        return qcal__node_error(err, n, QCAL_E_INVALID, "updates are %s, data %s",
                                qcal_dtype_name(up->dtype), qcal_dtype_name(x->dtype));
    if (ix->rank != x->rank || up->rank != x->rank)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "indices/updates ranks %d/%d, data %d",
                                ix->rank, up->rank, x->rank);
    for (int k = 0; k < x->rank; k++) {
        if (up->dims[k] != ix->dims[k])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "updates dim %d (%lld) differs from "
                                    "indices (%lld)", k, (long long)up->dims[k],
                                    (long long)ix->dims[k]);
        if (k != axis && ix->dims[k] > x->dims[k])
            return qcal__node_error(err, n, QCAL_E_SHAPE, "indices dim %d (%lld) exceeds data "
                                    "dim (%lld)", k, (long long)ix->dims[k],
                                    (long long)x->dims[k]);
    }
    if (ix->kind == QCAL__T_CONST && ix->data) {
        const int64_t dim = x->dims[axis];
        for (size_t j = 0; j < ix->nelem; j++) {
            int64_t v = qcal__index_at(ix, j);
            if (v < -dim || v >= dim)
                return qcal__node_error(err, n, QCAL_E_INVALID, "index %lld (element %zu) out "
                                        "of range for a dim of %lld", (long long)v, j,
                                        (long long)dim);
        }
    }
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->rank = x->rank;
    p->axis = axis;
    p->red = red;
    p->esz = qcal_dtype_size(x->dtype);
    memcpy(p->dims, ix->dims, sizeof p->dims);
    qcal__strides(x->rank, x->dims, p->data_st);
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

/* out = data, then out[i with axis coordinate indices[i]] (op)= updates[i], in order. */
static void scatter_el_run(const qcal__node *n, void *scratch)
{
    const scatter_el_params *p = n->params;
    const qcal__tensor *ix = n->in[1];
    const unsigned char *up = n->in[2]->data;
    unsigned char *dst = n->out[0]->data;
    const int64_t dim = n->in[0]->dims[p->axis];
    int64_t idx[QCAL_MAX_RANK] = { 0 }, base = 0;

    (void)scratch;
    if (n->in[0]->nelem)
        memcpy(dst, n->in[0]->data, n->in[0]->nelem * p->esz);
    for (size_t j = 0; j < ix->nelem; j++) {
        int64_t v = qcal__index_at(ix, j);
        int k;
        if (v < 0)
            v += dim;
        if (v >= 0 && v < dim) {
            unsigned char *d = dst + (size_t)(base + v * p->data_st[p->axis]) * p->esz;
            if (p->red == QCAL__RED_NONE)
                memcpy(d, up + j * p->esz, p->esz);
            else
                qcal__reduce_into(d, up + j * p->esz, 1, n->in[0]->dtype, p->red);
        } else {
            qcal__run_fail(n, "index out of range");
        }
        /* base: the offset of idx with the axis coordinate left out. */
        for (k = p->rank - 1; k >= 0; k--) {
            if (k != p->axis)
                base += p->data_st[k];
            if (++idx[k] < p->dims[k])
                break;
            if (k != p->axis)
                base -= idx[k] * p->data_st[k];
            idx[k] = 0;
        }
    }
}

const qcal__op qcal__ops_scatter[] = {
    { "Scatter", 9, 10, scatter_el_infer, scatter_el_run, 0 },
    { "ScatterElements", 11, QCAL__OPSET_LAST, scatter_el_infer, scatter_el_run, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
