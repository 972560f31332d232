/*
 * Unit tests of the Conv, ConvTranspose, Gemm and MatMul kernels (src/ops/conv.c, gemm.c),
 * driven through the kernel interface (registry lookup, infer, run) on hand-built nodes. Every
 * expected value below is computed by hand in the comment next to it.
 */
#include <stdlib.h>

#include "ops/ops.h"
#include "qtest.h"

#define MAXIO 3

/* A node under test with its tensors; inputs point at caller arrays. */
typedef struct fixture {
    qcal__tensor tin[MAXIO], tout;
    qcal__tensor *in[MAXIO], *out[1];
    qcal__node node;
    float y[256];
} fixture;

static void set_tensor(qcal__tensor *t, const char *name, qcal_dtype dt, int rank,
                       const int64_t *dims, const void *data)
{
    memset(t, 0, sizeof *t);
    t->name = (char *)name;
    t->dtype = dt;
    t->rank = rank;
    t->nelem = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        t->nelem *= (size_t)dims[i];
    }
    t->data = (void *)data;
    t->kind = QCAL__T_CONST;
    t->shaped = true;
}

static void fixture_init(fixture *f, const char *op, int opset, qcal__attr *attr, int n_attr)
{
    memset(f, 0, sizeof *f);
    f->node.name = (char *)"n0";
    f->node.op_type = (char *)op;
    f->node.domain = (char *)"";
    f->node.opset = opset;
    f->node.in = f->in;
    f->node.out = f->out;
    f->node.n_out = 1;
    f->out[0] = &f->tout;
    f->tout.name = (char *)"y";
    f->node.attr = attr;
    f->node.n_attr = n_attr;
}

static void fixture_input(fixture *f, qcal_dtype dt, int rank, const int64_t *dims,
                          const void *data)
{
    int i = f->node.n_in++;

    set_tensor(&f->tin[i], i == 0 ? "x" : (i == 1 ? "w" : "b"), dt, rank, dims, data);
    f->in[i] = &f->tin[i];
}

/* Resolves the op, runs infer and run; returns infer's status. Output lands in f->y. */
static qcal_status fixture_run(fixture *f, qcal_error *err)
{
    const qcal__op *op = qcal__op_find(f->node.op_type, f->node.opset);
    void *scratch = NULL;
    qcal_status st;

    if (!op)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "no kernel for %s-%d", f->node.op_type,
                              f->node.opset);
    f->node.op = op;
    st = op->infer(&f->node, err);
    if (st != QCAL_OK)
        goto out;
    if (f->tout.nelem > sizeof f->y / sizeof f->y[0]) {
        st = qcal_error_set(err, QCAL_E_INVALID, "test output too large");
        goto out;
    }
    if (f->node.scratch > 0) {
        scratch = aligned_alloc(64, (f->node.scratch + 63) / 64 * 64);
        if (!scratch) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "scratch");
            goto out;
        }
        memset(scratch, 0xff, f->node.scratch); /* NaN garbage: run must not read it unset */
    }
    for (size_t i = 0; i < sizeof f->y / sizeof f->y[0]; i++)
        f->y[i] = -12345.0f; /* run must overwrite every output element */
    f->tout.data = f->y;
    op->run(&f->node, scratch);
out:
    free(scratch);
    free(f->node.params);
    f->node.params = NULL;
    return st;
}

static qcal__attr ints_attr(const char *name, int64_t *v, size_t count)
{
    qcal__attr a;

    memset(&a, 0, sizeof a);
    a.name = (char *)name;
    a.type = QCAL__A_INTS;
    a.ints = v;
    a.n = count;
    return a;
}

static qcal__attr int_attr(const char *name, int64_t v)
{
    qcal__attr a;

    memset(&a, 0, sizeof a);
    a.name = (char *)name;
    a.type = QCAL__A_INT;
    a.i = v;
    return a;
}

static qcal__attr float_attr(const char *name, float v)
{
    qcal__attr a;

    memset(&a, 0, sizeof a);
    a.name = (char *)name;
    a.type = QCAL__A_FLOAT;
    a.f = v;
    return a;
}

