/* Attribute access, node errors and shape helpers shared by all kernels. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops/ops.h"

const qcal__attr *qcal__attr_find(const qcal__node *n, const char *name)
{
    for (int i = 0; i < n->n_attr; i++)
        if (strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

int64_t qcal__attr_int(const qcal__node *n, const char *name, int64_t def)
{
    const qcal__attr *a = qcal__attr_find(n, name);
    return (a && a->type == QCAL__A_INT) ? a->i : def;
}

float qcal__attr_float(const qcal__node *n, const char *name, float def)
{
    const qcal__attr *a = qcal__attr_find(n, name);
    if (a && a->type == QCAL__A_FLOAT)
        return a->f;
    if (a && a->type == QCAL__A_INT) /* some exporters write integral floats as ints */
        return (float)a->i;
    return def;
}

const char *qcal__attr_str(const qcal__node *n, const char *name, const char *def)
{
    const qcal__attr *a = qcal__attr_find(n, name);
    return (a && a->type == QCAL__A_STRING) ? a->s : def;
}

size_t qcal__attr_ints(const qcal__node *n, const char *name, const int64_t **out)
{
    const qcal__attr *a = qcal__attr_find(n, name);
    if (a && a->type == QCAL__A_INTS) {
        *out = a->ints;
        return a->n;
    }
    if (a && a->type == QCAL__A_INT) {
        *out = &a->i;
        return 1;
    }
    *out = NULL;
    return 0;
}

size_t qcal__attr_floats(const qcal__node *n, const char *name, const float **out)
{
    const qcal__attr *a = qcal__attr_find(n, name);
    if (a && a->type == QCAL__A_FLOATS) {
        *out = a->floats;
        return a->n;
    }
    if (a && a->type == QCAL__A_FLOAT) {
        *out = &a->f;
        return 1;
    }
    *out = NULL;
    return 0;
}

qcal_status qcal__node_error(qcal_error *err, const qcal__node *n, qcal_status code,
                             const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qcal_error_set(err, code, "node '%s' (%s): %s", n->name, n->op_type, msg);
}

qcal_status qcal__check_inputs(const qcal__node *n, int lo, int hi, qcal_error *err)
{
    if (n->n_in < lo || n->n_in > hi)
        return qcal__node_error(err, n, QCAL_E_INVALID, "has %d inputs, expected %d to %d",
                                n->n_in, lo, hi);
    for (int i = 0; i < lo; i++)
        if (!n->in[i])
            return qcal__node_error(err, n, QCAL_E_INVALID, "required input %d is missing", i);
    return QCAL_OK;
}

static qcal_status need_const(const qcal__node *n, int i, size_t max, qcal_error *err)
{
    const qcal__tensor *t = qcal__in(n, i);

    if (!t)
        return qcal__node_error(err, n, QCAL_E_INVALID, "input %d is missing", i);
    if (t->kind != QCAL__T_CONST || !t->data)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "input %d ('%s') must be a constant (computed shapes are not "
                                "supported)", i, t->name);
    if (t->nelem > max)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED,
                                "input %d ('%s') has %zu values, at most %zu supported", i,
                                t->name, t->nelem, max);
    return QCAL_OK;
}

qcal_status qcal__const_ints(const qcal__node *n, int i, int64_t *out, size_t max, size_t *count,
                             qcal_error *err)
{
    qcal_status st = need_const(n, i, max, err);
    const qcal__tensor *t = qcal__in(n, i);

    if (st != QCAL_OK)
        return st;
    for (size_t k = 0; k < t->nelem; k++) {
        switch (t->dtype) {
        case QCAL_DT_INT64: out[k] = ((const int64_t *)t->data)[k]; break;
        case QCAL_DT_INT32: out[k] = ((const int32_t *)t->data)[k]; break;
        case QCAL_DT_INT16: out[k] = ((const int16_t *)t->data)[k]; break;
        case QCAL_DT_INT8: out[k] = ((const int8_t *)t->data)[k]; break;
        case QCAL_DT_UINT8: case QCAL_DT_BOOL: out[k] = ((const uint8_t *)t->data)[k]; break;
        case QCAL_DT_UINT16: out[k] = ((const uint16_t *)t->data)[k]; break;
        case QCAL_DT_UINT32: out[k] = ((const uint32_t *)t->data)[k]; break;
        case QCAL_DT_UINT64: out[k] = (int64_t)((const uint64_t *)t->data)[k]; break;
        default:
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input %d ('%s'): %s, expected "
                                    "an integer type", i, t->name, qcal_dtype_name(t->dtype));
        }
    }
    *count = t->nelem;
    return QCAL_OK;
}

