/*
 * Statistics of float32 tensors: the exact, mergeable histogram (DESIGN.md: "Mergeable
 * histogram"), the per-tensor collector built on it, and exact weight min/max.
 *
 * A histogram is (e, k0, counts[B]): the bin with absolute index k covers [k*2^e, (k+1)*2^e)
 * and counts[i] belongs to k = k0 + i. Next to it the histogram keeps the exact finite min and
 * max (-0.0 stored as +0.0), the number of finite values and the numbers of NaN, +Inf and -Inf,
 * which never enter min/max or the bins.
 *
 * Canonical form: for finite data with range [min, max] the window is a pure function of that
 * range, e = qcal_hist_canonical_e(min, max, B) and k0 = floor(min / 2^e). Every function below
 * leaves a histogram in canonical form for its exact range, so its whole state (e, k0, counts,
 * min, max, count, nan, pinf, ninf) depends only on the multiset of values added, never on their
 * order, on how they were split into calls, or on the order or tree shape of merges. A histogram
 * without finite values has min = max = NaN, e = 0, k0 = 0 and all counts zero.
 *
 * Canonical e is monotone in the range (a wider range never gives a smaller e), so growing a
 * histogram only ever folds bins (k -> floor(k/2) per step, counts add), which is exact.
 */
#ifndef QCAL_STATS_H
#define QCAL_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "qcal/status.h"

/* DESIGN.md: the default number of bins (--bins). */
#define QCAL_HIST_DEFAULT_BINS 4096
/* DESIGN.md: e never goes below this, which defines all-zero tensors. */
#define QCAL_HIST_E_MIN (-160)
/* Largest accepted bin count (2^24 bins = 128 MiB of counts). */
#define QCAL_HIST_MAX_BINS ((size_t)1 << 24)

/*
 * A histogram (value struct; the caller allocates it, qcal_hist_init/qcal_hist_fini manage what
 * it points to). The fields may be read freely. Code that fills them itself (reading a stats
 * file, an MPI reduction) must leave them canonical; qcal_hist_validate() checks that.
 */
typedef struct qcal_hist {
    int e;             /* bin width is 2^e */
    int64_t k0;        /* absolute index of counts[0] */
    size_t bins;       /* B: a power of two >= 2 */
    uint64_t *counts;  /* B counts, owned */
    float min, max;    /* exact finite range, -0.0 stored as +0.0; NaN when count == 0 */
    uint64_t count;    /* finite values (the sum of counts) */
    uint64_t nan;      /* NaN values seen */
    uint64_t pinf;     /* +Inf values seen */
    uint64_t ninf;     /* -Inf values seen */
    uint32_t *lanes_;  /* private: 3*B scratch counters of qcal_hist_add, allocated lazily */
} qcal_hist;

/* Initialises h as an empty histogram with `bins` bins (a power of two, 2 <= bins <=
 * QCAL_HIST_MAX_BINS). Allocates the counts. On failure h is left so that qcal_hist_fini(h) is
 * a no-op. */
qcal_status qcal_hist_init(qcal_hist *h, size_t bins, qcal_error *err);

/* Frees what h owns and leaves it empty with 0 bins. NULL or an already finished h: no-op. */
void qcal_hist_fini(qcal_hist *h);

/* Makes h empty again (no values seen); keeps its bins and memory. Does not allocate. */
void qcal_hist_reset(qcal_hist *h);

/*
 * Adds n float32 values. Finite values widen the range if needed (the window is refolded to the
 * canonical e of the new range, exactly) and are binned with k = floor(x * 2^-e); NaN and +-Inf
 * are only counted. Adding in any number of calls of any sizes gives the same histogram as one
 * call. The first call with a large n allocates the private scratch counters once (if that
 * allocation fails the slower direct path is used instead); nothing else allocates.
 * Fails only on bad arguments (x NULL with n > 0, h not initialised): QCAL_E_INVALID.
 */
qcal_status qcal_hist_add(qcal_hist *h, const float *x, size_t n, qcal_error *err);

/* Adds src into dst: canonical e of the union range, both folded, counts added; non-finite
 * counts add. Associative and commutative. Both need the same bins (else QCAL_E_INVALID, dst
 * unchanged). dst == src is allowed (doubles every count). Does not allocate. */
qcal_status qcal_hist_merge(qcal_hist *dst, const qcal_hist *src, qcal_error *err);

/* Copies src's whole state into dst, which must be initialised with the same bins (else
 * QCAL_E_INVALID, dst unchanged). Does not allocate. */
qcal_status qcal_hist_copy(qcal_hist *dst, const qcal_hist *src, qcal_error *err);

/*
 * Moves h's counts to the window (e_new, k0_new): bin k goes to floor(k / 2^(e_new - h->e)),
 * so k0 = -3 folded one step lands in -2 (floor division, not truncation). min, max and the
 * counts of values are unchanged. Fails with QCAL_E_INVALID, h unchanged, if e_new < h->e (for
 * a histogram with finite values) or if a non-empty bin would fall outside
 * [k0_new, k0_new + B). A histogram without finite values just takes the window.
 *
 * The MPI reduction uses it so that every rank has the same window before counts are summed
 * elementwise:
 *   1. allreduce MIN of min and MAX of max (a rank with count == 0 contributes +Inf / -Inf);
 *   2. qcal_hist_canonical_window(gmin, gmax, B, &e, &k0) on every rank;
 *   3. qcal_hist_fold_to(h, e, k0) on every rank;
 *   4. SUM of counts[], count, nan, pinf, ninf; set min = gmin, max = gmax (NaN if no rank
 *      had a finite value, and then e = k0 = 0 as well).
 * The result equals qcal_hist_merge of all ranks' histograms. Does not allocate.
 */