static void check_out(const fixture *f, int rank, const int64_t *dims, const float *want,
                      size_t count)
{
    QT_EQ_I64(f->tout.rank, rank);
    for (int j = 0; j < rank; j++)
        QT_EQ_I64(f->tout.dims[j], dims[j]);
    QT_EQ_U64(f->tout.nelem, count);
    for (size_t i = 0; i < count; i++)
        QT_EQ_F32_BITS(f->y[i], want[i]);
}

static const float X9[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }; /* 3x3, row-major */
static const float W4[4] = { 1, 2, 3, 4 };                /* 2x2 */

/* 3x3 input, 2x2 kernel, stride 1, no padding, bias 0.5:
 * y00 = 1*1 + 2*2 + 4*3 + 5*4 = 37, y01 = 2 + 6 + 15 + 24 = 47,
 * y10 = 4 + 10 + 21 + 32 = 67,     y11 = 5 + 12 + 24 + 36 = 77. */
static void test_conv_basic(void)
{
    const int64_t xd[] = { 1, 1, 3, 3 }, wd[] = { 1, 1, 2, 2 }, bd[] = { 1 };
    const int64_t yd[] = { 1, 1, 2, 2 };
    const float bias[] = { 0.5f };
    const float want[] = { 37.5f, 47.5f, 67.5f, 77.5f };
    qcal_error err;
    fixture f;

    fixture_init(&f, "Conv", 11, NULL, 0);
    fixture_input(&f, QCAL_DT_FLOAT, 4, xd, X9);
    fixture_input(&f, QCAL_DT_FLOAT, 4, wd, W4);
    fixture_input(&f, QCAL_DT_FLOAT, 1, bd, bias);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 4, yd, want, 4);
}

/* Same data, pads 1, stride 2: output 2x2 (floor((3 + 2 - 2) / 2) + 1).
 * y00 window rows -1..0, cols -1..0: x00*w11 = 1*4 = 4.
 * y01 rows -1..0, cols 1..2: x01*w10 + x02*w11 = 2*3 + 3*4 = 18.
 * y10 rows 1..2, cols -1..0: x10*w01 + x20*w11 = 4*2 + 7*4 = 36.
 * y11 rows 1..2, cols 1..2: 5*1 + 6*2 + 8*3 + 9*4 = 77. */
static void test_conv_pad_stride(void)
{
    const int64_t xd[] = { 1, 1, 3, 3 }, wd[] = { 1, 1, 2, 2 }, yd[] = { 1, 1, 2, 2 };
    int64_t pads[] = { 1, 1, 1, 1 }, strides[] = { 2, 2 };
    qcal__attr attr[2];
    const float want[] = { 4, 18, 36, 77 };
    qcal_error err;
    fixture f;

    attr[0] = ints_attr("pads", pads, 4);
    attr[1] = ints_attr("strides", strides, 2);
    fixture_init(&f, "Conv", 1, attr, 2);
    fixture_input(&f, QCAL_DT_FLOAT, 4, xd, X9);
    fixture_input(&f, QCAL_DT_FLOAT, 4, wd, W4);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 4, yd, want, 4);
}

/* SAME_UPPER on a 1-D input of 4 with kernel 2: total padding 1, all at the end.
 * x = [1 2 3 4], w = [1 10]: y = [1+20, 2+30, 3+40, 4+0] = [21 32 43 4]. SAME_LOWER puts the pad
 * at the begin: y = [0+10, 1+20, 2+30, 3+40] = [10 21 32 43]. */
static void test_conv_auto_pad(void)
{
    const int64_t xd[] = { 1, 1, 4 }, wd[] = { 1, 1, 2 }, yd[] = { 1, 1, 4 };
    const float x[] = { 1, 2, 3, 4 }, w[] = { 1, 10 };
    const float upper[] = { 21, 32, 43, 4 }, lower[] = { 10, 21, 32, 43 };
    qcal__attr attr[1];
    qcal_error err;
    fixture f;

    attr[0].name = (char *)"auto_pad";
    attr[0].type = QCAL__A_STRING;
    attr[0].s = (char *)"SAME_UPPER";
    fixture_init(&f, "Conv", 11, attr, 1);
    fixture_input(&f, QCAL_DT_FLOAT, 3, xd, x);
    fixture_input(&f, QCAL_DT_FLOAT, 3, wd, w);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 3, yd, upper, 4);
    attr[0].s = (char *)"SAME_LOWER";
    fixture_init(&f, "Conv", 11, attr, 1);
    fixture_input(&f, QCAL_DT_FLOAT, 3, xd, x);
    fixture_input(&f, QCAL_DT_FLOAT, 3, wd, w);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 3, yd, lower, 4);
}

