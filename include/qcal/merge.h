/*
 * Exact merge of two stats files' contents (DESIGN.md: "qcal merge a.h5 b.h5 ... -o merged.h5 --
 * exact: same as one run over the union"). Two calibrations of disjoint sample sets with the
 * same model, bins and preprocessing merge into the statistics one run over "a's samples, then
 * b's samples" would have written: histograms are merged per activation (qcal_hist_merge, which
 * is exact, associative and commutative), so every min, max, count, non-finite count, hist_e,
 * hist_k0 and hist row is bit-identical to that run, whatever the rank counts were.
 */
#ifndef QCAL_MERGE_H
#define QCAL_MERGE_H

#include "qcal/status.h"
#include "qcal/store.h"

/*
 * Merges src into dst.
 *
 * Required to be equal (else QCAL_E_INVALID naming the first difference and both values, dst
 * unchanged): bins; model_sha256; preprocess (the JSON string, byte for byte); the activation
 * list (count, then per row name, kind, dtype, shape, producer, op, in order); the weights (name,
 * consumer, op, shape, axis, and min/max/channel ranges bit for bit); the graph (nodes, their
 * inputs and outputs, graph outputs); the dataset's input count. Also refused: a sample path
 * listed (or skipped) in both, since the union would count that sample twice, and a sample
 * count that overflows. QCAL_E_CORRUPT when a dataset attribute is not the JSON object calibrate
 * writes or a histogram does not have `bins` bins.
 *
 * Result in dst:
 * - samples: the sum. n_samples/sample_paths: dst's paths, then src's (the order of a run over
 *   the list "dst's samples, then src's"); skipped likewise.
 * - ranks: the sum of both rank counts; rank_samples: dst's entries, then src's. They record how
 *   the statistics were produced (DESIGN.md calls them the only rank-dependent attributes), not
 *   a rank layout that reproduces them.
 * - dataset: {"kind": "merged", "path": "", "count": n_samples, "inputs": K, "list_sha256": H,
 *   "parts": [...]} where parts lists the dataset objects of the sources in order (a source
 *   that is itself a merge contributes its parts, so the list stays flat). With one input, H is
 *   recomputed as calibrate computes it (SHA-256 of the sample paths, each followed by '\n'), so
 *   it equals the hash of a run over the concatenated list; with several inputs the file keeps
 *   only input 0's paths, so H is "" and the parts keep their own hashes.
 * - encodings: all removed (they were computed from the old statistics); the caller computes
 *   new ones (qcal merge stores the default minmax-a8-w8 set, as calibrate does).
 * - dumps_file: cleared (dump files are not merged).
 * - model_path, created, qcal_version and the tables compared above: dst's, unchanged.
 *
 * Allocates the new lists before changing dst: on any failure (including QCAL_E_NOMEM) dst is
 * left exactly as it was. dst == src is refused (every sample would be listed twice).
 */
qcal_status qcal_stats_merge(qcal_stats *dst, const qcal_stats *src, qcal_error *err);

#endif
