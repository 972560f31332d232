/*
 * qcal calibrate: every rank runs its shard (sample i goes to rank i mod P), collects exact
 * per-tensor statistics, the statistics are reduced exactly over MPI, and rank 0 writes the HDF5
 * stats file (with the requested encodings) and the optional encodings export.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "dist/dist.h"
#include "qcal/calib.h"
#include "qcal/encode.h"
#include "qcal/encset.h"
#include "qcal/export.h"
#include "qcal/store.h"

#define MAX_DATA 32
/* Ranks agree on their status every AGREE_EVERY rounds (one sample per rank per round). */
#define AGREE_EVERY 16

static const char HELP[] =
    "usage: qcal calibrate --model M.onnx --data [NAME=]DIR|LIST|GLOB [--data ...]\n"
    "                      [preprocess options] -o|--out stats.h5 [--bins 4096]\n"
    "                      [--method minmax] [--encodings enc.json] [--format aimet|aimet1|qnn|trt]\n"
    "                      [--skip-bad] [--quiet]\n"
    "\n"
    "Runs the calibration set through the model (under mpirun/srun: sample i on rank i mod P),\n"
    "keeps exact min/max and a mergeable histogram of every activation, reduces them exactly\n"
    "(bit-identical for any rank count) and writes the HDF5 stats file (format qcal-stats v1)\n"
    "with the encodings of --method (8-bit asymmetric activations, 8-bit symmetric weights).\n"
    "\n"
    "  --model M.onnx        the float32 model\n"
    "  --data SPEC           a directory (recursive, sorted), a list file (one path per line,\n"
    "                        relative to the list) or a glob; one per model input (NAME=SPEC)\n"
    "  -o, --out FILE        the stats file (written atomically)\n"
    "  --bins N              histogram bins, a power of two (default 4096)\n"
    "  --method M            minmax | percentile | entropy | mse | enhanced (default minmax)\n"
    "  --percentile P        for --method percentile (default 99.99)\n"
    "  --label L             encoding label (default <method>-a8-w8)\n"
    "  --encodings FILE      also export the encodings (default format aimet)\n"
    "  --format F            aimet | aimet1 | qnn | trt\n"
    "  --skip-bad            skip unreadable/corrupt samples (counted, listed in the file)\n"
    "  --quiet               no progress output\n"
    PREPROCESS_HELP;

typedef struct cal_opts {
    const char *model, *out, *encodings, *format, *label, *method;
    const char *data[MAX_DATA];
    size_t n_data;
    size_t bins;
    double percentile;
    bool skip_bad, quiet;
    qcal_preprocess pp;
} cal_opts;