/* Depthwise with multiplier 2: C = 2, group = 2, M = 4; channel m reads input m / 2.
 * Input 0 = X9, input 1 = X9 + 10 (each value +10). Kernels: m0 = W4 -> [37 47 67 77];
 * m1 = [1 0 0 -1] -> x[i][j] - x[i+1][j+1] = -4 everywhere; m2 = [1 1 1 1] on input 1 ->
 * 4 * 10 + (1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9) = [52 56 64 68]; m3 = [0 0 0 2] on input 1 ->
 * 2 * x[i+1][j+1] = [30 32 36 38]. Bias [1 2 3 4] is added. */
static void test_conv_depthwise(void)
{
    const int64_t xd[] = { 1, 2, 3, 3 }, wd[] = { 4, 1, 2, 2 }, bd[] = { 4 };
    const int64_t yd[] = { 1, 4, 2, 2 };
    float x[18];
    const float w[] = { 1, 2, 3, 4, 1, 0, 0, -1, 1, 1, 1, 1, 0, 0, 0, 2 };
    const float bias[] = { 1, 2, 3, 4 };
    const float want[] = { 38, 48, 68, 78, -2, -2, -2, -2, 55, 59, 67, 71, 34, 36, 40, 42 };
    qcal__attr attr[1];
    qcal_error err;
    fixture f;

    for (int i = 0; i < 9; i++) {
        x[i] = X9[i];
        x[9 + i] = X9[i] + 10.0f;
    }
    attr[0] = int_attr("group", 2);
    fixture_init(&f, "Conv", 11, attr, 1);
    fixture_input(&f, QCAL_DT_FLOAT, 4, xd, x);
    fixture_input(&f, QCAL_DT_FLOAT, 4, wd, w);
    fixture_input(&f, QCAL_DT_FLOAT, 1, bd, bias);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 4, yd, want, 16);
}

/* Grouped (not depthwise) 1-D conv through im2col: C = 4, group = 2, M = 2, kernel 1 wide with
 * two taps over channels. x channels: [1 2], [3 4], [5 6], [7 8]; w0 = [1, 10] over channels 0-1,
 * w1 = [100, 1000] over channels 2-3, pad 1 each side with kernel 1 (so the ends are 0):
 * y0 = [0, 1+30, 2+40, 0] = [0 31 42 0]; y1 = [0, 500+7000, 600+8000, 0] = [0 7500 8600 0]. */
static void test_conv_grouped(void)
{
    const int64_t xd[] = { 1, 4, 2 }, wd[] = { 2, 2, 1 }, yd[] = { 1, 2, 4 };
    const float x[] = { 1, 2, 3, 4, 5, 6, 7, 8 }, w[] = { 1, 10, 100, 1000 };
    const float want[] = { 0, 31, 42, 0, 0, 7500, 8600, 0 };
    int64_t pads[] = { 1, 1 };
    qcal__attr attr[2];
    qcal_error err;
    fixture f;

    attr[0] = int_attr("group", 2);
    attr[1] = ints_attr("pads", pads, 2);
    fixture_init(&f, "Conv", 6, attr, 2);
    fixture_input(&f, QCAL_DT_FLOAT, 3, xd, x);
    fixture_input(&f, QCAL_DT_FLOAT, 3, wd, w);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 3, yd, want, 8);
}

/* 1x1 convolution (direct GEMM): y = 2 * ch0 + 3 * ch1 with ch0 = [1 2 3 4], ch1 = [5 6 7 8]:
 * [17 22 27 32]. */
