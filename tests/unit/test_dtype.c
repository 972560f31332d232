/*
 * Unit tests of the element types: float16/bfloat16 widening (exact) and rounding to them
 * (qcal__round_narrow: nearest, ties to even, subnormals, overflow to infinity), the Cast kernel
 * to float16/bfloat16 (float32 storage, narrow precision), and dtype names.
 * Expected values: IEEE 754 binary16 and bfloat16 definitions; every half/bfloat16 value and every
 * midpoint between neighbours is checked, so the rounding is pinned down exhaustively.
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "ops/ops.h"
#include "qtest.h"

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Known half values, worked out from the binary16 layout (1 sign, 5 exponent, 10 fraction). */
static void test_half_to_float(void)
{
    QT_EQ_F32_BITS(qcal__half_to_float(0x3c00), 1.0f);
    QT_EQ_F32_BITS(qcal__half_to_float(0xc000), -2.0f);
    QT_EQ_F32_BITS(qcal__half_to_float(0x7bff), 65504.0f);
    QT_EQ_F32_BITS(qcal__half_to_float(0x0001), ldexpf(1.0f, -24));
    QT_EQ_F32_BITS(qcal__half_to_float(0x03ff), ldexpf(1023.0f, -24));
    QT_EQ_F32_BITS(qcal__half_to_float(0x0400), ldexpf(1.0f, -14));
    QT_EQ_F32_BITS(qcal__half_to_float(0x8000), -0.0f);
    QT_EQ_F32_BITS(qcal__half_to_float(0x7c00), INFINITY);
    QT_EQ_F32_BITS(qcal__half_to_float(0xfc00), -INFINITY);
    QT_TRUE(isnan(qcal__half_to_float(0x7e00)));
    QT_EQ_F32_BITS(qcal__half_to_float(0x3555), 0x555 * ldexpf(1.0f, -12) + 0.0f);
    QT_EQ_F32_BITS(qcal__bfloat16_to_float(0x3f80), 1.0f);
    QT_EQ_F32_BITS(qcal__bfloat16_to_float(0xc0a0), -5.0f);
    QT_EQ_F32_BITS(qcal__bfloat16_to_float(0x7f7f), bits_f32(0x7f7f0000u));
    QT_TRUE(isnan(qcal__bfloat16_to_float(0x7fc0)));
}

/* Every finite value maps to itself; midpoints go to the even neighbour; just above or below a
 * midpoint goes to the nearer one. decode: bits -> value, n: count of positive finite values. */
static void check_exhaustive(qcal_dtype dt, float (*decode)(uint16_t), uint16_t n_finite)
{
    int bad_self = 0, bad_mid = 0, bad_near = 0;

    for (uint32_t h = 0; h < n_finite; h++) {
        double v = (double)decode((uint16_t)h), w, mid;
        if (qcal__round_narrow(v, dt) != (float)v || qcal__round_narrow(-v, dt) != -(float)v)
            bad_self++;
        if (h + 1 == n_finite)
            break;
        w = (double)decode((uint16_t)(h + 1));
        mid = (v + w) / 2; /* exact in double */
        if (qcal__round_narrow(mid, dt) != (float)((h & 1) ? w : v) ||
            qcal__round_narrow(-mid, dt) != -(float)((h & 1) ? w : v))
            bad_mid++;
        if (qcal__round_narrow(nextafter(mid, 0.0), dt) != (float)v ||
            qcal__round_narrow(nextafter(mid, (double)INFINITY), dt) != (float)w)
            bad_near++;
    }
    QT_EQ_I64(bad_self, 0);
    QT_EQ_I64(bad_mid, 0);
    QT_EQ_I64(bad_near, 0);
}

static void test_round_half_exhaustive(void)
{
    check_exhaustive(QCAL_DT_FLOAT16, qcal__half_to_float, 0x7c00);
}

static void test_round_bfloat16_exhaustive(void)
{
    check_exhaustive(QCAL_DT_BFLOAT16, qcal__bfloat16_to_float, 0x7f80);
}

/* Edges: overflow at max + half an ulp (the tie goes to the even "2^16", i.e. infinity),
 * underflow at half the smallest subnormal (ties to +-0), NaN and infinities pass. */
