/*
 * Exact min/max of weight tensors, per tensor and per channel (ALGORITHMS.md 2.3). NaN and
 * +-Inf are excluded and counted; -0.0 is stored as +0.0 so results do not depend on order.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

/* Blocks of at least this many contiguous values per channel use the vector scan. */
#define SCAN_MIN_INNER 16

static void ws_empty(qcal_weight_stats *ws)
{
    memset(ws, 0, sizeof *ws);
    ws->min = ws->max = NAN;
    ws->axis = -1;
}

/*
 * Per-channel ranges: the tensor is viewed as [outer, C, inner] and channel c collects the
 * `outer` blocks of `inner` contiguous values. Accumulators start at +Inf/-Inf; a channel that
 * stays there had no finite value and gets NaN.
 */
static void channel_ranges(const float *x, size_t outer, size_t nch, size_t inner, float *cmin,
                           float *cmax)
{
    for (size_t c = 0; c < nch; c++) {
        cmin[c] = INFINITY;
        cmax[c] = -INFINITY;
    }
    for (size_t o = 0; o < outer; o++) {
        for (size_t c = 0; c < nch; c++) {
            const float *p = x + (o * nch + c) * inner;
            float mn = cmin[c], mx = cmax[c];

            if (inner >= SCAN_MIN_INNER) {
                qcal__scan sc;

                qcal__stats_scan(p, inner, &sc);
                if (sc.count > 0) {
                    mn = sc.min < mn ? sc.min : mn;
                    mx = sc.max > mx ? sc.max : mx;
                }
            } else {
                for (size_t i = 0; i < inner; i++) {
                    float v = p[i];

                    if (fabsf(v) <= FLT_MAX) {
                        mn = v < mn ? v : mn;
                        mx = v > mx ? v : mx;
                    }
                }
            }
            cmin[c] = mn;
            cmax[c] = mx;
        }
    }
    for (size_t c = 0; c < nch; c++) {
        if (cmin[c] > cmax[c]) {
            cmin[c] = cmax[c] = NAN;
        } else {
            /* -0.0 == +0.0: which one survived depends on order; store +0.0. */
            cmin[c] = cmin[c] == 0.0f ? 0.0f : cmin[c];
            cmax[c] = cmax[c] == 0.0f ? 0.0f : cmax[c];
        }
    }
}

qcal_status qcal_weight_stats_compute(qcal_weight_stats *ws, const float *x, const int64_t *dims,
                                      int rank, int axis, qcal_error *err)
{
    size_t nelem = 1, outer = 1, nch = 0, inner = 1;
    qcal__scan sc;

    ws_empty(ws);
    if (rank < 0 || (rank > 0 && !dims))
        return qcal_error_set(err, QCAL_E_INVALID, "weight stats: bad rank %d", rank);
    if (axis < -1 || axis >= rank)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "weight stats: channel axis %d out of range for rank %d", axis,
                              rank);
    for (int i = 0; i < rank; i++) {
        size_t d;

        if (dims[i] < 0)
            return qcal_error_set(err, QCAL_E_INVALID, "weight stats: dimension %d is %lld", i,
                                  (long long)dims[i]);
        d = (size_t)dims[i];
        if (d != 0 && nelem > SIZE_MAX / sizeof(float) / d)
            return qcal_error_set(err, QCAL_E_SHAPE, "weight stats: element count overflows");
        nelem *= d;
        if (axis >= 0 && i < axis)
            outer *= d;
        else if (i == axis)
            nch = d;
        else if (axis >= 0)
            inner *= d;
    }
    if (nelem > 0 && !x)
        return qcal_error_set(err, QCAL_E_INVALID, "weight stats: NULL data for %zu values",
                              nelem);

    qcal__stats_scan(x, nelem, &sc);
    ws->min = sc.min;
    ws->max = sc.max;
    ws->count = sc.count;
    ws->nan = sc.nan;
    ws->pinf = sc.pinf;
    ws->ninf = sc.ninf;
    ws->axis = axis;
    if (axis < 0 || nch == 0)
        return QCAL_OK;

    ws->ch_min = malloc(nch * sizeof ws->ch_min[0]);
    ws->ch_max = malloc(nch * sizeof ws->ch_max[0]);
    if (!ws->ch_min || !ws->ch_max) {
        qcal_weight_stats_fini(ws);
        return qcal_error_set(err, QCAL_E_NOMEM, "weight stats: cannot allocate %zu channels",
                              nch);
    }
    ws->channels = nch;
    channel_ranges(x, outer, nch, inner, ws->ch_min, ws->ch_max);
    return QCAL_OK;
}

void qcal_weight_stats_fini(qcal_weight_stats *ws)
{
    if (!ws)
        return;
    free(ws->ch_min);
    free(ws->ch_max);
    ws_empty(ws);
}
