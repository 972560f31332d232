/*
 * Unit tests of the integer operator families (qlinear.c, qconv.c): MatMulInteger,
 * QLinearMatMul, DynamicQuantizeLinear, ConvInteger, QLinearConv. Every expected value is
 * computed by hand in the comments from the spec's integer math; results are exact integers.
 */
#include "hnode.h"
#include "qtest.h"

static const int64_t ONE[1] = { 1 };

/* QLinearMatMul [1,1] x [1,1] with scalar parameters; returns y[0] as an int. */
static int qmm_1x1(qcal_dtype dt, int av, int bv, float ys, int yz)
{
    int8_t a8 = (int8_t)av, b8 = (int8_t)bv, z8 = 0, yz8 = (int8_t)yz;
    uint8_t au = (uint8_t)av, bu = (uint8_t)bv, zu = 0, yzu = (uint8_t)yz;
    const bool s = dt == QCAL_DT_INT8;
    const int64_t d2[2] = { 1, 1 };
    float one = 1.0f;
    qcal_error err;
    hnode h;
    int r;

    h_init(&h, "QLinearMatMul", 21, 1);
    h_in(&h, dt, 2, d2, s ? (void *)&a8 : (void *)&au, false);
    h_in(&h, QCAL_DT_FLOAT, 1, ONE, &one, true);
    h_in(&h, dt, 1, ONE, s ? (void *)&z8 : (void *)&zu, true);
    h_in(&h, dt, 2, d2, s ? (void *)&b8 : (void *)&bu, false);
    h_in(&h, QCAL_DT_FLOAT, 1, ONE, &one, true);
    h_in(&h, dt, 1, ONE, s ? (void *)&z8 : (void *)&zu, true);
    h_in(&h, QCAL_DT_FLOAT, 1, ONE, &ys, true);
    h_in(&h, dt, 1, ONE, s ? (void *)&yz8 : (void *)&yzu, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dtype, dt);
    r = s ? ((const int8_t *)h.out[0]->data)[0] : ((const uint8_t *)h.out[0]->data)[0];
    h_fini(&h);
    return r;
}

/*
 * The spec saturates: 100 * 100 / 0.2 = 50000 -> 255 (uint8), -100 * 100 / 0.5 = -20000 -> -128
 * (int8), 100 * 100 / 0.5 = 20000 -> 127. (The ONNX 1.17 reference wraps instead: onnx/onnx
 * issues 6169 and 7835, fixed by PR 7868.) Ties go to even: 5 * 1 / 2 = 2.5 -> 2,
 * 7 / 2 = 3.5 -> 4, -5 / 2 = -2.5 -> -2, and 5 / 2 + 1 = 3.5 -> 4.
 */
static void test_qlinearmatmul_saturation_and_ties(void)
{
    QT_EQ_I64(qmm_1x1(QCAL_DT_UINT8, 100, 100, 0.2f, 0), 255);
    QT_EQ_I64(qmm_1x1(QCAL_DT_INT8, -100, 100, 0.5f, 0), -128);
    QT_EQ_I64(qmm_1x1(QCAL_DT_INT8, 100, 100, 0.5f, 0), 127);
    QT_EQ_I64(qmm_1x1(QCAL_DT_UINT8, 5, 1, 2.0f, 0), 2);
    QT_EQ_I64(qmm_1x1(QCAL_DT_UINT8, 7, 1, 2.0f, 0), 4);
    QT_EQ_I64(qmm_1x1(QCAL_DT_INT8, -5, 1, 2.0f, 0), -2);
    QT_EQ_I64(qmm_1x1(QCAL_DT_INT8, 5, 1, 2.0f, 1), 4);
}

/*
 * The ONNX 1.17 test_qlinearmatmul_2D_int8_float32 case. numpy on (a + 14) @ (b + 13) *
 * (0.0066 * 0.00705 / 0.0107) - 9 gives rint = [[41, -12, -9], [1, -75, -236]]; -236 saturates
 * to -128 (the suite's expected data holds the wrapped value 20).
 */
