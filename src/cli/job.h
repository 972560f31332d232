/*
 * Internal interface of job-file reading (qcal_cli_job_load, calibrate.h), shared by its two
 * files: job.c reads the YAML document into qcal_cal_opts; job_set.c first merges the
 * `--set KEY=VALUE` arguments into that document and finds keys of its mappings.
 */
#ifndef QCAL_CLI_JOB_H
#define QCAL_CLI_JOB_H

#include <stdbool.h>
#include <yaml.h>

#include "cli/calibrate.h"
#include "qcal/status.h"

/* One job file being read. */
typedef struct qcal__cli_job {
    const char *path;         /* the job file, as given */
    const char *dir;          /* its folder ("" when the path has no '/') */
    yaml_document_t doc;
    int n_file_nodes;         /* nodes 1..n_file_nodes come from the file */
    const char **set_origin;  /* for later nodes: the --set argument they come from */
    int n_set_nodes, cap_set_nodes;
    bool enc_list;            /* the root's `encodings` is a list */
    const char *pp_seen[8];   /* preprocess keys given so far (top level or preprocess:) */
    int pp_line[8], n_pp_seen;
    qcal_cal_opts *o;
    qcal_error *err;
} qcal__cli_job;

/* Node idx (1-based, as libyaml numbers them) of the document; NULL when out of range. */
static inline yaml_node_t *qcal__cli_job_node(qcal__cli_job *j, int idx)
{
    return yaml_document_get_node(&j->doc, idx);
}

/* Fails with QCAL_E_NOMEM "<job file>: out of memory" (job.c). */
qcal_status qcal__cli_job_nomem(qcal__cli_job *j);

/* Whether name is a key of an encoding set (method, percentile, ..., trt-version) (job.c). */
bool qcal__cli_job_is_enc_key(const char *name);

/* The value index of the key `name` in the mapping node `map`; 0 when there is none or map is
 * not a mapping (job_set.c). */
int qcal__cli_job_lookup(qcal__cli_job *j, int map, const char *name);

/* The --set argument a node comes from; NULL for nodes of the file (job_set.c). */
const char *qcal__cli_job_set_origin(qcal__cli_job *j, const yaml_node_t *n);

/*
 * Merges the nset arguments sets[] (each "KEY=VALUE": key, preprocess.KEY, encodings.N.KEY;
 * encoding keys without an index go to the first set of an `encodings` list) into the loaded
 * document, replacing the file's value or adding the key; each value is a plain scalar. Call
 * once, after the file's document is loaded and j->n_file_nodes is set. Allocates
 * j->set_origin (the caller frees it). Errors name the --set argument (job_set.c).
 */
qcal_status qcal__cli_job_apply_sets(qcal__cli_job *j, int nset, char *const *sets);

/* Frees the strings that every job loaded so far keeps for the options (job.c); the options that
 * point to them are invalid afterwards. The CLI loads one job and never calls it; the fuzz
 * harness (tests/fuzz/fuzz_job.c) loads one per input. */
void qcal__cli_job_release(void);

#endif
