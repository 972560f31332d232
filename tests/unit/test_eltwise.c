/*
 * Element-wise kernels (unary.c, binary*.c, quant.c) through the kernel interface: registry
 * lookup, infer, run, on hand-built tensors and nodes. Expected values are worked out by hand in
 * the comments; they are exact in float32, so float checks are bitwise unless stated.
 */
#include <stdlib.h>

#include "ops/binary_impl.h"
#include "ops/ops.h"
#include "qtest.h"

#define MAXT 4

/* A node under test: up to 4 inputs (NULL = omitted), attributes, one output. */
typedef struct tcase {
    qcal__tensor in[MAXT];
    bool has[MAXT];
    int n_in;
    qcal__attr attr[4];
    int n_attr;
    qcal__tensor y;
    void *params; /* kept after run for plan checks; freed by done() */
} tcase;

static void set_in(tcase *t, int i, qcal_dtype dt, int rank, const int64_t *dims,
                   const void *data)
{
    qcal__tensor *x = &t->in[i];

    QT_OK(qcal__tensor_set_shape(x, dt, rank, dims, NULL));
    x->name = "x";
    x->data = (void *)data;
    x->kind = QCAL__T_CONST;
    t->has[i] = true;
    if (i + 1 > t->n_in)
        t->n_in = i + 1;
}

static void attr_int(tcase *t, const char *name, int64_t v)
{
    qcal__attr *a = &t->attr[t->n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_INT;
    a->i = v;
}

/* Resolves op at opset, runs infer then run. On success t->y.data holds the output. Returns
 * infer's status. */
static qcal_status run_case(tcase *t, const char *op, int opset)
{
    const qcal__op *k = qcal__op_find(op, opset);
    qcal__tensor *ins[MAXT], *outs[1] = { &t->y };
    qcal__node n;
    qcal_error err;
    qcal_status st;

    QT_TRUE(k != NULL);
    if (!k)
        return QCAL_E_UNSUPPORTED;
    for (int i = 0; i < MAXT; i++)
        ins[i] = t->has[i] ? &t->in[i] : NULL;
    memset(&n, 0, sizeof n);
    n.name = "eltwise_test";
    n.op_type = (char *)op;
    n.domain = "";
    n.opset = opset;
    n.n_in = t->n_in;
    n.n_out = 1;
    n.in = ins;
    n.out = outs;
    n.n_attr = t->n_attr;
    n.attr = t->attr;
    n.op = k;
    t->y.name = "y";
    st = k->infer(&n, &err);
    t->params = n.params;
    if (st != QCAL_OK)
        return st;
    QT_EQ_I64(n.scratch, 0);
    t->y.data = malloc(t->y.nelem * qcal_dtype_size(t->y.dtype) + 1);
    k->run(&n, NULL);
    return QCAL_OK;
}

static void done(tcase *t)
{
    free(t->y.data);
    free(t->params);
}

/* numpy broadcasting: [2,3] + [3] adds the row to each row. */
static void test_add_broadcast_row(void)
{
    const float a[6] = { 1, 2, 3, 4, 5, 6 }, b[3] = { 10, 20, 30 };
    const float want[6] = { 11, 22, 33, 14, 25, 36 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 2, 3 }, a);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, b);
    QT_OK(run_case(&t, "Add", 14));
    QT_EQ_I64(t.y.rank, 2);
    QT_EQ_I64(t.y.dims[0], 2);
    QT_EQ_I64(t.y.dims[1], 3);
    for (int i = 0; i < 6; i++)
        QT_EQ_F32_BITS(((float *)t.y.data)[i], want[i]);
    done(&t);
}

/* Two-sided broadcast [3,1] - [1,2] gives [3,2]: y[i][j] = a[i] - b[j]. */
static void test_sub_outer(void)
{
    const int32_t a[3] = { 10, 20, 30 }, b[2] = { 1, 2 }, want[6] = { 9, 8, 19, 18, 29, 28 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_INT32, 2, (int64_t[]){ 3, 1 }, a);
    set_in(&t, 1, QCAL_DT_INT32, 2, (int64_t[]){ 1, 2 }, b);
    QT_OK(run_case(&t, "Sub", 13));
    QT_EQ_I64(t.y.nelem, 6);
    QT_EQ_MEM(t.y.data, want, sizeof want);
    done(&t);
}

/* Opset 6 broadcast=1 axis=0: B [2] is matched to A's dim 0 of [2,3] (column broadcast, which
 * numpy rules would reject). */
