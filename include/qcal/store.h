/*
 * The HDF5 stats file (format "qcal-stats", version 1; DESIGN.md "HDF5 stats file") and its
 * in-memory form. Everything a later experiment needs (exact histograms, weight ranges, graph
 * structure, sample list, encodings) is in one qcal_stats value; qcal_stats_write/_read map it to
 * and from the file with the default (serial) HDF5 driver.
 *
 * Ownership: a qcal_stats owns every string and array it points to (malloc); qcal_stats_fini
 * frees them. Strings are UTF-8, NUL-terminated.
 */
#ifndef QCAL_STORE_H
#define QCAL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qcal/stats.h"
#include "qcal/status.h"

/* One row of /activations. hist carries min, max, count, nonfinite and the histogram. */
typedef struct qcal_act_rec {
    char *name;
    char *kind;     /* "input" | "activation" | "output" */
    char *dtype;    /* "float32" */
    char *shape;    /* "1x16x28x28" */
    char *producer; /* node name, "" for graph inputs */
    char *op;       /* producer op type, "" for graph inputs */
    qcal_hist hist;
} qcal_act_rec;

/* One row of /weights; per-channel ranges along axis (-1: none, ch_count 0). */
typedef struct qcal_weight_rec {
    char *name;
    char *consumer; /* first consuming node */
    char *op;       /* its op type */
    char *shape;
    int axis;
    float min, max;
    size_t ch_count;
    float *ch_min, *ch_max;
} qcal_weight_rec;

/* /graph: nodes in execution order with their input/output tensor names (CSR). */
typedef struct qcal_graph_rec {
    size_t n_nodes;
    char **node_name, **node_op;
    uint64_t *in_start, *in_count, *out_start, *out_count;
    size_t n_inputs, n_outputs;
    char **inputs, **outputs; /* "" for an omitted optional input/output */
    size_t n_graph_outputs;
    char **graph_outputs;
} qcal_graph_rec;

/* One activation encoding (a row of /encodings/<label>/act_*). */
typedef struct qcal_act_enc {
    char *name;
    int bitwidth;
    float scale, min, max;
    int64_t offset;
    bool symmetric;
    bool is_float; /* act_dtype "float": kept in float (override) */
} qcal_act_enc;

/* One parameter encoding: ch_count entries (1 for per-tensor). */
typedef struct qcal_param_enc {
    char *name;
    int bitwidth;
    bool symmetric;
    size_t ch_count;
    float *scale, *min, *max;
    int64_t *offset;
} qcal_param_enc;

/* /encodings/<label> */
typedef struct qcal_enc_set {
    char *label;
    char *method;
    char *params; /* JSON */
    char *created;
    size_t n_act;
    qcal_act_enc *act;
    size_t n_param;
    qcal_param_enc *param;
} qcal_enc_set;

typedef struct qcal_stats {
    /* root attributes */
    char *qcal_version;
    char *created;      /* ISO 8601 */
    char *model_path;
    char *model_sha256;
    char *source_dtype; /* "float16"/"bfloat16": the model was half precision (run in float32);
                         * NULL for a float32 model (the attribute is then absent) */
    uint64_t samples;   /* samples that contributed */
    int bins;
    char *preprocess;   /* JSON */
    char *dataset;      /* JSON: kind, path, count, list_sha256 */
    int ranks;
    uint64_t *rank_samples; /* [ranks] */
    /* tables */
    size_t n_act;
    qcal_act_rec *act;
    size_t n_weights;
    qcal_weight_rec *weights;
    qcal_graph_rec graph;
    size_t n_samples;
    char **sample_paths; /* /samples/path, global order */
    size_t n_skipped;
    char **skipped;      /* /samples/skipped */
    size_t n_enc;
    qcal_enc_set *enc;
    char *dumps_file;    /* target of the /dumps external link, NULL if none */
} qcal_stats;

/* Frees everything s owns and zeroes it. NULL-safe. */
void qcal_stats_fini(qcal_stats *s);

/* Writes s to path atomically (path.tmp.<pid>, then rename; nothing is left on failure). */
qcal_status qcal_stats_write(const char *path, const qcal_stats *s, qcal_error *err);

/* Reads a qcal-stats v1 file into s (zeroed on failure). Errors name the file and what is wrong
 * (not HDF5, wrong format/version, missing dataset). */
qcal_status qcal_stats_read(const char *path, qcal_stats *s, qcal_error *err);

#endif