static void test_qlinearmatmul_suite_int8(void)
{
    const int8_t a[8] = { 81, 109, -127, 111, -124, 87, -128, -98 };
    const int8_t b[12] = { 25, -76, 117, -67, -101, -128, -127, 0, 119, 0, 127, 120 };
    const int8_t az = -14, bz = -13, yz = -9;
    const int8_t want[6] = { 41, -12, -9, 1, -75, -128 };
    float as = 0.0066f, bs = 0.00705f, ys = 0.0107f;
    const int64_t ad[2] = { 2, 4 }, bd[2] = { 4, 3 };
    qcal_error err;
    hnode h;

    h_init(&h, "QLinearMatMul", 10, 1);
    h_in(&h, QCAL_DT_INT8, 2, ad, a, false);
    h_in(&h, QCAL_DT_FLOAT, 1, ONE, &as, true);
    h_in(&h, QCAL_DT_INT8, 1, ONE, &az, true);
    h_in(&h, QCAL_DT_INT8, 2, bd, b, false);
    h_in(&h, QCAL_DT_FLOAT, 1, ONE, &bs, true);
    h_in(&h, QCAL_DT_INT8, 1, ONE, &bz, true);
    h_in(&h, QCAL_DT_FLOAT, 1, ONE, &ys, true);
    h_in(&h, QCAL_DT_INT8, 1, ONE, &yz, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);
}

/*
 * Per-row a parameters and per-column b parameters: a = [[3, 5], [7, 9]] with zero points (1, 2)
 * and scales (1, 0.5); b = [[1, 2], [3, 4]] with zero points (0, 1) and scales (1, 2); y_scale 1,
 * y_zero_point 10. A' = [[2, 4], [5, 7]], B' = [[1, 1], [3, 3]], A'B' = [[14, 14], [26, 26]];
 * multipliers [[1, 2], [0.5, 1]]: y = [[24, 38], [23, 36]].
 */
static void test_qlinearmatmul_per_row_column(void)
{
    const uint8_t a[4] = { 3, 5, 7, 9 }, b[4] = { 1, 2, 3, 4 };
    const uint8_t az[2] = { 1, 2 }, bz[2] = { 0, 1 }, yz = 10, want[4] = { 24, 38, 23, 36 };
    float as[2] = { 1.0f, 0.5f }, bs[2] = { 1.0f, 2.0f }, ys = 1.0f;
    const int64_t d2[2] = { 2, 2 }, az_dims[2] = { 2, 1 }, bz_dims[1] = { 2 };
    qcal_error err;
    hnode h;

    h_init(&h, "QLinearMatMul", 10, 1);
    h_in(&h, QCAL_DT_UINT8, 2, d2, a, false);
    h_in(&h, QCAL_DT_FLOAT, 2, az_dims, as, true);
    h_in(&h, QCAL_DT_UINT8, 2, az_dims, az, true);
    h_in(&h, QCAL_DT_UINT8, 2, d2, b, false);
    h_in(&h, QCAL_DT_FLOAT, 1, bz_dims, bs, true);
    h_in(&h, QCAL_DT_UINT8, 1, bz_dims, bz, true);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &ys, true);
    h_in(&h, QCAL_DT_UINT8, 0, NULL, &yz, true);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);

    /* Three row scales for two rows is refused at infer. */
    h_init(&h, "QLinearMatMul", 10, 1);
    {
        const int64_t three[1] = { 3 };
        float s3[3] = { 1, 1, 1 };
        const uint8_t z3[3] = { 0, 0, 0 };
        h_in(&h, QCAL_DT_UINT8, 2, d2, a, false);
        h_in(&h, QCAL_DT_FLOAT, 1, three, s3, true);
        h_in(&h, QCAL_DT_UINT8, 1, three, z3, true);
        h_in(&h, QCAL_DT_UINT8, 2, d2, b, false);
        h_in(&h, QCAL_DT_FLOAT, 1, bz_dims, bs, true);
        h_in(&h, QCAL_DT_UINT8, 1, bz_dims, bz, true);
        h_in(&h, QCAL_DT_FLOAT, 0, NULL, &ys, true);
        h_in(&h, QCAL_DT_UINT8, 0, NULL, &yz, true);
        QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
    }
    h_fini(&h);
}

/*
 * MatMulInteger accumulates in int32 and may wrap (the spec): 40000 products 255 * 255 sum to
 * 2601000000, which is 2601000000 - 2^32 = -1693967296 as int32. Also a broadcast batch: A
 * [2, 1, 2] int8 times B [2, 1] uint8 with b_zero_point 1.
 */
