/*
 * The exact, mergeable histogram (DESIGN.md: "Mergeable histogram").
 *
 * Exactness of the bin index: a float32 x times 2^-e (e in [-160, 128]) is exact in double,
 * since the product keeps x's 24-bit significand and stays between 2^-277 and 2^288, far inside
 * double's normal range. Truncating it to int64 and stepping down when the truncation went up
 * gives floor() without a libm call. The canonical window keeps |x * 2^-e| < 2^41 for every x in
 * [min, max] (e >= ilogb(max |x|) - 40), so indices always fit.
 *
 * Monotonicity (why folding is always possible): with D(e) = floor(max/2^e) - floor(min/2^e),
 * D(e + 1) = floor(K1/2) - floor(K0/2) <= D(e) for K1 >= K0, so D is non-increasing in e and
 * e_span is well defined. A wider range has a larger D at every e, hence a larger or equal
 * e_span, and a larger or equal max |x|, hence e_mag: canonical e never decreases when the range
 * grows. Folding bin k by d steps gives floor(k / 2^d) = floor(x / 2^(e+d)) for every x in it
 * (nested floor division), i.e. exactly the bin the value would have had at the new exponent.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

/* Below this many values a call bins directly into counts; above, increments are spread over
 * four interleaved count arrays (counts plus three uint32 lanes), so runs of one bin (ReLU
 * zeros) do not serialise on store-to-load forwarding. */
#define LANES_MIN_VALUES 256
/* Values per lane flush: each uint32 lane receives at most a quarter of them. */
#define LANES_BLOCK ((size_t)1 << 32)
/* The largest exponent fold_to accepts; canonical e is at most 128. */
#define E_MAX_WINDOW 1024
/* Window anchors fold_to accepts (canonical k0 is within +-2^41). */
#define K0_LIMIT ((int64_t)1 << 60)

int64_t qcal__floor_shift(int64_t k, int s)
{
    if (s <= 0)
        return k;
    if (s >= 63)
        return k < 0 ? -1 : 0;
    /* Floor, not truncation: -3 >> 1 must give -2. Written without shifting negatives. */
    return k >= 0 ? k >> s : -((-(k + 1)) >> s) - 1;
}

/* floor(x * s) for s = 2^-e and |x * s| < 2^62; see the file comment for exactness. */
static inline int64_t floor_scaled(float x, double s)
{
    double t = (double)x * s;
    int64_t k = (int64_t)t;

    return k - (t < (double)k);
}

qcal_status qcal__hist_check_bins(size_t bins, qcal_error *err)
{
    if (bins < 2 || bins > QCAL_HIST_MAX_BINS || (bins & (bins - 1)) != 0)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram bins must be a power of two in [2, %zu], got %zu",
                              QCAL_HIST_MAX_BINS, bins);
    return QCAL_OK;
}

int qcal_hist_canonical_e(float min, float max, size_t bins)
{
    float amax;
    int e;
    double s;
    int64_t hi, lo;

    if (!isfinite(min) || !isfinite(max) || min > max || bins < 2)
        return 0;
    amax = fmaxf(fabsf(min), fabsf(max));
    e = amax == 0.0f ? QCAL_HIST_E_MIN : ilogbf(amax) - 40;
    if (e < QCAL_HIST_E_MIN)
        e = QCAL_HIST_E_MIN;
    /* D is non-increasing in e, so the smallest e >= max(e_mag, -160) with D(e) < B is
     * max(e_span, e_mag, -160). At that start |x * 2^-e| < 2^41: the indices are exact. */
    s = ldexp(1.0, -e);
    hi = floor_scaled(max, s);
    lo = floor_scaled(min, s);
    while ((uint64_t)(hi - lo) >= (uint64_t)bins) {
        hi = qcal__floor_shift(hi, 1);
        lo = qcal__floor_shift(lo, 1);
        e++;
    }
    return e;
}

void qcal_hist_canonical_window(float min, float max, size_t bins, int *e, int64_t *k0)
{
    int ce = qcal_hist_canonical_e(min, max, bins);

    *e = ce;
    if (!isfinite(min) || !isfinite(max) || min > max || bins < 2)
        *k0 = 0;
    else
        *k0 = floor_scaled(min, ldexp(1.0, -ce));
}

/* The "no finite value" state; counts are left alone. */
static void set_empty(qcal_hist *h)
{
    h->e = 0;
    h->k0 = 0;
    h->min = h->max = NAN;
    h->count = 0;
    h->nan = h->pinf = h->ninf = 0;
}

