/*
 * qcal merge: stats files of disjoint sample sets into one, exactly as one calibration over the
 * union would have written them (DESIGN.md "Command line"; qcal_stats_merge in merge.h). The
 * files are merged left to right, so the sample list is a's, then b's, ...; the merged file gets
 * the default encoding set (minmax-a8-w8) like a calibrate output, since the old sets no longer
 * match the statistics. Under mpirun, rank 0 does the work and the others wait.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "dist/dist.h"
#include "qcal/encset.h"
#include "qcal/merge.h"
#include "qcal/store.h"

#ifndef QCAL_VERSION
#define QCAL_VERSION "dev"
#endif

static const char HELP[] =
    "usage: qcal merge a.h5 b.h5 [c.h5 ...] -o|--out merged.h5\n"
    "\n"
    "Merges stats files of disjoint sample sets exactly: the histograms, ranges and counts are\n"
    "bit-identical to one 'qcal calibrate' over the samples of a, then b, ... The files must\n"
    "come from the same model file (model_sha256), --bins and preprocessing, and share no\n"
    "sample. The merged file lists the samples in argument order, sums the rank counts, records\n"
    "the source datasets in its dataset attribute and holds the default encoding set\n"
    "(minmax-a8-w8); use 'qcal encode' for others. Written atomically: on any error no output\n"
    "file is left.\n"
    "\n"
    "  -o, --out FILE        the merged stats file (may be one of the inputs)\n";

typedef struct merge_opts {
    const char *out;
    char **in;
    int n_in;
} merge_opts;

/* Returns 0, -1 for --help, or a qcal_status (err filled). */
static int parse(int argc, char **argv, merge_opts *o, qcal_error *err)
{
    static const struct option LONG[] = {
        { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", LONG, NULL)) != -1) {
        switch (c) {
        case 'o': o->out = optarg; break;
        case 'h': return -1;
        default:
            return qcal_error_set(err, QCAL_E_INVALID, "merge: unknown option or missing value "
                                  "'%s' (see qcal merge --help)", argv[optind - 1]);
        }
    }
    o->in = argv + optind;
    o->n_in = argc - optind;
    if (!o->out || o->n_in < 2)
        return qcal_error_set(err, QCAL_E_INVALID, "merge: needs two or more stats files and -o "
                              "(see qcal merge --help)");
    return 0;
}

static char *now_iso8601(void)
{
    char buf[32];
    time_t now = time(NULL);
    struct tm tmv;

    gmtime_r(&now, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    return strdup(buf);
}

/* The default encoding set of calibrate (minmax, a8, w8), stored as the file's only set. */
static qcal_status default_set(qcal_stats *s, qcal_error *err)
{
    qcal_encset_opts eo;
    qcal_encset_warnings warn;
    qcal_status st;

    qcal_encset_opts_default(&eo);
    s->enc = calloc(1, sizeof *s->enc);
    if (!s->enc)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    st = qcal_encset_compute(s, &eo, &s->enc[0], &warn, err);
    for (size_t k = 0; k < warn.n; k++)
        fprintf(stderr, "qcal: warning: %s\n", warn.msg[k]);
    qcal_encset_warnings_fini(&warn);
    if (st == QCAL_OK)
        s->n_enc = 1;
    return st;
}

/* Rank 0's work. */
static qcal_status merge(const merge_opts *o, qcal_error *err)
{
    qcal_stats dst, src;
    double t0 = qcal_dist_time();
    qcal_status st;
    char *created, *version;

    memset(&src, 0, sizeof src);
    memset(&dst, 0, sizeof dst);
    st = qcal_cli_check_output(o->out, "-o", err);
    if (st != QCAL_OK)
        return st;
    st = qcal_stats_read(o->in[0], &dst, err);
    for (int i = 1; st == QCAL_OK && i < o->n_in; i++) {
        st = qcal_stats_read(o->in[i], &src, err);
        if (st != QCAL_OK)
            break;
        st = qcal_stats_merge(&dst, &src, err);
        if (st != QCAL_OK) {
            char what[2 * PATH_MAX + 32];

            snprintf(what, sizeof what, "cannot merge %s and %s", o->in[0], o->in[i]);
            qcal_error_prefix(err, what);
        }
        qcal_stats_fini(&src);
    }
    if (st != QCAL_OK)
        goto out;
    created = now_iso8601();
    version = strdup(QCAL_VERSION);
    if (!created || !version) {
        free(created);
        free(version);
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    free(dst.created);
    dst.created = created;
    free(dst.qcal_version);
    dst.qcal_version = version;
    st = default_set(&dst, err);
    if (st == QCAL_OK)
        st = qcal_stats_write(o->out, &dst, err);
    if (st == QCAL_OK)
        fprintf(stderr, "qcal: merge: %d files, %llu samples (%zu listed, %zu skipped), %zu "
                "activations, %d ranks in all, encodings %s; wrote %s in %.3f s\n", o->n_in,
                (unsigned long long)dst.samples, dst.n_samples, dst.n_skipped, dst.n_act,
                dst.ranks, dst.enc[0].label, o->out, qcal_dist_time() - t0);
out:
    qcal_stats_fini(&src);
    qcal_stats_fini(&dst);
    return st;
}

int qcal_cli_merge(int argc, char **argv)
{
    merge_opts o;
    qcal_dist d;
    qcal_error err = { 0 };
    qcal_status st = QCAL_OK, gst;
    int fail_rank = -1;
    int prc = parse(argc, argv, &o, &err);

    if (prc == -1) {
        fputs(HELP, stdout);
        return 0;
    }
    if (prc != 0)
        return qcal_cli_fail(&err);
    if (qcal_dist_init(&argc, &argv, &d, &err) != QCAL_OK)
        return qcal_cli_fail(&err);
    if (d.rank == 0)
        st = merge(&o, &err);
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK && d.rank == fail_rank) {
        if (d.size > 1)
            fprintf(stderr, "qcal: error: [rank %d] %s\n", d.rank, err.msg);
        else
            fprintf(stderr, "qcal: error: %s\n", err.msg);
    }
    qcal_dist_finalize();
    return gst ? (int)gst : 0;
}
