/*
 * Cast and CastLike, and the element conversion they share with Pad and Dropout. Conversions go
 * through a tagged value (double, int64 or uint64) so every pair of supported dtypes is one load
 * and one store. Out-of-range float to integer conversions saturate instead of hitting C's
 * undefined behaviour (ONNX leaves the result implementation-defined).
 */
#include <math.h>
#include <string.h>

#include "ops/move.h"

typedef enum { NUM_FLOAT, NUM_INT, NUM_UINT } num_kind;

typedef struct num {
    num_kind kind;
    double f;   /* NUM_FLOAT */
    int64_t i;  /* NUM_INT: every signed type, bool and unsigned types below 64 bits */
    uint64_t u; /* NUM_UINT: uint64 */
} num;

/* Double to float with overflow to +-inf spelled out (C leaves out-of-range conversion
 * undefined); values at or beyond the midpoint above FLT_MAX round to infinity. */
static float f64_to_f32(double d)
{
    if (d >= 0x1.ffffffp127)
        return INFINITY;
    if (d <= -0x1.ffffffp127)
        return -INFINITY;
    return (float)d;
}

static num load(const void *src, qcal_dtype dt)
{
    num v = { NUM_INT, 0.0, 0, 0 };

    switch (dt) {
    case QCAL_DT_FLOAT: { float f; memcpy(&f, src, 4); v.kind = NUM_FLOAT; v.f = (double)f; break; }
    case QCAL_DT_DOUBLE: memcpy(&v.f, src, 8); v.kind = NUM_FLOAT; break;
    case QCAL_DT_BOOL: v.i = *(const uint8_t *)src != 0; break;
    case QCAL_DT_UINT8: v.i = *(const uint8_t *)src; break;
    case QCAL_DT_INT8: { int8_t x; memcpy(&x, src, 1); v.i = x; break; }
    case QCAL_DT_UINT16: { uint16_t x; memcpy(&x, src, 2); v.i = x; break; }
    case QCAL_DT_INT16: { int16_t x; memcpy(&x, src, 2); v.i = x; break; }
    case QCAL_DT_UINT32: { uint32_t x; memcpy(&x, src, 4); v.i = x; break; }
    case QCAL_DT_INT32: { int32_t x; memcpy(&x, src, 4); v.i = x; break; }
    case QCAL_DT_INT64: memcpy(&v.i, src, 8); break;
    case QCAL_DT_UINT64: memcpy(&v.u, src, 8); v.kind = NUM_UINT; break;
    default: break;
    }
    return v;
}

static double as_double(num v)
{
    return v.kind == NUM_FLOAT ? v.f : v.kind == NUM_INT ? (double)v.i : (double)v.u;
}

