/*
 * Unit tests of the statistics module: the exact mergeable histogram (DESIGN.md: "Mergeable
 * histogram"), the per-tensor collector and weight min/max.
 *
 * The central property: the histogram of a multiset is the same bit for bit however the values
 * were ordered, split into add calls, split into shards and merged (in any tree), or folded to a
 * common window and summed (the MPI path). Every result is also compared with a reference built
 * here straight from DESIGN.md's definitions (e by searching every exponent, bins by
 * floor(ldexp(x, -e))), and a few cases are computed by hand.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qcal/stats.h"
#include "qtest.h"

/* xorshift64*: a fixed-seed generator, so every run tests the same data. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) * 0x1.0p-53;
}

static double rnd_gauss(void)
{
    double u = rnd_unit(), v = rnd_unit();

    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static float bits_f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof u);
    return u;
}

/* Kinds of test data: each stresses one corner of the definition. */
enum {
    D_MIXED,     /* everything at once */
    D_RELU,      /* half zeros (+0.0 and -0.0), half |gauss| */
    D_CONST,     /* one value */
    D_ZEROS,     /* +0.0 and -0.0 only */
    D_NONFINITE, /* NaN and +-Inf only */
    D_DENORMAL,  /* denormals of both signs and zeros */
    D_WIDE,      /* magnitudes 1e-30 .. 1e30, both signs */
    D_OUTLIER,   /* gaussian plus one huge value */
    D_NEGCONST,  /* a negative constant with a NaN */
    D_TINYRANGE, /* a few ulps around 1 */
    D_EXTREMES,  /* +-FLT_MAX, FLT_MIN, the smallest denormal */
    D_COUNT
};

static float gen_value(int kind)
{
    switch (kind) {
    case D_RELU:
        return rnd() & 1 ? (float)fabs(rnd_gauss()) : (rnd() & 1 ? 0.0f : -0.0f);
    case D_CONST:
        return 0.7f;
    case D_ZEROS:
        return rnd() & 1 ? 0.0f : -0.0f;
    case D_NONFINITE: {
        size_t r = rnd_below(3);

        return r == 0 ? NAN : r == 1 ? INFINITY : -INFINITY;
    }
    case D_DENORMAL:
        return bits_f32((uint32_t)(rnd() & 0x807fffffu));
    case D_WIDE:
        return (float)((rnd() & 1 ? 1.0 : -1.0) * pow(10.0, -30.0 + 60.0 * rnd_unit()));
    case D_OUTLIER:
        return (float)rnd_gauss();
    case D_NEGCONST:
        return -2.5f;
    case D_TINYRANGE:
        return 1.0f + (float)rnd_below(4) * FLT_EPSILON;
    case D_EXTREMES: {
        static const float v[] = { FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN, 0x1.0p-149f, 0.0f };

        return v[rnd_below(6)];
    }
    default: {
        size_t r = rnd_below(100);

        if (r < 40)
            return (float)(rnd_gauss() * pow(10.0, -3.0 + 6.0 * rnd_unit()));
        if (r < 50)
            return 0.0f;
        if (r < 55)
            return -0.0f;
        if (r < 60)
            return bits_f32((uint32_t)(rnd() & 0x807fffffu));
        if (r < 62)
            return NAN;
        if (r < 63)
            return INFINITY;
        if (r < 64)
            return -INFINITY;
        if (r < 84)
            return gen_value(D_WIDE);
        return (float)(2.0 * rnd_unit() - 1.0);
    }
    }
}

static void gen(int kind, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = gen_value(kind);
    if (kind == D_OUTLIER && n > 0)
        x[rnd_below(n)] = 3e38f;
    if (kind == D_NEGCONST && n > 1)
        x[rnd_below(n)] = NAN;
}

/* Reference e straight from the definition: the first exponent from far below where the span
 * fits, then the two lower bounds. In double every ldexp here is exact. */
static int ref_canonical_e(float mn, float mx, size_t bins)
{
    double amax = fmax(fabs((double)mn), fabs((double)mx));
    int e_mag = amax == 0.0 ? -160 : ilogb(amax) - 40;
    int e_span = 1000;
    int e;

    for (e = -400; e <= 200; e++) {
        if (floor(ldexp((double)mx, -e)) - floor(ldexp((double)mn, -e)) < (double)bins) {
            e_span = e;
            break;
        }
    }
    e = e_span;
    e = e_mag > e ? e_mag : e;
    return e > -160 ? e : -160;
}