qcal_status qcal__const_floats(const qcal__node *n, int i, float *out, size_t max, size_t *count,
                               qcal_error *err)
{
    qcal_status st = need_const(n, i, max, err);
    const qcal__tensor *t = qcal__in(n, i);

    if (st != QCAL_OK)
        return st;
    for (size_t k = 0; k < t->nelem; k++) {
        if (t->dtype == QCAL_DT_FLOAT)
            out[k] = ((const float *)t->data)[k];
        else if (t->dtype == QCAL_DT_DOUBLE)
            out[k] = (float)((const double *)t->data)[k];
        else
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input %d ('%s'): %s, expected "
                                    "float32", i, t->name, qcal_dtype_name(t->dtype));
    }
    *count = t->nelem;
    return QCAL_OK;
}

qcal_status qcal__norm_axis(const qcal__node *n, int64_t axis, int rank, int *out,
                            qcal_error *err)
{
    int64_t a = axis < 0 ? axis + rank : axis;

    if (a < 0 || a >= (rank > 0 ? rank : 1))
        return qcal__node_error(err, n, QCAL_E_INVALID, "axis %lld out of range for rank %d",
                                (long long)axis, rank);
    *out = (int)a;
    return QCAL_OK;
}

qcal_status qcal__broadcast(const qcal__node *n, int ra, const int64_t *a, int rb,
                            const int64_t *b, int *out_rank, int64_t *out, qcal_error *err)
{
    int r = ra > rb ? ra : rb;

    for (int i = 0; i < r; i++) {
        int64_t da = (i - (r - ra) >= 0) ? a[i - (r - ra)] : 1;
        int64_t db = (i - (r - rb) >= 0) ? b[i - (r - rb)] : 1;
        if (da == db || db == 1)
            out[i] = da;
        else if (da == 1)
            out[i] = db;
        else
            return qcal__node_error(err, n, QCAL_E_SHAPE,
                                    "shapes cannot broadcast: dim %d is %lld vs %lld", i,
                                    (long long)da, (long long)db);
    }
    *out_rank = r;
    return QCAL_OK;
}

void qcal__strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;

    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

/* ---- checked shape arithmetic ---- */

static qcal_status overflow(const qcal__node *n, const char *what, int64_t a, char op, int64_t b,
                            qcal_error *err)
{
    return qcal__node_error(err, n, QCAL_E_SHAPE, "%s: %lld %c %lld overflows int64", what,
                            (long long)a, op, (long long)b);
}

qcal_status qcal__add_i64(const qcal__node *n, const char *what, int64_t a, int64_t b,
                          int64_t *out, qcal_error *err)
{
    if (__builtin_add_overflow(a, b, out))
        return overflow(n, what, a, '+', b, err);
    return QCAL_OK;
}

qcal_status qcal__sub_i64(const qcal__node *n, const char *what, int64_t a, int64_t b,
                          int64_t *out, qcal_error *err)
{
    if (__builtin_sub_overflow(a, b, out))
        return overflow(n, what, a, '-', b, err);
    return QCAL_OK;
}

qcal_status qcal__mul_i64(const qcal__node *n, const char *what, int64_t a, int64_t b,
                          int64_t *out, qcal_error *err)
{
    if (__builtin_mul_overflow(a, b, out))
        return overflow(n, what, a, '*', b, err);
    return QCAL_OK;
}

qcal_status qcal__dims_product(const qcal__node *n, const char *what, int rank,
                               const int64_t *dims, int64_t *out, qcal_error *err)
{
    int64_t p = 1, nz = 1;

    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "%s: negative dim %lld", what,
                                    (long long)dims[i]);
        if (dims[i] == 0) {
            p = 0;
            continue;
        }
        /* The product of the non-zero dims must fit too: strides are computed from them. */
        if (__builtin_mul_overflow(nz, dims[i], &nz))
            return qcal__node_error(err, n, QCAL_E_SHAPE, "%s: product of dims overflows int64",
                                    what);
        if (p)
            p = nz;
    }
    *out = p;
    return QCAL_OK;
}

qcal_status qcal__attr_dims(const qcal__node *n, const char *name, size_t count, int64_t def,
                            int64_t lo, int64_t *out, qcal_error *err)
{
    const int64_t *v = NULL;
    const size_t nv = qcal__attr_ints(n, name, &v);

    if (nv != 0 && nv != count)
        return qcal__node_error(err, n, QCAL_E_INVALID, "%s has %zu values, expected %zu", name,
                                nv, count);
    for (size_t i = 0; i < count; i++) {
        out[i] = nv ? v[i] : def;
        if (out[i] < lo || out[i] > QCAL__DIM_ATTR_MAX)
            return qcal__node_error(err, n, QCAL_E_INVALID, "%s[%zu] = %lld out of range", name,
                                    i, (long long)out[i]);
    }
    return QCAL_OK;
}
