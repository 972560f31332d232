/*
 * The min/max pass over a float32 array (DESIGN.md: "min/max is a vectorised pass"). Finite
 * values give the range; NaN and +-Inf are counted and never enter it.
 */
#include <float.h>
#include <math.h>

#include "stats/stats.h"

#if defined(__SSE2__)
#include <emmintrin.h>

/* Floats per block of the vector loop: keeps the int32 non-finite counters far from overflow
 * (each lane grows by at most 2 per 8 floats). */
#define SCAN_BLOCK ((size_t)1 << 28)

/*
 * Vector part of the scan over the first n - n % 8 floats: non-finite lanes are replaced by +Inf
 * for the minimum and -Inf for the maximum, so they never win, and are counted. _mm_min_ps(a, b)
 * is "a < b ? a : b", so the order of -0.0 and +0.0 may show in the sign of a zero result; the
 * caller canonicalises that. Returns how many floats were consumed.
 */
static size_t scan_sse2(const float *x, size_t n, float *mn, float *mx, uint64_t *bad)
{
    const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    const __m128 pinf = _mm_set1_ps(INFINITY);
    const __m128 ninf = _mm_set1_ps(-INFINITY);
    __m128 min0 = pinf, min1 = pinf, max0 = ninf, max1 = ninf;
    size_t done = 0;
    uint64_t nbad = 0;

    while (n - done >= 8) {
        size_t len = n - done < SCAN_BLOCK ? n - done : SCAN_BLOCK;
        const float *p = x + done;
        __m128i cnt = _mm_setzero_si128();
        size_t i;
        int32_t lanes[4];
        int64_t finite;

        for (i = 0; i + 8 <= len; i += 8) {
            __m128 a = _mm_loadu_ps(p + i);
            __m128 b = _mm_loadu_ps(p + i + 4);
            __m128 fa = _mm_cmplt_ps(_mm_and_ps(a, absmask), pinf);
            __m128 fb = _mm_cmplt_ps(_mm_and_ps(b, absmask), pinf);

            min0 = _mm_min_ps(_mm_or_ps(_mm_and_ps(fa, a), _mm_andnot_ps(fa, pinf)), min0);
            max0 = _mm_max_ps(_mm_or_ps(_mm_and_ps(fa, a), _mm_andnot_ps(fa, ninf)), max0);
            min1 = _mm_min_ps(_mm_or_ps(_mm_and_ps(fb, b), _mm_andnot_ps(fb, pinf)), min1);
            max1 = _mm_max_ps(_mm_or_ps(_mm_and_ps(fb, b), _mm_andnot_ps(fb, ninf)), max1);
            /* A finite lane's mask is all ones (-1): adding it and later subtracting the lane
             * count leaves the non-finite count. */
            cnt = _mm_add_epi32(cnt, _mm_castps_si128(fa));
            cnt = _mm_add_epi32(cnt, _mm_castps_si128(fb));
        }
        _mm_storeu_si128((__m128i *)lanes, cnt);
        finite = -((int64_t)lanes[0] + lanes[1] + lanes[2] + lanes[3]);
        nbad += (uint64_t)i - (uint64_t)finite;
        done += i;
    }
    {
        float vmin[4], vmax[4];

        _mm_storeu_ps(vmin, _mm_min_ps(min0, min1));
        _mm_storeu_ps(vmax, _mm_max_ps(max0, max1));
        for (int k = 0; k < 4; k++) {
            *mn = vmin[k] < *mn ? vmin[k] : *mn;
            *mx = vmax[k] > *mx ? vmax[k] : *mx;
        }
    }
    *bad += nbad;
    return done;
}
#endif

void qcal__stats_scan(const float *x, size_t n, qcal__scan *out)
{
    float mn = INFINITY, mx = -INFINITY;
    uint64_t bad = 0;
    size_t i = 0;

#if defined(__SSE2__)
    i = scan_sse2(x, n, &mn, &mx, &bad);
#endif
    for (; i < n; i++) {
        float v = x[i];

        if (fabsf(v) <= FLT_MAX) {
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        } else {
            bad++;
        }
    }
    out->count = (uint64_t)n - bad;
    out->nan = out->pinf = out->ninf = 0;
    if (bad) {
        /* Rare: classify the non-finite values in a second, scalar pass. */
        for (i = 0; i < n; i++) {
            float v = x[i];

            out->nan += v != v;
            out->pinf += v == INFINITY;
            out->ninf += v == -INFINITY;
        }
    }
    if (out->count == 0) {
        out->min = out->max = NAN;
        return;
    }
    /* -0.0 and +0.0 compare equal, so which one survived depends on the order: store +0.0. */
    out->min = mn == 0.0f ? 0.0f : mn;
    out->max = mx == 0.0f ? 0.0f : mx;
}
