/*
 * Unit tests of the encode module against the test vectors of ALGORITHMS.md §5 (scale bit for
 * bit, offset exactly, min/max as float32), plus hand-derived properties: mirror symmetry of
 * percentile, folding and coarsening, outlier clipping, and the error paths.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "encode/encode.h"
#include "qcal/encode.h"
#include "qcal/round.h"
#include "qtest.h"

static float f32_from_bits(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof f);
    return f;
}

/* Checks one encoding against a vector: scale bits, offset, min and max as float32. */
#define CHECK_ENC(enc, scale_hex, off, mn, mx)                                                   \
    do {                                                                                         \
        QT_EQ_F32_BITS((enc).scale, f32_from_bits(scale_hex));                                   \
        QT_EQ_I64((enc).offset, (off));                                                          \
        QT_EQ_F32_BITS((enc).min, (mn));                                                         \
        QT_EQ_F32_BITS((enc).max, (mx));                                                         \
    } while (0)

static qcal_enc_hist make_hist(int e, int64_t k0, size_t bins, const uint64_t *counts, float dmin,
                               float dmax)
{
    qcal_enc_hist h = { e, k0, bins, counts, dmin, dmax, 0 };

    for (size_t i = 0; i < bins; i++)
        h.total += counts[i];
    return h;
}

static qcal_enc_params params(qcal_method m, qcal_sym sym)
{
    qcal_enc_params p;

    qcal_enc_params_default(&p);
    p.method = m;
    p.sym = sym;
    return p;
}

static void test_rounding(void)
{
    QT_TRUE(qcal_round_half_away(2.5) == 3.0);
    QT_TRUE(qcal_round_half_away(-2.5) == -3.0);
    QT_TRUE(qcal_round_half_away(0.49999999999999994) == 0.0);
    QT_TRUE(qcal_round_half_away(-80.5) == -81.0);
    QT_TRUE(qcal_round_half_away(4503599627370497.0) == 4503599627370497.0);
    QT_TRUE(qcal_round_half_even(2.5) == 2.0);
    QT_TRUE(qcal_round_half_even(3.5) == 4.0);
    QT_TRUE(qcal_round_half_even(-2.5) == -2.0);
    QT_TRUE(qcal_round_half_even(-0.5) == 0.0 && signbit(qcal_round_half_even(-0.5)));
    QT_TRUE(qcal_round_half_even(0.49999999999999994) == 0.0);
    QT_TRUE(qcal_round_half_even(1700.5500001) == 1701.0);
    QT_TRUE(isnan(qcal_round_half_even((double)NAN)) && isinf(qcal_round_half_away(-HUGE_VAL)));
    QT_TRUE(qcal_round_half_awayf(-2.5f) == -3.0f);
    QT_TRUE(qcal_round_half_evenf(-2.5f) == -2.0f);
    QT_TRUE(qcal_round_half_evenf(5.5f) == 6.0f);
}

typedef struct range_vec {
    const char *name;
    float lo, hi;
    int bits;
    qcal_sym sym;
    uint32_t scale_hex;
    int64_t offset;
    float min, max;
} range_vec;