static void test_conv_1x1(void)
{
    const int64_t xd[] = { 1, 2, 2, 2 }, wd[] = { 1, 2, 1, 1 }, yd[] = { 1, 1, 2, 2 };
    const float x[] = { 1, 2, 3, 4, 5, 6, 7, 8 }, w[] = { 2, 3 };
    const float want[] = { 17, 22, 27, 32 };
    qcal_error err;
    fixture f;

    fixture_init(&f, "Conv", 17, NULL, 0);
    fixture_input(&f, QCAL_DT_FLOAT, 4, xd, x);
    fixture_input(&f, QCAL_DT_FLOAT, 4, wd, w);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 4, yd, want, 4);
}

/* Bad attributes and shapes are rejected in infer. */
static void test_conv_errors(void)
{
    const int64_t xd[] = { 1, 3, 3, 3 }, wd[] = { 1, 3, 2, 2 }, wd2[] = { 1, 1, 5, 5 };
    const int64_t xd1[] = { 1, 1, 3, 3 };
    float buf[64] = { 0 };
    qcal__attr attr[1];
    qcal_error err;
    fixture f;

    attr[0] = int_attr("group", 2); /* 2 does not divide 3 channels */
    fixture_init(&f, "Conv", 11, attr, 1);
    fixture_input(&f, QCAL_DT_FLOAT, 4, xd, buf);
    fixture_input(&f, QCAL_DT_FLOAT, 4, wd, buf);
    QT_EQ_I64(fixture_run(&f, &err), QCAL_E_INVALID);
    fixture_init(&f, "Conv", 11, NULL, 0); /* 5x5 kernel on a 3x3 input */
    fixture_input(&f, QCAL_DT_FLOAT, 4, xd1, buf);
    fixture_input(&f, QCAL_DT_FLOAT, 4, wd2, buf);
    QT_EQ_I64(fixture_run(&f, &err), QCAL_E_SHAPE);
}

/* ConvTranspose 1-D, x = [1 2], w = [1 1 1], stride 2: out = 2 * (2 - 1) + 3 = 5;
 * y = [1, 1, 1+2, 2, 2] = [1 1 3 2 2]. With pads [1 1]: the middle [1 3 2]. With a second output
 * channel w = [0 1 0] and bias [0 5]: [5+0, 5+1, 5+0, 5+2, 5+0] = [5 6 5 7 5]. */
static void test_convtranspose(void)
{
    const int64_t xd[] = { 1, 1, 2 }, wd[] = { 1, 2, 3 }, bd[] = { 2 }, yd[] = { 1, 2, 5 };
    const int64_t yd_pad[] = { 1, 2, 3 };
    const float x[] = { 1, 2 }, w[] = { 1, 1, 1, 0, 1, 0 }, bias[] = { 0, 5 };
    const float want[] = { 1, 1, 3, 2, 2, 5, 6, 5, 7, 5 };
    const float want_pad[] = { 1, 3, 2, 6, 5, 7 };
    int64_t strides[] = { 2 }, pads[] = { 1, 1 };
    qcal__attr attr[2];
    qcal_error err;
    fixture f;

    attr[0] = ints_attr("strides", strides, 1);
    attr[1] = ints_attr("pads", pads, 2);
    fixture_init(&f, "ConvTranspose", 11, attr, 1);
    fixture_input(&f, QCAL_DT_FLOAT, 3, xd, x);
    fixture_input(&f, QCAL_DT_FLOAT, 3, wd, w);
    fixture_input(&f, QCAL_DT_FLOAT, 1, bd, bias);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 3, yd, want, 10);
    fixture_init(&f, "ConvTranspose", 1, attr, 2);
    fixture_input(&f, QCAL_DT_FLOAT, 3, xd, x);
    fixture_input(&f, QCAL_DT_FLOAT, 3, wd, w);
    fixture_input(&f, QCAL_DT_FLOAT, 1, bd, bias);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 3, yd_pad, want_pad, 6);
}

/* Gemm with transB, alpha 2, beta 0.5 and a row-vector C:
 * A = [[1 2 3], [4 5 6]], B^T = [[1 0 1], [0 1 0]] (B is 2x3), C = [10 20].
 * A B'^T = [[4 2], [10 5]]; y = 2 * that + 0.5 * C = [[13 14], [25 20]]. */
