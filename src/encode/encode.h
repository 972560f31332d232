/*
 * Internal interface of the encode module: histogram checks, the folded |x| histogram and the
 * individual calibration methods behind qcal_enc_compute (ALGORITHMS.md §3). Exposed to the unit
 * test so that intermediate values (KL per candidate, method ranges) can be checked.
 */
#ifndef QCAL_SRC_ENCODE_H
#define QCAL_SRC_ENCODE_H

#include "qcal/encode.h"

/*
 * A folded |x| histogram (§3 "Folding"): abs bin j = j0 + i covers [j 2^e, (j+1) 2^e) and holds
 * c[i], i < n. c is malloc'ed; release with qcal__enc_fold_fini (NULL-safe, idempotent).
 */
typedef struct qcal__enc_fold {
    int e;
    int64_t j0;
    size_t n;
    uint64_t *c;
} qcal__enc_fold;

/*
 * Checks a histogram with total > 0: bins > 0, counts set, finite dmin <= dmax, e such that every
 * bin edge is a finite double, the counts summing to total, and the first and last non-empty
 * bins being those of dmin and dmax. QCAL_E_INVALID otherwise.
 */
qcal_status qcal__enc_check_hist(const qcal_enc_hist *h, qcal_error *err);

/* Checks bitwidth (2..32), sym, method and, for percentile, 50 < p <= 100. */
qcal_status qcal__enc_check_params(const qcal_enc_params *p, qcal_error *err);

/*
 * Folds a checked histogram with total > 0 to |x|. If max_j > 0 and the number of abs bins
 * J = (last non-empty j) + 1 exceeds max_j, the result is coarsened first (§3.3): the smallest
 * shift s with floor((J-1) / 2^s) < max_j, bins j -> floor(j / 2^s), e -> e + s. Allocates at most
 * h->bins counts. QCAL_E_NOMEM on allocation failure (out is then empty).
 */
qcal_status qcal__enc_fold_hist(const qcal_enc_hist *h, int64_t max_j, qcal__enc_fold *out,
                                qcal_error *err);
void qcal__enc_fold_fini(qcal__enc_fold *f);

/*
 * Percentile range (§3.2) of a checked histogram with total > 0, clamped to [dmin, dmax]:
 * two tails for an asymmetric target, one tail of the folded histogram when symmetric is true.
 * p in percent, 50 < p <= 100.
 */
qcal_status qcal__enc_percentile_range(const qcal_enc_hist *h, double p, bool symmetric,
                                       double *lo, double *hi, qcal_error *err);

/*
 * KL divergence of candidate i (§3.3 steps 1-5) for the abs histogram c[0..J-1] and L levels,
 * L <= i <= J. p and q are scratch arrays of at least i doubles. +INFINITY when smoothing fails.
 */
double qcal__enc_entropy_kl(const uint64_t *c, size_t J, int64_t L, size_t i, double *p,
                            double *q);

/*
 * Entropy threshold amax (§3.3) of a checked histogram with total > 0. levels = 0 chooses
 * 2^n for unsigned data (dmin >= 0) and 2^(n-1) otherwise. Allocates O(bins) scratch.
 */
qcal_status qcal__enc_entropy_amax(const qcal_enc_hist *h, int bitwidth, int64_t levels,
                                   double *amax, qcal_error *err);

/*
 * The §3.5 search (enhanced: gamma 3; mse: gamma 1) over a checked histogram with total > 0.
 * Symmetric targets: SIGNED, or UNSIGNED with dmin < 0, search deltas with the offset fixed at
 * -2^(n-1); STRICT likewise with N-1 steps and offset -(2^(n-1) - 1); UNSIGNED with dmin >= 0
 * runs the asymmetric search (its offset is 0) and flags the result symmetric.
 * Stores the double grid bounds in *lo, *hi when they are not NULL.
 */
qcal_status qcal__enc_search(const qcal_enc_hist *h, int bitwidth, qcal_sym sym, double gamma,
                             qcal_encoding *out, double *lo, double *hi, qcal_error *err);

/*
 * Fills out from an exact double scale, offset and grid bounds: rounds to float32 once, maps
 * -0.0 to +0.0. QCAL_E_NUMERIC when scale, min or max does not fit a finite float32 or the scale
 * rounds to 0.
 */
qcal_status qcal__enc_store(double s, double o, double min, double max, int bitwidth,
                            bool symmetric, qcal_encoding *out, qcal_error *err);

#endif