/* ALGORITHMS.md §5, T1-T10 (tf) and S1-S4 (symmetric), activations through from_range. */
static const range_vec RANGE_VECS[] = {
    { "T1", 0.0f, 6.0f, 8, QCAL_SYM_NONE, 0x3cc0c0c1, 0, 0.0f, 6.0f },
    { "T2", -1.5f, 3.2f, 8, QCAL_SYM_NONE, 0x3c96fd64, -81, -1.49294114f, 3.20705891f },
    { "T3", 0.5f, 2.0f, 8, QCAL_SYM_NONE, 0x3c008081, 0, 0.0f, 2.0f },
    { "T4", 0.7f, 0.7f, 8, QCAL_SYM_NONE, 0x3b33e71a, 0, 0.0f, 0.699999988f },
    { "T5", 0.0f, 0.0f, 8, QCAL_SYM_NONE, 0x38247b86, 0, 0.0f, 0.00999999978f },
    { "T6", -2.5f, -2.5f, 8, QCAL_SYM_NONE, 0x3c20a0a1, -255, -2.5f, 0.0f },
    { "T7", -1e-4f, 2e-4f, 8, QCAL_SYM_NONE, 0x38247b86, -3, -0.000117647061f, 0.00988235325f },
    { "T8", -1.8f, 0.5f, 8, QCAL_SYM_NONE, 0x3c13c6fa, -200, -1.80392158f, 0.496078432f },
    { "T9", -1.5f, 3.2f, 16, QCAL_SYM_NONE, 0x389666fd, -20915, -1.49996948f, 3.20003057f },
    { "T9b", 0.0f, 6.0f, 16, QCAL_SYM_NONE, 0x38c000c0, 0, 0.0f, 6.0f },
    { "T10", -2.5f, 252.5f, 8, QCAL_SYM_NONE, 0x3f800000, -3, -3.0f, 252.0f },
    { "S1", -1.5f, 3.2f, 8, QCAL_SYM_SIGNED, 0x3cce69a0, -128, -3.22519684f, 3.2f },
    { "S2", -1.5f, 3.2f, 8, QCAL_SYM_STRICT, 0x3cce69a0, -127, -3.2f, 3.2f },
    { "S3", 0.0f, 6.0f, 8, QCAL_SYM_SIGNED, 0x3d418306, -128, -6.04724407f, 6.0f },
    { "S4", 0.0f, 6.0f, 8, QCAL_SYM_UNSIGNED, 0x3cc0c0c1, 0, 0.0f, 6.0f },
    /* Hand-computed extra: 4-bit tf, s = 1.5/15. */
    { "4bit", 0.0f, 1.5f, 4, QCAL_SYM_NONE, 0x3dcccccd, 0, 0.0f, 1.5f },
};

static void test_range_vectors(void)
{
    for (size_t i = 0; i < sizeof RANGE_VECS / sizeof RANGE_VECS[0]; i++) {
        const range_vec *v = &RANGE_VECS[i];
        qcal_encoding enc;

        fprintf(stderr, "  vector %s\n", v->name);
        QT_OK(qcal_enc_from_range((double)v->lo, (double)v->hi, v->bits, v->sym, &enc, NULL));
        CHECK_ENC(enc, v->scale_hex, v->offset, v->min, v->max);
        QT_EQ_I64(enc.bitwidth, v->bits);
        QT_TRUE(enc.symmetric == (v->sym != QCAL_SYM_NONE));
        QT_TRUE(!enc.is_float && !enc.none);
    }
}

/* T10: the tie -m/s = 2.5 rounds away from zero (offset -3); half-even would give -2. */
static void test_offset_tie(void)
{
    QT_TRUE(qcal_round_half_away(2.5) == 3.0);
    QT_TRUE(qcal_round_half_even(2.5) == 2.0);
}