qcal_status qcal_hist_init(qcal_hist *h, size_t bins, qcal_error *err)
{
    qcal_status st;

    memset(h, 0, sizeof *h);
    set_empty(h);
    st = qcal__hist_check_bins(bins, err);
    if (st != QCAL_OK)
        return st;
    h->counts = calloc(bins, sizeof h->counts[0]);
    if (!h->counts)
        return qcal_error_set(err, QCAL_E_NOMEM, "histogram: cannot allocate %zu bins", bins);
    h->bins = bins;
    return QCAL_OK;
}

void qcal_hist_fini(qcal_hist *h)
{
    if (!h)
        return;
    free(h->counts);
    free(h->lanes_);
    h->counts = NULL;
    h->lanes_ = NULL;
    h->bins = 0;
    set_empty(h);
}

void qcal_hist_reset(qcal_hist *h)
{
    if (h->counts)
        memset(h->counts, 0, h->bins * sizeof h->counts[0]);
    set_empty(h);
}

/*
 * Moves the counts from (h->e, h->k0) to (e_new, k0_new) in place. The caller guarantees
 * e_new >= h->e and that every non-empty bin lands inside the new window. Two steps: fold
 * anchored at base = floor(k0 / 2^d), where a bin only moves down (floor(a/2^d) - floor(b/2^d)
 * <= a - b), so an ascending sweep never overwrites an unread bin; then shift the whole array by
 * base - k0_new. Does not allocate.
 */
static void refold(qcal_hist *h, int e_new, int64_t k0_new)
{
    uint64_t *c = h->counts;
    size_t nb = h->bins;
    int d = e_new - h->e;
    int64_t base = qcal__floor_shift(h->k0, d);
    int64_t delta = base - k0_new;

    if (d > 0) {
        for (size_t i = 0; i < nb; i++) {
            uint64_t v = c[i];

            if (v == 0)
                continue;
            c[i] = 0;
            c[qcal__floor_shift(h->k0 + (int64_t)i, d) - base] += v;
        }
    }
    if (delta >= (int64_t)nb || delta <= -(int64_t)nb) {
        /* Only possible when every count is zero. */
        memset(c, 0, nb * sizeof c[0]);
    } else if (delta > 0) {
        memmove(c + delta, c, (nb - (size_t)delta) * sizeof c[0]);
        memset(c, 0, (size_t)delta * sizeof c[0]);
    } else if (delta < 0) {
        size_t m = (size_t)(-delta);

        memmove(c, c + m, (nb - m) * sizeof c[0]);
        memset(c + (nb - m), 0, m * sizeof c[0]);
    }
    h->e = e_new;
    h->k0 = k0_new;
}

/* Widens h's range to include [mn, mx] (finite, canonical) and moves to the canonical window of
 * the union. The counts of values are not touched. */
static void grow(qcal_hist *h, float mn, float mx)
{
    int e;
    int64_t k0;

    if (h->count == 0) {
        qcal_hist_canonical_window(mn, mx, h->bins, &h->e, &h->k0);
        h->min = mn;
        h->max = mx;
        return;
    }
    mn = mn < h->min ? mn : h->min;
    mx = mx > h->max ? mx : h->max;
    if (mn == h->min && mx == h->max)
        return;
    qcal_hist_canonical_window(mn, mx, h->bins, &e, &k0);
    if (e != h->e || k0 != h->k0)
        refold(h, e, k0);
    h->min = mn;
    h->max = mx;
}

#define FINITE(v) (fabsf(v) <= FLT_MAX)
#define IDX(v) ((size_t)(floor_scaled((v), s) - k0))

/* Bins n values straight into c; skips non-finite values when check is set. */
static void bin_direct(uint64_t *restrict c, const float *restrict x, size_t n, double s,
                       int64_t k0, bool check)
{
    size_t i;

    if (!check) {
        for (i = 0; i < n; i++)
            c[IDX(x[i])]++;
        return;
    }
    for (i = 0; i < n; i++)
        if (FINITE(x[i]))
            c[IDX(x[i])]++;
}

/* Bins n values (n <= LANES_BLOCK) round-robin into c and the lanes l1, l2, l3. */
static void bin_lanes(uint64_t *restrict c, uint32_t *restrict l1, uint32_t *restrict l2,
                      uint32_t *restrict l3, const float *restrict x, size_t n, double s,
                      int64_t k0, bool check)
{
    size_t i = 0;

    if (!check) {
        for (; i + 4 <= n; i += 4) {
            size_t i0 = IDX(x[i]), i1 = IDX(x[i + 1]), i2 = IDX(x[i + 2]), i3 = IDX(x[i + 3]);

            c[i0]++;
            l1[i1]++;
            l2[i2]++;
            l3[i3]++;
        }
    } else {
        for (; i + 4 <= n; i += 4) {
            if (FINITE(x[i]))
                c[IDX(x[i])]++;
            if (FINITE(x[i + 1]))
                l1[IDX(x[i + 1])]++;
            if (FINITE(x[i + 2]))
                l2[IDX(x[i + 2])]++;
            if (FINITE(x[i + 3]))
                l3[IDX(x[i + 3])]++;
        }
    }
    bin_direct(c, x + i, n - i, s, k0, check);
}