static void test_gemm(void)
{
    const int64_t ad[] = { 2, 3 }, bd[] = { 2, 3 }, cd[] = { 2 }, yd[] = { 2, 2 };
    const float a[] = { 1, 2, 3, 4, 5, 6 }, b[] = { 1, 0, 1, 0, 1, 0 }, c[] = { 10, 20 };
    const float want[] = { 13, 14, 25, 20 };
    const int64_t cd_bad[] = { 3 };
    qcal__attr attr[3];
    qcal_error err;
    fixture f;

    attr[0] = int_attr("transB", 1);
    attr[1] = float_attr("alpha", 2.0f);
    attr[2] = float_attr("beta", 0.5f);
    fixture_init(&f, "Gemm", 13, attr, 3);
    fixture_input(&f, QCAL_DT_FLOAT, 2, ad, a);
    fixture_input(&f, QCAL_DT_FLOAT, 2, bd, b);
    fixture_input(&f, QCAL_DT_FLOAT, 1, cd, c);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 2, yd, want, 4);
    /* Opset 6 without broadcast=1 needs C to be [M, N]. */
    fixture_init(&f, "Gemm", 6, attr, 3);
    fixture_input(&f, QCAL_DT_FLOAT, 2, ad, a);
    fixture_input(&f, QCAL_DT_FLOAT, 2, bd, b);
    fixture_input(&f, QCAL_DT_FLOAT, 1, cd, c);
    QT_EQ_I64(fixture_run(&f, &err), QCAL_E_SHAPE);
    /* C of 3 values cannot broadcast to [2, 2]. */
    fixture_init(&f, "Gemm", 13, attr, 3);
    fixture_input(&f, QCAL_DT_FLOAT, 2, ad, a);
    fixture_input(&f, QCAL_DT_FLOAT, 2, bd, b);
    fixture_input(&f, QCAL_DT_FLOAT, 1, cd_bad, c);
    QT_EQ_I64(fixture_run(&f, &err), QCAL_E_SHAPE);
}

/* MatMul: batch broadcast of A [2, 3] against B [2, 3, 1] (two batches):
 * B0 = [1 1 1]^T -> row sums [6 15]; B1 = [1 0 -1]^T -> [1-3, 4-6] = [-2 -2]. Output [2, 2, 1].
 * Then 1-D x 1-D: [1 2 3] . [4 5 6] = 32, a scalar. */
static void test_matmul(void)
{
    const int64_t ad[] = { 2, 3 }, bd[] = { 2, 3, 1 }, yd[] = { 2, 2, 1 }, vd[] = { 3 };
    const float a[] = { 1, 2, 3, 4, 5, 6 }, b[] = { 1, 1, 1, 1, 0, -1 };
    const float want[] = { 6, 15, -2, -2 }, v1[] = { 1, 2, 3 }, v2[] = { 4, 5, 6 };
    const float dot[] = { 32 };
    const int64_t bd_bad[] = { 2, 2 };
    qcal_error err;
    fixture f;

    fixture_init(&f, "MatMul", 13, NULL, 0);
    fixture_input(&f, QCAL_DT_FLOAT, 2, ad, a);
    fixture_input(&f, QCAL_DT_FLOAT, 3, bd, b);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 3, yd, want, 4);
    fixture_init(&f, "MatMul", 1, NULL, 0);
    fixture_input(&f, QCAL_DT_FLOAT, 1, vd, v1);
    fixture_input(&f, QCAL_DT_FLOAT, 1, vd, v2);
    QT_OK(fixture_run(&f, &err));
    check_out(&f, 0, NULL, dot, 1);
    fixture_init(&f, "MatMul", 13, NULL, 0);
    fixture_input(&f, QCAL_DT_FLOAT, 2, ad, a);
    fixture_input(&f, QCAL_DT_FLOAT, 2, bd_bad, b);
    QT_EQ_I64(fixture_run(&f, &err), QCAL_E_SHAPE);
}

int main(void)
{
    QT_RUN(test_conv_basic);
    QT_RUN(test_conv_pad_stride);
    QT_RUN(test_conv_auto_pad);
    QT_RUN(test_conv_depthwise);
    QT_RUN(test_conv_grouped);
    QT_RUN(test_conv_1x1);
    QT_RUN(test_conv_errors);
    QT_RUN(test_convtranspose);
    QT_RUN(test_gemm);
    QT_RUN(test_matmul);
    return qt_report();
}