/* P0-P2 (signed symmetric weights), P0a/P1a (tf weights), and the bias line of §5. */
static void test_weight_vectors(void)
{
    qcal_encoding p0, p1, p2, enc, t2;

    QT_OK(qcal_enc_weight(-0.5f, 0.25f, 8, QCAL_SYM_SIGNED, &p0, NULL));
    CHECK_ENC(p0, 0x3b810204, -128, -0.503937006f, 0.5f);
    QT_OK(qcal_enc_weight(-0.02f, 0.04f, 8, QCAL_SYM_SIGNED, &p1, NULL));
    CHECK_ENC(p1, 0x39a5214d, -128, -0.0403149612f, 0.0399999991f);
    QT_OK(qcal_enc_weight(0.0f, 0.0f, 8, QCAL_SYM_SIGNED, &p2, NULL));
    CHECK_ENC(p2, 0x38a5214d, -128, -0.0100787403f, 0.00999999978f);
    /* Weights never take the unsigned fallback: P2 again with UNSIGNED requested. */
    QT_OK(qcal_enc_weight(0.0f, 0.0f, 8, QCAL_SYM_UNSIGNED, &enc, NULL));
    CHECK_ENC(enc, 0x38a5214d, -128, -0.0100787403f, 0.00999999978f);
    QT_TRUE(enc.symmetric && qcal_enc_storage_signed(&enc));

    QT_OK(qcal_enc_weight(-0.5f, 0.25f, 8, QCAL_SYM_NONE, &enc, NULL));
    CHECK_ENC(enc, 0x3b40c0c1, -170, -0.5f, 0.25f);
    QT_TRUE(!enc.symmetric && !qcal_enc_storage_signed(&enc));
    QT_OK(qcal_enc_weight(-0.02f, 0.04f, 8, QCAL_SYM_NONE, &enc, NULL));
    CHECK_ENC(enc, 0x3976b948, -85, -0.0199999996f, 0.0399999991f);

    /* Bias: T2 input x P0 weight. */
    QT_OK(qcal_enc_from_range(-1.5, (double)3.2f, 8, QCAL_SYM_NONE, &t2, NULL));
    {
        float sb = qcal_enc_bias_scale(t2.scale, p0.scale);

        QT_EQ_F32_BITS(sb, f32_from_bits(0x38982dbf));
        QT_EQ_F32_BITS(qcal_enc_bias_scale(0.0184313729f, 0.00393700786f), 7.25644568e-05f);
        QT_EQ_I64(qcal_enc_bias_code(0.1234f, sb), 1701);
        QT_EQ_I64(qcal_enc_bias_code(-0.1234f, sb), -1701);
    }
    /* Ties to even, saturation and NaN. */
    QT_EQ_I64(qcal_enc_bias_code(2.5f, 1.0f), 2);
    QT_EQ_I64(qcal_enc_bias_code(3.5f, 1.0f), 4);
    QT_EQ_I64(qcal_enc_bias_code(1e30f, 1e-10f), INT32_MAX);
    QT_EQ_I64(qcal_enc_bias_code(-1e30f, 1e-10f), INT32_MIN);
    QT_EQ_I64(qcal_enc_bias_code(NAN, 1.0f), 0);
}

/* Per-channel weights straight from data: P0/P1/P2 along axis 0 and along axis 1. */
static void test_weight_channels(void)
{
    /* [3 channels, 4] (axis 0, outer = 1): channel 2 is all zeros, one of them -0.0. */
    const float w0[] = { 0.1f,   -0.5f, 0.25f, 0.0f, -0.02f, 0.04f,
                         0.01f,  0.0f,  -0.0f, 0.0f, 0.0f,   0.0f };
    /* [2, 3 channels, 2] (axis 1): the same channels split over two outer rows. */
    const float w1[] = { 0.1f, -0.5f, -0.02f, 0.04f, -0.0f, 0.0f,
                         0.25f, 0.0f, 0.01f, 0.0f, 0.0f, 0.0f };
    const float bad[] = { 0.0f, NAN };
    qcal_encoding enc[3];
    qcal_error err;

    QT_OK(qcal_enc_weight_channels(w0, 1, 3, 4, 8, QCAL_SYM_SIGNED, enc, NULL));
    CHECK_ENC(enc[0], 0x3b810204, -128, -0.503937006f, 0.5f);
    CHECK_ENC(enc[1], 0x39a5214d, -128, -0.0403149612f, 0.0399999991f);
    CHECK_ENC(enc[2], 0x38a5214d, -128, -0.0100787403f, 0.00999999978f);
    memset(enc, 0, sizeof enc);
    QT_OK(qcal_enc_weight_channels(w1, 2, 3, 2, 8, QCAL_SYM_UNSIGNED, enc, NULL));
    CHECK_ENC(enc[0], 0x3b810204, -128, -0.503937006f, 0.5f);
    CHECK_ENC(enc[1], 0x39a5214d, -128, -0.0403149612f, 0.0399999991f);
    CHECK_ENC(enc[2], 0x38a5214d, -128, -0.0100787403f, 0.00999999978f);
    QT_OK(qcal_enc_weight_channels(w0, 1, 3, 4, 8, QCAL_SYM_NONE, enc, NULL));
    CHECK_ENC(enc[0], 0x3b40c0c1, -170, -0.5f, 0.25f);
    CHECK_ENC(enc[1], 0x3976b948, -85, -0.0199999996f, 0.0399999991f);
    CHECK_ENC(enc[2], 0x38247b86, 0, 0.0f, 0.00999999978f);
    /* Per-tensor: one channel over everything. */
    QT_OK(qcal_enc_weight_channels(w0, 1, 1, 12, 8, QCAL_SYM_SIGNED, enc, NULL));
    CHECK_ENC(enc[0], 0x3b810204, -128, -0.503937006f, 0.5f);

    QT_EQ_I64(qcal_enc_weight_channels(bad, 1, 1, 2, 8, QCAL_SYM_NONE, enc, &err),
              QCAL_E_NUMERIC);
    QT_EQ_I64(err.code, QCAL_E_NUMERIC);
    QT_EQ_I64(qcal_enc_weight_channels(w0, 0, 1, 2, 8, QCAL_SYM_NONE, enc, &err), QCAL_E_INVALID);
}

