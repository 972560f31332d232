/*
 * The operator families added for ONNX 1.17 (trig.c, act.c, bitwise.c, math2.c, groupnorm.c,
 * lppool.c): edge cases the backend suite does not cover. Expected values are worked out by hand
 * in the comments or computed with numpy (stated where so).
 */
#include <math.h>

#include "opnode.h"

/*
 * Gelu runs libm over 64-element blocks, then the polynomial part: the same input value must give
 * the same bits at every position (block starts, ends, tail), for both approximations, and
 * match the formula evaluated in double within float32 rounding.
 */
static void test_gelu_positions(void)
{
    enum { N = 131 };
    static float x[N];
    const char *approx[2] = { "none", "tanh" };

    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 37) % 23) * 0.25f - 2.75f;
    for (int a = 0; a < 2; a++) {
        opnode t = { 0 };
        const float *y;

        opn_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ N }, x);
        opn_str(&t, "approximate", approx[a]);
        QT_OK(opn_run(&t, "Gelu", 20));
        y = t.out[0].data;
        for (int i = 0; i < N; i++) {
            double v = (double)x[i], want;
            if (a == 0)
                want = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
            else
                want = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            QT_NEAR((double)y[i], want, 1e-6 + 1e-6 * fabs(want));
            for (int j = 0; j < i; j++)
                if (x[j] == x[i])
                    QT_EQ_F32_BITS(y[j], y[i]);
        }
        opn_done(&t);
    }
}

/* Gelu refuses an unknown approximation by name. */
static void test_gelu_bad_approx(void)
{
    const float x[1] = { 1.0f };
    opnode t = { 0 };

    opn_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 1 }, x);
    opn_str(&t, "approximate", "erf");
    QT_TRUE(opn_run(&t, "Gelu", 20) == QCAL_E_INVALID);
    QT_TRUE(strstr(t.err.msg, "'erf'") != NULL);
    opn_done(&t);
}

/* IsInf with detect_negative=0 flags only +inf; IsNaN on float64. */
static void test_isinf_isnan(void)
{
    const float x[4] = { -INFINITY, INFINITY, NAN, 1.0f };
    const double xd[3] = { (double)NAN, -(double)INFINITY, 0.0 };
    const uint8_t want_inf[4] = { 0, 1, 0, 0 }, want_nan[3] = { 1, 0, 0 };
    opnode t = { 0 }, u = { 0 };

    opn_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 4 }, x);
    opn_int(&t, "detect_negative", 0);
    QT_OK(opn_run(&t, "IsInf", 20));
    QT_EQ_I64(t.out[0].dtype, QCAL_DT_BOOL);
    QT_EQ_MEM(t.out[0].data, want_inf, sizeof want_inf);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_DOUBLE, 1, (int64_t[]){ 3 }, xd);
    QT_OK(opn_run(&u, "IsNaN", 13));
    QT_EQ_MEM(u.out[0].data, want_nan, sizeof want_nan);
    opn_done(&u);
}

/* Sign: NaN stays NaN, -0 gives +0; integer types, unsigned included. */
static void test_sign(void)
{
    const float x[4] = { -0.0f, NAN, -3.5f, 2.0f };
    const int8_t xi[3] = { -128, 0, 127 }, want_i[3] = { -1, 0, 1 };
    opnode t = { 0 }, u = { 0 };
    const float *y;

    opn_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 4 }, x);
    QT_OK(opn_run(&t, "Sign", 13));
    y = t.out[0].data;
    QT_EQ_F32_BITS(y[0], 0.0f);
    QT_TRUE(isnan(y[1]));
    QT_EQ_F32_BITS(y[2], -1.0f);
    QT_EQ_F32_BITS(y[3], 1.0f);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_INT8, 1, (int64_t[]){ 3 }, xi);
    QT_OK(opn_run(&u, "Sign", 13));
    QT_EQ_MEM(u.out[0].data, want_i, sizeof want_i);
    opn_done(&u);
}

/* Mish does not overflow: exp(100) is inf in float32 but mish(100) = 100. */
static void test_mish_large(void)
{
    const float x[3] = { 100.0f, -100.0f, 0.0f };
    opnode t = { 0 };
    const float *y;

    opn_in(&t, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, x);
    QT_OK(opn_run(&t, "Mish", 22));
    y = t.out[0].data;
    QT_EQ_F32_BITS(y[0], 100.0f);
    QT_TRUE(y[1] <= 0.0f && y[1] > -1e-30f);
    QT_EQ_F32_BITS(y[2], 0.0f);
    opn_done(&t);
}