static int parse(int argc, char **argv, cal_opts *o, qcal_error *err)
{
    enum { OPT_MODEL = 1000, OPT_DATA, OPT_BINS, OPT_METHOD, OPT_ENC, OPT_FORMAT, OPT_SKIP,
           OPT_QUIET, OPT_PCT, OPT_LABEL, OPT_PRE };
    static const struct option LONG[] = {
        { "model", required_argument, NULL, OPT_MODEL },
        { "data", required_argument, NULL, OPT_DATA },
        { "out", required_argument, NULL, 'o' },
        { "bins", required_argument, NULL, OPT_BINS },
        { "method", required_argument, NULL, OPT_METHOD },
        { "percentile", required_argument, NULL, OPT_PCT },
        { "label", required_argument, NULL, OPT_LABEL },
        { "encodings", required_argument, NULL, OPT_ENC },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "skip-bad", no_argument, NULL, OPT_SKIP },
        { "quiet", no_argument, NULL, OPT_QUIET },
        { "help", no_argument, NULL, 'h' },
        PREPROCESS_OPTIONS(OPT_PRE),
        { NULL, 0, NULL, 0 },
    };
    int c;
    char *end;

    memset(o, 0, sizeof *o);
    o->bins = QCAL_HIST_DEFAULT_BINS;
    o->percentile = QCAL_ENC_DEFAULT_PERCENTILE;
    o->method = "minmax";
    qcal_preprocess_init(&o->pp);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", LONG, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: o->model = optarg; break;
        case OPT_DATA:
            if (o->n_data == MAX_DATA)
                return qcal_error_set(err, QCAL_E_INVALID, "at most %d --data", MAX_DATA);
            o->data[o->n_data++] = optarg;
            break;
        case 'o': o->out = optarg; break;
        case OPT_BINS:
            o->bins = strtoul(optarg, &end, 10);
            if (*end || o->bins < 2 || (o->bins & (o->bins - 1)) || o->bins > QCAL_HIST_MAX_BINS)
                return qcal_error_set(err, QCAL_E_INVALID, "--bins %s: a power of two from 2 to %zu",
                                      optarg, (size_t)QCAL_HIST_MAX_BINS);
            break;
        case OPT_METHOD: o->method = optarg; break;
        case OPT_PCT:
            o->percentile = strtod(optarg, &end);
            if (*end || !(o->percentile > 50.0 && o->percentile <= 100.0))
                return qcal_error_set(err, QCAL_E_INVALID, "--percentile %s: in (50, 100]", optarg);
            break;
        case OPT_LABEL: o->label = optarg; break;
        case OPT_ENC: o->encodings = optarg; break;
        case OPT_FORMAT: o->format = optarg; break;
        case OPT_SKIP: o->skip_bad = true; break;
        case OPT_QUIET: o->quiet = true; break;
        case 'h': return -1;
        default:
            if (c >= OPT_PRE && c < OPT_PRE + PREPROCESS_NOPTS)
                if (qcal_cli_preprocess_opt(&o->pp, c - OPT_PRE, optarg, err) != QCAL_OK)
                    return err->code;
            if (c >= OPT_PRE && c < OPT_PRE + PREPROCESS_NOPTS)
                break;
            return qcal_error_set(err, QCAL_E_INVALID, "calibrate: unknown option '%s' (see qcal "
                                  "calibrate --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return qcal_error_set(err, QCAL_E_INVALID, "calibrate: unexpected argument '%s'",
                              argv[optind]);
    if (!o->model || !o->n_data || !o->out)
        return qcal_error_set(err, QCAL_E_INVALID, "calibrate: --model, --data and -o are "
                              "required (see qcal calibrate --help)");
    return 0;
}

/* Peak resident set size of this process in MiB (VmHWM). */
static double peak_rss_mib(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;

    if (!fp)
        return 0;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = atof(line + 6);
    fclose(fp);
    return kib / 1024.0;
}