/* H1: B = 12, e = -2, k0 = -4, T = 100, data [-0.97, 1.93]. */
static const uint64_t H1[12] = { 1, 0, 2, 5, 20, 40, 20, 8, 2, 1, 0, 1 };

static void test_h1_percentile(void)
{
    qcal_enc_hist h = make_hist(-2, -4, 12, H1, -0.97f, 1.93f);
    qcal_enc_params p = params(QCAL_METHOD_PERCENTILE, QCAL_SYM_NONE);
    qcal_encoding enc;
    double lo, hi;

    QT_EQ_U64(h.total, 100);
    p.percentile = 95.0;
    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE(lo == -0.25 && hi == 1.0);
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3ba0a0a1, -51, -0.25f, 1.0f);

    p.percentile = 99.0;
    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE(lo == -0.5 && hi == 1.5);
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3c008081, -64, -0.501960814f, 1.49803925f);

    p.percentile = 100.0;
    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE(lo == (double)-0.97f && hi == (double)1.93f);

    /* Symmetric p = 95: folded [25, 42, 20, 9, 2, 1, 0, 1] -> hi = 1.0 -> [-0.97, 1.0], signed
     * (dmin < 0, so UNSIGNED gives the same). */
    p.percentile = 95.0;
    p.sym = QCAL_SYM_SIGNED;
    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE(lo == (double)-0.97f && hi == 1.0);
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3c010204, -128, -1.00787401f, 1.0f);
    p.sym = QCAL_SYM_UNSIGNED;
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3c010204, -128, -1.00787401f, 1.0f);
    QT_TRUE(enc.symmetric);
}

/* The folded H1 histogram of §5 and the mirror rule of §3.2 (x -> -x mirrors the range). */
static void test_percentile_fold_mirror(void)
{
    const uint64_t folded[8] = { 25, 42, 20, 9, 2, 1, 0, 1 };
    uint64_t mirror[12];
    qcal_enc_hist h = make_hist(-2, -4, 12, H1, -0.97f, 1.93f);
    qcal_enc_hist hm;
    qcal_enc_params p = params(QCAL_METHOD_PERCENTILE, QCAL_SYM_NONE);
    qcal__enc_fold f;
    double lo, hi;

    QT_OK(qcal__enc_fold_hist(&h, 0, &f, NULL));
    QT_EQ_I64(f.e, -2);
    QT_EQ_I64(f.j0, 0);
    QT_EQ_U64(f.n, 8);
    if (f.n == 8)
        QT_EQ_MEM(f.c, folded, sizeof folded);
    qcal__enc_fold_fini(&f);
    qcal__enc_fold_fini(&f);

    /* Bin k of the mirror is -k - 1 of the original: k0 = -8, counts reversed. */
    for (int i = 0; i < 12; i++)
        mirror[i] = H1[11 - i];
    hm = make_hist(-2, -8, 12, mirror, -1.93f, 0.97f);
    p.percentile = 95.0;
    QT_OK(qcal_enc_range(&hm, &p, &lo, &hi, NULL));
    QT_TRUE(lo == -1.0 && hi == 0.25);
    p.percentile = 99.0;
    QT_OK(qcal_enc_range(&hm, &p, &lo, &hi, NULL));
    QT_TRUE(lo == -1.5 && hi == 0.5);
    /* The folded mirror is the same |x| histogram: symmetric p = 95 gives [-1.0, 0.97]. */
    p.percentile = 95.0;
    p.sym = QCAL_SYM_STRICT;
    QT_OK(qcal_enc_range(&hm, &p, &lo, &hi, NULL));
    QT_TRUE(lo == -1.0 && hi == (double)0.97f);
}