qcal_status qcal__hist_add_lanes(qcal_hist *h, const float *x, size_t n, uint32_t *lanes,
                                 qcal_error *err)
{
    qcal__scan sc;
    double s;
    size_t lo, hi;
    bool check;

    if (!h || !h->counts)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram add: histogram not initialised");
    if (n == 0)
        return QCAL_OK;
    if (!x)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram add: NULL data for %zu values", n);
    qcal__stats_scan(x, n, &sc);
    h->nan += sc.nan;
    h->pinf += sc.pinf;
    h->ninf += sc.ninf;
    if (sc.count == 0)
        return QCAL_OK;
    grow(h, sc.min, sc.max);
    h->count += sc.count;

    s = ldexp(1.0, -h->e);
    check = sc.count != (uint64_t)n;
    /* Only the bins between this call's min and max can be touched. */
    lo = (size_t)(floor_scaled(sc.min, s) - h->k0);
    hi = (size_t)(floor_scaled(sc.max, s) - h->k0);
    if (!lanes || n < LANES_MIN_VALUES || n < (hi - lo + 1) / 4) {
        bin_direct(h->counts, x, n, s, h->k0, check);
        return QCAL_OK;
    }
    {
        size_t nb = h->bins;
        uint32_t *l1 = lanes, *l2 = lanes + nb, *l3 = lanes + 2 * nb;

        for (size_t done = 0; done < n;) {
            size_t len = n - done < LANES_BLOCK ? n - done : LANES_BLOCK;

            bin_lanes(h->counts, l1, l2, l3, x + done, len, s, h->k0, check);
            for (size_t j = lo; j <= hi; j++) {
                h->counts[j] += (uint64_t)l1[j] + l2[j] + l3[j];
                l1[j] = l2[j] = l3[j] = 0;
            }
            done += len;
        }
    }
    return QCAL_OK;
}

qcal_status qcal_hist_add(qcal_hist *h, const float *x, size_t n, qcal_error *err)
{
    if (h && h->counts && !h->lanes_ && n >= LANES_MIN_VALUES) {
        /* One allocation for the life of h; without it the direct path gives the same counts. */
        h->lanes_ = calloc(3 * h->bins, sizeof h->lanes_[0]);
    }
    return qcal__hist_add_lanes(h, x, n, h ? h->lanes_ : NULL, err);
}

qcal_status qcal_hist_merge(qcal_hist *dst, const qcal_hist *src, qcal_error *err)
{
    uint64_t count, nan, pinf, ninf;

    if (!dst || !src || !dst->counts || !src->counts)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram merge: histogram not initialised");
    if (dst->bins != src->bins)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram merge: %zu bins vs %zu bins", dst->bins, src->bins);
    /* Read src first: dst may be src. */
    count = src->count;
    nan = src->nan;
    pinf = src->pinf;
    ninf = src->ninf;
    if (count > 0) {
        if (dst == src) {
            /* The same multiset twice: same range and window, every count doubles. */
            for (size_t i = 0; i < dst->bins; i++)
                dst->counts[i] *= 2;
        } else if (dst->count == 0) {
            dst->e = src->e;
            dst->k0 = src->k0;
            dst->min = src->min;
            dst->max = src->max;
            memcpy(dst->counts, src->counts, dst->bins * sizeof dst->counts[0]);
        } else {
            int d;

            grow(dst, src->min, src->max);
            d = dst->e - src->e;
            for (size_t i = 0; i < src->bins; i++) {
                uint64_t v = src->counts[i];

                if (v)
                    dst->counts[qcal__floor_shift(src->k0 + (int64_t)i, d) - dst->k0] += v;
            }
        }
        dst->count += count;
    }
    dst->nan += nan;
    dst->pinf += pinf;
    dst->ninf += ninf;
    return QCAL_OK;
}

qcal_status qcal_hist_copy(qcal_hist *dst, const qcal_hist *src, qcal_error *err)
{
    uint64_t *counts;
    uint32_t *lanes;

    if (!dst || !src || !dst->counts || !src->counts)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram copy: histogram not initialised");
    if (dst->bins != src->bins)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram copy: %zu bins vs %zu bins", dst->bins, src->bins);
    if (dst == src)
        return QCAL_OK;
    counts = dst->counts;
    lanes = dst->lanes_;
    memcpy(counts, src->counts, src->bins * sizeof counts[0]);
    *dst = *src;
    dst->counts = counts;
    dst->lanes_ = lanes;
    return QCAL_OK;
}