/* Float to the integer range [lo, hi] (hi <= INT64_MAX): truncate, saturate, NaN -> 0. */
static int64_t sat_signed(double f, int64_t lo, int64_t hi)
{
    int64_t x;

    if (isnan(f))
        return 0;
    f = trunc(f);
    if (f >= 9223372036854775808.0)
        x = INT64_MAX;
    else if (f < -9223372036854775808.0)
        x = INT64_MIN;
    else
        x = (int64_t)f;
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Float to [0, hi]: truncate, saturate, NaN -> 0. */
static uint64_t sat_unsigned(double f, uint64_t hi)
{
    uint64_t x;

    if (isnan(f) || f <= 0.0)
        return 0;
    if (f >= 18446744073709551616.0)
        x = UINT64_MAX;
    else
        x = (uint64_t)f;
    return x > hi ? hi : x;
}

/* Stores the low bytes of bits as an integer dtype (two's complement for signed types, so
 * integer to integer conversions wrap like numpy's astype). */
static void store_bits(void *dst, qcal_dtype dt, uint64_t bits)
{
    switch (qcal_dtype_size(dt)) {
    case 1: { uint8_t x = (uint8_t)bits; memcpy(dst, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)bits; memcpy(dst, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)bits; memcpy(dst, &x, 4); break; }
    default: memcpy(dst, &bits, 8); break;
    }
}

static void store(void *dst, qcal_dtype dt, num v)
{
    int64_t lo = 0, hi = 0;
    uint64_t uhi = 0;

    switch (dt) {
    case QCAL_DT_FLOAT: {
        float f = v.kind == NUM_FLOAT ? f64_to_f32(v.f)
                                      : (v.kind == NUM_INT ? (float)v.i : (float)v.u);
        memcpy(dst, &f, 4);
        return;
    }
    case QCAL_DT_DOUBLE: {
        double d = as_double(v);
        memcpy(dst, &d, 8);
        return;
    }
    case QCAL_DT_BOOL:
        *(uint8_t *)dst = v.kind == NUM_FLOAT ? v.f != 0.0 : (v.kind == NUM_INT ? v.i != 0
                                                                                : v.u != 0);
        return;
    case QCAL_DT_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
    case QCAL_DT_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
    case QCAL_DT_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
    case QCAL_DT_INT64: lo = INT64_MIN; hi = INT64_MAX; break;
    case QCAL_DT_UINT8: uhi = UINT8_MAX; break;
    case QCAL_DT_UINT16: uhi = UINT16_MAX; break;
    case QCAL_DT_UINT32: uhi = UINT32_MAX; break;
    case QCAL_DT_UINT64: uhi = UINT64_MAX; break;
    default: return;
    }
    if (v.kind != NUM_FLOAT)
        store_bits(dst, dt, v.kind == NUM_INT ? (uint64_t)v.i : v.u);
    else if (uhi)
        store_bits(dst, dt, sat_unsigned(v.f, uhi));
    else
        store_bits(dst, dt, (uint64_t)sat_signed(v.f, lo, hi));
}

bool qcal__cast_supported(qcal_dtype dt)
{
    switch (dt) {
    case QCAL_DT_FLOAT: case QCAL_DT_DOUBLE: case QCAL_DT_BOOL:
    case QCAL_DT_INT8: case QCAL_DT_INT16: case QCAL_DT_INT32: case QCAL_DT_INT64:
    case QCAL_DT_UINT8: case QCAL_DT_UINT16: case QCAL_DT_UINT32: case QCAL_DT_UINT64:
        return true;
    default:
        return false;
    }
}

void qcal__cast_elem(void *dst, qcal_dtype ddt, const void *src, qcal_dtype sdt)
{
    store(dst, ddt, load(src, sdt));
}

/* Cast-1..5 spell 'to' as a string ("FLOAT"); later opsets use the TensorProto code. */
static int dtype_from_name(const char *s)
{
    static const struct { const char *name; qcal_dtype dt; } NAMES[] = {
        { "FLOAT", QCAL_DT_FLOAT },   { "UINT8", QCAL_DT_UINT8 },   { "INT8", QCAL_DT_INT8 },
        { "UINT16", QCAL_DT_UINT16 }, { "INT16", QCAL_DT_INT16 },   { "INT32", QCAL_DT_INT32 },
        { "INT64", QCAL_DT_INT64 },   { "STRING", QCAL_DT_STRING }, { "BOOL", QCAL_DT_BOOL },
        { "FLOAT16", QCAL_DT_FLOAT16 }, { "DOUBLE", QCAL_DT_DOUBLE },
        { "BFLOAT16", QCAL_DT_BFLOAT16 },
        { "UINT32", QCAL_DT_UINT32 }, { "UINT64", QCAL_DT_UINT64 },
    };

    for (size_t k = 0; k < sizeof NAMES / sizeof NAMES[0]; k++) {
        const char *a = NAMES[k].name, *b = s;
        while (*a && *b && (*b == *a || *b == *a - 'A' + 'a'))
            a++, b++;
        if (!*a && !*b)
            return (int)NAMES[k].dt;
    }
    return -1;
}

/*
 * Output type of a Cast to the ONNX type code `to`. float16 and bfloat16 are held as float32
 * (DESIGN.md): the output is float32 whose values run rounds to the narrow type (out->narrow);
 * a cast to float32 or float64 marks the output full precision (narrow QCAL_DT_FLOAT).
 */
static qcal_status cast_to(qcal__node *n, int64_t to, qcal_dtype narrow, qcal_error *err)
{
    const qcal__tensor *x = n->in[0];
    qcal_status st;

    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    if (!qcal__cast_supported(x->dtype))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "cast from %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (to == QCAL_DT_FLOAT16 || to == QCAL_DT_BFLOAT16) {
        narrow = (qcal_dtype)to;
        to = QCAL_DT_FLOAT;
    }
    if (to < 0 || to > 64 || !qcal__cast_supported((qcal_dtype)to))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "cast to %s (type %lld) is not "
                                "supported", qcal_dtype_name((qcal_dtype)to), (long long)to);
    st = qcal__tensor_set_shape(n->out[0], (qcal_dtype)to, x->rank, x->dims, err);
    if (st == QCAL_OK)
        n->out[0]->narrow = to == QCAL_DT_FLOAT && narrow != QCAL_DT_UNDEFINED ? narrow
                                                                            : QCAL_DT_FLOAT;
    return st;
}