static void test_matmulinteger_wrap_and_batch(void)
{
    enum { K = 40000 };
    static uint8_t a[K], b[K];
    const int64_t ad[2] = { 1, K }, bd[2] = { K, 1 };
    qcal_error err;
    hnode h;

    memset(a, 255, sizeof a);
    memset(b, 255, sizeof b);
    h_init(&h, "MatMulInteger", 10, 1);
    h_in(&h, QCAL_DT_UINT8, 2, ad, a, false);
    h_in(&h, QCAL_DT_UINT8, 2, bd, b, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dtype, QCAL_DT_INT32);
    QT_EQ_I64(((const int32_t *)h.out[0]->data)[0], -1693967296);
    h_fini(&h);

    {
        /* A = [[[1, -2]], [[3, 4]]], B' = [5, 7] - 1 = [4, 6]: y = [[[4 - 12]], [[12 + 24]]]. */
        const int8_t a2[4] = { 1, -2, 3, 4 };
        const uint8_t b2[2] = { 5, 7 }, bz = 1;
        const int64_t a2d[3] = { 2, 1, 2 }, b2d[2] = { 2, 1 };
        const int32_t *y;
        h_init(&h, "MatMulInteger", 10, 1);
        h_in(&h, QCAL_DT_INT8, 3, a2d, a2, false);
        h_in(&h, QCAL_DT_UINT8, 2, b2d, b2, false);
        h_skip(&h);
        h_in(&h, QCAL_DT_UINT8, 0, NULL, &bz, true);
        QT_OK(h_run(&h, &err));
        y = h.out[0]->data;
        QT_EQ_I64(h.out[0]->rank, 3);
        QT_EQ_I64(y[0], -8);
        QT_EQ_I64(y[1], 36);
        h_fini(&h);
    }
}

/*
 * DynamicQuantizeLinear: x = (-1, 0, 1.5, 2.5) gives min -1, max 2.5, scale 3.5 / 255,
 * zero point round(1 / scale) = round(72.857) = 73, y = round(x / scale) + 73 = (0, 73, 182,
 * 255). An all-zero input gives scale 0, zero point 0 and zeros (no division by zero).
 */
