/*
 * Broadcasting element-wise binary operators: arithmetic (Add, Sub, Mul, Div), comparisons
 * (Equal, Greater, Less, GreaterOrEqual, LessOrEqual), logic (And, Or, Xor) and the variadic
 * Min, Max, Sum, Mean. Pow, Where and PRelu live in binary_misc.c, plans in binary_bcast.c.
 *
 * Types: float32, float64 and every integer type for arithmetic, Min/Max and comparisons
 * (float16 for Min/Max and comparisons), bool for logic and Equal. Integer arithmetic wraps
 * around like unsigned C arithmetic (no undefined behaviour on overflow); integer Div truncates
 * toward zero like C, and gives 0 for a zero divisor instead of trapping.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/binary_impl.h"

#define ENTRY(op, sfx, T, U, DT) [DT] = op##_##sfx,

/* ---- float16 helpers (Min, Max and comparisons select or compare, never round) ---- */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
    float f;

    if (e == 0) { /* zero or subnormal: m * 2^-24 is exact in float32 */
        f = (float)m * 0x1p-24f;
        return sign ? -f : f;
    }
    if (e == 31)
        bits = sign | 0x7f800000u | (m << 13);
    else
        bits = sign | ((e + 112u) << 23) | (m << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- arithmetic ---- */
#define DEF_ADD(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (U)x + (U)y)
#define DEF_SUB(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (U)x - (U)y)
#define DEF_MUL(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (U)x * (U)y)
#define DEF_FDIV(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, x / y)
/* -1 is special-cased because MIN / -1 overflows; the wrapped result equals -x mod 2^bits. */
#define DEF_SDIV(op, sfx, T, U, DT)                                                             \
    QCAL__ROW2(op##_##sfx, T, T, T, y == 0 ? 0 : (y == -1 ? (T)(0u - (U)x) : x / y))
#define DEF_UDIV(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, y == 0 ? 0u : x / y)

NUM_TYPES(DEF_ADD, add)
NUM_TYPES(DEF_SUB, sub)
NUM_TYPES(DEF_MUL, mul)
FLOAT_TYPES(DEF_FDIV, div)
SINT_TYPES(DEF_SDIV, div)
UINT_TYPES(DEF_UDIV, div)

static const qcal__row_fn ADD[QCAL__NDT] = { NUM_TYPES(ENTRY, add) };
static const qcal__row_fn SUB[QCAL__NDT] = { NUM_TYPES(ENTRY, sub) };
static const qcal__row_fn MUL[QCAL__NDT] = { NUM_TYPES(ENTRY, mul) };
static const qcal__row_fn DIV[QCAL__NDT] = { NUM_TYPES(ENTRY, div) };

/* ---- Min, Max: NaN propagates for floats, like numpy's minimum/maximum ---- */
#define DEF_FMIN(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (x < y || isnan(x)) ? x : y)
#define DEF_FMAX(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, (x > y || isnan(x)) ? x : y)
#define DEF_IMIN(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, x < y ? x : y)
#define DEF_IMAX(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, T, x > y ? x : y)

FLOAT_TYPES(DEF_FMIN, min)
FLOAT_TYPES(DEF_FMAX, max)
INT_TYPES(DEF_IMIN, min)
INT_TYPES(DEF_IMAX, max)

static uint16_t half_min(uint16_t x, uint16_t y)
{
    float fx = half_to_float(x), fy = half_to_float(y);
    return (fx < fy || isnan(fx)) ? x : y;
}

static uint16_t half_max(uint16_t x, uint16_t y)
{
    float fx = half_to_float(x), fy = half_to_float(y);
    return (fx > fy || isnan(fx)) ? x : y;
}

QCAL__ROW2(min_f16, uint16_t, uint16_t, uint16_t, half_min(x, y))
QCAL__ROW2(max_f16, uint16_t, uint16_t, uint16_t, half_max(x, y))

static const qcal__row_fn MIN_FNS[QCAL__NDT] = { NUM_TYPES(ENTRY, min)[QCAL_DT_FLOAT16] = min_f16 };
static const qcal__row_fn MAX_FNS[QCAL__NDT] = { NUM_TYPES(ENTRY, max)[QCAL_DT_FLOAT16] = max_f16 };

/* ---- comparisons: output bool (one byte, 0 or 1) ---- */
#define DEF_CMP(op, sfx, T, U, DT) QCAL__ROW2(op##_##sfx, T, T, uint8_t, CMP_##op(x, y))
#define CMP_eq(x, y) ((x) == (y))
#define CMP_gt(x, y) ((x) > (y))
#define CMP_lt(x, y) ((x) < (y))
#define CMP_ge(x, y) ((x) >= (y))
#define CMP_le(x, y) ((x) <= (y))
#define DEF_CMP_ALL(op)                                                                         \
    NUM_TYPES(DEF_CMP, op)                                                                      \
    QCAL__ROW2(op##_f16, uint16_t, uint16_t, uint8_t,                                           \
               CMP_##op(half_to_float(x), half_to_float(y)))                                    \
    static const qcal__row_fn op##_FNS[QCAL__NDT] = {                                           \
        NUM_TYPES(ENTRY, op)[QCAL_DT_FLOAT16] = op##_f16,                                       \
    };

DEF_CMP_ALL(eq)
DEF_CMP_ALL(gt)
DEF_CMP_ALL(lt)
DEF_CMP_ALL(ge)
DEF_CMP_ALL(le)

/* Equal also compares bools (bytes holding 0 or 1). */
QCAL__ROW2(eq_bool, uint8_t, uint8_t, uint8_t, (x != 0) == (y != 0))

/* ---- logic on bool ---- */
QCAL__ROW2(and_bool, uint8_t, uint8_t, uint8_t, (x != 0) && (y != 0))
QCAL__ROW2(or_bool, uint8_t, uint8_t, uint8_t, (x != 0) || (y != 0))
QCAL__ROW2(xor_bool, uint8_t, uint8_t, uint8_t, (x != 0) != (y != 0))

static const qcal__row_fn AND[QCAL__NDT] = { [QCAL_DT_BOOL] = and_bool };
static const qcal__row_fn OR[QCAL__NDT] = { [QCAL_DT_BOOL] = or_bool };
static const qcal__row_fn XOR[QCAL__NDT] = { [QCAL_DT_BOOL] = xor_bool };

/*
 * Shared infer of two-input ops whose inputs have one type: picks the kernel for that type from
 * fns (eq_bool for Equal on bool) and sets up the broadcast plan. Output dtype: the input's, or
 * bool when to_bool.
 */
static qcal_status two_infer(qcal__node *n, const qcal__row_fn *fns, bool to_bool,
                             qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 2, 2, err);
    qcal_dtype dt;
    qcal__row_fn fn;

    if (st != QCAL_OK)
        return st;
    dt = n->in[0]->dtype;
    if (n->in[1]->dtype != dt)
        return qcal__node_error(err, n, QCAL_E_INVALID, "input types differ: %s and %s",
                                qcal_dtype_name(dt), qcal_dtype_name(n->in[1]->dtype));
    fn = qcal__row_lookup(fns, dt);
    if (!fn && fns == eq_FNS && dt == QCAL_DT_BOOL)
        fn = eq_bool;
    if (!fn)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(dt));
    return qcal__bin_setup(n, fn, to_bool ? QCAL_DT_BOOL : dt, err);
}