/* Rank 0's part after the reduction: stats, encodings, files. */
static qcal_status finish(const cal_opts *o, const qcal_dist *d, qcal_calib *cal,
                          uint64_t samples, const uint64_t *rank_samples,
                          const uint64_t *skipped, uint64_t n_skipped, qcal_error *err)
{
    qcal_stats s;
    qcal_encset_opts eo;
    qcal_enc_set set;
    qcal_encset_warnings warn;
    qcal_export_format fmt = QCAL_EXPORT_AIMET;
    qcal_status st;

    memset(&set, 0, sizeof set);
    memset(&warn, 0, sizeof warn);
    st = qcal_calib_fill_stats(cal, &s, err);
    if (st != QCAL_OK)
        goto out;
    s.samples = samples;
    s.ranks = d->size;
    s.rank_samples = malloc((size_t)d->size * sizeof *s.rank_samples);
    s.skipped = calloc(n_skipped + 1, sizeof *s.skipped);
    if (!s.rank_samples || !s.skipped) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(s.rank_samples, rank_samples, (size_t)d->size * sizeof *s.rank_samples);
    for (uint64_t k = 0; k < n_skipped; k++)
        s.skipped[s.n_skipped++] = strdup(qcal_calib_sample_path(cal, skipped[k], 0));
    qcal_encset_opts_default(&eo);
    st = qcal_enc_method_parse(o->method, &eo.method, err);
    if (st != QCAL_OK)
        goto out;
    eo.percentile = o->percentile;
    eo.label = o->label;
    if (o->format && (st = qcal_export_format_parse(o->format, &fmt, err)) != QCAL_OK)
        goto out;
    st = qcal_encset_compute(&s, &eo, &set, &warn, err);
    for (size_t k = 0; !o->quiet && k < warn.n; k++)
        fprintf(stderr, "qcal: warning: %s\n", warn.msg[k]);
    if (st != QCAL_OK)
        goto out;
    s.enc = calloc(1, sizeof *s.enc);
    if (!s.enc) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    s.enc[0] = set;
    s.n_enc = 1;
    memset(&set, 0, sizeof set);
    if (o->encodings) {
        st = qcal_export_write(fmt, &s.enc[0], &s, &eo, 0, o->encodings, err);
        if (st != QCAL_OK)
            goto out;
    }
    st = qcal_stats_write(o->out, &s, err);
    if (st != QCAL_OK && o->encodings)
        unlink(o->encodings); /* no half-finished set of outputs */
    if (st == QCAL_OK && !o->quiet) {
        /* The per-tensor table users check first. */
        fprintf(stderr, "%-40s %-10s %14s %14s %12s %12s %6s\n", "tensor", "kind", "min", "max",
                "count", "scale", "offset");
        for (size_t i = 0; i < s.n_act; i++) {
            const qcal_act_rec *a = &s.act[i];
            const qcal_act_enc *e = NULL;
            for (size_t k = 0; k < s.enc[0].n_act; k++)
                if (strcmp(s.enc[0].act[k].name, a->name) == 0)
                    e = &s.enc[0].act[k];
            fprintf(stderr, "%-40s %-10s %14.6g %14.6g %12llu %12.6g %6lld\n", a->name, a->kind,
                    (double)a->hist.min, (double)a->hist.max,
                    (unsigned long long)a->hist.count, e ? (double)e->scale : (double)NAN,
                    e ? (long long)e->offset : 0LL);
        }
    }
out:
    qcal_encset_warnings_fini(&warn);
    qcal_enc_set_fini(&set);
    qcal_stats_fini(&s);
    return st;
}