/* Reference histogram of x[0..n) into h (initialised with the wanted bins). false if a value
 * fell outside the window, which the definition forbids. */
static bool ref_hist(const float *x, size_t n, qcal_hist *h)
{
    bool ok = true;

    qcal_hist_reset(h);
    h->min = INFINITY;
    h->max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];

        if (isnan(v)) {
            h->nan++;
        } else if (isinf(v)) {
            if (v > 0.0f)
                h->pinf++;
            else
                h->ninf++;
        } else {
            h->count++;
            h->min = fminf(h->min, v);
            h->max = fmaxf(h->max, v);
        }
    }
    if (h->count == 0) {
        h->min = h->max = NAN;
        return true;
    }
    h->min = h->min == 0.0f ? 0.0f : h->min;
    h->max = h->max == 0.0f ? 0.0f : h->max;
    h->e = ref_canonical_e(h->min, h->max, h->bins);
    h->k0 = (int64_t)floor(ldexp((double)h->min, -h->e));
    for (size_t i = 0; i < n; i++) {
        int64_t k;

        if (!isfinite(x[i]))
            continue;
        k = (int64_t)floor(ldexp((double)x[i], -h->e)) - h->k0;
        if (k < 0 || k >= (int64_t)h->bins)
            ok = false;
        else
            h->counts[k]++;
    }
    return ok;
}

/* One check per comparison; the message names the first field that differs. */
static void expect_same(const qcal_hist *a, const qcal_hist *b, const char *what)
{
    const char *diff = NULL;

    if (a->bins != b->bins)
        diff = "bins";
    else if (a->e != b->e)
        diff = "e";
    else if (a->k0 != b->k0)
        diff = "k0";
    else if (f32_bits(a->min) != f32_bits(b->min))
        diff = "min bits";
    else if (f32_bits(a->max) != f32_bits(b->max))
        diff = "max bits";
    else if (a->count != b->count)
        diff = "count";
    else if (a->nan != b->nan || a->pinf != b->pinf || a->ninf != b->ninf)
        diff = "non-finite counts";
    else if (memcmp(a->counts, b->counts, a->bins * sizeof a->counts[0]) != 0)
        diff = "counts";
    QT_CHECK_(diff == NULL, "%s: %s differ (e %d/%d, k0 %lld/%lld, min %a/%a, max %a/%a)", what,
              diff ? diff : "", a->e, b->e, (long long)a->k0, (long long)b->k0, (double)a->min,
              (double)b->min, (double)a->max, (double)b->max);
}

static uint64_t sum_counts(const qcal_hist *h)
{
    uint64_t s = 0;

    for (size_t i = 0; i < h->bins; i++)
        s += h->counts[i];
    return s;
}

/* Adds x[0..n) to h in random chunk sizes (including empty calls). */
static void add_chunked(qcal_hist *h, const float *x, size_t n)
{
    size_t done = 0;

    while (done < n) {
        size_t len = rnd_below(4) == 0 ? 0 : 1 + rnd_below(n - done);

        QT_OK(qcal_hist_add(h, x + done, len, NULL));
        done += len;
    }
}

static void shuffle(float *x, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd_below(i);
        float t = x[i - 1];

        x[i - 1] = x[j];
        x[j] = t;
    }
}

#define MAX_PIECES 8

/*
 * One dataset, every way of building its histogram: one call, random chunks, a permutation split
 * into shards merged along a random tree, and the MPI recipe (fold to the global window, sum).
 */