/*
 * Default p = 99.99 with T = 10^4: the tail budget is exactly one value. The comparison
 * C * 10^6 > (10^6 - P) * T is strict, so one outlier per side is clipped and two are not.
 */
static void test_percentile_exact_budget(void)
{
    const uint64_t one[3] = { 1, 9998, 1 };
    const uint64_t two[3] = { 2, 9996, 2 };
    qcal_enc_hist h = make_hist(0, -1, 3, one, -0.5f, 1.5f);
    qcal_enc_params p = params(QCAL_METHOD_PERCENTILE, QCAL_SYM_NONE);
    double lo, hi;

    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE(lo == 0.0 && hi == 1.0);
    h = make_hist(0, -1, 3, two, -0.5f, 1.5f);
    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE(lo == -0.5 && hi == 1.5);
}

/* H2: abs histogram c, w = 0.5, L = 4, KL per candidate from §5, amax = 2.5. */
static const uint64_t H2[8] = { 40, 30, 15, 8, 4, 2, 0, 1 };

static void test_h2_entropy(void)
{
    const double kl_doc[5] = { 0.021721, 0.015881, 0.016077, 0.103442, 0.021388 };
    double p[8], q[8], lo, hi;
    uint64_t neg[8];
    qcal_enc_hist h = make_hist(-1, 0, 8, H2, 0.0f, 3.9f);
    qcal_enc_hist hn;
    qcal_enc_params par = params(QCAL_METHOD_ENTROPY, QCAL_SYM_NONE);
    qcal_encoding enc;

    for (size_t i = 4; i <= 8; i++)
        QT_NEAR(qcal__enc_entropy_kl(H2, 8, 4, i, p, q), kl_doc[i - 4], 6e-7);

    par.levels = 4;
    QT_OK(qcal_enc_range(&h, &par, &lo, &hi, NULL));
    QT_TRUE(lo == 0.0 && hi == 2.5);
    par.sym = QCAL_SYM_SIGNED;
    QT_OK(qcal_enc_compute(&h, &par, &enc, NULL));
    CHECK_ENC(enc, 0x3ca14285, -128, -2.51968503f, 2.5f);
    par.sym = QCAL_SYM_UNSIGNED;
    QT_OK(qcal_enc_compute(&h, &par, &enc, NULL));
    CHECK_ENC(enc, 0x3c20a0a1, 0, 0.0f, 2.5f);
    QT_TRUE(enc.symmetric && !qcal_enc_storage_signed(&enc));
    par.sym = QCAL_SYM_NONE;
    QT_OK(qcal_enc_compute(&h, &par, &enc, NULL));
    CHECK_ENC(enc, 0x3c20a0a1, 0, 0.0f, 2.5f);
    /* Default levels (256 for unsigned data) exceed J = 8: nothing is clipped. */
    par.levels = 0;
    QT_OK(qcal_enc_range(&h, &par, &lo, &hi, NULL));
    QT_TRUE(lo == 0.0 && hi == (double)3.9f);

    /* The same |x| histogram from negative data: bins k = -8..-1 fold onto j = 7..0. */
    for (int i = 0; i < 8; i++)
        neg[i] = H2[7 - i];
    hn = make_hist(-1, -8, 8, neg, -3.9f, -0.1f);
    par.levels = 4;
    QT_OK(qcal_enc_range(&hn, &par, &lo, &hi, NULL));
    QT_TRUE(lo == -2.5 && hi == (double)-0.1f);
    QT_OK(qcal_enc_compute(&hn, &par, &enc, NULL));
    CHECK_ENC(enc, 0x3c20a0a1, -255, -2.5f, 0.0f);
}

