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
    const double xd[3] = { NAN, -INFINITY, 0.0 };
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

int main(void)
{
    QT_RUN(test_gelu_positions);
    QT_RUN(test_gelu_bad_approx);
    QT_RUN(test_isinf_isnan);
    QT_RUN(test_sign);
    QT_RUN(test_mish_large);
    return qt_report();
}