/* First and last non-empty bin; false when all are empty. */
static bool nonempty_span(const qcal_hist *h, size_t *first, size_t *last)
{
    size_t i = 0, j = h->bins;

    while (i < h->bins && h->counts[i] == 0)
        i++;
    if (i == h->bins)
        return false;
    while (h->counts[j - 1] == 0)
        j--;
    *first = i;
    *last = j - 1;
    return true;
}

qcal_status qcal_hist_fold_to(qcal_hist *h, int e_new, int64_t k0_new, qcal_error *err)
{
    size_t first, last;
    int64_t jlo, jhi;
    int d;

    if (!h || !h->counts)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram fold: histogram not initialised");
    if (e_new < QCAL_HIST_E_MIN || e_new > E_MAX_WINDOW || k0_new < -K0_LIMIT ||
        k0_new > K0_LIMIT)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram fold: window e=%d k0=%lld out of range", e_new,
                              (long long)k0_new);
    if (!nonempty_span(h, &first, &last)) {
        h->e = e_new;
        h->k0 = k0_new;
        return QCAL_OK;
    }
    if (e_new < h->e)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram fold: cannot refine e=%d to e=%d", h->e, e_new);
    d = e_new - h->e;
    jlo = qcal__floor_shift(h->k0 + (int64_t)first, d);
    jhi = qcal__floor_shift(h->k0 + (int64_t)last, d);
    if (jlo < k0_new || jhi - k0_new >= (int64_t)h->bins)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "histogram fold: bins %lld..%lld at e=%d do not fit the window "
                              "k0=%lld of %zu bins",
                              (long long)jlo, (long long)jhi, e_new, (long long)k0_new, h->bins);
    refold(h, e_new, k0_new);
    return QCAL_OK;
}

qcal_status qcal_hist_validate(const qcal_hist *h, qcal_error *err)
{
    uint32_t bits;
    uint64_t sum = 0;
    size_t first = 0, last = 0;
    bool any;
    int e;
    int64_t k0;
    qcal_status st;

    if (!h || !h->counts)
        return qcal_error_set(err, QCAL_E_CORRUPT, "histogram: no counts");
    st = qcal__hist_check_bins(h->bins, err);
    if (st != QCAL_OK)
        return qcal_error_set(err, QCAL_E_CORRUPT, "histogram: bad bin count %zu", h->bins);
    for (size_t i = 0; i < h->bins; i++) {
        if (sum + h->counts[i] < sum)
            return qcal_error_set(err, QCAL_E_CORRUPT, "histogram: counts overflow");
        sum += h->counts[i];
    }
    any = nonempty_span(h, &first, &last);
    if (h->count == 0) {
        if (!isnan(h->min) || !isnan(h->max) || h->e != 0 || h->k0 != 0 || any)
            return qcal_error_set(err, QCAL_E_CORRUPT,
                                  "histogram: no finite values but min/max, window or counts "
                                  "are set (need NaN, e=0, k0=0, zero counts)");
        return QCAL_OK;
    }
    memcpy(&bits, &h->min, sizeof bits);
    if (!isfinite(h->min) || !isfinite(h->max) || h->min > h->max || bits == 0x80000000u)
        return qcal_error_set(err, QCAL_E_CORRUPT, "histogram: bad range [%g, %g]",
                              (double)h->min, (double)h->max);
    memcpy(&bits, &h->max, sizeof bits);
    if (bits == 0x80000000u)
        return qcal_error_set(err, QCAL_E_CORRUPT, "histogram: max is -0.0 (must be +0.0)");
    qcal_hist_canonical_window(h->min, h->max, h->bins, &e, &k0);
    if (h->e != e || h->k0 != k0)
        return qcal_error_set(err, QCAL_E_CORRUPT,
                              "histogram: window e=%d k0=%lld, canonical for [%g, %g] is "
                              "e=%d k0=%lld",
                              h->e, (long long)h->k0, (double)h->min, (double)h->max, e,
                              (long long)k0);
    if (sum != h->count)
        return qcal_error_set(err, QCAL_E_CORRUPT,
                              "histogram: counts sum to %llu, finite count is %llu",
                              (unsigned long long)sum, (unsigned long long)h->count);
    if (first != 0 || (int64_t)last != floor_scaled(h->max, ldexp(1.0, -e)) - k0)
        return qcal_error_set(err, QCAL_E_CORRUPT,
                              "histogram: non-empty bins %zu..%zu do not match the range "
                              "[%g, %g]",
                              first, last, (double)h->min, (double)h->max);
    return QCAL_OK;
}
