/*
 * A calibration session without MPI: the model, one dataset per model input, the per-tensor
 * collector and the weight statistics. The MPI layer (src/dist) decides which samples this
 * process runs and merges collectors; everything else is here, so the whole pipeline runs and is
 * tested in a plain process.
 */
#ifndef QCAL_CALIB_H
#define QCAL_CALIB_H

#include <stdbool.h>
#include <stddef.h>

#include "qcal/data.h"
#include "qcal/model.h"
#include "qcal/stats.h"
#include "qcal/status.h"
#include "qcal/store.h"

typedef struct qcal_calib_opts {
    const char *model_path;
    size_t n_data;
    const char *const *data; /* "[NAME=]DIR|LIST|GLOB", one per model input */
    qcal_preprocess pp;
    size_t bins;             /* power of two; 0: QCAL_HIST_DEFAULT_BINS */
} qcal_calib_opts;

typedef struct qcal_calib qcal_calib; /* opaque */

/* Loads the model, resolves input shapes, lists the datasets (all with the same count), builds
 * the activation list (float32 graph inputs, node outputs and graph outputs computed per sample,
 * in graph order) and computes the weight statistics. The caller owns *out. */
qcal_status qcal_calib_create(const qcal_calib_opts *o, qcal_calib **out, qcal_error *err);
void qcal_calib_destroy(qcal_calib *c); /* NULL: no-op */

size_t qcal_calib_n_samples(const qcal_calib *c);
/* Path of global sample i for model input k. Borrowed. */
const char *qcal_calib_sample_path(const qcal_calib *c, size_t i, size_t k);
const qcal_model *qcal_calib_model(const qcal_calib *c);

/* Loads sample i of every input, runs the model and adds every activation to the collector.
 * A bad file fails with its error (E_IO/E_CORRUPT/E_SHAPE) before anything is collected, so the
 * caller may skip it. */
qcal_status qcal_calib_run_sample(qcal_calib *c, size_t i, qcal_error *err);

/* An extra observer ("tap") called during qcal_calib_run_sample for every tensor the executor
 * hands out, with the global sample index (used for intermediate-tensor dumps). NULL: none. */
typedef void (*qcal_calib_tap_fn)(void *ctx, size_t sample, size_t tensor,
                                  const qcal_tensor_view *view);
void qcal_calib_set_tap(qcal_calib *c, qcal_calib_tap_fn fn, void *ctx);

/* The collector: slot j is activation j. */
qcal_collector *qcal_calib_collector(qcal_calib *c);

/* Fills s with everything but the run's accounting: model, preprocess, dataset, activations
 * (histograms copied from the collector), weights, graph and the sample list. The caller sets
 * samples, ranks, rank_samples and skipped. */
qcal_status qcal_calib_fill_stats(const qcal_calib *c, qcal_stats *s, qcal_error *err);

#endif
