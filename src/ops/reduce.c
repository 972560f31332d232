/*
 * Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
 * ReduceSumSquare, ReduceLogSum, ReduceLogSumExp and MeanVarianceNormalization, every opset from
 * 1 to 22 (axes an attribute until 17, an optional input from 18 (ReduceSum: 13) with
 * noop_with_empty_axes; ReduceMax/ReduceMin take bool from 20). ArgMax, ArgMin and TopK are in reduce_arg.c and share this family's table.
 *
 * Geometry: the reduced and kept axes of the input are merged into runs (adjacent axes of the
 * same kind; size-1 axes dropped), so the walk over the input is an odometer over at most
 * QCAL_MAX_RANK runs with a contiguous innermost segment. Every input element is visited once,
 * in memory order: the accumulation order is fixed.
 *
 * Precision: float and double inputs accumulate in double (a reduction's length is set by the
 * data) and are converted to the output type once. Integer inputs accumulate in int64 (wrapping
 * like the C types on overflow of the final conversion).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/reduce_arg.h"

enum red_kind {
    RK_SUM, RK_MEAN, RK_MAX, RK_MIN, RK_PROD, RK_L1, RK_L2, RK_SUMSQ, RK_LOGSUM, RK_LOGSUMEXP,
    RK_MVN,
};

/* Element-wise accumulation steps; a reduction is one or two of them. */
enum red_step { ST_ADD, ST_ADD_ABS, ST_ADD_SQ, ST_ADD_EXP, ST_MAX, ST_MIN, ST_MUL };

typedef struct red_params {
    int kind;
    int ng;                          /* merged runs */
    int64_t size[QCAL_MAX_RANK];     /* run extents */
    int64_t istride[QCAL_MAX_RANK];  /* input strides of the runs */
    int64_t ostride[QCAL_MAX_RANK];  /* output strides, 0 for reduced runs */
    size_t out_n;                    /* output elements */
    size_t count;                    /* input elements reduced into each output */
} red_params;

/* Everything a segment callback needs. */
typedef struct red_ctx {
    const red_params *p;
    qcal_dtype dt;
    int step;
    const void *x;
    void *acc;        /* double[out_n] or int64[out_n] */
    const double *mx; /* ST_ADD_EXP: per-output shift */
    void *y;          /* MVN output */
} red_ctx;

typedef void (*seg_fn)(red_ctx *c, size_t xoff, size_t aoff, int64_t len, int64_t os);

static bool is_int_type(qcal_dtype dt)
{
    return dt == QCAL_DT_INT32 || dt == QCAL_DT_INT64 || dt == QCAL_DT_INT8 ||
           dt == QCAL_DT_UINT8 || dt == QCAL_DT_BOOL; /* bool: ReduceMax/Min-20 only */
}

/*
 * Builds the run geometry from the input shape and the reduced-axes mask. The output strides
 * follow the kept runs in order, whatever keepdims is (size-1 axes do not move data).
 */
static void red_geometry(red_params *p, int rank, const int64_t *dims, const bool *mask)
{
    int ng = 0;
    bool last_red = false;
    int64_t s = 1;

    p->out_n = 1;
    p->count = 1;
    for (int i = 0; i < rank; i++) {
        if (mask[i])
            p->count *= (size_t)dims[i];
        else
            p->out_n *= (size_t)dims[i];
        if (dims[i] == 1)
            continue;
        if (ng > 0 && mask[i] == last_red) {
            p->size[ng - 1] *= dims[i];
        } else {
            p->size[ng] = dims[i];
            p->ostride[ng] = mask[i] ? 0 : 1; /* marks kept runs until the pass below */
            ng++;
            last_red = mask[i];
        }
    }
    if (ng == 0) {
        p->size[0] = 1;
        p->ostride[0] = 1;
        ng = 1;
    }
    for (int g = ng - 1; g >= 0; g--) {
        p->istride[g] = s;
        s *= p->size[g];
    }
    s = 1;
    for (int g = ng - 1; g >= 0; g--) {
        if (p->ostride[g]) {
            p->ostride[g] = s;
            s *= p->size[g];
        }
    }
    p->ng = ng;
}