static void test_mul_legacy_axis(void)
{
    const float a[6] = { 1, 2, 3, 4, 5, 6 }, b[2] = { 2, -1 };
    const float want[6] = { 2, 4, 6, -4, -5, -6 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 2, 3 }, a);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 2 }, b);
    attr_int(&t, "broadcast", 1);
    attr_int(&t, "axis", 0);
    QT_OK(run_case(&t, "Mul", 6));
    QT_EQ_I64(t.y.rank, 2);
    for (int i = 0; i < 6; i++)
        QT_EQ_F32_BITS(((float *)t.y.data)[i], want[i]);
    done(&t);

    /* Opset 1 without axis: B [3] is matched to the suffix of A [2,3], one value per column. */
    {
        const float c[3] = { 100, 200, 300 }, want2[6] = { 101, 202, 303, 104, 205, 306 };
        tcase u = { 0 };
        set_in(&u, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 2, 3 }, a);
        set_in(&u, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, c);
        attr_int(&u, "broadcast", 1);
        QT_OK(run_case(&u, "Add", 1));
        for (int i = 0; i < 6; i++)
            QT_EQ_F32_BITS(((float *)u.y.data)[i], want2[i]);
        done(&u);
    }

    /* B [3] at axis 0 of [2,3] does not fit: a shape error at infer. */
    {
        const float c[3] = { 0 };
        tcase u = { 0 };
        set_in(&u, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 2, 3 }, a);
        set_in(&u, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, c);
        attr_int(&u, "broadcast", 1);
        attr_int(&u, "axis", 0);
        QT_EQ_I64(run_case(&u, "Add", 6), QCAL_E_SHAPE);
        done(&u);
    }
}

/* The plan collapses same-shape operands to one row and NCHW + [C,1,1] to (N, C, H*W). */
static void test_plan_collapse(void)
{
    static float a[120], b[120], c[3];
    tcase t = { 0 }, u = { 0 };
    const qcal__bin_params *p;

    set_in(&t, 0, QCAL_DT_FLOAT, 4, (int64_t[]){ 2, 3, 4, 5 }, a);
    set_in(&t, 1, QCAL_DT_FLOAT, 4, (int64_t[]){ 2, 3, 4, 5 }, b);
    QT_OK(run_case(&t, "Add", 14));
    p = t.params;
    QT_EQ_I64(p->bc.rank, 1);
    QT_EQ_I64(p->bc.dims[0], 120);
    done(&t);

    set_in(&u, 0, QCAL_DT_FLOAT, 4, (int64_t[]){ 2, 3, 4, 5 }, a);
    set_in(&u, 1, QCAL_DT_FLOAT, 3, (int64_t[]){ 3, 1, 1 }, c);
    QT_OK(run_case(&u, "Add", 14));
    p = u.params;
    QT_EQ_I64(p->bc.rank, 3);
    QT_EQ_I64(p->bc.dims[2], 20);
    QT_EQ_I64(p->bc.strides[1][1], 1); /* B steps once per channel */
    QT_EQ_I64(p->bc.strides[1][2], 0); /* and stays put within it */
    done(&u);
}

/* Integer Div truncates toward zero; a zero divisor gives 0 instead of trapping. */
static void test_div_int(void)
{
    const int32_t a[4] = { -7, 7, 5, INT32_MIN }, b[4] = { 2, -2, 0, -1 };
    const int32_t want[4] = { -3, -3, 0, INT32_MIN };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_INT32, 1, (int64_t[]){ 4 }, a);
    set_in(&t, 1, QCAL_DT_INT32, 1, (int64_t[]){ 4 }, b);
    QT_OK(run_case(&t, "Div", 14));
    QT_EQ_MEM(t.y.data, want, sizeof want);
    done(&t);
}

/* Round is half to even: ties go to the even neighbour, the sign of zero follows x. */
static void test_round_half_even(void)
{
    const float x[10] = { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, 2.6f, -0.4f, 8388609.0f };
    const float want[10] = { 0.0f, 2.0f, 2.0f, -0.0f, -2.0f, -2.0f, 2.0f, 3.0f, -0.0f, 8388609.0f };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 10 }, x);
    QT_OK(run_case(&t, "Round", 11));
    for (int i = 0; i < 10; i++)
        QT_EQ_F32_BITS(((float *)t.y.data)[i], want[i]);
    done(&t);
}

