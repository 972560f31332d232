/* Internal interface of the statistics module (src/stats); see include/qcal/stats.h. */
#ifndef QCAL_STATS_INTERNAL_H
#define QCAL_STATS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "qcal/stats.h"

/* What one pass over a float32 array finds. min/max are over finite values only, -0.0 given as
 * +0.0, NaN when count == 0. */
typedef struct qcal__scan {
    float min, max;
    uint64_t count; /* finite values */
    uint64_t nan, pinf, ninf;
} qcal__scan;

/* One vectorised pass over x[0..n): finite min/max and counts. Does not allocate. */
void qcal__stats_scan(const float *x, size_t n, qcal__scan *out);

/* floor(k / 2^s) for s >= 0, exact for every int64 k (s <= 0 returns k). */
int64_t qcal__floor_shift(int64_t k, int s);

/* Checks a bin count (power of two, 2 <= bins <= QCAL_HIST_MAX_BINS). */
qcal_status qcal__hist_check_bins(size_t bins, qcal_error *err);

/* qcal_hist_add with caller-provided scratch: lanes is 3 * h->bins zeroed uint32 counters (or
 * NULL for the direct path) and is left zeroed. Used by the collector, whose slots share one
 * scratch area. */
qcal_status qcal__hist_add_lanes(qcal_hist *h, const float *x, size_t n, uint32_t *lanes,
                                 qcal_error *err);

#endif