/* Mod: Python sign rule (fmod=0) for ints and floats, C rule (fmod=1); x % 0 and MIN % -1 give 0. */
static void test_mod(void)
{
    const int32_t a[6] = { 7, -7, 7, -7, INT32_MIN, 5 }, b[6] = { 3, 3, -3, -3, -1, 0 };
    const int32_t want_py[6] = { 1, 2, -2, -1, 0, 0 }, want_c[6] = { 1, -1, 1, -1, 0, 0 };
    const float fa[3] = { 5.5f, -5.5f, 6.0f }, fb[3] = { -2.0f, 2.0f, 3.0f };
    const float want_f[3] = { -0.5f, 0.5f, 0.0f };
    opnode t = { 0 }, u = { 0 }, v = { 0 };

    opn_in(&t, 0, QCAL_DT_INT32, 1, (int64_t[]){ 6 }, a);
    opn_in(&t, 1, QCAL_DT_INT32, 1, (int64_t[]){ 6 }, b);
    QT_OK(opn_run(&t, "Mod", 13));
    QT_EQ_MEM(t.out[0].data, want_py, sizeof want_py);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_INT32, 1, (int64_t[]){ 6 }, a);
    opn_in(&u, 1, QCAL_DT_INT32, 1, (int64_t[]){ 6 }, b);
    opn_int(&u, "fmod", 1);
    QT_OK(opn_run(&u, "Mod", 13));
    QT_EQ_MEM(u.out[0].data, want_c, sizeof want_c);
    opn_done(&u);
    opn_in(&v, 0, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, fa);
    opn_in(&v, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 3 }, fb);
    QT_OK(opn_run(&v, "Mod", 13));
    for (int i = 0; i < 3; i++)
        QT_EQ_F32_BITS(((float *)v.out[0].data)[i], want_f[i]);
    opn_done(&v);
}

/* BitShift by the width or more gives 0; a scalar shift broadcasts. */
static void test_bitshift_wide(void)
{
    const uint8_t x[3] = { 0x81, 0xff, 1 }, s8[3] = { 1, 8, 200 }, want8[3] = { 0x02, 0, 0 };
    const uint64_t x64[2] = { 1, 0x8000000000000000ull }, s64[1] = { 63 };
    const uint64_t want64[2] = { 0, 1 };
    opnode t = { 0 }, u = { 0 };

    opn_in(&t, 0, QCAL_DT_UINT8, 1, (int64_t[]){ 3 }, x);
    opn_in(&t, 1, QCAL_DT_UINT8, 1, (int64_t[]){ 3 }, s8);
    opn_str(&t, "direction", "LEFT");
    QT_OK(opn_run(&t, "BitShift", 11));
    QT_EQ_MEM(t.out[0].data, want8, sizeof want8);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_UINT64, 1, (int64_t[]){ 2 }, x64);
    opn_in(&u, 1, QCAL_DT_UINT64, 0, NULL, s64);
    opn_str(&u, "direction", "RIGHT");
    QT_OK(opn_run(&u, "BitShift", 11));
    QT_EQ_MEM(u.out[0].data, want64, sizeof want64);
    opn_done(&u);
}

/* CumSum exclusive + reverse along axis 0 of a 3x2 int8 (wraps: 100 + 100 = -56). */
static void test_cumsum_int8(void)
{
    const int8_t x[6] = { 1, 100, 2, 100, 3, 100 };
    const int8_t want[6] = { 5, (int8_t)200, 3, 100, 0, 0 };
    const int64_t axis[1] = { 0 };
    opnode t = { 0 };

    opn_in(&t, 0, QCAL_DT_INT8, 2, (int64_t[]){ 3, 2 }, x);
    opn_in(&t, 1, QCAL_DT_INT64, 0, NULL, axis);
    opn_int(&t, "exclusive", 1);
    opn_int(&t, "reverse", 1);
    QT_OK(opn_run(&t, "CumSum", 14));
    QT_EQ_MEM(t.out[0].data, want, sizeof want);
    opn_done(&t);
}

