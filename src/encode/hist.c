/*
 * Calibration over a histogram (ALGORITHMS.md §3): checks, folding to |x|, minmax and percentile,
 * and the qcal_enc_compute / qcal_enc_range entry points that dispatch to every method.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encode/encode.h"
#include "qcal/round.h"

/* Percentile comparisons are exact in 128-bit integers (§3.2); gcc and clang provide them. */
__extension__ typedef unsigned __int128 u128;

#define PPM 1000000u

qcal_status qcal__enc_check_hist(const qcal_enc_hist *h, qcal_error *err)
{
    uint64_t sum = 0;
    size_t first = SIZE_MAX, last = 0;
    double w, kf, kl;

    if (h->bins == 0 || !h->counts)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram has no bins");
    if (h->bins > ((size_t)1 << 31))
        return qcal_error_set(err, QCAL_E_INVALID, "histogram has %zu bins (max 2^31)", h->bins);
    /* Bin indices must be exact doubles and bin edges finite. */
    if (h->e < -1000 || h->e > 900 || h->k0 < -((int64_t)1 << 52) ||
        h->k0 > ((int64_t)1 << 52) - (int64_t)h->bins)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram window e=%d k0=%lld out of range",
                              h->e, (long long)h->k0);
    if (!isfinite(h->dmin) || !isfinite(h->dmax) || h->dmin > h->dmax)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram data range [%g, %g] is not valid",
                              (double)h->dmin, (double)h->dmax);
    for (size_t i = 0; i < h->bins; i++) {
        uint64_t c = h->counts[i];

        if (c == 0)
            continue;
        if (sum > UINT64_MAX - c)
            return qcal_error_set(err, QCAL_E_INVALID, "histogram counts overflow uint64");
        sum += c;
        if (first == SIZE_MAX)
            first = i;
        last = i;
    }
    if (sum != h->total)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram counts sum to %llu but the finite count is %llu",
                              (unsigned long long)sum, (unsigned long long)h->total);
    /* dmin and dmax must fall in the first and last non-empty bins (DESIGN.md: insert rule). */
    w = ldexp(1.0, h->e);
    kf = floor((double)h->dmin / w);
    kl = floor((double)h->dmax / w);
    if (kf != (double)(h->k0 + (int64_t)first) || kl != (double)(h->k0 + (int64_t)last))
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram bins %lld..%lld do not hold the data range [%.9g, %.9g]",
                              (long long)(h->k0 + (int64_t)first),
                              (long long)(h->k0 + (int64_t)last), (double)h->dmin,
                              (double)h->dmax);
    return QCAL_OK;
}

/* Abs bin of signed bin k (§3 "Folding"): k >= 0 -> k, k < 0 -> -k - 1. */
static int64_t abs_bin(int64_t k)
{
    return k >= 0 ? k : -k - 1;
}

qcal_status qcal__enc_fold_hist(const qcal_enc_hist *h, int64_t max_j, qcal__enc_fold *out,
                                qcal_error *err)
{
    int64_t jmin = INT64_MAX, jmax = -1;
    int s = 0;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < h->bins; i++) {
        int64_t j;

        if (h->counts[i] == 0)
            continue;
        j = abs_bin(h->k0 + (int64_t)i);
        jmin = j < jmin ? j : jmin;
        jmax = j > jmax ? j : jmax;
    }
    if (jmax < 0)
        return qcal_error_set(err, QCAL_E_INVALID, "empty histogram cannot be folded");
    /* §3.3: smallest s with floor((J - 1) / 2^s) < B, where J - 1 = jmax. */
    if (max_j > 0 && jmax + 1 > max_j)
        while ((jmax >> s) >= max_j)
            s++;
    out->e = h->e + s;
    out->j0 = jmin >> s;
    /* Both signs within B bins of each other, or one sign only: the span is at most B. */
    out->n = (size_t)((jmax >> s) - out->j0 + 1);
    out->c = calloc(out->n, sizeof out->c[0]);
    if (!out->c) {
        out->n = 0;
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory folding a histogram");
    }
    for (size_t i = 0; i < h->bins; i++) {
        if (h->counts[i] != 0)
            out->c[(abs_bin(h->k0 + (int64_t)i) >> s) - out->j0] += h->counts[i];
    }
    return QCAL_OK;
}

void qcal__enc_fold_fini(qcal__enc_fold *f)
{
    if (!f)
        return;
    free(f->c);
    f->c = NULL;
    f->n = 0;
}

/* True when the cumulative count C is above the tail budget: C * 10^6 > (10^6 - P) * T. */
static bool above_budget(uint64_t C, u128 budget)
{
    return (u128)C * PPM > budget;
}

