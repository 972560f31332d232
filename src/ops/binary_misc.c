/*
 * Broadcasting operators with mixed input types: Pow (base and exponent types may differ),
 * Where (bool condition, any element type) and PRelu (slope broadcast to X). Their run() is
 * qcal__bin_run; see binary_impl.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/binary_impl.h"

/* ---- Pow ---- */

/*
 * Integer power by squaring with wrapping arithmetic. A negative exponent gives the exact result
 * for bases 1 and -1 and 0 otherwise (numpy refuses it; C integer division would truncate to 0).
 */
static int64_t ipow(int64_t x, int64_t e)
{
    uint64_t r = 1, b = (uint64_t)x;

    if (e < 0)
        return x == 1 ? 1 : (x == -1 ? ((e & 1) ? -1 : 1) : 0);
    while (e) {
        if (e & 1)
            r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

/* Converts a double to int64 with saturation (NaN gives 0): no undefined conversion. */
static int64_t sat_i64(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

/* Float bases compute in their own precision; integer bases with a float exponent in double
 * (deliberately: exact for integral results), truncated toward zero like numpy's astype. */
QCAL__ROW2(pow_f32_f32, float, float, float, powf(x, y))
QCAL__ROW2(pow_f32_f64, float, double, float, powf(x, (float)y))
QCAL__ROW2(pow_f32_i32, float, int32_t, float, powf(x, (float)y))
QCAL__ROW2(pow_f32_i64, float, int64_t, float, powf(x, (float)y))
QCAL__ROW2(pow_f32_u32, float, uint32_t, float, powf(x, (float)y))
QCAL__ROW2(pow_f32_u64, float, uint64_t, float, powf(x, (float)y))
QCAL__ROW2(pow_f64_f64, double, double, double, pow(x, y))
QCAL__ROW2(pow_f64_f32, double, float, double, pow(x, (double)y))
QCAL__ROW2(pow_f64_i32, double, int32_t, double, pow(x, (double)y))
QCAL__ROW2(pow_f64_i64, double, int64_t, double, pow(x, (double)y))
QCAL__ROW2(pow_i32_i32, int32_t, int32_t, int32_t, ipow(x, y))
QCAL__ROW2(pow_i32_i64, int32_t, int64_t, int32_t, ipow(x, y))
QCAL__ROW2(pow_i32_f32, int32_t, float, int32_t, sat_i64(pow((double)x, (double)y)))
QCAL__ROW2(pow_i32_f64, int32_t, double, int32_t, sat_i64(pow((double)x, y)))
QCAL__ROW2(pow_i64_i64, int64_t, int64_t, int64_t, ipow(x, y))
QCAL__ROW2(pow_i64_i32, int64_t, int32_t, int64_t, ipow(x, y))
QCAL__ROW2(pow_i64_f32, int64_t, float, int64_t, sat_i64(pow((double)x, (double)y)))
QCAL__ROW2(pow_i64_f64, int64_t, double, int64_t, sat_i64(pow((double)x, y)))

static const struct {
    qcal_dtype base, exp;
    qcal__row_fn fn;
} POW_FNS[] = {
    { QCAL_DT_FLOAT, QCAL_DT_FLOAT, pow_f32_f32 },   { QCAL_DT_FLOAT, QCAL_DT_DOUBLE, pow_f32_f64 },
    { QCAL_DT_FLOAT, QCAL_DT_INT32, pow_f32_i32 },   { QCAL_DT_FLOAT, QCAL_DT_INT64, pow_f32_i64 },
    { QCAL_DT_FLOAT, QCAL_DT_UINT32, pow_f32_u32 },  { QCAL_DT_FLOAT, QCAL_DT_UINT64, pow_f32_u64 },
    { QCAL_DT_DOUBLE, QCAL_DT_DOUBLE, pow_f64_f64 }, { QCAL_DT_DOUBLE, QCAL_DT_FLOAT, pow_f64_f32 },
    { QCAL_DT_DOUBLE, QCAL_DT_INT32, pow_f64_i32 },  { QCAL_DT_DOUBLE, QCAL_DT_INT64, pow_f64_i64 },
    { QCAL_DT_INT32, QCAL_DT_INT32, pow_i32_i32 },   { QCAL_DT_INT32, QCAL_DT_INT64, pow_i32_i64 },
    { QCAL_DT_INT32, QCAL_DT_FLOAT, pow_i32_f32 },   { QCAL_DT_INT32, QCAL_DT_DOUBLE, pow_i32_f64 },
    { QCAL_DT_INT64, QCAL_DT_INT64, pow_i64_i64 },   { QCAL_DT_INT64, QCAL_DT_INT32, pow_i64_i32 },
    { QCAL_DT_INT64, QCAL_DT_FLOAT, pow_i64_f32 },   { QCAL_DT_INT64, QCAL_DT_DOUBLE, pow_i64_f64 },
};

/* ONNX Pow: output has the base's type (opsets 1-11 require equal types; we accept mixed). */
qcal_status qcal__pow_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 2, err);
    qcal_dtype a, b;

    if (st != QCAL_OK)
        return st;
    a = n->in[0]->dtype;
    b = n->in[1]->dtype;
    for (size_t i = 0; i < sizeof POW_FNS / sizeof POW_FNS[0]; i++)
        if (POW_FNS[i].base == a && POW_FNS[i].exp == b)
            return qcal__bin_setup(n, POW_FNS[i].fn, a, err);
    return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "base %s with exponent %s is not supported",
                            qcal_dtype_name(a), qcal_dtype_name(b));
}