/* Clip-13 on int8 with a runtime min only: max defaults to the type's maximum. */
static void test_clip_int8(void)
{
    const int8_t x[4] = { -128, -3, 0, 127 }, lo = -2, want[4] = { -2, -2, 0, 127 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_INT8, 1, (int64_t[]){ 4 }, x);
    set_in(&t, 1, QCAL_DT_INT8, 0, NULL, &lo);
    t.in[1].kind = QCAL__T_ACT;
    QT_OK(run_case(&t, "Clip", 13));
    QT_EQ_MEM(t.y.data, want, sizeof want);
    done(&t);
}

/* Sum of [2,1], [3] and a scalar broadcasts to [2,3]; Mean divides by the input count. */
static void test_variadic(void)
{
    const float a[2] = { 1, 2 }, b[3] = { 10, 20, 30 }, c = 300;
    const float want[6] = { 311, 321, 331, 312, 322, 332 };
    tcase t = { 0 }, u = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 2, 1 }, a);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, b);
    set_in(&t, 2, QCAL_DT_FLOAT, 0, NULL, &c);
    QT_OK(run_case(&t, "Sum", 13));
    QT_EQ_I64(t.y.nelem, 6);
    for (int i = 0; i < 6; i++)
        QT_EQ_F32_BITS(((float *)t.y.data)[i], want[i]);
    done(&t);

    set_in(&u, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, b);
    set_in(&u, 1, QCAL_DT_FLOAT, 0, NULL, &c);
    QT_OK(run_case(&u, "Mean", 13));
    QT_EQ_F32_BITS(((float *)u.y.data)[0], 155.0f); /* (10 + 300) / 2 */
    QT_EQ_F32_BITS(((float *)u.y.data)[2], 165.0f);
    done(&u);
}

/* Where broadcasts all three inputs: condition [2,1], x [1,2], y scalar. */
static void test_where(void)
{
    const uint8_t cond[2] = { 1, 0 };
    const int64_t x[2] = { 5, 6 }, y = -1, want[4] = { 5, 6, -1, -1 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_BOOL, 2, (int64_t[]){ 2, 1 }, cond);
    set_in(&t, 1, QCAL_DT_INT64, 2, (int64_t[]){ 1, 2 }, x);
    set_in(&t, 2, QCAL_DT_INT64, 0, NULL, &y);
    QT_OK(run_case(&t, "Where", 16));
    QT_EQ_MEM(t.y.data, want, sizeof want);
    done(&t);
}

/* PRelu-6 places a [C] slope on axis 1 of [N,C,L] (PyTorch's export). */
static void test_prelu_legacy_channel(void)
{
    const float x[4] = { -1, 1, -2, 2 }, s[2] = { 0.5f, 0.25f };
    const float want[4] = { -0.5f, 1, -0.5f, 2 }; /* x laid out [1,2,2]: channel 0 = {-1, 1} */
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 3, (int64_t[]){ 1, 2, 2 }, x);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 2 }, s);
    QT_OK(run_case(&t, "PRelu", 6));
    for (int i = 0; i < 4; i++)
        QT_EQ_F32_BITS(((float *)t.y.data)[i], want[i]);
    done(&t);
}

/* Pow with float32 base and int64 exponent keeps the base type. */
static void test_pow_mixed(void)
{
    const float x[3] = { 2, -3, 4 };
    const int64_t e[3] = { 3, 2, -1 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, x);
    set_in(&t, 1, QCAL_DT_INT64, 1, (int64_t[]){ 3 }, e);
    QT_OK(run_case(&t, "Pow", 15));
    QT_EQ_I64(t.y.dtype, QCAL_DT_FLOAT);
    QT_EQ_F32_BITS(((float *)t.y.data)[0], 8.0f);
    QT_EQ_F32_BITS(((float *)t.y.data)[1], 9.0f);
    QT_EQ_F32_BITS(((float *)t.y.data)[2], 0.25f);
    done(&t);
}

/*
 * QuantizeLinear uint8, scale 2, zp 128: 1/2 = 0.5 ties to 0 -> 128; 3/2 = 1.5 -> 2 -> 130;
 * 5/2 = 2.5 -> 2 -> 130; -3/2 = -1.5 -> -2 -> 126; 1000/2 + 128 saturates at 255; -1000 at 0.
 */
static void test_quantize_uint8(void)
{
    const float x[6] = { 1, 3, 5, -3, 1000, -1000 }, scale = 2.0f;
    const uint8_t zp = 128, want[6] = { 128, 130, 130, 126, 255, 0 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 6 }, x);
    set_in(&t, 1, QCAL_DT_FLOAT, 0, NULL, &scale);
    set_in(&t, 2, QCAL_DT_UINT8, 0, NULL, &zp);
    QT_OK(run_case(&t, "QuantizeLinear", 10));
    QT_EQ_I64(t.y.dtype, QCAL_DT_UINT8);
    QT_EQ_MEM(t.y.data, want, sizeof want);
    done(&t);
}