int qcal_cli_calibrate(int argc, char **argv)
{
    cal_opts o;
    qcal_dist d;
    qcal_error err = { 0 };
    qcal_calib *cal = NULL;
    qcal_calib_opts co;
    qcal_status st, gst;
    uint64_t *skipped = NULL, n_skipped = 0, cap_skipped = 0, done = 0, total = 0;
    uint64_t *rank_samples = NULL, *all_skipped = NULL, n_all_skipped = 0;
    int fail_rank = -1, rc = 0;
    double t0, last = 0;
    size_t n, rounds;
    int prc = parse(argc, argv, &o, &err);

    if (prc == -1) {
        fputs(HELP, stdout);
        return 0;
    }
    if (prc != 0)
        return qcal_cli_fail(&err);
    if (qcal_dist_init(&argc, &argv, &d, &err) != QCAL_OK)
        return qcal_cli_fail(&err);
    t0 = qcal_dist_time();
    memset(&co, 0, sizeof co);
    co.model_path = o.model;
    co.n_data = o.n_data;
    co.data = o.data;
    co.pp = o.pp;
    co.bins = o.bins;
    st = qcal_calib_create(&co, &cal, &err);
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    n = qcal_calib_n_samples(cal);
    rounds = (n + (size_t)d.size - 1) / (size_t)d.size;
    if (d.rank == 0 && !o.quiet)
        fprintf(stderr, "qcal: calibrating %s on %zu samples with %d rank%s\n", o.model, n, d.size,
                d.size == 1 ? "" : "s");
    for (size_t r = 0; r < rounds; r++) {
        size_t i = r * (size_t)d.size + (size_t)d.rank;
        if (st == QCAL_OK && i < n) {
            st = qcal_calib_run_sample(cal, i, &err);
            if (st != QCAL_OK && o.skip_bad &&
                (st == QCAL_E_IO || st == QCAL_E_CORRUPT || st == QCAL_E_SHAPE ||
                 st == QCAL_E_UNSUPPORTED)) {
                if (n_skipped == cap_skipped) {
                    uint64_t *g = realloc(skipped, (cap_skipped = cap_skipped * 2 + 16) * sizeof *g);
                    if (!g)
                        qcal_dist_abort(QCAL_E_NOMEM);
                    skipped = g;
                }
                skipped[n_skipped++] = i;
                if (!o.quiet)
                    fprintf(stderr, "qcal: [rank %d] skipped: %s\n", d.rank, err.msg);
                st = QCAL_OK;
            } else if (st == QCAL_OK) {
                done++;
            }
        }
        if ((r + 1) % AGREE_EVERY == 0 || r + 1 == rounds) {
            gst = qcal_dist_agree(&d, st, &fail_rank);
            if (gst != QCAL_OK)
                goto fail;
            total = qcal_dist_sum_u64(&d, done + n_skipped);
            if (d.rank == 0 && !o.quiet) {
                double now = qcal_dist_time() - t0;
                if (now - last >= 1.0 || r + 1 == rounds) {
                    double rate = (double)total / (now > 0 ? now : 1e-9);
                    fprintf(stderr, "qcal: %llu/%zu samples  %.1f samples/s  ETA %.0f s\n",
                            (unsigned long long)total, n, rate,
                            rate > 0 ? (double)(n - total) / rate : 0.0);
                    last = now;
                }
            }
        }
    }
    if (rounds == 0) {
        gst = qcal_dist_agree(&d, st, &fail_rank);
        if (gst != QCAL_OK)
            goto fail;
    }
    /* Exact reduction; rank 0 holds the global statistics afterwards. */
    st = qcal_dist_reduce_collector(&d, qcal_calib_collector(cal), &err);
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    rank_samples = calloc((size_t)d.size, sizeof *rank_samples);
    if (!rank_samples)
        qcal_dist_abort(QCAL_E_NOMEM);
    qcal_dist_gather_u64(&d, done, rank_samples);
    st = qcal_dist_gatherv_u64(&d, skipped, n_skipped, &all_skipped, &n_all_skipped, &err);
    total = qcal_dist_sum_u64(&d, done);
    if (st == QCAL_OK && d.rank == 0) {
        /* Skipped samples in global order, whatever rank met them. */
        for (uint64_t a = 1; a < n_all_skipped; a++)
            for (uint64_t b = a; b > 0 && all_skipped[b - 1] > all_skipped[b]; b--) {
                uint64_t t = all_skipped[b];
                all_skipped[b] = all_skipped[b - 1];
                all_skipped[b - 1] = t;
            }
        if (total == 0)
            st = qcal_error_set(&err, QCAL_E_INVALID, "no sample could be read (all %llu skipped)",
                                (unsigned long long)n_all_skipped);
        else
            st = finish(&o, &d, cal, total, rank_samples, all_skipped, n_all_skipped, &err);
    }
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    if (d.rank == 0 && !o.quiet) {
        double wall = qcal_dist_time() - t0;
        fprintf(stderr, "qcal: done: %llu samples in %.2f s (%.1f samples/s), %d rank%s, peak RSS "
                "rank 0 %.1f MiB, %llu skipped; wrote %s%s%s\n",
                (unsigned long long)total, wall, (double)total / (wall > 0 ? wall : 1e-9), d.size,
                d.size == 1 ? "" : "s", peak_rss_mib(), (unsigned long long)n_all_skipped, o.out,
                o.encodings ? " and " : "", o.encodings ? o.encodings : "");
    }
    goto out;
fail:
    /* Printed once, by the lowest failing rank. */
    if (d.rank == fail_rank) {
        if (d.size > 1)
            fprintf(stderr, "qcal: error: [rank %d] %s\n", d.rank, err.msg);
        else
            fprintf(stderr, "qcal: error: %s\n", err.msg);
    }
    rc = gst ? (int)gst : 1;
out:
    free(skipped);
    free(all_skipped);
    free(rank_samples);
    qcal_calib_destroy(cal);
    qcal_dist_finalize();
    return rc;
}
