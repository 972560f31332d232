/*
 * Value-producing operators whose outputs depend on attributes and constant inputs only:
 * Constant, ConstantOfShape and Range. The executor folds them at prepare time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"

/* ---- Constant (ONNX Constant-1/9/11/12/13) ---- */

typedef struct const_params {
    size_t nbytes;
    const void *src;          /* the 'value' tensor's data, or data below */
    unsigned char data[];     /* value_float(s) / value_int(s) */
} const_params;

static qcal_status const_alloc(qcal__node *n, size_t nbytes, const_params **out,
                               qcal_error *err)
{
    const_params *p = calloc(1, sizeof *p + nbytes);

    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->nbytes = nbytes;
    p->src = p->data;
    n->params = p;
    *out = p;
    return QCAL_OK;
}

/*
 * 'value' (a tensor of any fixed-size dtype) in every opset; value_float, value_floats,
 * value_int and value_ints from opset 12. Sparse and string values are not supported.
 */
qcal_status qcal__constant_infer(qcal__node *n, qcal_error *err)
{
    static const char *const UNSUPPORTED[] = { "sparse_value", "value_string",
                                               "value_strings" };
    const qcal__attr *a;
    const_params *p = NULL;
    qcal_status st = qcal__check_inputs(n, 0, 0, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    for (size_t k = 0; k < sizeof UNSUPPORTED / sizeof UNSUPPORTED[0]; k++)
        if (qcal__attr_find(n, UNSUPPORTED[k]))
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "attribute '%s' is not "
                                    "supported", UNSUPPORTED[k]);
    if ((a = qcal__attr_find(n, "value")) != NULL) {
        const qcal__tensor *t = a->t;
        size_t esz;
        if (a->type != QCAL__A_TENSOR || !t)
            return qcal__node_error(err, n, QCAL_E_INVALID, "attribute 'value' is not a "
                                    "tensor");
        esz = qcal_dtype_size(t->dtype);
        if (esz == 0)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "value of dtype %s is not "
                                    "supported", qcal_dtype_name(t->dtype));
        if ((st = const_alloc(n, 0, &p, err)) != QCAL_OK)
            return st;
        p->nbytes = t->nelem * esz;
        p->src = t->data;
        return qcal__tensor_set_shape(n->out[0], t->dtype, t->rank, t->dims, err);
    }
    if ((a = qcal__attr_find(n, "value_float")) != NULL ||
        (a = qcal__attr_find(n, "value_floats")) != NULL) {
        const float *v = NULL;
        size_t cnt = qcal__attr_floats(n, a->name, &v);
        int64_t dim = (int64_t)cnt;
        if (a->type != QCAL__A_FLOAT && a->type != QCAL__A_FLOATS)
            return qcal__node_error(err, n, QCAL_E_INVALID, "attribute '%s' is not a float",
                                    a->name);
        if ((st = const_alloc(n, cnt * sizeof *v, &p, err)) != QCAL_OK)
            return st;
        if (cnt)
            memcpy(p->data, v, cnt * sizeof *v);
        return qcal__tensor_set_shape(n->out[0], QCAL_DT_FLOAT, a->type == QCAL__A_FLOAT ? 0 : 1,
                                      &dim, err);
    }
    if ((a = qcal__attr_find(n, "value_int")) != NULL ||
        (a = qcal__attr_find(n, "value_ints")) != NULL) {
        const int64_t *v = NULL;
        size_t cnt = qcal__attr_ints(n, a->name, &v);
        int64_t dim = (int64_t)cnt;
        if (a->type != QCAL__A_INT && a->type != QCAL__A_INTS)
            return qcal__node_error(err, n, QCAL_E_INVALID, "attribute '%s' is not an integer",
                                    a->name);
        if ((st = const_alloc(n, cnt * sizeof *v, &p, err)) != QCAL_OK)
            return st;
        if (cnt)
            memcpy(p->data, v, cnt * sizeof *v);
        return qcal__tensor_set_shape(n->out[0], QCAL_DT_INT64, a->type == QCAL__A_INT ? 0 : 1,
                                      &dim, err);
    }
    return qcal__node_error(err, n, QCAL_E_INVALID, "no value attribute");
}

void qcal__constant_run(const qcal__node *n, void *scratch)
{
    const const_params *p = n->params;

    (void)scratch;
    if (p->nbytes)
        memcpy(n->out[0]->data, p->src, p->nbytes);
}

/* ---- ConstantOfShape (ONNX ConstantOfShape-9) ---- */

typedef struct fill_params {
    size_t esz;
    unsigned char value[16];
} fill_params;

/* Output shape is input 0's values; every element is the one-element 'value' tensor (default
 * float32 0). */
qcal_status qcal__constantofshape_infer(qcal__node *n, qcal_error *err)
{
    const qcal__attr *a = qcal__attr_find(n, "value");
    int64_t dims[QCAL_MAX_RANK];
    qcal_dtype dt = QCAL_DT_FLOAT;
    fill_params *p;
    size_t nd, esz = 4;
    qcal_status st = qcal__check_inputs(n, 1, 1, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    if ((st = qcal__const_ints(n, 0, dims, QCAL_MAX_RANK, &nd, err)) != QCAL_OK)
        return st;
    for (size_t k = 0; k < nd; k++)
        if (dims[k] < 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "negative dim %lld",
                                    (long long)dims[k]);
    if (a) {
        if (a->type != QCAL__A_TENSOR || !a->t || a->t->nelem != 1)
            return qcal__node_error(err, n, QCAL_E_INVALID, "attribute 'value' must be a "
                                    "one-element tensor");
        dt = a->t->dtype;
        esz = qcal_dtype_size(dt);
        if (esz == 0 || esz > sizeof p->value)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "value of dtype %s is not "
                                    "supported", qcal_dtype_name(dt));
    }
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->esz = esz;
    if (a)
        memcpy(p->value, a->t->data, esz);
    return qcal__tensor_set_shape(n->out[0], dt, (int)nd, dims, err);
}