/* Entropy on data far from 0 (J >> B): coarsening keeps the work at B bins (§3.3). */
static void test_entropy_coarsen(void)
{
    uint64_t c[16] = { 0 };
    const int64_t k0 = (int64_t)1 << 20;
    qcal_enc_hist h;
    qcal_enc_params par = params(QCAL_METHOD_ENTROPY, QCAL_SYM_NONE);
    qcal__enc_fold f;
    double lo, hi;

    c[0] = 3;
    c[5] = 7;
    c[15] = 1;
    /* w = 2^-10: data in [1024, 1024 + 16/1024). */
    h = make_hist(-10, k0, 16, c, 1024.0f, (float)((double)(k0 + 15) / 1024.0));
    /* J - 1 = 2^20 + 15: smallest s with (J-1) >> s < 16 is 17, so everything lands in bin 8. */
    QT_OK(qcal__enc_fold_hist(&h, 16, &f, NULL));
    QT_EQ_I64(f.e, -10 + 17);
    QT_EQ_I64(f.j0, 8);
    QT_EQ_U64(f.n, 1);
    QT_EQ_U64(f.n ? f.c[0] : 0, 11);
    qcal__enc_fold_fini(&f);
    /* Candidates i < 9 see no data (KL = inf); i = 9 keeps everything: amax = amax_exact. */
    par.levels = 4;
    QT_OK(qcal_enc_range(&h, &par, &lo, &hi, NULL));
    QT_TRUE(lo == 1024.0 && hi == (double)h.dmax);
}

/* H3: enhanced (gamma 3) and mse (gamma 1) on H1; the long-tail case equals tf minmax. */
static void test_h3_enhanced(void)
{
    uint64_t lt[64] = { 5, 10, 40, 200, 400, 200, 40, 10 };
    qcal_enc_hist h = make_hist(-2, -4, 12, H1, -0.97f, 1.93f);
    qcal_enc_hist hl;
    qcal_enc_params p = params(QCAL_METHOD_ENHANCED, QCAL_SYM_NONE);
    qcal_encoding enc;
    double lo, hi;

    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3c3a53ed, -85, -0.966666639f, 1.93333328f);
    QT_TRUE(!enc.symmetric);
    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE((float)lo == -0.966666639f && (float)hi == 1.93333328f);
    p.method = QCAL_METHOD_MSE;
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3c3a53ed, -85, -0.966666639f, 1.93333328f);

    lt[59 + 4] = 1;
    hl = make_hist(-2, -4, 64, lt, -1.0f, 14.9f);
    QT_EQ_U64(hl.total, 906);
    for (int m = 0; m < 3; m++) {
        const qcal_method ms[3] = { QCAL_METHOD_ENHANCED, QCAL_METHOD_MSE, QCAL_METHOD_MINMAX };

        p.method = ms[m];
        QT_OK(qcal_enc_compute(&hl, &p, &enc, NULL));
        CHECK_ENC(enc, 0x3d7f65cc, -16, -0.997647047f, 14.9023523f);
    }
}

/* H4: B = 1024, e = -6, k0 = -64, a triangle on [-1, 1) plus one count at k = 639. */
static void fill_h4(uint64_t *c)
{
    memset(c, 0, 1024 * sizeof *c);
    for (int64_t k = -64; k < 64; k++)
        c[k + 64] = (uint64_t)(1000 * (64 - (k > -1 - k ? k : -1 - k)));
    c[639 + 64] = 1;
}

static void test_h4(void)
{
    uint64_t *c = malloc(1024 * sizeof *c);
    qcal_enc_hist h;
    qcal_enc_params p = params(QCAL_METHOD_ENHANCED, QCAL_SYM_NONE);
    qcal_encoding enc;
    double lo, hi;

    if (!c) {
        QT_TRUE(c != NULL);
        return;
    }
    fill_h4(c);
    h = make_hist(-6, -64, 1024, c, -1.0f, 9.9921875f);
    QT_EQ_U64(h.total, 4160001);

    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3c7c35e8, -64, -0.985197544f, 2.9401989f);
    p.method = QCAL_METHOD_MSE;
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    CHECK_ENC(enc, 0x3c00c9d3, -126, -0.990437925f, 1.01401985f);

    /* Symmetric (dmin < 0: signed and unsigned modes agree), both gammas. */
    for (int i = 0; i < 4; i++) {
        p.method = i < 2 ? QCAL_METHOD_ENHANCED : QCAL_METHOD_MSE;
        p.sym = i % 2 ? QCAL_SYM_UNSIGNED : QCAL_SYM_SIGNED;
        QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
        CHECK_ENC(enc, 0x3c0066cd, -128, -1.00313723f, 0.995300233f);
        QT_TRUE(enc.symmetric && qcal_enc_storage_signed(&enc));
    }

    /* Strict (not in §5): offset -127, 254 steps, so max = -min exactly. */
    p.sym = QCAL_SYM_STRICT;
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    QT_EQ_I64(enc.offset, -127);
    QT_EQ_F32_BITS(enc.max, -enc.min);

    p = params(QCAL_METHOD_ENTROPY, QCAL_SYM_NONE);
    QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
    QT_TRUE(lo == -1.0 && hi == 2.0);
    p.method = QCAL_METHOD_MINMAX;
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    QT_EQ_F32_BITS(enc.scale, 0.0431066193f);
    free(c);
}