/* ---- Where: element-size generic ---- */
#define WHERE_FN(name, T)                                                                       \
    static void name(void *o_, const void *c_, const void *x_, const void *y_, size_t n,        \
                     int sc, int sx, int sy)                                                    \
    {                                                                                           \
        T *o = o_;                                                                              \
        const uint8_t *c = c_;                                                                  \
        const T *x = x_, *y = y_;                                                               \
        if (sc && sx && sy) {                                                                   \
            for (size_t i = 0; i < n; i++)                                                      \
                o[i] = c[i] ? x[i] : y[i];                                                      \
        } else {                                                                                \
            for (size_t i = 0; i < n; i++)                                                      \
                o[i] = c[i * (size_t)sc] ? x[i * (size_t)sx] : y[i * (size_t)sy];               \
        }                                                                                       \
    }

WHERE_FN(where_1, uint8_t)
WHERE_FN(where_2, uint16_t)
WHERE_FN(where_4, uint32_t)
WHERE_FN(where_8, uint64_t)

qcal_status qcal__where_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 3, 3, err);
    const qcal__tensor *c, *x, *y;
    int ranks[3];
    const int64_t *dims[3];
    qcal__row_fn fn;

    if (st != QCAL_OK)
        return st;
    c = n->in[0];
    x = n->in[1];
    y = n->in[2];
    if (c->dtype != QCAL_DT_BOOL)
        return qcal__node_error(err, n, QCAL_E_INVALID, "condition is %s, expected bool",
                                qcal_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return qcal__node_error(err, n, QCAL_E_INVALID, "X is %s but Y is %s",
                                qcal_dtype_name(x->dtype), qcal_dtype_name(y->dtype));
    switch (qcal_dtype_size(x->dtype)) {
    case 1: fn = where_1; break;
    case 2: fn = where_2; break;
    case 4: fn = where_4; break;
    case 8: fn = where_8; break;
    default:
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(x->dtype));
    }
    for (int k = 0; k < 3; k++) {
        ranks[k] = n->in[k]->rank;
        dims[k] = n->in[k]->dims;
    }
    return qcal__bin_setup_shapes(n, fn, x->dtype, 3, ranks, dims, err);
}

/* ---- PRelu: y = x < 0 ? slope * x : x ---- */
/* U: the arithmetic type (unsigned for integers, so that products wrap instead of overflowing). */
#define DEF_PRELU(sfx, T, U) QCAL__ROW2(prelu_##sfx, T, T, T, x < 0 ? (T)((U)y * (U)x) : x)
DEF_PRELU(f32, float, float)
DEF_PRELU(f64, double, double)
DEF_PRELU(i8, int8_t, uint32_t)
DEF_PRELU(i16, int16_t, uint32_t)
DEF_PRELU(i32, int32_t, uint32_t)
DEF_PRELU(i64, int64_t, uint64_t)

static const qcal__row_fn PRELU_FNS[QCAL__NDT] = {
    [QCAL_DT_FLOAT] = prelu_f32, [QCAL_DT_DOUBLE] = prelu_f64, [QCAL_DT_INT8] = prelu_i8,
    [QCAL_DT_INT16] = prelu_i16, [QCAL_DT_INT32] = prelu_i32,  [QCAL_DT_INT64] = prelu_i64,
};

/*
 * ONNX PRelu: from opset 7 the slope broadcasts unidirectionally (numpy rules) to X. Opsets 1-6
 * describe the slope as a single value or one value per channel (axis 1): a 1-D slope whose
 * length is X's dim 1 is placed on axis 1 (PyTorch exports [C] slopes so); other shapes go through
 * numpy rules. The output always has X's shape.
 */
qcal_status qcal__prelu_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 2, err);
    const qcal__tensor *x, *s;
    int64_t sd[QCAL_MAX_RANK];
    int ranks[2];
    const int64_t *dims[2];
    qcal__row_fn fn;

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    s = n->in[1];
    if (x->dtype != s->dtype)
        return qcal__node_error(err, n, QCAL_E_INVALID, "X is %s but slope is %s",
                                qcal_dtype_name(x->dtype), qcal_dtype_name(s->dtype));
    fn = qcal__row_lookup(PRELU_FNS, x->dtype);
    if (!fn)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(x->dtype));
    ranks[0] = x->rank;
    dims[0] = x->dims;
    ranks[1] = s->rank;
    dims[1] = s->dims;
    if (n->opset < 7 && s->nelem == 1) {
        ranks[1] = 0;
    } else if (n->opset < 7 && s->rank == 1 && x->rank >= 2 && s->dims[0] == x->dims[1]) {
        sd[0] = s->dims[0];
        for (int d = 1; d < x->rank - 1; d++)
            sd[d] = 1;
        ranks[1] = x->rank - 1;
        dims[1] = sd;
    }
    st = qcal__bin_setup_shapes(n, fn, x->dtype, 2, ranks, dims, err);
    if (st != QCAL_OK)
        return st;
    if (n->out[0]->rank != x->rank ||
        memcmp(n->out[0]->dims, x->dims, (size_t)x->rank * sizeof x->dims[0]) != 0)
        return qcal__node_error(err, n, QCAL_E_SHAPE, "slope does not broadcast to X's shape");
    return QCAL_OK;
}
