/*
 * Encoding math from a range (ALGORITHMS.md §2): asymmetric tf, signed/strict/unsigned symmetric,
 * weights, 32-bit bias; plus the method and symmetry name tables.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "encode/encode.h"
#include "qcal/round.h"

static const char *const METHOD_NAMES[] = { "minmax", "percentile", "entropy", "mse", "enhanced" };
_Static_assert(sizeof METHOD_NAMES / sizeof METHOD_NAMES[0] == QCAL_METHOD_COUNT,
               "one name per qcal_method");

static const char *const SYM_NAMES[] = { "none", "signed", "strict", "unsigned" };
_Static_assert(sizeof SYM_NAMES / sizeof SYM_NAMES[0] == QCAL_SYM_COUNT, "one name per qcal_sym");

/* §2.1 step 2: SNPE/AIMET minimum range. */
#define MIN_RANGE 0.01

void qcal_enc_params_default(qcal_enc_params *p)
{
    memset(p, 0, sizeof *p);
    p->method = QCAL_METHOD_MINMAX;
    p->bitwidth = 8;
    p->sym = QCAL_SYM_NONE;
    p->percentile = QCAL_ENC_DEFAULT_PERCENTILE;
    p->levels = 0;
}

const char *qcal_enc_method_name(qcal_method m)
{
    return (unsigned)m < QCAL_METHOD_COUNT ? METHOD_NAMES[m] : "?";
}

qcal_status qcal_enc_method_parse(const char *name, qcal_method *out, qcal_error *err)
{
    *out = QCAL_METHOD_MINMAX;
    for (int i = 0; name && i < QCAL_METHOD_COUNT; i++) {
        if (strcmp(name, METHOD_NAMES[i]) == 0) {
            *out = (qcal_method)i;
            return QCAL_OK;
        }
    }
    return qcal_error_set(err, QCAL_E_INVALID,
                          "unknown method '%s' (expected minmax, percentile, entropy, mse or "
                          "enhanced)",
                          name ? name : "(null)");
}

const char *qcal_enc_sym_name(qcal_sym s)
{
    return (unsigned)s < QCAL_SYM_COUNT ? SYM_NAMES[s] : "?";
}

qcal_status qcal_enc_sym_parse(const char *name, qcal_sym *out, qcal_error *err)
{
    *out = QCAL_SYM_NONE;
    for (int i = 0; name && i < QCAL_SYM_COUNT; i++) {
        if (strcmp(name, SYM_NAMES[i]) == 0) {
            *out = (qcal_sym)i;
            return QCAL_OK;
        }
    }
    return qcal_error_set(err, QCAL_E_INVALID,
                          "unknown symmetry '%s' (expected none, signed, strict or unsigned)",
                          name ? name : "(null)");
}

/*
 * Rounds a double to float32 once. Sets *ok to false when the value overflows float32 (checked
 * before the conversion, which C leaves undefined out of range). -0.0 becomes +0.0 (§1).
 */
static float to_f32(double x, bool *ok)
{
    float f;

    /* Doubles at or above FLT_MAX + half an ulp round to infinity. */
    if (!(fabs(x) < 0x1.ffffffp127)) {
        *ok = false;
        return 0.0f;
    }
    f = (float)x;
    return f == 0.0f ? 0.0f : f;
}

qcal_status qcal__enc_store(double s, double o, double min, double max, int bitwidth,
                            bool symmetric, qcal_encoding *out, qcal_error *err)
{
    bool ok = true;

    memset(out, 0, sizeof *out);
    out->bitwidth = bitwidth;
    out->scale = to_f32(s, &ok);
    out->offset = (int64_t)o;
    out->min = to_f32(min, &ok);
    out->max = to_f32(max, &ok);
    out->symmetric = symmetric;
    if (!ok || !(out->scale > 0.0f)) {
        memset(out, 0, sizeof *out);
        return qcal_error_set(err, QCAL_E_NUMERIC,
                              "encoding (scale %.9g, offset %.0f) does not fit float32", s, o);
    }
    return QCAL_OK;
}

/* §2.1 steps 3-5 on the zero-including, widened range [m, M] with N steps. */
static qcal_status enc_tf(double m, double M, double N, int bitwidth, bool symmetric,
                          qcal_encoding *out, qcal_error *err)
{
    double s = (M - m) / N;
    double o, min, max;

    if (m < 0.0 && 0.0 < M) {
        double r = qcal_round_half_away(-m / s);

        r = r < 0.0 ? 0.0 : (r > N ? N : r);
        o = 0.0 - r; /* 0.0 - 0.0 is +0.0. */
        min = o * s;
        max = min + N * s;
    } else {
        /* One end is 0: keep m and M themselves (0 when m = 0, -N when M = 0). */
        o = qcal_round_half_away(m / s);
        min = m;
        max = M;
    }
    return qcal__enc_store(s, o, min, max, bitwidth, symmetric, out, err);
}

