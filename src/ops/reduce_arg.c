/*
 * Index-producing reductions along one axis: ArgMax, ArgMin (opsets 1-17: axis, keepdims,
 * select_last_index from 12) and TopK (1: k attribute; 10: K input; 11: largest, sorted).
 * Indices are int64. The input is viewed as outer x len x inner around the axis.
 */
#include <math.h>
#include <stdlib.h>

#include "ops/reduce_arg.h"

typedef struct axis_params {
    size_t outer, len, inner, k;
    bool last;    /* ArgMax/ArgMin select_last_index */
    bool largest; /* TopK */
} axis_params;

static bool arg_dtype_ok(qcal_dtype dt)
{
    return dt == QCAL_DT_FLOAT || dt == QCAL_DT_DOUBLE || dt == QCAL_DT_INT32 ||
           dt == QCAL_DT_INT64 || dt == QCAL_DT_INT8 || dt == QCAL_DT_UINT8;
}

/* Checks X and the axis, allocates the parameters with outer/len/inner filled. */
static qcal_status axis_setup(qcal__node *n, int lo, int hi, int64_t def_axis, int *axis,
                              axis_params **out, qcal_error *err)
{
    const qcal__tensor *x;
    axis_params *p;
    qcal_status st = qcal__check_inputs(n, lo, hi, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (!arg_dtype_ok(x->dtype))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (x->rank < 1)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "input must have rank >= 1");
    st = qcal__norm_axis(n, qcal__attr_int(n, "axis", def_axis), x->rank, axis, err);
    if (st != QCAL_OK)
        return st;
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->outer = p->inner = 1;
    for (int i = 0; i < x->rank; i++) {
        if (i < *axis)
            p->outer *= (size_t)x->dims[i];
        else if (i > *axis)
            p->inner *= (size_t)x->dims[i];
    }
    p->len = (size_t)x->dims[*axis];
    n->params = p;
    *out = p;
    n->scratch = 0;
    return QCAL_OK;
}

/* ---- ArgMax, ArgMin ---- */

static qcal_status arg_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    int64_t dims[QCAL_MAX_RANK];
    int axis, r = 0;
    axis_params *p;
    qcal_status st = axis_setup(n, 1, 1, 0, &axis, &p, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (p->len == 0)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "cannot take the index of an empty axis");
    p->last = qcal__attr_int(n, "select_last_index", 0) != 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            dims[r++] = x->dims[i];
        else if (qcal__attr_int(n, "keepdims", 1) != 0)
            dims[r++] = 1;
    }
    return qcal__tensor_set_shape(n->out[0], QCAL_DT_INT64, r, dims, err);
}

qcal_status qcal__argmax_infer(qcal__node *n, qcal_error *err)
{
    return arg_infer(n, err);
}

qcal_status qcal__argmin_infer(qcal__node *n, qcal_error *err)
{
    return arg_infer(n, err);
}

/* Index of the first (or with select_last_index the last) extreme along the axis. */
#define DEFINE_ARG(NAME, T)                                                                      \
    static void NAME(const axis_params *p, const T *x, int64_t *y, bool is_max)                 \
    {                                                                                            \
        for (size_t o = 0; o < p->outer; o++) {                                                  \
            for (size_t i = 0; i < p->inner; i++) {                                              \
                const T *c = x + o * p->len * p->inner + i;                                      \
                T best = c[0];                                                                   \
                int64_t arg = 0;                                                                 \
                for (size_t l = 1; l < p->len; l++) {                                            \
                    T v = c[l * p->inner];                                                       \
                    bool better = is_max ? (p->last ? v >= best : v > best)                      \
                                         : (p->last ? v <= best : v < best);                     \
                    if (better) {                                                                \
                        best = v;                                                                \
                        arg = (int64_t)l;                                                        \
                    }                                                                            \
                }                                                                                \
                *y++ = arg;                                                                      \
            }                                                                                    \
        }                                                                                        \
    }

DEFINE_ARG(arg_f32, float)
DEFINE_ARG(arg_f64, double)
DEFINE_ARG(arg_i32, int32_t)
DEFINE_ARG(arg_i64, int64_t)
DEFINE_ARG(arg_i8, int8_t)
DEFINE_ARG(arg_u8, uint8_t)

static void arg_run(const qcal__node *n, bool is_max)
{
    const axis_params *p = n->params;
    const void *x = n->in[0]->data;
    int64_t *y = n->out[0]->data;

    switch (n->in[0]->dtype) {
    case QCAL_DT_FLOAT: arg_f32(p, x, y, is_max); break;
    case QCAL_DT_DOUBLE: arg_f64(p, x, y, is_max); break;
    case QCAL_DT_INT32: arg_i32(p, x, y, is_max); break;
    case QCAL_DT_INT64: arg_i64(p, x, y, is_max); break;
    case QCAL_DT_INT8: arg_i8(p, x, y, is_max); break;
    default: arg_u8(p, x, y, is_max); break;
    }
}

void qcal__argmax_run(const qcal__node *n, void *scratch)
{
    (void)scratch;
    arg_run(n, true);
}

void qcal__argmin_run(const qcal__node *n, void *scratch)
{
    (void)scratch;
    arg_run(n, false);
}

/* ---- TopK ---- */

/* One candidate: the key (f for float types, v for integer types) and its index on the axis. */
typedef struct tk_pair {
    double f;
    int64_t v;
    int64_t idx;
} tk_pair;