void qcal__constantofshape_run(const qcal__node *n, void *scratch)
{
    const fill_params *p = n->params;
    unsigned char *d = n->out[0]->data;
    const size_t cnt = n->out[0]->nelem;
    bool zero = true;

    (void)scratch;
    for (size_t k = 0; k < p->esz; k++)
        zero = zero && p->value[k] == 0;
    if (zero) {
        if (cnt)
            memset(d, 0, cnt * p->esz);
        return;
    }
    for (size_t i = 0; i < cnt; i++)
        memcpy(d + i * p->esz, p->value, p->esz);
}

/* ---- Range (ONNX Range-11) ---- */

typedef struct range_params {
    qcal_dtype dt;
    int64_t count;
    double fstart, fdelta;
    int64_t istart, idelta;
} range_params;

/* Reads the one-element CONST input i as a double (float32/float64). */
static qcal_status scalar_f64(const qcal__node *n, int i, double *out, qcal_error *err)
{
    const qcal__tensor *t = n->in[i];

    if (t->kind != QCAL__T_CONST || !t->data || t->nelem != 1)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input %d ('%s') must be a "
                                "constant scalar", i, t->name);
    if (t->dtype == QCAL_DT_DOUBLE)
        memcpy(out, t->data, sizeof *out);
    else
        *out = (double)*(const float *)t->data;
    return QCAL_OK;
}

/* number_of_elements = max(ceil((limit - start) / delta), 0); element i = start + i * delta. */
qcal_status qcal__range_infer(qcal__node *n, qcal_error *err)
{
    range_params *p;
    qcal_dtype dt;
    qcal_status st = qcal__check_inputs(n, 3, 3, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    dt = n->in[0]->dtype;
    if (n->in[1]->dtype != dt || n->in[2]->dtype != dt)
        return qcal__node_error(err, n, QCAL_E_INVALID, "start, limit and delta differ in type");
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->dt = dt;
    if (dt == QCAL_DT_FLOAT || dt == QCAL_DT_DOUBLE) {
        double limit, c;
        if ((st = scalar_f64(n, 0, &p->fstart, err)) != QCAL_OK ||
            (st = scalar_f64(n, 1, &limit, err)) != QCAL_OK ||
            (st = scalar_f64(n, 2, &p->fdelta, err)) != QCAL_OK)
            return st;
        if (p->fdelta == 0.0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "delta is 0");
        c = ceil((limit - p->fstart) / p->fdelta);
        if (isnan(c))
            return qcal__node_error(err, n, QCAL_E_INVALID, "start, limit or delta is NaN");
        if (c > 1e12)
            return qcal__node_error(err, n, QCAL_E_SHAPE, "range of %g elements is too large",
                                    c);
        p->count = c > 0.0 ? (int64_t)c : 0;
    } else if (dt == QCAL_DT_INT16 || dt == QCAL_DT_INT32 || dt == QCAL_DT_INT64) {
        int64_t v[3];
        uint64_t diff = 0, step;
        size_t cnt;
        for (int i = 0; i < 3; i++)
            if ((st = qcal__const_ints(n, i, &v[i], 1, &cnt, err)) != QCAL_OK)
                return st;
            else if (cnt != 1)
                return qcal__node_error(err, n, QCAL_E_INVALID, "input %d is not a scalar", i);
        p->istart = v[0];
        p->idelta = v[2];
        if (v[2] == 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "delta is 0");
        /* Unsigned differences cannot overflow: limit - start fits in uint64 when positive. */
        step = v[2] > 0 ? (uint64_t)v[2] : 0 - (uint64_t)v[2];
        if (v[2] > 0 && v[1] > v[0])
            diff = (uint64_t)v[1] - (uint64_t)v[0];
        else if (v[2] < 0 && v[0] > v[1])
            diff = (uint64_t)v[0] - (uint64_t)v[1];
        p->count = diff ? (int64_t)((diff - 1) / step + 1) : 0;
    } else {
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(dt));
    }
    return qcal__tensor_set_shape(n->out[0], dt, 1, &p->count, err);
}

void qcal__range_run(const qcal__node *n, void *scratch)
{
    const range_params *p = n->params;
    void *d = n->out[0]->data;

    (void)scratch;
    for (int64_t i = 0; i < p->count; i++) {
        switch (p->dt) {
        case QCAL_DT_FLOAT: {
            const float s = (float)p->fstart, dl = (float)p->fdelta;
            ((float *)d)[i] = s + (float)i * dl;
            break;
        }
        case QCAL_DT_DOUBLE:
            ((double *)d)[i] = p->fstart + (double)i * p->fdelta;
            break;
        default: {
            /* start + i * delta lies between start and limit; compute it modulo 2^64. */
            uint64_t u = (uint64_t)p->istart + (uint64_t)i * (uint64_t)p->idelta;
            int64_t v;
            memcpy(&v, &u, sizeof v);
            if (p->dt == QCAL_DT_INT64)
                ((int64_t *)d)[i] = v;
            else if (p->dt == QCAL_DT_INT32)
                ((int32_t *)d)[i] = (int32_t)v;
            else
                ((int16_t *)d)[i] = (int16_t)v;
            break;
        }
        }
    }
}