static void check_dataset(const float *data, size_t n, size_t bins, const char *what)
{
    qcal_hist one, ref, h, pieces[MAX_PIECES];
    float *perm = malloc((n ? n : 1) * sizeof *perm);
    size_t np, cut[MAX_PIECES + 1];
    int e;
    int64_t k0;
    float gmin = INFINITY, gmax = -INFINITY;

    QT_OK(qcal_hist_init(&one, bins, NULL));
    QT_OK(qcal_hist_init(&ref, bins, NULL));
    QT_OK(qcal_hist_init(&h, bins, NULL));
    QT_TRUE(ref_hist(data, n, &ref));
    QT_OK(qcal_hist_add(&one, data, n, NULL));
    expect_same(&one, &ref, what);
    QT_OK(qcal_hist_validate(&one, NULL));
    QT_EQ_U64(sum_counts(&one), one.count);
    QT_EQ_U64(one.count + one.nan + one.pinf + one.ninf, n);

    add_chunked(&h, data, n);
    expect_same(&h, &one, "streaming in chunks");

    /* Shards of a permutation, each streamed, merged in a random tree. */
    memcpy(perm, data, n * sizeof *perm);
    shuffle(perm, n);
    np = 1 + rnd_below(MAX_PIECES);
    cut[0] = 0;
    cut[np] = n;
    for (size_t p = 1; p < np; p++)
        cut[p] = rnd_below(n + 1);
    for (size_t p = 1; p < np; p++) /* insertion sort of the cut points */
        for (size_t q = p; q > 1 && cut[q - 1] > cut[q]; q--) {
            size_t t = cut[q];

            cut[q] = cut[q - 1];
            cut[q - 1] = t;
        }
    for (size_t p = 0; p < np; p++) {
        QT_OK(qcal_hist_init(&pieces[p], bins, NULL));
        add_chunked(&pieces[p], perm + cut[p], cut[p + 1] - cut[p]);
        QT_OK(qcal_hist_validate(&pieces[p], NULL));
        if (pieces[p].count > 0) {
            gmin = fminf(gmin, pieces[p].min);
            gmax = fmaxf(gmax, pieces[p].max);
        }
    }

    /* The MPI recipe of qcal_hist_fold_to's comment, on copies of the shards. */
    qcal_hist_reset(&h);
    qcal_hist_canonical_window(gmin, gmax, bins, &e, &k0);
    for (size_t p = 0; p < np; p++) {
        qcal_hist c;

        QT_OK(qcal_hist_init(&c, bins, NULL));
        QT_OK(qcal_hist_copy(&c, &pieces[p], NULL));
        expect_same(&c, &pieces[p], "copy");
        QT_OK(qcal_hist_fold_to(&c, e, k0, NULL));
        for (size_t i = 0; i < bins; i++)
            h.counts[i] += c.counts[i];
        h.count += c.count;
        h.nan += c.nan;
        h.pinf += c.pinf;
        h.ninf += c.ninf;
        qcal_hist_fini(&c);
    }
    if (h.count > 0) {
        h.e = e;
        h.k0 = k0;
        h.min = gmin;
        h.max = gmax;
    }
    expect_same(&h, &one, "fold to the global window and sum");

    /* Random merge tree: merge two random live pieces until one is left. */
    while (np > 1) {
        size_t a = rnd_below(np), b = rnd_below(np - 1);

        b += b >= a;
        QT_OK(qcal_hist_merge(&pieces[a], &pieces[b], NULL));
        qcal_hist_fini(&pieces[b]);
        pieces[b] = pieces[np - 1];
        np--;
    }
    expect_same(&pieces[0], &one, "shards merged in a random tree");
    QT_OK(qcal_hist_validate(&pieces[0], NULL));
    qcal_hist_fini(&pieces[0]);
    qcal_hist_fini(&one);
    qcal_hist_fini(&ref);
    qcal_hist_fini(&h);
    free(perm);
}

/* DESIGN.md: any split, order or merge tree gives the one-pass histogram, for every kind of data
 * and several bin counts; small sizes stay on the direct path, large ones use the lanes. */