static void test_round_edges(void)
{
    QT_EQ_F32_BITS(qcal__round_narrow(65519.99, QCAL_DT_FLOAT16), 65504.0f);
    QT_EQ_F32_BITS(qcal__round_narrow(65520.0, QCAL_DT_FLOAT16), INFINITY);
    QT_EQ_F32_BITS(qcal__round_narrow(-1e6, QCAL_DT_FLOAT16), -INFINITY);
    QT_EQ_F32_BITS(qcal__round_narrow(ldexp(1.0, -25), QCAL_DT_FLOAT16), 0.0f);
    QT_EQ_F32_BITS(qcal__round_narrow(-ldexp(1.0, -25), QCAL_DT_FLOAT16), -0.0f);
    QT_EQ_F32_BITS(qcal__round_narrow(ldexp(1.5, -25), QCAL_DT_FLOAT16), ldexpf(1.0f, -24));
    QT_EQ_F32_BITS(qcal__round_narrow(ldexp(3.0, -25), QCAL_DT_FLOAT16), ldexpf(2.0f, -24));
    QT_EQ_F32_BITS(qcal__round_narrow(1e-30, QCAL_DT_FLOAT16), 0.0f);
    QT_EQ_F32_BITS(qcal__round_narrow(-0.0, QCAL_DT_FLOAT16), -0.0f);
    QT_EQ_F32_BITS(qcal__round_narrow((double)INFINITY, QCAL_DT_FLOAT16), INFINITY);
    QT_TRUE(isnan(qcal__round_narrow((double)NAN, QCAL_DT_BFLOAT16)));
    /* 1 + 2^-11 is the tie between 1 and 1 + 2^-10: even is 1. 1 + 3 * 2^-11 goes up. */
    QT_EQ_F32_BITS(qcal__round_narrow(1.0 + ldexp(1.0, -11), QCAL_DT_FLOAT16), 1.0f);
    QT_EQ_F32_BITS(qcal__round_narrow(1.0 + ldexp(3.0, -11), QCAL_DT_FLOAT16),
                   1.0f + ldexpf(1.0f, -9));
    /* FLT_MAX is above bfloat16's max + half an ulp: infinity. 0.48033667f (0x3ef5eeb0) rounds
     * up to 0x3ef6 (a truncating conversion would give 0x3ef5). */
    QT_EQ_F32_BITS(qcal__round_narrow((double)FLT_MAX, QCAL_DT_BFLOAT16), INFINITY);
    QT_EQ_F32_BITS(qcal__round_narrow((double)bits_f32(0x3ef5eeb0u), QCAL_DT_BFLOAT16),
                   bits_f32(0x3ef60000u));
    QT_EQ_F32_BITS(qcal__round_narrow(ldexp(1.0, -133), QCAL_DT_BFLOAT16), ldexpf(1.0f, -133));
    QT_EQ_F32_BITS(qcal__round_narrow(ldexp(1.0, -134), QCAL_DT_BFLOAT16), 0.0f);
}

/* Cast-19 to float16 through the kernel: float32 output holding float16 values (double input,
 * rounded once from the double, not via float32: 1 + 2^-11 + 2^-40 goes up, while rounding to
 * float32 first would make it the tie 1 + 2^-11, which goes down to 1). */
static void test_cast_kernel_narrow(void)
{
    qcal__tensor x = { 0 }, y = { 0 };
    qcal__tensor *in[1] = { &x }, *out[1] = { &y };
    qcal__attr to = { 0 };
    qcal__node n = { 0 };
    const qcal__op *op = qcal__op_find("Cast", 19);
    double xs[4] = { 1.0 + ldexp(1.0, -11) + ldexp(1.0, -40), 70000.0, -ldexp(1.0, -26), 0.1 };
    float ys[4];
    int64_t dims[1] = { 4 };

    QT_TRUE(op != NULL);
    if (!op)
        return;
    x.name = "x";
    y.name = "y";
    x.kind = QCAL__T_CONST;
    y.kind = QCAL__T_ACT;
    QT_OK(qcal__tensor_set_shape(&x, QCAL_DT_DOUBLE, 1, dims, NULL));
    x.data = xs;
    to.name = "to";
    to.type = QCAL__A_INT;
    to.i = QCAL_DT_FLOAT16;
    n.name = "cast";
    n.op_type = "Cast";
    n.domain = "";
    n.opset = 19;
    n.n_in = 1;
    n.n_out = 1;
    n.in = in;
    n.out = out;
    n.n_attr = 1;
    n.attr = &to;
    n.op = op;
    QT_OK(op->infer(&n, NULL));
    QT_EQ_I64(y.dtype, QCAL_DT_FLOAT);
    QT_EQ_I64(y.narrow, QCAL_DT_FLOAT16);
    y.data = ys;
    op->run(&n, NULL);
    QT_EQ_F32_BITS(ys[0], 1.0f + ldexpf(1.0f, -10));
    QT_EQ_F32_BITS(ys[1], INFINITY);
    QT_EQ_F32_BITS(ys[2], -0.0f);
    QT_EQ_F32_BITS(ys[3], qcal__half_to_float(0x2e66)); /* 0.0999755859375 */
    free(n.params);
}

static void test_names(void)
{
    QT_EQ_STR(qcal_dtype_name(QCAL_DT_FLOAT8E4M3FN), "float8e4m3fn");
    QT_EQ_STR(qcal_dtype_name(QCAL_DT_INT4), "int4");
    QT_EQ_STR(qcal_dtype_name(QCAL_DT_BFLOAT16), "bfloat16");
    QT_EQ_I64(qcal__dtype_held(QCAL_DT_BFLOAT16), QCAL_DT_FLOAT);
    QT_EQ_I64(qcal__dtype_held(QCAL_DT_UINT32), QCAL_DT_UINT32);
}

int main(void)
{
    QT_RUN(test_half_to_float);
    QT_RUN(test_round_half_exhaustive);
    QT_RUN(test_round_bfloat16_exhaustive);
    QT_RUN(test_round_edges);
    QT_RUN(test_cast_kernel_narrow);
    QT_RUN(test_names);
    return qt_report();
}