/* Trilu with k = INT64_MIN (lower: all zero; upper: all kept); EyeLike with k beyond the cols. */
static void test_trilu_eyelike_extreme_k(void)
{
    const int32_t x[6] = { 1, 2, 3, 4, 5, 6 }, zero[6] = { 0 };
    const int64_t kmin[1] = { INT64_MIN };
    const uint8_t want_eye[6] = { 0, 0, 1, 0, 0, 0 };
    opnode t = { 0 }, u = { 0 }, e = { 0 }, f = { 0 };

    opn_in(&t, 0, QCAL_DT_INT32, 2, (int64_t[]){ 2, 3 }, x);
    opn_in(&t, 1, QCAL_DT_INT64, 0, NULL, kmin);
    opn_int(&t, "upper", 0);
    QT_OK(opn_run(&t, "Trilu", 14));
    QT_EQ_MEM(t.out[0].data, zero, sizeof zero);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_INT32, 2, (int64_t[]){ 2, 3 }, x);
    opn_in(&u, 1, QCAL_DT_INT64, 0, NULL, kmin);
    QT_OK(opn_run(&u, "Trilu", 14));
    QT_EQ_MEM(u.out[0].data, x, sizeof x);
    opn_done(&u);
    opn_in(&e, 0, QCAL_DT_INT32, 2, (int64_t[]){ 2, 3 }, x);
    opn_int(&e, "k", 2);
    opn_int(&e, "dtype", QCAL_DT_BOOL);
    QT_OK(opn_run(&e, "EyeLike", 9));
    QT_EQ_MEM(e.out[0].data, want_eye, sizeof want_eye);
    opn_done(&e);
    opn_in(&f, 0, QCAL_DT_INT32, 2, (int64_t[]){ 2, 3 }, x);
    opn_int(&f, "k", INT64_MAX);
    opn_int(&f, "dtype", QCAL_DT_INT32);
    QT_OK(opn_run(&f, "EyeLike", 9));
    QT_EQ_MEM(f.out[0].data, zero, sizeof zero);
    opn_done(&f);
}

/*
 * Det of a batch: [[0, 2, 1], [1, 1, 1], [2, 0, 3]] needs a row swap (pivot 0 at the corner):
 * 0*(3-0) - 2*(3-2) + 1*(0-2) = -4; a singular matrix gives 0; numpy.linalg.det agrees.
 */
static void test_det_pivot(void)
{
    const float x[18] = { 0, 2, 1, 1, 1, 1, 2, 0, 3, 1, 2, 3, 2, 4, 6, 0, 1, 0 };
    opnode t = { 0 };
    const float *y;

    opn_in(&t, 0, QCAL_DT_FLOAT, 3, (int64_t[]){ 2, 3, 3 }, x);
    QT_OK(opn_run(&t, "Det", 22));
    QT_EQ_I64(t.out[0].rank, 1);
    y = t.out[0].data;
    QT_EQ_F32_BITS(y[0], -4.0f);
    QT_EQ_F32_BITS(y[1], 0.0f);
    opn_done(&t);
}

/*
 * GroupNormalization: opset 21 takes scale/bias per channel, opsets 18-20 per group. Expected
 * values: numpy in float64 (x.reshape(N, G, -1), population variance, eps 1e-5), rounded to
 * float32; checked to 2e-6 relative.
 */
static void test_groupnorm_versions(void)
{
    static const float x[12] = { 0.5f, -1.25f, 3.0f, 2.0f, 0.0f, -0.75f,
                                 10.0f, 11.5f, 9.0f, 8.25f, 12.0f, 10.5f };
    static const float s21[4] = { 0.5f, 1.0f, 2.0f, -1.0f }, b21[4] = { 0.1f, 0.0f, -0.2f, 0.3f };
    static const float s18[2] = { 2.0f, -0.5f }, b18[2] = { 1.0f, 0.0f };
    static const float want21[12] = { 0.072049215f, -0.5149173f, 0.9105728f, 0.95032674f,
                                      -0.39131102f, -0.89442515f, -0.5179806f, 1.7714796f,
                                      -2.0442874f, 1.7945087f, -1.0673164f, 0.077413596f };
    static const float want18[12] = { 0.8881968f, -1.4596692f, 4.2422915f, 2.9006536f,
                                      0.21737798f, -0.78885037f, 0.07949515f, -0.49286988f,
                                      0.46107182f, 0.7472544f, -0.68365824f, -0.111293204f };
    opnode t = { 0 }, u = { 0 }, w = { 0 };

    opn_in(&t, 0, QCAL_DT_FLOAT, 3, (int64_t[]){ 1, 4, 3 }, x);
    opn_in(&t, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 4 }, s21);
    opn_in(&t, 2, QCAL_DT_FLOAT, 1, (int64_t[]){ 4 }, b21);
    opn_int(&t, "num_groups", 2);
    QT_OK(opn_run(&t, "GroupNormalization", 21));
    for (int i = 0; i < 12; i++)
        QT_NEAR((double)((float *)t.out[0].data)[i], (double)want21[i],
                2e-6 * fabs((double)want21[i]) + 1e-7);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_FLOAT, 3, (int64_t[]){ 1, 4, 3 }, x);
    opn_in(&u, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 2 }, s18);
    opn_in(&u, 2, QCAL_DT_FLOAT, 1, (int64_t[]){ 2 }, b18);
    opn_int(&u, "num_groups", 2);
    QT_OK(opn_run(&u, "GroupNormalization", 18));
    for (int i = 0; i < 12; i++)
        QT_NEAR((double)((float *)u.out[0].data)[i], (double)want18[i],
                2e-6 * fabs((double)want18[i]) + 1e-7);
    opn_done(&u);
    /* Per-group scale at opset 21 is a shape error naming the version's rule. */
    opn_in(&w, 0, QCAL_DT_FLOAT, 3, (int64_t[]){ 1, 4, 3 }, x);
    opn_in(&w, 1, QCAL_DT_FLOAT, 1, (int64_t[]){ 2 }, s18);
    opn_in(&w, 2, QCAL_DT_FLOAT, 1, (int64_t[]){ 2 }, b18);
    opn_int(&w, "num_groups", 2);
    QT_TRUE(opn_run(&w, "GroupNormalization", 21) == QCAL_E_SHAPE);
    QT_TRUE(strstr(w.err.msg, "per channel") != NULL);
    opn_done(&w);
}