/* ONNX Cast-1 ('to' string), Cast-6/9/13 ('to' code). */
qcal_status qcal__cast_infer(qcal__node *n, qcal_error *err)
{
    const qcal__attr *a = qcal__attr_find(n, "to");
    qcal_status st = qcal__check_inputs(n, 1, 1, err);
    int64_t to;

    if (st != QCAL_OK)
        return st;
    if (a && a->type == QCAL__A_STRING) {
        int dt = dtype_from_name(a->s);
        if (dt < 0)
            return qcal__node_error(err, n, QCAL_E_INVALID, "unknown type name 'to'='%s'",
                                    a->s);
        to = dt;
    } else if (a && a->type == QCAL__A_INT) {
        to = a->i;
    } else {
        return qcal__node_error(err, n, QCAL_E_INVALID, "attribute 'to' is missing");
    }
    return cast_to(n, to, QCAL_DT_UNDEFINED, err);
}

/* ONNX CastLike-15: the target type is input 1's (with its float16/bfloat16 precision). */
qcal_status qcal__castlike_infer(qcal__node *n, qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 2, err);

    if (st != QCAL_OK)
        return st;
    return cast_to(n, (int64_t)n->in[1]->dtype,
                   n->in[1]->dtype == QCAL_DT_FLOAT &&
                           (n->in[1]->narrow == QCAL_DT_FLOAT16 ||
                            n->in[1]->narrow == QCAL_DT_BFLOAT16)
                       ? n->in[1]->narrow
                       : QCAL_DT_UNDEFINED,
                   err);
}

void qcal__cast_run(const qcal__node *n, void *scratch)
{
    const qcal__tensor *x = n->in[0];
    qcal__tensor *y = n->out[0];
    const unsigned char *s = x->data;
    unsigned char *d = y->data;
    const size_t ss = qcal_dtype_size(x->dtype), ds = qcal_dtype_size(y->dtype);

    (void)scratch;
    if (y->narrow == QCAL_DT_FLOAT16 || y->narrow == QCAL_DT_BFLOAT16) {
        /* Rounded once from the exact source value (a double holds every source exactly but
         * 64-bit integers; those round once to double first, as numpy's astype does). */
        for (size_t i = 0; i < x->nelem; i++) {
            float f = qcal__round_narrow(as_double(load(s + i * ss, x->dtype)), y->narrow);
            memcpy(d + i * ds, &f, sizeof f);
        }
        return;
    }
    if (x->dtype == y->dtype) {
        if (x->nelem)
            memcpy(d, s, x->nelem * ss);
        return;
    }
    for (size_t i = 0; i < x->nelem; i++)
        store(d + i * ds, y->dtype, load(s + i * ss, x->dtype));
}