static void test_order_split_merge_invariance(void)
{
    static const size_t bins[] = { 2, 4, 64, 4096 };
    static const size_t sizes[] = { 1, 7, 300, 5000 };
    float *x = malloc(100000 * sizeof *x);
    char what[96];

    for (int kind = 0; kind < D_COUNT; kind++)
        for (size_t b = 0; b < sizeof bins / sizeof bins[0]; b++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (int trial = 0; trial < 3; trial++) {
                    size_t n = sizes[s] + rnd_below(sizes[s]);

                    gen(kind, x, n);
                    snprintf(what, sizeof what, "kind %d, %zu bins, %zu values", kind, bins[b],
                             n);
                    check_dataset(x, n, bins[b], what);
                }
    /* A few large datasets: the SSE blocks and the four-lane binning with long runs. */
    for (int kind = 0; kind < D_COUNT; kind++) {
        gen(kind, x, 100000);
        snprintf(what, sizeof what, "kind %d, 4096 bins, 100000 values", kind);
        check_dataset(x, 100000, 4096, what);
    }
    free(x);
}

/* DESIGN.md's example and a table of canonical windows computed by hand. */
static void test_hand_computed(void)
{
    static const struct {
        float min, max;
        size_t bins;
        int e;
        int64_t k0;
    } t[] = {
        { 0.0f, 0.0f, 4096, -160, 0 },                /* all zero: the floor */
        { 0.7f, 0.7f, 4096, -41, 1539316252672 },     /* constant: ilogb(0.7) - 40 */
        { -1.0f, 1.0f, 4, 0, -1 },                     /* 1 - (-1) = 2 < 4, at e=-1 4 */
        { -0.97f, 1.93f, 12, -2, -4 },                 /* ALGORITHMS.md H1 */
        { -1.0f, 9.9921875f, 1024, -6, -64 },          /* ALGORITHMS.md H4 */
        { 1e-30f, 1e30f, 4096, 88, 0 },                /* 1e30 / 2^88 = 3231.2 */
        { -FLT_MAX, FLT_MAX, 2, 128, -1 },             /* the largest e */
        { 0.0f, 0x1.0p-149f, 4096, -160, 0 },          /* 2^-149 / 2^-160 = 2048 < 4096 */
        { 0.0f, 0x1.0p-149f, 2048, -159, 0 },          /* 2048 is not < 2048 */
        { -3.0f, -3.0f, 4, -39, -1649267441664 },      /* -3 * 2^39 */
        { 1.0f, 1.0f + FLT_EPSILON, 2, -23, 8388608 }, /* one ulp apart */
        { 0.0f, 7.0f, 4, 1, 0 },
        { -3.0f, 0.0f, 4, 0, -3 },
    };
    const float x[] = { 0.0f, 1.0f, 2.0f, 3.0f };
    const uint64_t c4[] = { 1, 1, 1, 1 }, c7[] = { 2, 2, 0, 1 };
    const float seven = 7.0f;
    qcal_hist h;
    int e;
    int64_t k0;

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        qcal_hist_canonical_window(t[i].min, t[i].max, t[i].bins, &e, &k0);
        QT_EQ_I64(e, t[i].e);
        QT_EQ_I64(k0, t[i].k0);
        QT_EQ_I64(qcal_hist_canonical_e(t[i].min, t[i].max, t[i].bins), t[i].e);
        QT_EQ_I64(ref_canonical_e(t[i].min, t[i].max, t[i].bins), t[i].e);
    }
    /* Not a finite range: the "no finite value" window. */
    QT_EQ_I64(qcal_hist_canonical_e(NAN, 1.0f, 4), 0);
    QT_EQ_I64(qcal_hist_canonical_e(2.0f, 1.0f, 4), 0);
    QT_EQ_I64(qcal_hist_canonical_e(-INFINITY, 1.0f, 4), 0);
    /* -0.0 is the same value as +0.0. */
    QT_EQ_I64(qcal_hist_canonical_e(-0.0f, -0.0f, 4), -160);

    /* {0, 1, 2, 3}, B = 4: e = 0, k0 = 0, one value per bin; then 7 widens to e = 1. */
    QT_OK(qcal_hist_init(&h, 4, NULL));
    QT_OK(qcal_hist_add(&h, x, 4, NULL));
    QT_EQ_I64(h.e, 0);
    QT_EQ_I64(h.k0, 0);
    QT_EQ_MEM(h.counts, c4, sizeof c4);
    QT_EQ_F32_BITS(h.min, 0.0f);
    QT_EQ_F32_BITS(h.max, 3.0f);
    QT_OK(qcal_hist_add(&h, &seven, 1, NULL));
    QT_EQ_I64(h.e, 1);
    QT_EQ_I64(h.k0, 0);
    QT_EQ_MEM(h.counts, c7, sizeof c7);
    QT_EQ_U64(h.count, 5);
    qcal_hist_fini(&h);
}

