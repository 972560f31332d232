/*
 * qcal calibrate's options, shared by the command line (cmd_calibrate.c) and job files (job.c):
 * a job file fills the same struct, so both paths run the same code.
 */
#ifndef QCAL_CLI_CALIBRATE_H
#define QCAL_CLI_CALIBRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "qcal/data.h"
#include "qcal/encset.h"
#include "qcal/status.h"

#define QCAL_CAL_MAX_DATA 32
#define QCAL_CAL_MAX_ENC 32
#define QCAL_CAL_MAX_OVERRIDES 32

/* One encoding set to produce at the end of the run (and optionally export). */
typedef struct qcal_cal_encoding {
    qcal_encset_opts eo;     /* eo.overrides points into overrides[] */
    qcal_enc_override overrides[QCAL_CAL_MAX_OVERRIDES];
    const char *format;      /* aimet | aimet1 | qnn | trt (NULL: aimet) */
    const char *path;        /* export file, NULL: stored in the stats file only */
    int trt_version;         /* 0: default */
} qcal_cal_encoding;

typedef struct qcal_cal_opts {
    const char *model;
    const char *out;
    const char *data[QCAL_CAL_MAX_DATA];
    size_t n_data;
    size_t bins;
    qcal_preprocess pp;
    bool skip_bad, quiet;
    qcal_cal_encoding enc[QCAL_CAL_MAX_ENC]; /* enc[0]: --method/--encodings/--format */
    size_t n_enc;
    const char *dump_regex;  /* NULL: no dumps */
    size_t dump_samples;
    const char *dump_out;    /* NULL: <out>.dumps.h5 */
    size_t checkpoint_every; /* samples per rank; 0: no periodic checkpoints */
    bool resume;
} qcal_cal_opts;

/* Defaults: 4096 bins, one encoding set (minmax, a8/w8), no dumps, no checkpoints. */
void qcal_cal_opts_init(qcal_cal_opts *o);

/* Sets one single-valued option by its command-line name without dashes ("bins", "method",
 * "out", "data" (appends), preprocess names, ...). The encoding options (method, percentile,
 * label, encodings, format) apply to enc[0]. Used by the parser and by job files' --set. */
qcal_status qcal_cal_opts_set(qcal_cal_opts *o, const char *name, const char *value,
                              qcal_error *err);

/* Checks the required options (model, data, out). */
qcal_status qcal_cal_opts_check(const qcal_cal_opts *o, qcal_error *err);

/* Runs the calibration under MPI (initialised by the caller); returns the exit status. Every
 * rank calls it with the same options. */
int qcal_cli_calibrate_run(const qcal_cal_opts *o, int rank, int size);

/* Job files: `qcal calibrate JOB.yaml [--set key=value ...]` (src/cli/job.c). Fills o; errors
 * name the file, line and key. */
qcal_status qcal_cli_job_load(const char *path, int nset, char *const *sets, qcal_cal_opts *o,
                              qcal_error *err);

#endif