qcal_status qcal__bin_two_infer(qcal__node *n, const qcal__row_fn *fns, bool to_bool,
                               qcal_error *err)
{
    return two_infer(n, fns, to_bool, err);
}

#define TWO_INFER(name, fns, to_bool)                                                           \
    static qcal_status name##_infer(qcal__node *n, qcal_error *err)                             \
    {                                                                                           \
        return two_infer(n, fns, to_bool, err);                                                 \
    }

TWO_INFER(add, ADD, false)
TWO_INFER(sub, SUB, false)
TWO_INFER(mul, MUL, false)
TWO_INFER(div, DIV, false)
TWO_INFER(equal, eq_FNS, true)
TWO_INFER(greater, gt_FNS, true)
TWO_INFER(less, lt_FNS, true)
TWO_INFER(greater_equal, ge_FNS, true)
TWO_INFER(less_equal, le_FNS, true)
TWO_INFER(and, AND, true)
TWO_INFER(or, OR, true)
TWO_INFER(xor, XOR, true)

/* ---- variadic: Min, Max, Sum, Mean ---- */

/*
 * Step 0 combines inputs 0 and 1 into the output; step k >= 1 combines the output (in place) with
 * input k+1. One input is a copy. Mean divides the sum by the input count at the end.
 */
typedef struct variadic_params {
    qcal__row_fn fn;
    bool mean;
    int n_steps;
    qcal__bcast bc[];
} variadic_params;