/* STYLE.md's fold example: k0 = -3 folded one step is -2 (floor), not -1 (truncation). */
static void test_fold_floor(void)
{
    const float x[] = { -3.0f, -2.5f, 0.0f };
    const uint64_t before[] = { 2, 0, 0, 1 }, after[] = { 2, 0, 1, 0 };
    qcal_hist h, empty;

    QT_OK(qcal_hist_init(&h, 4, NULL));
    QT_OK(qcal_hist_add(&h, x, 3, NULL));
    QT_EQ_I64(h.e, 0);
    QT_EQ_I64(h.k0, -3);
    QT_EQ_MEM(h.counts, before, sizeof before);
    /* The truncated anchor -1 cannot hold bin -2: refused, h unchanged. */
    QT_EQ_I64(qcal_hist_fold_to(&h, 1, -1, NULL), QCAL_E_INVALID);
    QT_EQ_MEM(h.counts, before, sizeof before);
    QT_EQ_I64(qcal_hist_fold_to(&h, -1, -6, NULL), QCAL_E_INVALID); /* refining is impossible */
    QT_OK(qcal_hist_fold_to(&h, 1, -2, NULL));
    QT_EQ_I64(h.e, 1);
    QT_EQ_I64(h.k0, -2);
    QT_EQ_MEM(h.counts, after, sizeof after);
    /* Moving the anchor without folding shifts the bins; bin 0 would fall off at k0 = -4. */
    QT_EQ_I64(qcal_hist_fold_to(&h, 1, -4, NULL), QCAL_E_INVALID);
    QT_OK(qcal_hist_fold_to(&h, 1, -3, NULL));
    QT_EQ_I64(h.counts[1], 2);
    QT_EQ_I64(h.counts[3], 1);
    QT_EQ_U64(sum_counts(&h), 3);
    /* A histogram without finite values takes any window. */
    QT_OK(qcal_hist_init(&empty, 4, NULL));
    QT_OK(qcal_hist_fold_to(&empty, 7, -9, NULL));
    QT_EQ_I64(empty.e, 7);
    QT_EQ_U64(sum_counts(&empty), 0);
    qcal_hist_fini(&empty);
    qcal_hist_fini(&h);
}

/* No finite value: NaN range, e = k0 = 0, zero counts; merging keeps it exact. */
static void test_nonfinite_only(void)
{
    const float x[] = { NAN, INFINITY, -INFINITY, NAN, -NAN };
    const float y[] = { -0.0f, -0.0f };
    qcal_hist h, z;

    QT_OK(qcal_hist_init(&h, 8, NULL));
    QT_OK(qcal_hist_add(&h, x, 5, NULL));
    QT_TRUE(isnan(h.min) && isnan(h.max));
    QT_EQ_I64(h.e, 0);
    QT_EQ_I64(h.k0, 0);
    QT_EQ_U64(h.count, 0);
    QT_EQ_U64(h.nan, 3);
    QT_EQ_U64(h.pinf, 1);
    QT_EQ_U64(h.ninf, 1);
    QT_EQ_U64(sum_counts(&h), 0);
    QT_OK(qcal_hist_validate(&h, NULL));
    /* -0.0 only: stored as +0.0 with the floor exponent. */
    QT_OK(qcal_hist_init(&z, 8, NULL));
    QT_OK(qcal_hist_add(&z, y, 2, NULL));
    QT_EQ_F32_BITS(z.min, 0.0f);
    QT_EQ_F32_BITS(z.max, 0.0f);
    QT_EQ_I64(z.e, -160);
    QT_EQ_I64(z.k0, 0);
    QT_EQ_U64(z.counts[0], 2);
    QT_OK(qcal_hist_merge(&h, &z, NULL));
    QT_EQ_I64(h.e, -160);
    QT_EQ_U64(h.counts[0], 2);
    QT_EQ_U64(h.nan, 3);
    QT_OK(qcal_hist_merge(&z, &z, NULL)); /* self-merge doubles */
    QT_EQ_U64(z.counts[0], 4);
    QT_EQ_U64(z.count, 4);
    qcal_hist_fini(&z);
    qcal_hist_fini(&h);
}