/* Calls fn for each contiguous innermost segment of the input, in memory order. */
static void red_walk(red_ctx *c, seg_fn fn)
{
    const red_params *p = c->p;
    const int last = p->ng - 1;
    int64_t idx[QCAL_MAX_RANK] = { 0 };
    int64_t xoff = 0, aoff = 0;

    for (int g = 0; g < p->ng; g++)
        if (p->size[g] == 0)
            return;
    for (;;) {
        int g;
        fn(c, (size_t)xoff, (size_t)aoff, p->size[last], p->ostride[last] ? 1 : 0);
        for (g = last - 1; g >= 0; g--) {
            idx[g]++;
            xoff += p->istride[g];
            aoff += p->ostride[g];
            if (idx[g] < p->size[g])
                break;
            xoff -= p->istride[g] * p->size[g];
            aoff -= p->ostride[g] * p->size[g];
            idx[g] = 0;
        }
        if (g < 0)
            break;
    }
}

/* One accumulation step over a segment; a[i * os] is the accumulator of element i. */
#define DEFINE_SEG(NAME, T, A)                                                                   \
    static void NAME(red_ctx *c, size_t xoff, size_t aoff, int64_t len, int64_t os)             \
    {                                                                                            \
        const T *x = (const T *)c->x + xoff;                                                     \
        A *a = (A *)c->acc + aoff;                                                               \
        switch (c->step) {                                                                       \
        case ST_ADD:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                a[i * os] += (A)x[i];                                                            \
            break;                                                                               \
        case ST_ADD_ABS:                                                                         \
            for (int64_t i = 0; i < len; i++)                                                    \
                a[i * os] += (A)x[i] < 0 ? -(A)x[i] : (A)x[i];                                  \
            break;                                                                               \
        case ST_ADD_SQ:                                                                          \
            for (int64_t i = 0; i < len; i++)                                                    \
                a[i * os] += (A)x[i] * (A)x[i];                                                  \
            break;                                                                               \
        case ST_MUL:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                a[i * os] *= (A)x[i];                                                            \
            break;                                                                               \
        case ST_MAX:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                if ((A)x[i] > a[i * os] || x[i] != x[i])                                         \
                    a[i * os] = (A)x[i];                                                         \
            break;                                                                               \
        case ST_MIN:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                if ((A)x[i] < a[i * os] || x[i] != x[i])                                         \
                    a[i * os] = (A)x[i];                                                         \
            break;                                                                               \
        default:                                                                                 \
            break;                                                                               \
        }                                                                                        \
    }

DEFINE_SEG(seg_f32, float, double)
DEFINE_SEG(seg_f64, double, double)
DEFINE_SEG(seg_i32, int32_t, int64_t)
DEFINE_SEG(seg_i64, int64_t, int64_t)
DEFINE_SEG(seg_i8, int8_t, int64_t)
DEFINE_SEG(seg_u8, uint8_t, int64_t)

/* ST_ADD_EXP for float types: a += exp(x - shift) with the per-output shift in c->mx. */
static void seg_exp(red_ctx *c, size_t xoff, size_t aoff, int64_t len, int64_t os)
{
    double *a = (double *)c->acc + aoff;
    const double *m = c->mx + aoff;

    for (int64_t i = 0; i < len; i++) {
        double v = c->dt == QCAL_DT_FLOAT ? (double)((const float *)c->x)[xoff + (size_t)i]
                                          : ((const double *)c->x)[xoff + (size_t)i];
        a[i * os] += exp(v - m[i * os]);
    }
}

static seg_fn seg_for(qcal_dtype dt, int step)
{
    if (step == ST_ADD_EXP)
        return seg_exp;
    switch (dt) {
    case QCAL_DT_FLOAT: return seg_f32;
    case QCAL_DT_DOUBLE: return seg_f64;
    case QCAL_DT_INT32: return seg_i32;
    case QCAL_DT_INT64: return seg_i64;
    case QCAL_DT_INT8: return seg_i8;
    default: return seg_u8;
    }
}