qcal_status qcal__enc_percentile_range(const qcal_enc_hist *h, double p, bool symmetric,
                                       double *lo, double *hi, qcal_error *err)
{
    /* P in parts per million; 50 < p <= 100 was checked, so 500000 < P <= 10^6. */
    uint64_t P = (uint64_t)qcal_round_half_away(p * 1e4);
    u128 budget = (u128)(PPM - P) * h->total;
    uint64_t C = 0;

    *lo = (double)h->dmin;
    *hi = (double)h->dmax;
    if (symmetric) {
        qcal__enc_fold f;
        qcal_status st = qcal__enc_fold_hist(h, 0, &f, err);

        if (st != QCAL_OK)
            return st;
        /* One tail on |x|: largest j whose upper cumulative count exceeds the budget. */
        for (size_t i = f.n; i-- > 0;) {
            C += f.c[i];
            if (above_budget(C, budget)) {
                double a = ldexp((double)(f.j0 + (int64_t)i + 1), f.e);

                *lo = -a > *lo ? -a : *lo;
                *hi = a < *hi ? a : *hi;
                break;
            }
        }
        qcal__enc_fold_fini(&f);
        return QCAL_OK;
    }
    for (size_t i = 0; i < h->bins; i++) {
        C += h->counts[i];
        if (above_budget(C, budget)) {
            double a = ldexp((double)(h->k0 + (int64_t)i), h->e);

            *lo = a > *lo ? a : *lo;
            break;
        }
    }
    C = 0;
    for (size_t i = h->bins; i-- > 0;) {
        C += h->counts[i];
        if (above_budget(C, budget)) {
            double a = ldexp((double)(h->k0 + (int64_t)i + 1), h->e);

            *hi = a < *hi ? a : *hi;
            break;
        }
    }
    return QCAL_OK;
}

/*
 * The clamped range of minmax, percentile or entropy (§3) for a checked histogram with
 * total > 0. A symmetric target uses the folded variants.
 */
static qcal_status method_range(const qcal_enc_hist *h, const qcal_enc_params *p, double *lo,
                                double *hi, qcal_error *err)
{
    bool symmetric = p->sym != QCAL_SYM_NONE;
    double dmin = (double)h->dmin, dmax = (double)h->dmax;
    double amax;
    qcal_status st;

    switch (p->method) {
    case QCAL_METHOD_MINMAX:
        *lo = dmin;
        *hi = dmax;
        return QCAL_OK;
    case QCAL_METHOD_PERCENTILE:
        return qcal__enc_percentile_range(h, p->percentile, symmetric, lo, hi, err);
    case QCAL_METHOD_ENTROPY:
        st = qcal__enc_entropy_amax(h, p->bitwidth, p->levels, &amax, err);
        if (st != QCAL_OK)
            return st;
        /* Symmetric [-amax, amax] and asymmetric [max(-amax, dmin), min(amax, dmax)] agree
         * once clamped to the data (§3). */
        *lo = -amax > dmin ? -amax : dmin;
        *hi = amax < dmax ? amax : dmax;
        return QCAL_OK;
    default:
        return qcal_error_set(err, QCAL_E_INVALID, "method %s has no range step",
                              qcal_enc_method_name(p->method));
    }
}

static bool is_search(qcal_method m)
{
    return m == QCAL_METHOD_MSE || m == QCAL_METHOD_ENHANCED;
}

/* §3.4/§3.5: mse is the enhanced search with gamma = 1, enhanced uses gamma = 3. */
static double search_gamma(qcal_method m)
{
    return m == QCAL_METHOD_MSE ? 1.0 : 3.0;
}

qcal_status qcal_enc_compute(const qcal_enc_hist *h, const qcal_enc_params *p, qcal_encoding *out,
                             qcal_error *err)
{
    qcal_status st;
    double lo, hi;

    memset(out, 0, sizeof *out);
    st = qcal__enc_check_params(p, err);
    if (st != QCAL_OK)
        return st;
    if (h->total == 0) {
        /* §3: no finite value, no encoding; the caller warns. */
        out->bitwidth = p->bitwidth;
        out->none = true;
        return QCAL_OK;
    }
    st = qcal__enc_check_hist(h, err);
    if (st != QCAL_OK)
        return st;
    if (is_search(p->method))
        return qcal__enc_search(h, p->bitwidth, p->sym, search_gamma(p->method), out, NULL, NULL,
                                err);
    st = method_range(h, p, &lo, &hi, err);
    if (st != QCAL_OK)
        return st;
    return qcal_enc_from_range(lo, hi, p->bitwidth, p->sym, out, err);
}

qcal_status qcal_enc_range(const qcal_enc_hist *h, const qcal_enc_params *p, double *lo,
                           double *hi, qcal_error *err)
{
    qcal_status st;

    *lo = (double)NAN;
    *hi = (double)NAN;
    st = qcal__enc_check_params(p, err);
    if (st != QCAL_OK || h->total == 0)
        return st;
    st = qcal__enc_check_hist(h, err);
    if (st != QCAL_OK)
        return st;
    if (is_search(p->method)) {
        qcal_encoding enc;

        st = qcal__enc_search(h, p->bitwidth, p->sym, search_gamma(p->method), &enc, lo, hi,
                              err);
    } else {
        st = method_range(h, p, lo, hi, err);
    }
    if (st != QCAL_OK) {
        *lo = (double)NAN;
        *hi = (double)NAN;
    }
    return st;
}