/*
 * int8 per axis (opset 13, axis 1 of [1,2,3]): channel 0 scale 1 zp 0, channel 1 scale 0.5
 * zp -1. Channel 0: {300 -> 127, -300 -> -128, -0.5 -> -0 -> 0}; channel 1: {1.25/0.5 = 2.5 -> 2
 * -> 1, -0.25/0.5 = -0.5 -> 0 -> -1, 100 -> 200 - 1 -> 127}.
 */
static void test_quantize_int8_axis(void)
{
    const float x[6] = { 300, -300, -0.5f, 1.25f, -0.25f, 100 }, scale[2] = { 1.0f, 0.5f };
    const int8_t zp[2] = { 0, -1 }, want[6] = { 127, -128, 0, 1, -1, 127 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 3, (int64_t[]){ 1, 2, 3 }, x);
    set_in(&t, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 2 }, scale);
    set_in(&t, 2, QCAL_DT_INT8, 1, (int64_t[]){ 2 }, zp);
    QT_OK(run_case(&t, "QuantizeLinear", 13));
    QT_EQ_I64(t.y.dtype, QCAL_DT_INT8);
    QT_EQ_MEM(t.y.data, want, sizeof want);
    done(&t);
}

/* Without a zero point the output is uint8 with zero point 0: negatives saturate to 0. */
static void test_quantize_no_zp(void)
{
    const float x[3] = { -1, 2.5f, 3.5f }, scale = 1.0f;
    const uint8_t want[3] = { 0, 2, 4 };
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, x);
    set_in(&t, 1, QCAL_DT_FLOAT, 0, NULL, &scale);
    QT_OK(run_case(&t, "QuantizeLinear", 13));
    QT_EQ_I64(t.y.dtype, QCAL_DT_UINT8);
    QT_EQ_MEM(t.y.data, want, sizeof want);
    done(&t);
}

/* DequantizeLinear int8: (x - zp) * scale with zp -1, scale 0.5. */
static void test_dequantize(void)
{
    const int8_t x[3] = { -128, 0, 127 }, zp = -1;
    const float scale = 0.5f;
    tcase t = { 0 };

    set_in(&t, 0, QCAL_DT_INT8, 1, (int64_t[]){ 3 }, x);
    set_in(&t, 1, QCAL_DT_FLOAT, 0, NULL, &scale);
    set_in(&t, 2, QCAL_DT_INT8, 0, NULL, &zp);
    QT_OK(run_case(&t, "DequantizeLinear", 13));
    QT_EQ_I64(t.y.dtype, QCAL_DT_FLOAT);
    QT_EQ_F32_BITS(((float *)t.y.data)[0], -63.5f);
    QT_EQ_F32_BITS(((float *)t.y.data)[1], 0.5f);
    QT_EQ_F32_BITS(((float *)t.y.data)[2], 64.0f);
    done(&t);
}

/* Mismatched input types and unsupported types fail at infer with a status, never crash. */
static void test_errors(void)
{
    const float a[1] = { 0 };
    const int32_t b[1] = { 0 };
    tcase t = { 0 }, u = { 0 };

    set_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 1 }, a);
    set_in(&t, 1, QCAL_DT_INT32, 1, (int64_t[]){ 1 }, b);
    QT_EQ_I64(run_case(&t, "Add", 14), QCAL_E_INVALID);
    done(&t);
    set_in(&u, 0, QCAL_DT_INT32, 1, (int64_t[]){ 1 }, b);
    QT_EQ_I64(run_case(&u, "Sigmoid", 13), QCAL_E_UNSUPPORTED);
    done(&u);
}

int main(void)
{
    QT_RUN(test_add_broadcast_row);
    QT_RUN(test_sub_outer);
    QT_RUN(test_mul_legacy_axis);
    QT_RUN(test_plan_collapse);
    QT_RUN(test_div_int);
    QT_RUN(test_round_half_even);
    QT_RUN(test_clip_int8);
    QT_RUN(test_variadic);
    QT_RUN(test_where);
    QT_RUN(test_prelu_legacy_channel);
    QT_RUN(test_pow_mixed);
    QT_RUN(test_quantize_uint8);
    QT_RUN(test_quantize_int8_axis);
    QT_RUN(test_quantize_no_zp);
    QT_RUN(test_dequantize);
    QT_RUN(test_errors);
    return qt_report();
}