/* Reads the axes (attribute, or input 1 for ReduceSum-13+) into a mask over the input's rank. */
static qcal_status red_axes(const qcal__node *n, bool from_input, int rank, bool *mask,
                            qcal_error *err)
{
    int64_t axes[QCAL_MAX_RANK * 2];
    const int64_t *attr = NULL;
    size_t cnt = 0;
    bool all;

    if (from_input) {
        if (qcal__in(n, 1)) {
            qcal_status st = qcal__const_ints(n, 1, axes, QCAL_MAX_RANK * 2, &cnt, err);
            if (st != QCAL_OK)
                return st;
        }
    } else {
        cnt = qcal__attr_ints(n, "axes", &attr);
        if (cnt > QCAL_MAX_RANK * 2)
            return qcal__node_error(err, n, QCAL_E_INVALID, "too many axes (%zu)", cnt);
        if (cnt)
            memcpy(axes, attr, cnt * sizeof *axes);
    }
    /* No axes: all of them, unless noop_with_empty_axes (ReduceSum-13+) makes it an identity. */
    all = cnt == 0 && !(from_input && qcal__attr_int(n, "noop_with_empty_axes", 0) != 0);
    for (int i = 0; i < rank; i++)
        mask[i] = all;
    for (size_t k = 0; k < cnt; k++) {
        int a;
        qcal_status st = qcal__norm_axis(n, axes[k], rank, &a, err);
        if (st != QCAL_OK)
            return st;
        if (rank > 0)
            mask[a] = true;
    }
    return QCAL_OK;
}

static bool kind_int_ok(int kind)
{
    return kind != RK_L2 && kind != RK_LOGSUM && kind != RK_LOGSUMEXP && kind != RK_MVN;
}

/* Shared infer of the Reduce* ops and MeanVarianceNormalization. */
static qcal_status red_infer(qcal__node *n, int kind, bool axes_input, qcal_error *err)
{
    const qcal__tensor *x;
    bool mask[QCAL_MAX_RANK];
    int64_t ydims[QCAL_MAX_RANK];
    int yrank = 0;
    bool keep = qcal__attr_int(n, "keepdims", 1) != 0 || kind == RK_MVN;
    red_params *p;
    qcal_status st = qcal__check_inputs(n, 1, axes_input ? 2 : 1, err);

    if (st != QCAL_OK)
        return st;
    x = n->in[0];
    if (!(x->dtype == QCAL_DT_FLOAT || x->dtype == QCAL_DT_DOUBLE ||
          (is_int_type(x->dtype) && x->dtype != QCAL_DT_BOOL && kind_int_ok(kind)) ||
          (x->dtype == QCAL_DT_BOOL && (kind == RK_MAX || kind == RK_MIN) && n->opset >= 20)))
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(x->dtype));
    if (kind == RK_MVN) {
        const int64_t *axes;
        size_t cnt = qcal__attr_ints(n, "axes", &axes);
        for (int i = 0; i < x->rank; i++)
            mask[i] = cnt == 0 && (i == 0 || i == 2 || i == 3);
        for (size_t k = 0; k < cnt; k++) {
            int a;
            if ((st = qcal__norm_axis(n, axes[k], x->rank, &a, err)) != QCAL_OK)
                return st;
            mask[a] = true;
        }
    } else if ((st = red_axes(n, axes_input, x->rank, mask, err)) != QCAL_OK) {
        return st;
    }
    for (int i = 0; i < x->rank; i++) {
        if (!mask[i])
            ydims[yrank++] = x->dims[i];
        else if (keep)
            ydims[yrank++] = 1;
    }
    p = malloc(sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    p->kind = kind;
    red_geometry(p, x->rank, x->dims, mask);
    n->params = p;
    /* The accumulators, plus the per-output shift (LogSumExp) or second moment (MVN). */
    n->scratch = p->out_n * 8 * ((kind == RK_LOGSUMEXP || kind == RK_MVN) ? 2 : 1);
    if (kind == RK_MVN)
        return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
    return qcal__tensor_set_shape(n->out[0], x->dtype, yrank, ydims, err);
}

/* Fills the accumulators with the identity of the step. */
static void acc_init(void *acc, size_t n, bool ints, int step)
{
    for (size_t i = 0; i < n; i++) {
        if (ints) {
            int64_t v = step == ST_MUL ? 1 : step == ST_MAX ? INT64_MIN
                                           : step == ST_MIN ? INT64_MAX : 0;
            ((int64_t *)acc)[i] = v;
        } else {
            double v = step == ST_MUL ? 1.0 : step == ST_MAX ? -(double)INFINITY
                                          : step == ST_MIN ? (double)INFINITY : 0.0;
            ((double *)acc)[i] = v;
        }
    }
}

static int first_step(int kind)
{
    switch (kind) {
    case RK_MAX: return ST_MAX;
    case RK_MIN: return ST_MIN;
    case RK_PROD: return ST_MUL;
    case RK_L1: return ST_ADD_ABS;
    case RK_L2: case RK_SUMSQ: return ST_ADD_SQ;
    case RK_LOGSUMEXP: return ST_MAX;
    default: return ST_ADD;
    }
}

