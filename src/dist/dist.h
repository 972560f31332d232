/*
 * The MPI layer (the only code that calls MPI): process group, status agreement, exact reduction
 * of the per-tensor statistics. Without a launcher MPI runs as a singleton: one rank.
 */
#ifndef QCAL_DIST_H
#define QCAL_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "qcal/stats.h"
#include "qcal/status.h"

typedef struct qcal_dist {
    int rank, size;
} qcal_dist;

qcal_status qcal_dist_init(int *argc, char ***argv, qcal_dist *d, qcal_error *err);
void qcal_dist_finalize(void);
/* Ends every rank at once (a rank that cannot take part any more). */
void qcal_dist_abort(int code);

/* Every rank passes its status; returns the status of the lowest failing rank (QCAL_OK if none)
 * and sets *fail_rank to it (-1 if none). Collective. */
qcal_status qcal_dist_agree(const qcal_dist *d, qcal_status local, int *fail_rank);

/* True on every rank when flag is true on any rank (collective). */
bool qcal_dist_any(const qcal_dist *d, bool flag);

/* Sum over ranks (collective; every rank gets the result). */
uint64_t qcal_dist_sum_u64(const qcal_dist *d, uint64_t v);

/* Gathers one uint64 per rank into all[size] on rank 0 (collective). */
void qcal_dist_gather_u64(const qcal_dist *d, uint64_t v, uint64_t *all);

/* Gathers variable-length uint64 arrays to rank 0: *out (malloc, caller frees) gets the
 * concatenation in rank order, *n its length. Collective. */
qcal_status qcal_dist_gatherv_u64(const qcal_dist *d, const uint64_t *v, uint64_t n,
                                  uint64_t **out, uint64_t *total, qcal_error *err);

/*
 * Exact reduction of a collector (DESIGN.md: MPI reduction): allreduce MIN/MAX of every tensor's
 * range (a rank without finite values sends +Inf/-Inf), every rank folds each histogram to the
 * canonical window of the global range, then the uint64 counts (bins, finite, NaN, +Inf, -Inf)
 * are summed on rank 0. On rank 0 the collector then holds the global statistics; on the other
 * ranks it is left folded but partial. Collective.
 */
qcal_status qcal_dist_reduce_collector(const qcal_dist *d, qcal_collector *c, qcal_error *err);

/* Broadcasts an int from rank 0. */
int qcal_dist_bcast_int(const qcal_dist *d, int v);

/* Wall clock in seconds (MPI_Wtime). */
double qcal_dist_time(void);

#endif