/* Canonical e never decreases when the range grows (why folding is always possible). */
static void test_monotone(void)
{
    static const size_t bins[] = { 2, 3, 12, 4096 };
    int bad = 0;

    for (int i = 0; i < 20000; i++) {
        float v[4], t;
        size_t b = bins[rnd_below(4)];
        int e_in, e_out;

        for (int j = 0; j < 4; j++)
            v[j] = rnd() & 3 ? gen_value(D_WIDE) : gen_value(D_MIXED);
        for (int j = 0; j < 4; j++)
            if (!isfinite(v[j]))
                v[j] = 0.0f;
        /* Sort so that [v1, v2] lies inside [v0, v3]. */
        for (int p = 1; p < 4; p++)
            for (int q = p; q > 0 && v[q - 1] > v[q]; q--) {
                t = v[q];
                v[q] = v[q - 1];
                v[q - 1] = t;
            }
        e_in = qcal_hist_canonical_e(v[1], v[2], b);
        e_out = qcal_hist_canonical_e(v[0], v[3], b);
        bad += e_out < e_in;
        bad += e_in != ref_canonical_e(v[1], v[2], b);
    }
    QT_EQ_I64(bad, 0);
}

/* Error paths: bad bin counts, mismatched merges, NULL data; corrupted histograms are found. */
static void test_errors(void)
{
    qcal_hist h, g;
    qcal_error err;
    const float x[] = { 1.0f, 2.0f, 5.0f };

    QT_EQ_I64(qcal_hist_init(&h, 3, &err), QCAL_E_INVALID);
    qcal_hist_fini(&h);
    QT_EQ_I64(qcal_hist_init(&h, 1, NULL), QCAL_E_INVALID);
    qcal_hist_fini(&h);
    QT_EQ_I64(qcal_hist_init(&h, 0, NULL), QCAL_E_INVALID);
    qcal_hist_fini(&h);
    qcal_hist_fini(NULL);
    QT_OK(qcal_hist_init(&h, 16, NULL));
    QT_OK(qcal_hist_init(&g, 32, NULL));
    QT_EQ_I64(qcal_hist_add(&h, NULL, 3, NULL), QCAL_E_INVALID);
    QT_OK(qcal_hist_add(&h, NULL, 0, NULL));
    QT_OK(qcal_hist_add(&h, x, 3, NULL));
    QT_EQ_I64(qcal_hist_merge(&h, &g, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "16 bins vs 32 bins") != NULL);
    QT_EQ_I64(qcal_hist_copy(&g, &h, NULL), QCAL_E_INVALID);
    QT_OK(qcal_hist_validate(&h, NULL));
    h.counts[3]++;
    QT_EQ_I64(qcal_hist_validate(&h, NULL), QCAL_E_CORRUPT);
    h.counts[3]--;
    h.e++;
    QT_EQ_I64(qcal_hist_validate(&h, &err), QCAL_E_CORRUPT);
    QT_TRUE(strstr(err.msg, "canonical") != NULL);
    h.e--;
    h.min = -0.0f;
    QT_EQ_I64(qcal_hist_validate(&h, NULL), QCAL_E_CORRUPT);
    qcal_hist_reset(&h);
    QT_OK(qcal_hist_validate(&h, NULL));
    QT_TRUE(isnan(h.min));
    qcal_hist_fini(&h);
    qcal_hist_fini(&g);
}