static qcal_status variadic_infer(qcal__node *n, const qcal__row_fn *fns, bool mean,
                                  qcal_error *err)
{
    qcal_status st = qcal__check_inputs(n, 1, 1 << 20, err);
    int64_t out[QCAL_MAX_RANK], tmp[QCAL_MAX_RANK];
    int rank = 0, n_steps;
    qcal_dtype dt;
    qcal__row_fn fn;
    variadic_params *p;

    if (st != QCAL_OK)
        return st;
    st = qcal__bin_check_out(n, err);
    if (st != QCAL_OK)
        return st;
    dt = n->in[0]->dtype;
    for (int k = 0; k < n->n_in; k++) {
        const qcal__tensor *t = n->in[k];
        if (!t)
            return qcal__node_error(err, n, QCAL_E_INVALID, "input %d is missing", k);
        if (t->dtype != dt)
            return qcal__node_error(err, n, QCAL_E_INVALID, "input %d is %s, input 0 is %s", k,
                                    qcal_dtype_name(t->dtype), qcal_dtype_name(dt));
        st = qcal__broadcast(n, rank, out, t->rank, t->dims, &rank, tmp, err);
        if (st != QCAL_OK)
            return st;
        memcpy(out, tmp, (size_t)rank * sizeof out[0]);
    }
    fn = qcal__row_lookup(fns, dt);
    if (mean && dt != QCAL_DT_FLOAT && dt != QCAL_DT_DOUBLE)
        fn = NULL;
    if (!fn)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "type %s is not supported",
                                qcal_dtype_name(dt));
    st = qcal__tensor_set_shape(n->out[0], dt, rank, out, err);
    if (st != QCAL_OK)
        return st;
    n_steps = n->n_in - 1;
    p = malloc(sizeof *p + (size_t)n_steps * sizeof p->bc[0]);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->fn = fn;
    p->mean = mean;
    p->n_steps = n_steps;
    for (int k = 0; k < n_steps; k++) {
        const qcal__tensor *a = k == 0 ? n->in[0] : n->out[0], *b = n->in[k + 1];
        int ranks[2] = { a->rank, b->rank };
        const int64_t *dims[2] = { a->dims, b->dims };
        qcal__bcast_init(&p->bc[k], rank, out, 2, ranks, dims);
    }
    n->params = p;
    n->scratch = 0;
    return QCAL_OK;
}

