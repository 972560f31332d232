/*
 * Throughput of the exact histogram (DESIGN.md: "Speed"): qcal_hist_add on 10M float32 values,
 * ReLU-like (half zeros, the case the interleaved count arrays are for) and Gaussian. For
 * comparison it also times the min/max pass alone, the direct single-array binning, and adds in
 * activation-sized chunks. Prints, per case, the median and minimum time over the repetitions
 * after one warm-up, and values per second.
 *
 * Usage: bench_hist [values (10000000)] [reps (7)] [bins (4096)]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qcal/stats.h"
#include "stats/stats.h"

/* Values per add call in the chunked case: one 64x28x28 activation. */
#define CHUNK 50176
#define MAX_REPS 101

typedef enum { MODE_ADD, MODE_DIRECT, MODE_CHUNKED, MODE_SCAN } mode;

static uint64_t rng = 0x2545f4914f6cdd1dull;

static double rnd_unit(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}

static double rnd_gauss(void)
{
    double u = rnd_unit(), v = rnd_unit();

    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* One timed pass; returns non-zero on a library error. */
static int run_once(mode m, qcal_hist *h, const float *x, size_t n, uint64_t *sink)
{
    qcal__scan sc;

    qcal_hist_reset(h);
    switch (m) {
    case MODE_ADD:
        return qcal_hist_add(h, x, n, NULL) != QCAL_OK;
    case MODE_DIRECT:
        return qcal__hist_add_lanes(h, x, n, NULL, NULL) != QCAL_OK;
    case MODE_CHUNKED:
        for (size_t i = 0; i < n; i += CHUNK)
            if (qcal_hist_add(h, x + i, n - i < CHUNK ? n - i : CHUNK, NULL) != QCAL_OK)
                return 1;
        return 0;
    case MODE_SCAN:
        qcal__stats_scan(x, n, &sc);
        *sink += sc.count;
        return 0;
    }
    return 1;
}

static int bench(const char *data, mode m, qcal_hist *h, const float *x, size_t n, int reps)
{
    static const char *const names[] = { "hist_add", "hist_add_direct", "hist_add_chunked",
                                         "minmax_scan" };
    double t[MAX_REPS];
    uint64_t sink = 0;

    if (run_once(m, h, x, n, &sink)) /* warm-up: page faults, lanes allocation */
        return 1;
    for (int r = 0; r < reps; r++) {
        double t0 = now();

        if (run_once(m, h, x, n, &sink))
            return 1;
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    printf("%-17s %-6s n=%zu bins=%zu reps=%d median %8.3f ms min %8.3f ms  "
           "%7.1f Mvalues/s (median) %7.1f (best)  e=%d count=%llu\n",
           names[m], data, n, h->bins, reps, 1e3 * t[reps / 2], 1e3 * t[0],
           (double)n / t[reps / 2] * 1e-6, (double)n / t[0] * 1e-6, h->e,
           (unsigned long long)(m == MODE_SCAN ? sink / (uint64_t)(reps + 1) : h->count));
    return 0;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 10000000;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    size_t bins = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : QCAL_HIST_DEFAULT_BINS;
    float *relu, *gauss;
    qcal_hist h;
    qcal_error err;
    int rc = 0;

    if (n == 0 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench_hist [values] [reps 1..%d] [bins]\n", MAX_REPS);
        return 2;
    }
    if (qcal_hist_init(&h, bins, &err) != QCAL_OK) {
        fprintf(stderr, "bench_hist: %s\n", err.msg);
        return 2;
    }
    relu = malloc(n * sizeof *relu);
    gauss = malloc(n * sizeof *gauss);
    if (!relu || !gauss) {
        fprintf(stderr, "bench_hist: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        double g = rnd_gauss();

        gauss[i] = (float)g;
        relu[i] = rnd_unit() < 0.5 ? 0.0f : (float)fabs(rnd_gauss());
    }
    for (int m = MODE_ADD; m <= MODE_SCAN && !rc; m++) {
        rc |= bench("relu", (mode)m, &h, relu, n, reps);
        rc |= bench("gauss", (mode)m, &h, gauss, n, reps);
    }
    if (rc)
        fprintf(stderr, "bench_hist: qcal_hist_add failed\n");
    qcal_hist_fini(&h);
    free(relu);
    free(gauss);
    return rc;
}