/* The collector equals one standalone histogram per slot; merging collectors is exact. */
static void test_collector(void)
{
    enum { T = 3, B = 64, N = 3000 };
    qcal_collector *a = NULL, *b = NULL, *bad = NULL;
    qcal_hist ref[T];
    float *x = malloc(N * sizeof *x);

    QT_OK(qcal_collector_create(T, B, &a, NULL));
    QT_OK(qcal_collector_create(T, B, &b, NULL));
    QT_EQ_I64(qcal_collector_create(T, 100, &bad, NULL), QCAL_E_INVALID);
    QT_TRUE(bad == NULL);
    QT_EQ_U64(qcal_collector_tensors(a), T);
    QT_EQ_U64(qcal_collector_bins(a), B);
    for (int t = 0; t < T; t++)
        QT_OK(qcal_hist_init(&ref[t], B, NULL));
    for (int sample = 0; sample < 6; sample++) {
        for (size_t t = 0; t < T; t++) {
            size_t n = 1 + rnd_below(N);

            gen(t == 0 ? D_RELU : t == 1 ? D_MIXED : D_OUTLIER, x, n);
            QT_OK(qcal_collector_observe(sample % 2 ? a : b, t, x, n, NULL));
            QT_OK(qcal_hist_add(&ref[t], x, n, NULL));
        }
    }
    QT_EQ_I64(qcal_collector_observe(a, T, x, 1, NULL), QCAL_E_INVALID);
    QT_TRUE(qcal_collector_hist(a, T) == NULL);
    QT_OK(qcal_collector_merge(a, b, NULL));
    for (size_t t = 0; t < T; t++) {
        expect_same(qcal_collector_hist(a, t), &ref[t], "collector slot");
        QT_OK(qcal_hist_validate(qcal_collector_hist(a, t), NULL));
    }
    /* Slots share one contiguous count array. */
    QT_TRUE(qcal_collector_hist(a, 1)->counts == qcal_collector_hist(a, 0)->counts + B);
    QT_OK(qcal_collector_create(T + 1, B, &bad, NULL));
    QT_EQ_I64(qcal_collector_merge(a, bad, NULL), QCAL_E_INVALID);
    qcal_collector_reset(a);
    QT_EQ_U64(qcal_collector_hist(a, 2)->count, 0);
    qcal_collector_destroy(bad);
    /* A model without activations still gets a (empty) collector. */
    QT_OK(qcal_collector_create(0, B, &bad, NULL));
    QT_EQ_I64(qcal_collector_observe(bad, 0, x, 1, NULL), QCAL_E_INVALID);
    for (int t = 0; t < T; t++)
        qcal_hist_fini(&ref[t]);
    qcal_collector_destroy(a);
    qcal_collector_destroy(b);
    qcal_collector_destroy(bad);
    qcal_collector_destroy(NULL);
    free(x);
}

/* Reference channel ranges by index arithmetic: element i belongs to channel (i / inner) % C. */
static void ref_channels(const float *x, size_t n, size_t nch, size_t inner, float *mn, float *mx)
{
    for (size_t c = 0; c < nch; c++) {
        mn[c] = INFINITY;
        mx[c] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % nch;

        if (isfinite(x[i])) {
            mn[c] = fminf(mn[c], x[i]);
            mx[c] = fmaxf(mx[c], x[i]);
        }
    }
    for (size_t c = 0; c < nch; c++) {
        if (mn[c] > mx[c])
            mn[c] = mx[c] = NAN;
        mn[c] = mn[c] == 0.0f ? 0.0f : mn[c];
        mx[c] = mx[c] == 0.0f ? 0.0f : mx[c];
    }
}