static void variadic_run(const qcal__node *n, void *scratch)
{
    const variadic_params *p = n->params;
    qcal__tensor *o = n->out[0];
    size_t sz = qcal_dtype_size(o->dtype);

    (void)scratch;
    if (p->n_steps == 0) {
        memcpy(o->data, n->in[0]->data, o->nelem * sz);
        return;
    }
    for (int k = 0; k < p->n_steps; k++) {
        const void *in[2] = { k == 0 ? n->in[0]->data : o->data, n->in[k + 1]->data };
        size_t isz[2] = { sz, sz };
        qcal__bcast_run(&p->bc[k], p->fn, o->data, sz, in, isz);
    }
    if (p->mean && o->dtype == QCAL_DT_FLOAT) {
        float *y = o->data, cnt = (float)n->n_in;
        for (size_t i = 0; i < o->nelem; i++)
            y[i] = y[i] / cnt;
    } else if (p->mean) {
        double *y = o->data, cnt = (double)n->n_in;
        for (size_t i = 0; i < o->nelem; i++)
            y[i] = y[i] / cnt;
    }
}

static qcal_status min_infer(qcal__node *n, qcal_error *err)
{
    return variadic_infer(n, MIN_FNS, false, err);
}

static qcal_status max_infer(qcal__node *n, qcal_error *err)
{
    return variadic_infer(n, MAX_FNS, false, err);
}

static qcal_status sum_infer(qcal__node *n, qcal_error *err)
{
    return variadic_infer(n, ADD, false, err);
}

static qcal_status mean_infer(qcal__node *n, qcal_error *err)
{
    return variadic_infer(n, ADD, true, err);
}

#define LAST QCAL__OPSET_LAST
#define BIN qcal__bin_run

/* Opsets 1-6 of the two-input ops take the broadcast/axis attributes (qcal__bin_setup);
 * variadic ops accept numpy broadcasting in every opset (before 8 the spec wants equal shapes). */
const qcal__op qcal__ops_binary[] = {
    { "Add", 1, 6, add_infer, BIN, 0 },
    { "Add", 7, LAST, add_infer, BIN, 0 },
    { "And", 1, 6, and_infer, BIN, 0 },
    { "And", 7, LAST, and_infer, BIN, 0 },
    { "Div", 1, 6, div_infer, BIN, 0 },
    { "Div", 7, LAST, div_infer, BIN, 0 },
    { "Equal", 1, 6, equal_infer, BIN, 0 },
    { "Equal", 7, LAST, equal_infer, BIN, 0 },
    { "Greater", 1, 6, greater_infer, BIN, 0 },
    { "Greater", 7, LAST, greater_infer, BIN, 0 },
    { "GreaterOrEqual", 12, LAST, greater_equal_infer, BIN, 0 },
    { "Less", 1, 6, less_infer, BIN, 0 },
    { "Less", 7, LAST, less_infer, BIN, 0 },
    { "LessOrEqual", 12, LAST, less_equal_infer, BIN, 0 },
    { "Max", 1, LAST, max_infer, variadic_run, 0 },
    { "Mean", 1, LAST, mean_infer, variadic_run, 0 },
    { "Min", 1, LAST, min_infer, variadic_run, 0 },
    { "Mul", 1, 6, mul_infer, BIN, 0 },
    { "Mul", 7, LAST, mul_infer, BIN, 0 },
    { "Or", 1, 6, or_infer, BIN, 0 },
    { "Or", 7, LAST, or_infer, BIN, 0 },
    { "Pow", 1, 6, qcal__pow_infer, BIN, 0 },
    { "Pow", 7, LAST, qcal__pow_infer, BIN, 0 },
    { "PRelu", 1, 6, qcal__prelu_infer, BIN, 0 },
    { "PRelu", 7, LAST, qcal__prelu_infer, BIN, 0 },
    { "Sub", 1, 6, sub_infer, BIN, 0 },
    { "Sub", 7, LAST, sub_infer, BIN, 0 },
    { "Sum", 1, LAST, sum_infer, variadic_run, 0 },
    { "Where", 9, LAST, qcal__where_infer, BIN, 0 },
    { "Xor", 1, 6, xor_infer, BIN, 0 },
    { "Xor", 7, LAST, xor_infer, BIN, 0 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