static int idx_cmp(const tk_pair *a, const tk_pair *b)
{
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Orders: larger first (NaN counts as the largest), ties by lower index. */
static int cmp_f_desc(const void *pa, const void *pb)
{
    const tk_pair *a = pa, *b = pb;
    bool an = isnan(a->f), bn = isnan(b->f);

    if (an != bn)
        return an ? -1 : 1;
    if (a->f != b->f && !an)
        return a->f > b->f ? -1 : 1;
    return idx_cmp(a, b);
}

static int cmp_f_asc(const void *pa, const void *pb)
{
    const tk_pair *a = pa, *b = pb;
    bool an = isnan(a->f), bn = isnan(b->f);

    if (an != bn)
        return an ? 1 : -1;
    if (a->f != b->f && !an)
        return a->f < b->f ? -1 : 1;
    return idx_cmp(a, b);
}

static int cmp_i_desc(const void *pa, const void *pb)
{
    const tk_pair *a = pa, *b = pb;

    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return idx_cmp(a, b);
}

static int cmp_i_asc(const void *pa, const void *pb)
{
    const tk_pair *a = pa, *b = pb;

    if (a->v != b->v)
        return a->v < b->v ? -1 : 1;
    return idx_cmp(a, b);
}

/*
 * K comes from the k attribute (opset 1-9) or the one-value K input (10+, a constant at infer
 * time). Outputs are always sorted (sorted=0 leaves the order unspecified, so sorted is valid).
 */
qcal_status qcal__topk_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x;
    int64_t dims[QCAL_MAX_RANK], k;
    int axis;
    axis_params *p;
    qcal_status st = axis_setup(n, n->opset >= 10 ? 2 : 1, n->opset >= 10 ? 2 : 1, -1, &axis,
                                &p, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (n->opset >= 10) {
        size_t cnt;
        st = qcal__const_ints(n, 1, &k, 1, &cnt, err);
        if (st != QCAL_OK)
            return st;
        if (cnt != 1)
            return qcal__node_error(err, n, QCAL_E_INVALID, "K must hold one value");
    } else {
        k = qcal__attr_int(n, "k", -1);
    }
    if (k < 0 || (size_t)k > p->len)
        return qcal__node_error(err, n, QCAL_E_INVALID, "k = %lld is outside [0, %zu]",
                                (long long)k, p->len);
    p->k = (size_t)k;
    p->largest = n->opset < 11 || qcal__attr_int(n, "largest", 1) != 0;
    n->scratch = p->len * sizeof(tk_pair);
    for (int i = 0; i < x->rank; i++)
        dims[i] = i == axis ? k : x->dims[i];
    if (n->n_out < 2 || !n->out[1])
        return qcal__node_error(err, n, QCAL_E_INVALID, "TopK needs its Indices output");
    st = qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, dims, err);
    if (st == QCAL_OK)
        st = qcal__tensor_set_shape(n->out[1], QCAL_DT_INT64, x->rank, dims, err);
    return st;
}

/* Loads element j of the input as a key. */
static void tk_load(qcal_dtype dt, const void *x, size_t j, tk_pair *e)
{
    e->f = 0.0;
    e->v = 0;
    switch (dt) {
    case QCAL_DT_FLOAT: e->f = (double)((const float *)x)[j]; break;
    case QCAL_DT_DOUBLE: e->f = ((const double *)x)[j]; break;
    case QCAL_DT_INT32: e->v = ((const int32_t *)x)[j]; break;
    case QCAL_DT_INT64: e->v = ((const int64_t *)x)[j]; break;
    case QCAL_DT_INT8: e->v = ((const int8_t *)x)[j]; break;
    default: e->v = ((const uint8_t *)x)[j]; break;
    }
}

static void tk_store(qcal_dtype dt, void *y, size_t j, const tk_pair *e)
{
    switch (dt) {
    case QCAL_DT_FLOAT: ((float *)y)[j] = (float)e->f; break;
    case QCAL_DT_DOUBLE: ((double *)y)[j] = e->f; break;
    case QCAL_DT_INT32: ((int32_t *)y)[j] = (int32_t)e->v; break;
    case QCAL_DT_INT64: ((int64_t *)y)[j] = e->v; break;
    case QCAL_DT_INT8: ((int8_t *)y)[j] = (int8_t)e->v; break;
    default: ((uint8_t *)y)[j] = (uint8_t)e->v; break;
    }
}

/* Sorts each slice along the axis with a total order (qsort is then deterministic). */
void qcal__topk_run(const qcal__node *n, void *scratch)
{
    const axis_params *p = n->params;
    const qcal_dtype dt = n->in[0]->dtype;
    const bool fl = dt == QCAL_DT_FLOAT || dt == QCAL_DT_DOUBLE;
    int (*cmp)(const void *, const void *) =
        fl ? (p->largest ? cmp_f_desc : cmp_f_asc) : (p->largest ? cmp_i_desc : cmp_i_asc);
    tk_pair *pairs = scratch;
    void *vals = n->out[0]->data;
    int64_t *idx = n->out[1]->data;

    if (p->k == 0)
        return;
    for (size_t o = 0; o < p->outer; o++) {
        for (size_t i = 0; i < p->inner; i++) {
            for (size_t l = 0; l < p->len; l++) {
                tk_load(dt, n->in[0]->data, (o * p->len + l) * p->inner + i, &pairs[l]);
                pairs[l].idx = (int64_t)l;
            }
            qsort(pairs, p->len, sizeof *pairs, cmp);
            for (size_t j = 0; j < p->k; j++) {
                size_t at = (o * p->k + j) * p->inner + i;
                tk_store(dt, vals, at, &pairs[j]);
                idx[at] = pairs[j].idx;
            }
        }
    }
}