static void test_weight_stats(void)
{
    /* [2, 3]: rows {-1, -0.0, NaN}, {2, +Inf, 0.5}. */
    const float w[] = { -1.0f, -0.0f, NAN, 2.0f, INFINITY, 0.5f };
    const int64_t d2[] = { 2, 3 };
    const int64_t d4[] = { 6, 5, 3, 7 }; /* a Conv weight [Cout, Cin, kH, kW] */
    const int64_t bad_dims[] = { 2, -3 };
    float *x = malloc(6 * 5 * 3 * 7 * sizeof *x);
    float mn[8], mx[8];
    qcal_weight_stats ws;

    QT_OK(qcal_weight_stats_compute(&ws, w, d2, 2, 0, NULL));
    QT_EQ_F32_BITS(ws.min, -1.0f);
    QT_EQ_F32_BITS(ws.max, 2.0f);
    QT_EQ_U64(ws.count, 4);
    QT_EQ_U64(ws.nan, 1);
    QT_EQ_U64(ws.pinf, 1);
    QT_EQ_U64(ws.ninf, 0);
    QT_EQ_U64(ws.channels, 2);
    QT_EQ_F32_BITS(ws.ch_min[0], -1.0f);
    QT_EQ_F32_BITS(ws.ch_max[0], 0.0f); /* -0.0 is stored as +0.0 */
    QT_EQ_F32_BITS(ws.ch_min[1], 0.5f);
    QT_EQ_F32_BITS(ws.ch_max[1], 2.0f);
    qcal_weight_stats_fini(&ws);

    QT_OK(qcal_weight_stats_compute(&ws, w, d2, 2, 1, NULL));
    QT_EQ_U64(ws.channels, 3);
    QT_EQ_F32_BITS(ws.ch_min[0], -1.0f);
    QT_EQ_F32_BITS(ws.ch_max[0], 2.0f);
    QT_EQ_F32_BITS(ws.ch_min[1], 0.0f);
    QT_EQ_F32_BITS(ws.ch_max[1], 0.0f);
    QT_EQ_F32_BITS(ws.ch_min[2], 0.5f);
    QT_EQ_F32_BITS(ws.ch_max[2], 0.5f);
    qcal_weight_stats_fini(&ws);

    QT_OK(qcal_weight_stats_compute(&ws, w, d2, 2, -1, NULL));
    QT_EQ_U64(ws.channels, 0);
    QT_TRUE(ws.ch_min == NULL);
    qcal_weight_stats_fini(&ws);

    /* Every axis of a 4-D tensor against the index-arithmetic reference; channel 2 of axis 0
     * has no finite value, channel 4 is all zeros. */
    gen(D_MIXED, x, 6 * 5 * 3 * 7);
    for (size_t i = 2 * 105; i < 3 * 105; i++)
        x[i] = NAN;
    for (size_t i = 4 * 105; i < 5 * 105; i++)
        x[i] = -0.0f;
    for (int axis = 0; axis < 4; axis++) {
        size_t inner = 1;

        for (int j = axis + 1; j < 4; j++)
            inner *= (size_t)d4[j];
        QT_OK(qcal_weight_stats_compute(&ws, x, d4, 4, axis, NULL));
        ref_channels(x, 630, (size_t)d4[axis], inner, mn, mx);
        QT_EQ_U64(ws.channels, d4[axis]);
        QT_EQ_MEM(ws.ch_min, mn, ws.channels * sizeof mn[0]);
        QT_EQ_MEM(ws.ch_max, mx, ws.channels * sizeof mx[0]);
        qcal_weight_stats_fini(&ws);
    }
    QT_OK(qcal_weight_stats_compute(&ws, x, d4, 4, 0, NULL));
    QT_TRUE(isnan(ws.ch_min[2]) && isnan(ws.ch_max[2]));
    QT_EQ_F32_BITS(ws.ch_min[4], 0.0f);
    qcal_weight_stats_fini(&ws);

    /* A scalar (rank 0) and the error paths. */
    QT_OK(qcal_weight_stats_compute(&ws, w + 3, NULL, 0, -1, NULL));
    QT_EQ_F32_BITS(ws.min, 2.0f);
    qcal_weight_stats_fini(&ws);
    QT_EQ_I64(qcal_weight_stats_compute(&ws, w, d2, 2, 2, NULL), QCAL_E_INVALID);
    QT_EQ_I64(qcal_weight_stats_compute(&ws, w, d2, 2, -2, NULL), QCAL_E_INVALID);
    QT_EQ_I64(qcal_weight_stats_compute(&ws, w, bad_dims, 2, 0, NULL), QCAL_E_INVALID);
    QT_EQ_I64(qcal_weight_stats_compute(&ws, NULL, d2, 2, 0, NULL), QCAL_E_INVALID);
    qcal_weight_stats_fini(&ws);
    qcal_weight_stats_fini(NULL);
    free(x);
}

int main(void)
{
    QT_RUN(test_hand_computed);
    QT_RUN(test_fold_floor);
    QT_RUN(test_nonfinite_only);
    QT_RUN(test_monotone);
    QT_RUN(test_errors);
    QT_RUN(test_order_split_merge_invariance);
    QT_RUN(test_collector);
    QT_RUN(test_weight_stats);
    return qt_report();
}
