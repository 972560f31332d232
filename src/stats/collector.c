/*
 * The per-tensor collector: one canonical histogram per activation slot. All counts live in one
 * T x B array sized at creation, and the slots share one scratch area for the interleaved
 * counters, so memory is O(T * B) whatever the number of samples (STYLE.md: hot paths allocate
 * nothing).
 */
#include <stdlib.h>
#include <string.h>

#include "stats/stats.h"

struct qcal_collector {
    size_t tensors;
    size_t bins;
    qcal_hist *hists;  /* tensors entries; counts point into `counts` */
    uint64_t *counts;  /* tensors * bins */
    uint32_t *lanes;   /* 3 * bins, zero between calls */
};

qcal_status qcal_collector_create(size_t tensors, size_t bins, qcal_collector **out,
                                  qcal_error *err)
{
    qcal_status st;
    qcal_collector *c = NULL;

    *out = NULL;
    st = qcal__hist_check_bins(bins, err);
    if (st != QCAL_OK)
        return st;
    if (tensors > SIZE_MAX / bins / sizeof(uint64_t))
        return qcal_error_set(err, QCAL_E_NOMEM, "collector: %zu tensors x %zu bins is too large",
                              tensors, bins);
    c = calloc(1, sizeof *c);
    if (!c)
        goto nomem;
    c->tensors = tensors;
    c->bins = bins;
    /* One extra slot keeps calloc's size non-zero when there are no tensors. */
    c->hists = calloc(tensors + 1, sizeof c->hists[0]);
    c->counts = calloc(tensors * bins + 1, sizeof c->counts[0]);
    c->lanes = calloc(3 * bins, sizeof c->lanes[0]);
    if (!c->hists || !c->counts || !c->lanes)
        goto nomem;
    for (size_t t = 0; t < tensors; t++) {
        c->hists[t].bins = bins;
        c->hists[t].counts = c->counts + t * bins;
        c->hists[t].lanes_ = NULL;
        qcal_hist_reset(&c->hists[t]);
    }
    *out = c;
    return QCAL_OK;
nomem:
    qcal_collector_destroy(c);
    return qcal_error_set(err, QCAL_E_NOMEM, "collector: cannot allocate %zu tensors x %zu bins",
                          tensors, bins);
}

void qcal_collector_destroy(qcal_collector *c)
{
    if (!c)
        return;
    free(c->hists);
    free(c->counts);
    free(c->lanes);
    free(c);
}

size_t qcal_collector_tensors(const qcal_collector *c)
{
    return c->tensors;
}

size_t qcal_collector_bins(const qcal_collector *c)
{
    return c->bins;
}

qcal_status qcal_collector_observe(qcal_collector *c, size_t slot, const float *x, size_t n,
                                   qcal_error *err)
{
    if (!c || slot >= c->tensors)
        return qcal_error_set(err, QCAL_E_INVALID, "collector: slot %zu out of range (%zu slots)",
                              slot, c ? c->tensors : 0);
    return qcal__hist_add_lanes(&c->hists[slot], x, n, c->lanes, err);
}

const qcal_hist *qcal_collector_hist(const qcal_collector *c, size_t slot)
{
    return c && slot < c->tensors ? &c->hists[slot] : NULL;
}

qcal_hist *qcal_collector_hist_mut(qcal_collector *c, size_t slot)
{
    return c && slot < c->tensors ? &c->hists[slot] : NULL;
}

qcal_status qcal_collector_merge(qcal_collector *dst, const qcal_collector *src,
                                 qcal_error *err)
{
    if (!dst || !src)
        return qcal_error_set(err, QCAL_E_INVALID, "collector merge: NULL collector");
    if (dst->tensors != src->tensors || dst->bins != src->bins)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "collector merge: %zu slots x %zu bins vs %zu slots x %zu bins",
                              dst->tensors, dst->bins, src->tensors, src->bins);
    /* Cannot fail from here on: the slots agree in bins. */
    for (size_t t = 0; t < dst->tensors; t++) {
        qcal_status st = qcal_hist_merge(&dst->hists[t], &src->hists[t], err);

        if (st != QCAL_OK)
            return st;
    }
    return QCAL_OK;
}

void qcal_collector_reset(qcal_collector *c)
{
    for (size_t t = 0; t < c->tensors; t++)
        qcal_hist_reset(&c->hists[t]);
}