static void test_dynamicquantize(void)
{
    const float x[4] = { -1.0f, 0.0f, 1.5f, 2.5f }, z[3] = { 0.0f, 0.0f, 0.0f };
    const uint8_t want[4] = { 0, 73, 182, 255 };
    const int64_t d4[1] = { 4 }, d3[1] = { 3 };
    qcal_error err;
    hnode h;

    h_init(&h, "DynamicQuantizeLinear", 11, 3);
    h_in(&h, QCAL_DT_FLOAT, 1, d4, x, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    QT_EQ_F32_BITS(*(const float *)h.out[1]->data, 3.5f / 255.0f);
    QT_EQ_I64(*(const uint8_t *)h.out[2]->data, 73);
    h_fini(&h);

    h_init(&h, "DynamicQuantizeLinear", 11, 3);
    h_in(&h, QCAL_DT_FLOAT, 1, d3, z, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_F32_BITS(*(const float *)h.out[1]->data, 0.0f);
    QT_EQ_I64(*(const uint8_t *)h.out[2]->data, 0);
    QT_EQ_I64(((const uint8_t *)h.out[0]->data)[1], 0);
    h_fini(&h);
}

/*
 * ConvInteger with a per-output-channel weight zero point and padding 1: x 1x1x2x2 = [[10, 11],
 * [12, 13]] with x_zero_point 10 -> X' = [[0, 1], [2, 3]] (the padding counts as 0); w 2x1x1x1 =
 * (5, 7) with zero points (3, 4) -> W' = (2, 3). Output 2 channels of 4x4: the padded X' times 2
 * and times 3: channel 0 row 1 = (0, 0, 2, 0), row 2 = (0, 4, 6, 0).
 */
static void test_convinteger_per_channel_padding(void)
{
    const uint8_t x[4] = { 10, 11, 12, 13 }, xz = 10, w[2] = { 5, 7 }, wz[2] = { 3, 4 };
    const int64_t xd[4] = { 1, 1, 2, 2 }, wd[4] = { 2, 1, 1, 1 }, two[1] = { 2 };
    int64_t pads[4] = { 1, 1, 1, 1 };
    const int32_t *y;
    qcal_error err;
    hnode h;

    h_init(&h, "ConvInteger", 10, 1);
    h_in(&h, QCAL_DT_UINT8, 4, xd, x, false);
    h_in(&h, QCAL_DT_UINT8, 4, wd, w, true);
    h_in(&h, QCAL_DT_UINT8, 0, NULL, &xz, true);
    h_in(&h, QCAL_DT_UINT8, 1, two, wz, true);
    h_ints(&h, "pads", pads, 4);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->nelem, 32);
    y = h.out[0]->data;
    QT_EQ_I64(y[0], 0);
    QT_EQ_I64(y[5], 0);
    QT_EQ_I64(y[6], 2);
    QT_EQ_I64(y[9], 4);
    QT_EQ_I64(y[10], 6);
    QT_EQ_I64(y[16 + 6], 3);
    QT_EQ_I64(y[16 + 10], 9);
    QT_EQ_I64(y[15], 0);
    h_fini(&h);
}

/*
 * QLinearConv 1-D with group 2, bias and per-channel w_scale: x 1x2x3 int8 = [[1, 2, 3],
 * [4, 5, 6]], x_zero_point 1 -> [[0, 1, 2], [3, 4, 5]]; w 2x1x2 = [[1, 1], [2, -1]], zero point 0;
 * B = (10, -100). Channel 0: (0 + 1, 1 + 2) + 10 = (11, 13); channel 1: (6 - 4, 8 - 5) - 100 =
 * (-98, -97). Scales: x 0.5, w (1, 0.25), y 1 -> multipliers 0.5 and 0.125, y_zero_point -3:
 * (5.5 - 3, 6.5 - 3) -> (2.5 -> 2, 3.5 -> 4); (-12.25 - 3, -12.125 - 3) -> (-15, -15).
 */
static void test_qlinearconv_group_bias(void)
{
    const int8_t x[6] = { 1, 2, 3, 4, 5, 6 }, xz = 1, w[4] = { 1, 1, 2, -1 }, wz = 0, yz = -3;
    const int8_t want[4] = { 2, 4, -15, -15 };
    const int32_t bias[2] = { 10, -100 };
    float xs = 0.5f, ws[2] = { 1.0f, 0.25f }, ys = 1.0f;
    const int64_t xd[3] = { 1, 2, 3 }, wd[3] = { 2, 1, 2 }, two[1] = { 2 };
    qcal_error err;
    hnode h;

    h_init(&h, "QLinearConv", 10, 1);
    h_in(&h, QCAL_DT_INT8, 3, xd, x, false);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &xs, true);
    h_in(&h, QCAL_DT_INT8, 0, NULL, &xz, true);
    h_in(&h, QCAL_DT_INT8, 3, wd, w, true);
    h_in(&h, QCAL_DT_FLOAT, 1, two, ws, true);
    h_in(&h, QCAL_DT_INT8, 0, NULL, &wz, true);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &ys, true);
    h_in(&h, QCAL_DT_INT8, 0, NULL, &yz, true);
    h_in(&h, QCAL_DT_INT32, 1, two, bias, true);
    h_int(&h, "group", 2);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->dims[2], 2);
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);
}

/* Hostile geometry: a dilation of 2^62 with a kernel of 3 overflows int64 and is refused at
 * infer (E_SHAPE naming the attribute), as are pads that overflow the padded extent. */
static void test_qconv_geometry_overflow(void)
{
    const uint8_t x[4] = { 0 }, w[3] = { 0 };
    const int64_t xd[3] = { 1, 1, 4 }, wd[3] = { 1, 1, 3 };
    int64_t dil[1] = { INT64_C(1) << 62 }, pads[2] = { INT64_MAX, 1 };
    qcal_error err;
    hnode h;

    h_init(&h, "ConvInteger", 10, 1);
    h_in(&h, QCAL_DT_UINT8, 3, xd, x, false);
    h_in(&h, QCAL_DT_UINT8, 3, wd, w, true);
    h_ints(&h, "dilations", dil, 1);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
    h_fini(&h);

    h_init(&h, "ConvInteger", 10, 1);
    h_in(&h, QCAL_DT_UINT8, 3, xd, x, false);
    h_in(&h, QCAL_DT_UINT8, 3, wd, w, true);
    h_ints(&h, "pads", pads, 2);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
    h_fini(&h);
}

int main(void)
{
    QT_RUN(test_qlinearmatmul_saturation_and_ties);
    QT_RUN(test_qlinearmatmul_suite_int8);
    QT_RUN(test_qlinearmatmul_per_row_column);
    QT_RUN(test_matmulinteger_wrap_and_batch);
    QT_RUN(test_dynamicquantize);
    QT_RUN(test_convinteger_per_channel_padding);
    QT_RUN(test_qlinearconv_group_bias);
    QT_RUN(test_qconv_geometry_overflow);
    return qt_report();
}