/*
 * A Gaussian-like histogram (sigma 1, 10^7 values on [-4, 4)) and two far outliers at 30:
 * percentile, entropy, mse and enhanced clip them (hi well below 30), minmax keeps them.
 * Observed (asymmetric / signed): percentile [-3.67, 3.64] / [-3.81, 3.78], entropy
 * [-4.02, 3.98] / [-4.03, 4], mse [-4.02, 3.98] / [-3.92, 3.88], enhanced [-3.92, 6.71] /
 * [-3.92, 3.88], minmax [-4, 30] / [-30.2, 30].
 */
static void test_outliers(void)
{
    const size_t B = 4096;
    const int e = -6;
    const int64_t k0 = -256;
    uint64_t *c = calloc(B, sizeof *c);
    qcal_enc_hist h;
    qcal_encoding enc;

    if (!c) {
        QT_TRUE(c != NULL);
        return;
    }
    for (int64_t k = -256; k < 256; k++) {
        double x = ((double)k + 0.5) / 64.0;

        c[k - k0] = (uint64_t)(1e7 / 64.0 * 0.3989422804 * exp(-0.5 * x * x) + 0.5);
    }
    c[30 * 64 - k0] = 2;
    h = make_hist(e, k0, B, c, -4.0f, 30.0f);

    for (int m = 0; m < QCAL_METHOD_COUNT; m++) {
        for (int s = 0; s < 2; s++) {
            qcal_enc_params p = params((qcal_method)m, s ? QCAL_SYM_SIGNED : QCAL_SYM_NONE);

            fprintf(stderr, "  method %s %s\n", qcal_enc_method_name(p.method),
                    qcal_enc_sym_name(p.sym));
            QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
            if (m == QCAL_METHOD_MINMAX) {
                QT_TRUE(enc.max >= 30.0f);
            } else {
                /* Enhanced's coarse asymmetric grid stops at 6.7 (gamma 3 also punishes
                 * clipping the Gaussian tail); all others end near 4. */
                QT_TRUE(enc.max < 10.0f && enc.max > 2.0f);
                QT_TRUE(enc.min > -6.0f && enc.min < -2.0f);
            }
        }
    }
    {
        qcal_enc_params p = params(QCAL_METHOD_ENTROPY, QCAL_SYM_SIGNED);
        double lo, hi;

        /* Independent reference (Python, §3.3 as written): KL is smallest at i = 256, 4.0. */
        QT_OK(qcal_enc_range(&h, &p, &lo, &hi, NULL));
        QT_TRUE(lo == -4.0 && hi == 4.0);
    }
    free(c);
}