qcal_status qcal_hist_fold_to(qcal_hist *h, int e_new, int64_t k0_new, qcal_error *err);

/*
 * Canonical exponent of a finite range for B bins (DESIGN.md): e = max(e_span, e_mag, -160),
 * e_span the smallest integer with floor(max/2^e) - floor(min/2^e) < B, e_mag =
 * ilogb(max(|min|, |max|)) - 40, or -160 when that maximum is 0. The result lies in
 * [-160, 128]. Pure function; any B >= 2 is accepted here. Returns 0 (the "no finite value"
 * window) when min or max is not finite, min > max, or bins < 2.
 */
int qcal_hist_canonical_e(float min, float max, size_t bins);

/* Canonical window of a range: *e as qcal_hist_canonical_e and *k0 = floor(min / 2^e)
 * (0 when the range is not valid, as above). */
void qcal_hist_canonical_window(float min, float max, size_t bins, int *e, int64_t *k0);

/*
 * Checks that h is a well-formed canonical histogram (for histograms read from files or built
 * by hand): bins a power of two, min/max finite with min <= max and no -0.0, e and k0 canonical
 * for [min, max], sum of counts == count, the bins of min and max non-empty and no count outside
 * them; or the exact "no finite value" state. Returns QCAL_E_CORRUPT with a message naming the
 * first problem. Does not allocate.
 */
qcal_status qcal_hist_validate(const qcal_hist *h, qcal_error *err);

/*
 * The per-tensor collector: one histogram per activation slot, all with the same bins. Memory
 * is O(T * B) and fixed at creation; it does not grow with the samples observed. Not
 * thread-safe (slots share one scratch area).
 */
typedef struct qcal_collector qcal_collector; /* opaque */

/* Creates a collector for `tensors` slots (may be 0) of `bins` bins each (as qcal_hist_init).
 * On failure *out is NULL. The caller owns *out (qcal_collector_destroy). */
qcal_status qcal_collector_create(size_t tensors, size_t bins, qcal_collector **out,
                                  qcal_error *err);

/* Frees c. NULL: no-op. */
void qcal_collector_destroy(qcal_collector *c);

/* Number of slots / bins per slot. */
size_t qcal_collector_tensors(const qcal_collector *c);
size_t qcal_collector_bins(const qcal_collector *c);

/* Adds n values to slot's histogram (as qcal_hist_add). slot >= the slot count: QCAL_E_INVALID.
 * Does not allocate. */
qcal_status qcal_collector_observe(qcal_collector *c, size_t slot, const float *x, size_t n,
                                   qcal_error *err);

/* The histogram of a slot, borrowed: valid until qcal_collector_destroy(c). NULL when slot is
 * out of range. The mutable form is for code that folds, reduces or restores the counts in
 * place (MPI reduction, checkpoint resume); it must leave the histogram canonical and must not
 * qcal_hist_fini it. The counts of all slots are one contiguous array: slot t's counts start
 * B * t entries after slot 0's. */
const qcal_hist *qcal_collector_hist(const qcal_collector *c, size_t slot);
qcal_hist *qcal_collector_hist_mut(qcal_collector *c, size_t slot);

/* Merges every slot of src into the same slot of dst (as qcal_hist_merge). Both need the same
 * slot and bin counts (else QCAL_E_INVALID, dst unchanged). Does not allocate. */
qcal_status qcal_collector_merge(qcal_collector *dst, const qcal_collector *src,
                                 qcal_error *err);

/* Empties every slot. Does not allocate. */
void qcal_collector_reset(qcal_collector *c);

/*
 * Exact statistics of a weight tensor (ALGORITHMS.md 2.3: weights need no histogram). NaN and
 * +-Inf are excluded from every min/max and counted; -0.0 is stored as +0.0. A tensor or
 * channel without finite values has min = max = NaN.
 */
typedef struct qcal_weight_stats {
    float min, max;   /* per-tensor range */
    uint64_t count;   /* finite values */
    uint64_t nan, pinf, ninf;
    int axis;         /* channel axis, -1: none */
    size_t channels;  /* dims[axis], 0 when axis == -1 */
    float *ch_min;    /* channels entries, owned; NULL when channels == 0 */
    float *ch_max;
} qcal_weight_stats;

/*
 * Computes the statistics of x, a dense row-major float32 tensor of shape dims[0..rank) (rank
 * 0: a scalar), per channel along `axis` (0 <= axis < rank) or per tensor only (axis == -1).
 * Initialises ws (caller-allocated; any previous content is ignored); release it with
 * qcal_weight_stats_fini. Allocates the per-channel arrays. On failure ws is left empty (fini is
 * a no-op) and QCAL_E_INVALID (bad rank, axis, negative dimension, x NULL with elements),
 * QCAL_E_SHAPE (element count overflows) or QCAL_E_NOMEM is returned.
 */
qcal_status qcal_weight_stats_compute(qcal_weight_stats *ws, const float *x, const int64_t *dims,
                                      int rank, int axis, qcal_error *err);

/* Frees the per-channel arrays. NULL: no-op. */
void qcal_weight_stats_fini(qcal_weight_stats *ws);

#endif