qcal_status qcal_enc_from_range(double lo, double hi, int bitwidth, qcal_sym sym,
                                qcal_encoding *out, qcal_error *err)
{
    double N, m, M, A, P;

    memset(out, 0, sizeof *out);
    if (bitwidth < 2 || bitwidth > 32)
        return qcal_error_set(err, QCAL_E_INVALID, "bitwidth %d outside 2..32", bitwidth);
    if ((unsigned)sym >= QCAL_SYM_COUNT)
        return qcal_error_set(err, QCAL_E_INVALID, "bad symmetry mode %d", (int)sym);
    if (!isfinite(lo) || !isfinite(hi))
        return qcal_error_set(err, QCAL_E_NUMERIC, "non-finite range [%g, %g]", lo, hi);
    if (lo > hi)
        return qcal_error_set(err, QCAL_E_INVALID, "empty range [%.9g, %.9g]", lo, hi);

    N = ldexp(1.0, bitwidth) - 1.0;
    /* §2.1 steps 1-2: zero inside the range, at least 0.01 wide. */
    m = lo < 0.0 ? lo : 0.0;
    M = hi > 0.0 ? hi : 0.0;
    if (M < m + MIN_RANGE)
        M = m + MIN_RANGE;

    if (sym == QCAL_SYM_NONE)
        return enc_tf(m, M, N, bitwidth, false, out, err);
    if (sym == QCAL_SYM_UNSIGNED && lo >= 0.0)
        return enc_tf(0.0, M, N, bitwidth, true, out, err); /* All codes, offset 0. */

    /* §2.2: P = floor(N/2) positive steps (127 for 8 bits). */
    A = fabs(m) > fabs(M) ? fabs(m) : fabs(M);
    P = floor(N / 2.0);
    if (sym == QCAL_SYM_STRICT)
        return qcal__enc_store(A / P, -P, -A, A, bitwidth, true, out, err);
    {
        double s = A / P;
        double o = -ceil(N / 2.0);

        return qcal__enc_store(s, o, o * s, P * s, bitwidth, true, out, err);
    }
}

qcal_status qcal_enc_weight(float min, float max, int bitwidth, qcal_sym sym, qcal_encoding *out,
                            qcal_error *err)
{
    /* Weights never take the unsigned fallback: per-channel zero points must agree (§2.2). */
    if (sym == QCAL_SYM_UNSIGNED)
        sym = QCAL_SYM_SIGNED;
    return qcal_enc_from_range((double)min, (double)max, bitwidth, sym, out, err);
}

qcal_status qcal_enc_weight_channels(const float *w, size_t outer, size_t channels, size_t inner,
                                     int bitwidth, qcal_sym sym, qcal_encoding *out,
                                     qcal_error *err)
{
    if (outer == 0 || channels == 0 || inner == 0)
        return qcal_error_set(err, QCAL_E_INVALID, "empty weight (%zu x %zu x %zu)", outer,
                              channels, inner);
    if (channels > SIZE_MAX / inner || outer > SIZE_MAX / (channels * inner))
        return qcal_error_set(err, QCAL_E_INVALID, "weight size overflows");

    for (size_t c = 0; c < channels; c++) {
        float mn = w[c * inner], mx = mn;
        qcal_status st;

        for (size_t o = 0; o < outer; o++) {
            const float *row = w + (o * channels + c) * inner;

            for (size_t i = 0; i < inner; i++) {
                float v = row[i];

                if (!isfinite(v))
                    return qcal_error_set(err, QCAL_E_NUMERIC,
                                          "non-finite weight value %g at index %zu", (double)v,
                                          (o * channels + c) * inner + i);
                if (v < mn)
                    mn = v;
                if (v > mx)
                    mx = v;
            }
        }
        /* -0.0 is +0.0 (§1), whatever the order of the zeros. */
        mn = mn == 0.0f ? 0.0f : mn;
        mx = mx == 0.0f ? 0.0f : mx;
        st = qcal_enc_weight(mn, mx, bitwidth, sym, &out[c], err);
        if (st != QCAL_OK)
            return st;
    }
    return QCAL_OK;
}

float qcal_enc_bias_scale(float s_x, float s_w)
{
    return s_x * s_w; /* float32 product, one rounding (ONNX QLinearConv rule). */
}

int32_t qcal_enc_bias_code(float b, float s_b)
{
    double r = qcal_round_half_even((double)b / (double)s_b);

    if (isnan(r))
        return 0;
    if (r >= 2147483647.0)
        return INT32_MAX;
    if (r <= -2147483648.0)
        return INT32_MIN;
    return (int32_t)r;
}

void qcal_enc_float(int bitwidth, qcal_encoding *out)
{
    memset(out, 0, sizeof *out);
    out->bitwidth = bitwidth;
    out->is_float = true;
}

bool qcal_enc_storage_signed(const qcal_encoding *enc)
{
    return !enc->none && !enc->is_float && enc->symmetric && enc->offset < 0;
}

qcal_status qcal__enc_check_params(const qcal_enc_params *p, qcal_error *err)
{
    if ((unsigned)p->method >= QCAL_METHOD_COUNT)
        return qcal_error_set(err, QCAL_E_INVALID, "bad method %d", (int)p->method);
    if (p->bitwidth < 2 || p->bitwidth > 32)
        return qcal_error_set(err, QCAL_E_INVALID, "bitwidth %d outside 2..32", p->bitwidth);
    if ((unsigned)p->sym >= QCAL_SYM_COUNT)
        return qcal_error_set(err, QCAL_E_INVALID, "bad symmetry mode %d", (int)p->sym);
    if (p->method == QCAL_METHOD_PERCENTILE && !(p->percentile > 50.0 && p->percentile <= 100.0))
        return qcal_error_set(err, QCAL_E_INVALID, "percentile %g outside (50, 100]",
                              p->percentile);
    if (p->levels < 0 || p->levels > ((int64_t)1 << 32))
        return qcal_error_set(err, QCAL_E_INVALID, "entropy levels %lld outside 0..2^32",
                              (long long)p->levels);
    return QCAL_OK;
}