static void test_no_data_and_errors(void)
{
    uint64_t c[4] = { 1, 2, 0, 1 };
    qcal_enc_hist empty = { 0, 0, 0, NULL, NAN, NAN, 0 };
    qcal_enc_hist h = make_hist(0, -2, 4, c, -1.5f, 1.5f);
    qcal_enc_params p = params(QCAL_METHOD_PERCENTILE, QCAL_SYM_NONE);
    qcal_encoding enc;
    qcal_error err;
    double lo, hi;

    QT_OK(qcal_enc_compute(&empty, &p, &enc, NULL));
    QT_TRUE(enc.none && enc.bitwidth == 8 && enc.scale == 0.0f);
    QT_OK(qcal_enc_range(&empty, &p, &lo, &hi, NULL));
    QT_TRUE(isnan(lo) && isnan(hi));
    QT_OK(qcal_enc_compute(&h, &p, &enc, NULL));
    QT_TRUE(!enc.none);

    p.percentile = 50.0;
    QT_EQ_I64(qcal_enc_compute(&h, &p, &enc, &err), QCAL_E_INVALID);
    QT_TRUE(enc.scale == 0.0f);
    p.percentile = 100.5;
    QT_EQ_I64(qcal_enc_compute(&h, &p, &enc, &err), QCAL_E_INVALID);
    p = params(QCAL_METHOD_MINMAX, QCAL_SYM_NONE);
    p.bitwidth = 1;
    QT_EQ_I64(qcal_enc_compute(&h, &p, &enc, &err), QCAL_E_INVALID);
    p.bitwidth = 8;
    h.total = 5;
    QT_EQ_I64(qcal_enc_compute(&h, &p, &enc, &err), QCAL_E_INVALID);
    h.total = 4;
    h.dmin = -0.5f; /* Not in the first non-empty bin [-2, -1). */
    QT_EQ_I64(qcal_enc_compute(&h, &p, &enc, &err), QCAL_E_INVALID);

    QT_EQ_I64(qcal_enc_from_range(1.0, -1.0, 8, QCAL_SYM_NONE, &enc, &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_enc_from_range((double)NAN, 1.0, 8, QCAL_SYM_NONE, &enc, &err), QCAL_E_NUMERIC);
    QT_EQ_I64(qcal_enc_from_range(-(double)FLT_MAX, (double)FLT_MAX, 8, QCAL_SYM_SIGNED, &enc,
                                  &err),
              QCAL_E_NUMERIC);
    QT_EQ_I64(err.code, QCAL_E_NUMERIC);
    /* Strict keeps min = -A exactly: no overflow. */
    QT_OK(qcal_enc_from_range(-(double)FLT_MAX, (double)FLT_MAX, 8, QCAL_SYM_STRICT, &enc, NULL));
    QT_TRUE(enc.max == FLT_MAX && enc.min == -FLT_MAX);
}

static void test_names(void)
{
    qcal_method m;
    qcal_sym s;
    qcal_error err;

    for (int i = 0; i < QCAL_METHOD_COUNT; i++) {
        QT_OK(qcal_enc_method_parse(qcal_enc_method_name((qcal_method)i), &m, NULL));
        QT_EQ_I64(m, i);
    }
    for (int i = 0; i < QCAL_SYM_COUNT; i++) {
        QT_OK(qcal_enc_sym_parse(qcal_enc_sym_name((qcal_sym)i), &s, NULL));
        QT_EQ_I64(s, i);
    }
    QT_EQ_STR(qcal_enc_method_name(QCAL_METHOD_ENHANCED), "enhanced");
    QT_EQ_STR(qcal_enc_sym_name(QCAL_SYM_UNSIGNED), "unsigned");
    QT_EQ_I64(qcal_enc_method_parse("kl", &m, &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_enc_sym_parse(NULL, &s, &err), QCAL_E_INVALID);
    QT_EQ_STR(qcal_enc_method_name((qcal_method)99), "?");
    {
        qcal_encoding f;

        qcal_enc_float(16, &f);
        QT_TRUE(f.is_float && f.bitwidth == 16 && !qcal_enc_storage_signed(&f));
    }
}

int main(void)
{
    QT_RUN(test_rounding);
    QT_RUN(test_range_vectors);
    QT_RUN(test_offset_tie);
    QT_RUN(test_weight_vectors);
    QT_RUN(test_weight_channels);
    QT_RUN(test_h1_percentile);
    QT_RUN(test_percentile_fold_mirror);
    QT_RUN(test_percentile_exact_budget);
    QT_RUN(test_h2_entropy);
    QT_RUN(test_entropy_coarsen);
    QT_RUN(test_h3_enhanced);
    QT_RUN(test_h4);
    QT_RUN(test_outliers);
    QT_RUN(test_no_data_and_errors);
    QT_RUN(test_names);
    return qt_report();
}
