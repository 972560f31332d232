/*
 * Unit tests of the pool, norm and reduce kernel families, driven through the kernel interface
 * (qcal__op_find, infer, run) on hand-built nodes. Expected values are computed by hand in the
 * comments; float results are compared with the ONNX backend tolerance (atol 1e-6 here, on
 * values of order 1) or bit for bit where the result is exact.
 */
#include <stdlib.h>

#include "ops/ops.h"
#include "qtest.h"

#define MAXT 6
#define MAXA 8

/* A node under construction with its own tensors and attributes. */
typedef struct tnode {
    qcal__node n;
    qcal__tensor t_in[MAXT], t_out[MAXT];
    qcal__tensor *in[MAXT], *out[MAXT];
    qcal__attr attr[MAXA];
    void *scratch;
} tnode;

static void tn_init(tnode *t, const char *op, int opset)
{
    memset(t, 0, sizeof *t);
    t->n.name = "n";
    t->n.op_type = (char *)op;
    t->n.domain = "";
    t->n.opset = opset;
    t->n.in = t->in;
    t->n.out = t->out;
    t->n.attr = t->attr;
}

/* Adds input i (a CONST view of data, not copied). */
static void tn_in(tnode *t, qcal_dtype dt, int rank, const int64_t *dims, const void *data)
{
    qcal__tensor *x = &t->t_in[t->n.n_in];
    x->name = "in";
    x->kind = QCAL__T_CONST;
    qcal__tensor_set_shape(x, dt, rank, dims, NULL);
    x->data = (void *)data;
    t->in[t->n.n_in++] = x;
}

/* Adds an omitted optional input. */
static void tn_in_none(tnode *t)
{
    t->in[t->n.n_in++] = NULL;
}

static void tn_outs(tnode *t, int count)
{
    for (int i = 0; i < count; i++) {
        t->t_out[i].name = "out";
        t->out[i] = &t->t_out[i];
    }
    t->n.n_out = count;
}