/* Stores the finished integer accumulators into the output type. */
static void store_ints(const red_params *p, const int64_t *acc, qcal_dtype dt, void *y)
{
    for (size_t i = 0; i < p->out_n; i++) {
        int64_t v = acc[i];
        if (p->kind == RK_MEAN)
            v = p->count ? v / (int64_t)p->count : 0;
        switch (dt) {
        case QCAL_DT_INT32: ((int32_t *)y)[i] = (int32_t)v; break;
        case QCAL_DT_INT64: ((int64_t *)y)[i] = v; break;
        case QCAL_DT_INT8: ((int8_t *)y)[i] = (int8_t)v; break;
        default: ((uint8_t *)y)[i] = (uint8_t)v; break;
        }
    }
}

static void red_run(const qcal__node *n, void *scratch)
{
    const red_params *p = n->params;
    const qcal__tensor *x = n->in[0];
    bool ints = is_int_type(x->dtype);
    double *acc = scratch, *shift = acc + p->out_n;
    red_ctx c = { p, x->dtype, first_step(p->kind), x->data, scratch, NULL, NULL };

    acc_init(scratch, p->out_n, ints, c.step);
    red_walk(&c, seg_for(x->dtype, c.step));
    if (ints) {
        store_ints(p, scratch, x->dtype, n->out[0]->data);
        return;
    }
    if (p->kind == RK_LOGSUMEXP) {
        /* Second pass: sum of exp(x - max), with an infinite or NaN max shifted by 0. */
        for (size_t i = 0; i < p->out_n; i++) {
            shift[i] = isfinite(acc[i]) ? acc[i] : 0.0;
            acc[i] = 0.0;
        }
        c.step = ST_ADD_EXP;
        c.mx = shift;
        red_walk(&c, seg_exp);
    }
    for (size_t i = 0; i < p->out_n; i++) {
        double v = acc[i];
        switch (p->kind) {
        case RK_MEAN: v = p->count ? v / (double)p->count : (double)NAN; break;
        case RK_L2: v = sqrt(v); break;
        case RK_LOGSUM: v = log(v); break;
        case RK_LOGSUMEXP: v = log(v) + shift[i]; break;
        default: break;
        }
        if (x->dtype == QCAL_DT_FLOAT)
            ((float *)n->out[0]->data)[i] = (float)v;
        else
            ((double *)n->out[0]->data)[i] = v;
    }
}

/*
 * MeanVarianceNormalization-9/13, as its ONNX function body: Y = (X - E[X]) / (sqrt(E[X^2] -
 * E[X]^2) + 1e-9) over `axes` (default 0, 2, 3). The moments are double; Y is float.
 */
static void seg_mvn_out(red_ctx *c, size_t xoff, size_t aoff, int64_t len, int64_t os)
{
    const float *x = (const float *)c->x + xoff;
    float *y = (float *)c->y + xoff;
    const double *mean = (const double *)c->acc + aoff, *sd = c->mx + aoff;

    for (int64_t i = 0; i < len; i++)
        y[i] = (float)(((double)x[i] - mean[i * os]) / sd[i * os]);
}

static void mvn_run(const qcal__node *n, void *scratch)
{
    const red_params *p = n->params;
    double *mean = scratch, *sq = mean + p->out_n;
    red_ctx c = { p, QCAL_DT_FLOAT, ST_ADD, n->in[0]->data, mean, NULL, n->out[0]->data };

    acc_init(scratch, 2 * p->out_n, false, ST_ADD);
    red_walk(&c, seg_f32);
    c.acc = sq;
    c.step = ST_ADD_SQ;
    red_walk(&c, seg_f32);
    for (size_t i = 0; i < p->out_n; i++) {
        double m = mean[i] / (double)p->count, var = sq[i] / (double)p->count - m * m;
        mean[i] = m;
        sq[i] = sqrt(var > 0.0 ? var : 0.0) + 1e-9;
    }
    c.acc = mean;
    c.mx = sq;
    red_walk(&c, seg_mvn_out);
}

#define RED_INFER(NAME, KIND, AXES_INPUT)                                                        \
    static qcal_status NAME(qcal__node *n, qcal_error *err)                                     \
    {                                                                                            \
        return red_infer(n, KIND, AXES_INPUT, err);                                              \
    }