/* LpNormalization p=1 and p=2 along axis 0 of [2, 2]; a zero column stays zero. */
static void test_lpnorm(void)
{
    const float x[4] = { 3.0f, 0.0f, -4.0f, 0.0f };
    const float want2[4] = { 0.6f, 0.0f, -0.8f, 0.0f };
    const float want1[4] = { 3.0f / 7.0f, 0.0f, -4.0f / 7.0f, 0.0f };
    opnode t = { 0 }, u = { 0 };

    opn_in(&t, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 2, 2 }, x);
    opn_int(&t, "axis", 0);
    QT_OK(opn_run(&t, "LpNormalization", 1));
    for (int i = 0; i < 4; i++)
        QT_EQ_F32_BITS(((float *)t.out[0].data)[i], want2[i]);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_FLOAT, 2, (int64_t[]){ 2, 2 }, x);
    opn_int(&u, "axis", 0);
    opn_int(&u, "p", 1);
    QT_OK(opn_run(&u, "LpNormalization", 1));
    for (int i = 0; i < 4; i++)
        QT_EQ_F32_BITS(((float *)u.out[0].data)[i], want1[i]);
    opn_done(&u);
}

/*
 * LpPool p=3 with one pad on each side (pads add zeros): windows [0, 1], [1, -2], [-2, 2], [2, 0]
 * give 1, 9^(1/3), 16^(1/3), 2. GlobalLpPool p=1 is the sum of |x|: 5.
 */
static void test_lppool_p3(void)
{
    const float x[3] = { 1.0f, -2.0f, 2.0f };
    int64_t ks[2] = { 1, 2 }, pads[4] = { 0, 1, 0, 1 };
    const double want[4] = { 1.0, cbrt(9.0), cbrt(16.0), 2.0 };
    opnode t = { 0 }, u = { 0 };

    opn_in(&t, 0, QCAL_DT_FLOAT, 4, (int64_t[]){ 1, 1, 1, 3 }, x);
    opn_ints(&t, "kernel_shape", ks, 2);
    opn_ints(&t, "pads", pads, 4);
    opn_int(&t, "p", 3);
    QT_OK(opn_run(&t, "LpPool", 18));
    QT_EQ_I64(t.out[0].dims[3], 4);
    for (int i = 0; i < 4; i++)
        QT_NEAR((double)((float *)t.out[0].data)[i], want[i], 1e-6);
    opn_done(&t);
    opn_in(&u, 0, QCAL_DT_FLOAT, 4, (int64_t[]){ 1, 1, 1, 3 }, x);
    opn_int(&u, "p", 1);
    QT_OK(opn_run(&u, "GlobalLpPool", 2));
    QT_EQ_F32_BITS(((float *)u.out[0].data)[0], 5.0f);
    opn_done(&u);
}

int main(void)
{
    QT_RUN(test_gelu_positions);
    QT_RUN(test_gelu_bad_approx);
    QT_RUN(test_isinf_isnan);
    QT_RUN(test_sign);
    QT_RUN(test_mish_large);
    QT_RUN(test_mod);
    QT_RUN(test_bitshift_wide);
    QT_RUN(test_cumsum_int8);
    QT_RUN(test_trilu_eyelike_extreme_k);
    QT_RUN(test_det_pivot);
    QT_RUN(test_groupnorm_versions);
    QT_RUN(test_lpnorm);
    QT_RUN(test_lppool_p3);
    return qt_report();
}