static void tn_int(tnode *t, const char *name, int64_t v)
{
    qcal__attr *a = &t->attr[t->n.n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_INT;
    a->i = v;
}

static void tn_float(tnode *t, const char *name, float v)
{
    qcal__attr *a = &t->attr[t->n.n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_FLOAT;
    a->f = v;
}

static void tn_ints(tnode *t, const char *name, int64_t *v, size_t cnt)
{
    qcal__attr *a = &t->attr[t->n.n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_INTS;
    a->ints = v;
    a->n = cnt;
}

static void tn_str(tnode *t, const char *name, const char *s)
{
    qcal__attr *a = &t->attr[t->n.n_attr++];
    a->name = (char *)name;
    a->type = QCAL__A_STRING;
    a->s = (char *)s;
}

/* Resolves, infers, allocates outputs and scratch, runs. Returns infer's status. */
static qcal_status tn_run(tnode *t, qcal_error *err)
{
    const qcal__op *op = qcal__op_find(t->n.op_type, t->n.opset);
    qcal_status st;

    if (!op)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "no kernel for %s-%d", t->n.op_type,
                              t->n.opset);
    t->n.op = op;
    st = op->infer(&t->n, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < t->n.n_out; i++)
        if (t->out[i])
            t->out[i]->data = calloc(t->out[i]->nelem + 1, qcal_dtype_size(t->out[i]->dtype));
    t->scratch = malloc(t->n.scratch + 64);
    op->run(&t->n, t->scratch);
    return QCAL_OK;
}

static void tn_free(tnode *t)
{
    for (int i = 0; i < t->n.n_out; i++)
        if (t->out[i])
            free(t->out[i]->data);
    free(t->scratch);
    free(t->n.params);
}

static const float *fout(const tnode *t, int i)
{
    return t->out[i]->data;
}

static const int64_t *iout(const tnode *t, int i)
{
    return t->out[i]->data;
}

/* 4x4 input 1..16, MaxPool 2x2 stride 2: maxima 6, 8, 14, 16 at row-major 5, 7, 13, 15; with
 * storage_order 1 the indices are column-major (h + w * 4): 5, 13, 7, 15. */
static void test_maxpool_2x2(void)
{
    float x[16];
    int64_t dims[4] = { 1, 1, 4, 4 }, k[2] = { 2, 2 }, s[2] = { 2, 2 };
    const float want[4] = { 6, 8, 14, 16 };
    tnode t;
    qcal_error err;

    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    for (int order = 0; order < 2; order++) {
        const int64_t want_idx[2][4] = { { 5, 7, 13, 15 }, { 5, 13, 7, 15 } };
        tn_init(&t, "MaxPool", 12);
        tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
        tn_outs(&t, 2);
        tn_ints(&t, "kernel_shape", k, 2);
        tn_ints(&t, "strides", s, 2);
        tn_int(&t, "storage_order", order);
        QT_OK(tn_run(&t, &err));
        QT_EQ_I64(t.out[0]->rank, 4);
        QT_EQ_I64(t.out[0]->dims[2], 2);
        QT_EQ_I64(t.out[0]->dims[3], 2);
        QT_EQ_I64(t.out[1]->dtype, QCAL_DT_INT64);
        for (int i = 0; i < 4; i++) {
            QT_EQ_F32_BITS(fout(&t, 0)[i], want[i]);
            QT_EQ_I64(iout(&t, 1)[i], want_idx[order][i]);
        }
        tn_free(&t);
    }
    /* The same without Indices takes the 2-D fast path. */
    tn_init(&t, "MaxPool", 8);
    tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
    tn_outs(&t, 1);
    tn_ints(&t, "kernel_shape", k, 2);
    tn_ints(&t, "strides", s, 2);
    QT_OK(tn_run(&t, &err));
    for (int i = 0; i < 4; i++)
        QT_EQ_F32_BITS(fout(&t, 0)[i], want[i]);
    tn_free(&t);
}

/* ceil_mode: 4x4, kernel 3, stride 2 -> ceil((4 - 3) / 2) + 1 = 2 per axis. Windows rows/cols
 * {0..2}, {2..3}: maxima 11, 12, 15, 16. */
static void test_maxpool_ceil(void)
{
    float x[16];
    int64_t dims[4] = { 1, 1, 4, 4 }, k[2] = { 3, 3 }, s[2] = { 2, 2 };
    const float want[4] = { 11, 12, 15, 16 };
    tnode t;
    qcal_error err;

    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);
    tn_init(&t, "MaxPool", 12);
    tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
    tn_outs(&t, 1);
    tn_ints(&t, "kernel_shape", k, 2);
    tn_ints(&t, "strides", s, 2);
    tn_int(&t, "ceil_mode", 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->dims[2], 2);
    QT_EQ_I64(t.out[0]->dims[3], 2);
    for (int i = 0; i < 4; i++)
        QT_EQ_F32_BITS(fout(&t, 0)[i], want[i]);
    tn_free(&t);
}

/* 1-D dilated MaxPool: x = 1 5 2 4 3, kernel 2, dilation 2 -> windows (0,2) (1,3) (2,4). */
static void test_maxpool_dilated_uint8(void)
{
    const uint8_t x[5] = { 1, 5, 2, 4, 3 };
    int64_t dims[3] = { 1, 1, 5 }, k[1] = { 2 }, d[1] = { 2 };
    const uint8_t want[3] = { 2, 5, 3 };
    tnode t;
    qcal_error err;

    tn_init(&t, "MaxPool", 12);
    tn_in(&t, QCAL_DT_UINT8, 3, dims, x);
    tn_outs(&t, 2);
    tn_ints(&t, "kernel_shape", k, 1);
    tn_ints(&t, "dilations", d, 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->dims[2], 3);
    QT_EQ_MEM(t.out[0]->data, want, 3);
    QT_EQ_I64(iout(&t, 1)[0], 2);
    QT_EQ_I64(iout(&t, 1)[1], 1);
    QT_EQ_I64(iout(&t, 1)[2], 4);
    tn_free(&t);
}

/* 3x3 input 1..9, AveragePool 3x3, pads 1, stride 1. Corner (0,0): 1+2+4+5 = 12 over 4 valid
 * taps = 3, or over 9 with count_include_pad = 4/3. Edge (0,1): 1+...+6 = 21: 3.5 or 21/9.
 * Centre: 45/9 = 5 either way. */
static void test_avgpool_include_pad(void)
{
    float x[9];
    int64_t dims[4] = { 1, 1, 3, 3 }, k[2] = { 3, 3 }, pads[4] = { 1, 1, 1, 1 };
    tnode t;
    qcal_error err;

    for (int i = 0; i < 9; i++)
        x[i] = (float)(i + 1);
    for (int inc = 0; inc < 2; inc++) {
        tn_init(&t, "AveragePool", 11);
        tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
        tn_outs(&t, 1);
        tn_ints(&t, "kernel_shape", k, 2);
        tn_ints(&t, "pads", pads, 4);
        tn_int(&t, "count_include_pad", inc);
        QT_OK(tn_run(&t, &err));
        QT_EQ_I64(t.out[0]->nelem, 9);
        QT_NEAR((double)fout(&t, 0)[0], inc ? 12.0 / 9.0 : 3.0, 1e-6);
        QT_NEAR((double)fout(&t, 0)[1], inc ? 21.0 / 9.0 : 3.5, 1e-6);
        QT_NEAR((double)fout(&t, 0)[4], 5.0, 1e-6);
        QT_NEAR((double)fout(&t, 0)[8], inc ? (5 + 6 + 8 + 9) / 9.0 : 7.0, 1e-6);
        tn_free(&t);
    }
}

/* 1-D auto_pad: x = 1..5, kernel 2, stride 1 -> 5 outputs with one pad. SAME_UPPER pads the
 * end: 1.5 2.5 3.5 4.5 5; SAME_LOWER pads the start: 1 1.5 2.5 3.5 4.5 (pads excluded). */
static void test_avgpool_same(void)
{
    const float x[5] = { 1, 2, 3, 4, 5 };
    const float up[5] = { 1.5f, 2.5f, 3.5f, 4.5f, 5 }, lo[5] = { 1, 1.5f, 2.5f, 3.5f, 4.5f };
    int64_t dims[3] = { 1, 1, 5 }, k[1] = { 2 };
    tnode t;
    qcal_error err;

    for (int lower = 0; lower < 2; lower++) {
        tn_init(&t, "AveragePool", 7);
        tn_in(&t, QCAL_DT_FLOAT, 3, dims, x);
        tn_outs(&t, 1);
        tn_ints(&t, "kernel_shape", k, 1);
        tn_str(&t, "auto_pad", lower ? "SAME_LOWER" : "SAME_UPPER");
        QT_OK(tn_run(&t, &err));
        QT_EQ_I64(t.out[0]->dims[2], 5);
        for (int i = 0; i < 5; i++)
            QT_EQ_F32_BITS(fout(&t, 0)[i], lower ? lo[i] : up[i]);
        tn_free(&t);
    }
}

/* GlobalAveragePool / GlobalMaxPool of two 2x2 planes. */
static void test_global_pools(void)
{
    const float x[8] = { 1, 2, 3, 4, -1, -2, -3, -8 };
    int64_t dims[4] = { 1, 2, 2, 2 };
    tnode t;
    qcal_error err;

    tn_init(&t, "GlobalAveragePool", 1);
    tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
    tn_outs(&t, 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->rank, 4);
    QT_EQ_I64(t.out[0]->nelem, 2);
    QT_EQ_F32_BITS(fout(&t, 0)[0], 2.5f);
    QT_EQ_F32_BITS(fout(&t, 0)[1], -3.5f);
    tn_free(&t);
    tn_init(&t, "GlobalMaxPool", 1);
    tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
    tn_outs(&t, 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_F32_BITS(fout(&t, 0)[0], 4.0f);
    QT_EQ_F32_BITS(fout(&t, 0)[1], -1.0f);
    tn_free(&t);
}

/* LRN over 3 channels, size 3, alpha 3 (alpha/size = 1), beta 1, bias 1, x = 1 2 3:
 * c0: 1 / (1 + 1 + 4) = 1/6; c1: 2 / (1 + 14) = 2/15; c2: 3 / (1 + 13) = 3/14. */
static void test_lrn(void)
{
    const float x[3] = { 1, 2, 3 };
    int64_t dims[4] = { 1, 3, 1, 1 };
    tnode t;
    qcal_error err;

    tn_init(&t, "LRN", 13);
    tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
    tn_outs(&t, 1);
    tn_int(&t, "size", 3);
    tn_float(&t, "alpha", 3.0f);
    tn_float(&t, "beta", 1.0f);
    tn_float(&t, "bias", 1.0f);
    QT_OK(tn_run(&t, &err));
    QT_NEAR((double)fout(&t, 0)[0], 1.0 / 6.0, 1e-6);
    QT_NEAR((double)fout(&t, 0)[1], 2.0 / 15.0, 1e-6);
    QT_NEAR((double)fout(&t, 0)[2], 3.0 / 14.0, 1e-6);
    tn_free(&t);
}

/* Softmax([1, 2, 3]) = e^(x-3) / (1 + e^-1 + e^-2) = 0.0900306, 0.2447285, 0.6652410;
 * LogSoftmax = x - 3 - log(1.5032147) = -2.4076059, -1.4076059, -0.4076059. */
static void test_softmax_123(void)
{
    const float x[3] = { 1, 2, 3 };
    const double sm[3] = { 0.09003057317, 0.24472847105, 0.66524095578 };
    const double lsm[3] = { -2.40760596445, -1.40760596445, -0.40760596445 };
    int64_t dims[2] = { 1, 3 };
    tnode t;
    qcal_error err;

    for (int lg = 0; lg < 2; lg++) {
        tn_init(&t, lg ? "LogSoftmax" : "Softmax", 13);
        tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
        tn_outs(&t, 1);
        QT_OK(tn_run(&t, &err));
        for (int i = 0; i < 3; i++)
            QT_NEAR((double)fout(&t, 0)[i], lg ? lsm[i] : sm[i], 1e-6);
        tn_free(&t);
    }
}

/* Softmax on a 2x2 with axis 0: opset 13 normalises each column; opset 11 coerces to 1x4 and
 * normalises all four values. x = 0 0 / ln3 0: columns give 1/4 1/2 / 3/4 1/2; all: 1/6 1/6 1/2
 * 1/6. Large inputs must not overflow. */
static void test_softmax_axis_forms(void)
{
    const float x[4] = { 0.0f, 0.0f, 1.0986122887f, 0.0f };
    const float big[2] = { 10000.0f, 10001.0f };
    const double col[4] = { 0.25, 0.5, 0.75, 0.5 }, all[4] = { 1 / 6.0, 1 / 6.0, 0.5, 1 / 6.0 };
    int64_t dims[2] = { 2, 2 }, bdims[1] = { 2 };
    tnode t;
    qcal_error err;

    for (int old = 0; old < 2; old++) {
        tn_init(&t, "Softmax", old ? 11 : 13);
        tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
        tn_outs(&t, 1);
        tn_int(&t, "axis", 0);
        QT_OK(tn_run(&t, &err));
        for (int i = 0; i < 4; i++)
            QT_NEAR((double)fout(&t, 0)[i], old ? all[i] : col[i], 1e-6);
        tn_free(&t);
    }
    tn_init(&t, "Softmax", 13);
    tn_in(&t, QCAL_DT_FLOAT, 1, bdims, big);
    tn_outs(&t, 1);
    QT_OK(tn_run(&t, &err));
    QT_NEAR((double)fout(&t, 0)[0], 0.26894142137, 1e-6);
    QT_NEAR((double)fout(&t, 0)[1], 0.73105857863, 1e-6);
    tn_free(&t);
}

/* BatchNorm with scale 2, B 1, mean 0.5, var 3, epsilon 1: a = 2 / sqrt(4) = 1, so
 * y = x - 0.5 + 1. training_mode=1 must be refused at infer time. */
static void test_batchnorm(void)
{
    const float x[2] = { 1, 2 }, scale[1] = { 2 }, b[1] = { 1 }, mean[1] = { 0.5f },
                var[1] = { 3 };
    int64_t dims[3] = { 1, 1, 2 }, cdims[1] = { 1 };
    tnode t;
    qcal_error err;

    for (int opset = 6; opset <= 15; opset += 9) {
        tn_init(&t, "BatchNormalization", opset);
        tn_in(&t, QCAL_DT_FLOAT, 3, dims, x);
        tn_in(&t, QCAL_DT_FLOAT, 1, cdims, scale);
        tn_in(&t, QCAL_DT_FLOAT, 1, cdims, b);
        tn_in(&t, QCAL_DT_FLOAT, 1, cdims, mean);
        tn_in(&t, QCAL_DT_FLOAT, 1, cdims, var);
        tn_outs(&t, 1);
        tn_float(&t, "epsilon", 1.0f);
        tn_int(&t, "is_test", 1);
        QT_OK(tn_run(&t, &err));
        QT_EQ_F32_BITS(fout(&t, 0)[0], 1.5f);
        QT_EQ_F32_BITS(fout(&t, 0)[1], 2.5f);
        tn_free(&t);
    }
    tn_init(&t, "BatchNormalization", 15);
    tn_in(&t, QCAL_DT_FLOAT, 3, dims, x);
    tn_in(&t, QCAL_DT_FLOAT, 1, cdims, scale);
    tn_in(&t, QCAL_DT_FLOAT, 1, cdims, b);
    tn_in(&t, QCAL_DT_FLOAT, 1, cdims, mean);
    tn_in(&t, QCAL_DT_FLOAT, 1, cdims, var);
    tn_outs(&t, 3);
    tn_int(&t, "training_mode", 1);
    tn_float(&t, "epsilon", 1.0f);
    /* Training mode (BatchNormalization-15): batch mean 1.5, population variance 0.25, so
     * y = (x - 1.5) / sqrt(1.25) * 2 + 1; running stats 0.5*0.9 + 1.5*0.1 and 3*0.9 + 0.25*0.1. */
    QT_OK(tn_run(&t, &err));
    QT_NEAR((double)fout(&t, 0)[0], 0.105572809, 1e-6);
    QT_NEAR((double)fout(&t, 0)[1], 1.894427191, 1e-6);
    QT_NEAR((double)fout(&t, 1)[0], 0.6, 1e-6);
    QT_NEAR((double)fout(&t, 2)[0], 2.725, 1e-6);
    tn_free(&t);
}

/* LayerNormalization over the last axis of [1, 3]: mean 2, var 2/3, eps 0 would give
 * inv = 1.2247449; with scale 1 and no B, y = (-1, 0, 1) * inv. Mean/InvStdDev outputs. */
static void test_layernorm(void)
{
    const float x[3] = { 1, 2, 3 }, scale[3] = { 1, 1, 1 };
    int64_t dims[2] = { 1, 3 }, sdims[1] = { 3 };
    tnode t;
    qcal_error err;

    tn_init(&t, "LayerNormalization", 17);
    tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
    tn_in(&t, QCAL_DT_FLOAT, 1, sdims, scale);
    tn_outs(&t, 3);
    tn_float(&t, "epsilon", 0.0f);
    QT_OK(tn_run(&t, &err));
    QT_NEAR((double)fout(&t, 0)[0], -1.22474487, 1e-6);
    QT_NEAR((double)fout(&t, 0)[1], 0.0, 1e-7);
    QT_NEAR((double)fout(&t, 0)[2], 1.22474487, 1e-6);
    QT_EQ_I64(t.out[1]->dims[1], 1);
    QT_EQ_F32_BITS(fout(&t, 1)[0], 2.0f);
    QT_NEAR((double)fout(&t, 2)[0], 1.22474487, 1e-6);
    tn_free(&t);
}

/* [[1,2,3],[4,5,6]]: ReduceSum over axis 1 = 6, 15; ReduceMean over axis 0 without keepdims =
 * 2.5 3.5 4.5; ReduceSum-13 with an empty axes input and noop_with_empty_axes is an identity;
 * ReduceMax (int32) over everything = 6; ReduceL2 over axis 1 = sqrt(14), sqrt(77). */
static void test_reduce(void)
{
    const float x[6] = { 1, 2, 3, 4, 5, 6 };
    const int32_t xi[6] = { 1, -2, 6, 4, 5, 0 };
    int64_t dims[2] = { 2, 3 }, ax1[1] = { 1 }, ax0[1] = { 0 }, edims[1] = { 0 };
    const int64_t empty[1] = { 0 };
    tnode t;
    qcal_error err;

    tn_init(&t, "ReduceSum", 11);
    tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
    tn_outs(&t, 1);
    tn_ints(&t, "axes", ax1, 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->rank, 2);
    QT_EQ_I64(t.out[0]->dims[1], 1);
    QT_EQ_F32_BITS(fout(&t, 0)[0], 6.0f);
    QT_EQ_F32_BITS(fout(&t, 0)[1], 15.0f);
    tn_free(&t);

    tn_init(&t, "ReduceMean", 13);
    tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
    tn_outs(&t, 1);
    tn_ints(&t, "axes", ax0, 1);
    tn_int(&t, "keepdims", 0);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->rank, 1);
    QT_EQ_F32_BITS(fout(&t, 0)[0], 2.5f);
    QT_EQ_F32_BITS(fout(&t, 0)[2], 4.5f);
    tn_free(&t);

    tn_init(&t, "ReduceSum", 13);
    tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
    tn_in(&t, QCAL_DT_INT64, 1, edims, empty);
    tn_outs(&t, 1);
    tn_int(&t, "noop_with_empty_axes", 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->nelem, 6);
    QT_EQ_MEM(t.out[0]->data, x, sizeof x);
    tn_free(&t);

    tn_init(&t, "ReduceSum", 13); /* no axes input: everything */
    tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
    tn_in_none(&t);
    tn_outs(&t, 1);
    tn_int(&t, "keepdims", 0);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->rank, 0);
    QT_EQ_F32_BITS(fout(&t, 0)[0], 21.0f);
    tn_free(&t);

    tn_init(&t, "ReduceMax", 12);
    tn_in(&t, QCAL_DT_INT32, 2, dims, xi);
    tn_outs(&t, 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_I64(t.out[0]->dtype, QCAL_DT_INT32);
    QT_EQ_I64(((const int32_t *)t.out[0]->data)[0], 6);
    tn_free(&t);

    tn_init(&t, "ReduceL2", 1);
    tn_in(&t, QCAL_DT_FLOAT, 2, dims, x);
    tn_outs(&t, 1);
    tn_ints(&t, "axes", ax1, 1);
    QT_OK(tn_run(&t, &err));
    QT_NEAR((double)fout(&t, 0)[0], sqrt(14.0), 1e-6);
    QT_NEAR((double)fout(&t, 0)[1], sqrt(77.0), 1e-5);
    tn_free(&t);
}

/* ArgMax of 1 3 3 2: first maximum at 1, last at 2. TopK k=2: largest 3 3 at 1 2 (ties by
 * lower index); smallest 1 2 at 0 3. */
static void test_argmax_topk(void)
{
    const float x[4] = { 1, 3, 3, 2 };
    const int64_t k[1] = { 2 };
    int64_t dims[1] = { 4 }, kdims[1] = { 1 };
    tnode t;
    qcal_error err;

    for (int last = 0; last < 2; last++) {
        tn_init(&t, "ArgMax", 13);
        tn_in(&t, QCAL_DT_FLOAT, 1, dims, x);
        tn_outs(&t, 1);
        tn_int(&t, "select_last_index", last);
        QT_OK(tn_run(&t, &err));
        QT_EQ_I64(t.out[0]->rank, 1);
        QT_EQ_I64(iout(&t, 0)[0], last ? 2 : 1);
        tn_free(&t);
    }
    for (int largest = 0; largest < 2; largest++) {
        tn_init(&t, "TopK", 11);
        tn_in(&t, QCAL_DT_FLOAT, 1, dims, x);
        tn_in(&t, QCAL_DT_INT64, 1, kdims, k);
        tn_outs(&t, 2);
        tn_int(&t, "largest", largest);
        QT_OK(tn_run(&t, &err));
        QT_EQ_I64(t.out[0]->dims[0], 2);
        QT_EQ_F32_BITS(fout(&t, 0)[0], largest ? 3.0f : 1.0f);
        QT_EQ_F32_BITS(fout(&t, 0)[1], largest ? 3.0f : 2.0f);
        QT_EQ_I64(iout(&t, 1)[0], largest ? 1 : 0);
        QT_EQ_I64(iout(&t, 1)[1], largest ? 2 : 3);
        tn_free(&t);
    }
    tn_init(&t, "TopK", 1); /* opset 1: k attribute */
    tn_in(&t, QCAL_DT_FLOAT, 1, dims, x);
    tn_outs(&t, 2);
    tn_int(&t, "k", 1);
    QT_OK(tn_run(&t, &err));
    QT_EQ_F32_BITS(fout(&t, 0)[0], 3.0f);
    QT_EQ_I64(iout(&t, 1)[0], 1);
    tn_free(&t);
}

/* MaxUnpool of 5 6 7 8 at flat indices 5 7 13 15 of a 4x4 (kernel 2, stride 2); with
 * output_shape 5x5 the 4x4 block stays at the top-left: offsets 6 8 16 18. */
static void test_maxunpool(void)
{
    const float x[4] = { 5, 6, 7, 8 };
    const int64_t ind[4] = { 5, 7, 13, 15 }, shape[4] = { 1, 1, 5, 5 };
    int64_t dims[4] = { 1, 1, 2, 2 }, k[2] = { 2, 2 }, sdims[1] = { 4 };
    tnode t;
    qcal_error err;

    for (int given = 0; given < 2; given++) {
        const size_t at[2][4] = { { 5, 7, 13, 15 }, { 6, 8, 16, 18 } };
        float sum = 0.0f;
        tn_init(&t, "MaxUnpool", 11);
        tn_in(&t, QCAL_DT_FLOAT, 4, dims, x);
        tn_in(&t, QCAL_DT_INT64, 4, dims, ind);
        if (given)
            tn_in(&t, QCAL_DT_INT64, 1, sdims, shape);
        tn_outs(&t, 1);
        tn_ints(&t, "kernel_shape", k, 2);
        tn_ints(&t, "strides", k, 2);
        QT_OK(tn_run(&t, &err));
        QT_EQ_I64(t.out[0]->nelem, given ? 25 : 16);
        for (int i = 0; i < 4; i++)
            QT_EQ_F32_BITS(fout(&t, 0)[at[given][i]], x[i]);
        for (size_t i = 0; i < t.out[0]->nelem; i++)
            sum += fout(&t, 0)[i];
        QT_EQ_F32_BITS(sum, 26.0f);
        tn_free(&t);
    }
}

/* NLL of log-probs [[-1,-2,-3],[-0.5,-1.5,-2.5]], targets 2 0, weights 1 2 3: losses 9 and 0.5;
 * sum 9.5; mean 9.5 / (3 + 1) = 2.375; ignore_index 2 leaves 0.5 / 1. SoftmaxCrossEntropyLoss
 * of [0, ln 3] with target 1: -log(3/4) = 0.2876821. */
static void test_losses(void)
{
    const float lp[6] = { -1, -2, -3, -0.5f, -1.5f, -2.5f }, w[3] = { 1, 2, 3 };
    const float sc[2] = { 0.0f, 1.0986122887f };
    const int64_t tg[2] = { 2, 0 }, tg1[1] = { 1 };
    int64_t dims[2] = { 2, 3 }, tdims[1] = { 2 }, wdims[1] = { 3 }, sdims[2] = { 1, 2 },
            t1dims[1] = { 1 };
    const char *red[3] = { "none", "sum", "mean" };
    tnode t;
    qcal_error err;

    for (int r = 0; r < 3; r++) {
        tn_init(&t, "NegativeLogLikelihoodLoss", 13);
        tn_in(&t, QCAL_DT_FLOAT, 2, dims, lp);
        tn_in(&t, QCAL_DT_INT64, 1, tdims, tg);
        tn_in(&t, QCAL_DT_FLOAT, 1, wdims, w);
        tn_outs(&t, 1);
        tn_str(&t, "reduction", red[r]);
        QT_OK(tn_run(&t, &err));
        QT_EQ_I64(t.out[0]->rank, r == 0 ? 1 : 0);
        QT_EQ_F32_BITS(fout(&t, 0)[0], r == 0 ? 9.0f : r == 1 ? 9.5f : 2.375f);
        if (r == 0)
            QT_EQ_F32_BITS(fout(&t, 0)[1], 0.5f);
        tn_free(&t);
    }
    tn_init(&t, "NegativeLogLikelihoodLoss", 13);
    tn_in(&t, QCAL_DT_FLOAT, 2, dims, lp);
    tn_in(&t, QCAL_DT_INT64, 1, tdims, tg);
    tn_in(&t, QCAL_DT_FLOAT, 1, wdims, w);
    tn_outs(&t, 1);
    tn_int(&t, "ignore_index", 2);
    QT_OK(tn_run(&t, &err));
    QT_EQ_F32_BITS(fout(&t, 0)[0], 0.5f);
    tn_free(&t);

    tn_init(&t, "SoftmaxCrossEntropyLoss", 13);
    tn_in(&t, QCAL_DT_FLOAT, 2, sdims, sc);
    tn_in(&t, QCAL_DT_INT64, 1, t1dims, tg1);
    tn_outs(&t, 2);
    QT_OK(tn_run(&t, &err));
    QT_NEAR((double)fout(&t, 0)[0], 0.28768207245, 1e-6);
    QT_NEAR((double)fout(&t, 1)[0], -1.38629436112, 1e-6);
    tn_free(&t);
}

int main(void)
{
    QT_RUN(test_maxpool_2x2);
    QT_RUN(test_maxpool_ceil);
    QT_RUN(test_maxpool_dilated_uint8);
    QT_RUN(test_avgpool_include_pad);
    QT_RUN(test_avgpool_same);
    QT_RUN(test_global_pools);
    QT_RUN(test_lrn);
    QT_RUN(test_softmax_123);
    QT_RUN(test_softmax_axis_forms);
    QT_RUN(test_batchnorm);
    QT_RUN(test_layernorm);
    QT_RUN(test_reduce);
    QT_RUN(test_argmax_topk);
    QT_RUN(test_maxunpool);
    QT_RUN(test_losses);
    return qt_report();
}