RED_INFER(sum_infer, RK_SUM, false)
RED_INFER(sum13_infer, RK_SUM, true)
RED_INFER(mean_infer, RK_MEAN, false)
RED_INFER(mean18_infer, RK_MEAN, true)
RED_INFER(max_infer, RK_MAX, false)
RED_INFER(max18_infer, RK_MAX, true)
RED_INFER(min_infer, RK_MIN, false)
RED_INFER(min18_infer, RK_MIN, true)
RED_INFER(prod_infer, RK_PROD, false)
RED_INFER(prod18_infer, RK_PROD, true)
RED_INFER(l1_infer, RK_L1, false)
RED_INFER(l1_18_infer, RK_L1, true)
RED_INFER(l2_infer, RK_L2, false)
RED_INFER(l2_18_infer, RK_L2, true)
RED_INFER(sumsq_infer, RK_SUMSQ, false)
RED_INFER(sumsq18_infer, RK_SUMSQ, true)
RED_INFER(logsum_infer, RK_LOGSUM, false)
RED_INFER(logsum18_infer, RK_LOGSUM, true)
RED_INFER(logsumexp_infer, RK_LOGSUMEXP, false)
RED_INFER(logsumexp18_infer, RK_LOGSUMEXP, true)

static qcal_status mvn_infer(qcal__node *n, qcal_error *err)
{
    if (n->n_in >= 1 && n->in[0] && n->in[0]->dtype != QCAL_DT_FLOAT)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "input type %s is not supported",
                                qcal_dtype_name(n->in[0]->dtype));
    return red_infer(n, RK_MVN, false, err);
}

/* Versions (ONNX changelog): ReduceSum 1, 11, 13 (axes input); the others 1, 11, 13, 18 (axes
 * input); ReduceMax/ReduceMin 20 (bool). Types only change elsewhere, so 18+ runs every later one. */
#define AX (1u << 1)
const qcal__op qcal__ops_reduce[] = {
    { "ReduceSum", 1, 12, sum_infer, red_run, 0 },
    { "ReduceSum", 13, QCAL__OPSET_LAST, sum13_infer, red_run, AX },
    { "ReduceMean", 1, 17, mean_infer, red_run, 0 },
    { "ReduceMean", 18, QCAL__OPSET_LAST, mean18_infer, red_run, AX },
    { "ReduceMax", 1, 17, max_infer, red_run, 0 },
    { "ReduceMax", 18, QCAL__OPSET_LAST, max18_infer, red_run, AX },
    { "ReduceMin", 1, 17, min_infer, red_run, 0 },
    { "ReduceMin", 18, QCAL__OPSET_LAST, min18_infer, red_run, AX },
    { "ReduceProd", 1, 17, prod_infer, red_run, 0 },
    { "ReduceProd", 18, QCAL__OPSET_LAST, prod18_infer, red_run, AX },
    { "ReduceL1", 1, 17, l1_infer, red_run, 0 },
    { "ReduceL1", 18, QCAL__OPSET_LAST, l1_18_infer, red_run, AX },
    { "ReduceL2", 1, 17, l2_infer, red_run, 0 },
    { "ReduceL2", 18, QCAL__OPSET_LAST, l2_18_infer, red_run, AX },
    { "ReduceSumSquare", 1, 17, sumsq_infer, red_run, 0 },
    { "ReduceSumSquare", 18, QCAL__OPSET_LAST, sumsq18_infer, red_run, AX },
    { "ReduceLogSum", 1, 17, logsum_infer, red_run, 0 },
    { "ReduceLogSum", 18, QCAL__OPSET_LAST, logsum18_infer, red_run, AX },
    { "ReduceLogSumExp", 1, 17, logsumexp_infer, red_run, 0 },
    { "ReduceLogSumExp", 18, QCAL__OPSET_LAST, logsumexp18_infer, red_run, AX },
    { "MeanVarianceNormalization", 9, QCAL__OPSET_LAST, mvn_infer, mvn_run, 0 },
    { "ArgMax", 1, QCAL__OPSET_LAST, qcal__argmax_infer, qcal__argmax_run, 0 },
    { "ArgMin", 1, QCAL__OPSET_LAST, qcal__argmin_infer, qcal__argmin_run, 0 },
    { "TopK", 1, 9, qcal__topk_infer, qcal__topk_run, 0 },
    { "TopK", 10, QCAL__OPSET_LAST, qcal__topk_infer, qcal__topk_run, 1u << 1 },
    { NULL, 0, 0, NULL, NULL, 0 },
};
