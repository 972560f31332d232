/*
 * qcal calibrate: every rank runs its shard (sample i goes to rank i mod P), collects exact
 * per-tensor statistics, the statistics are reduced exactly over MPI, and rank 0 writes the HDF5
 * stats file (with the requested encodings) and the encoding exports. Checkpoints, resume and
 * SIGTERM handling follow DESIGN.md's MPI section.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/calibrate.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "dist/dist.h"
#include "dist/dump.h"
#include "qcal/calib.h"
#include "qcal/ckpt.h"
#include "qcal/encode.h"
#include "qcal/encset.h"
#include "qcal/export.h"
#include "qcal/store.h"

/* Ranks agree on their status every AGREE_EVERY rounds (one sample per rank per round). */
#define AGREE_EVERY 16
/* Exit status after SIGTERM (128 + 15, what shells and Slurm report for it). */
#define EXIT_TERMINATED 143

static const char HELP[] =
    "usage: qcal calibrate --model M.onnx --data [NAME=]DIR|LIST|GLOB [--data ...]\n"
    "                      [preprocess options] -o|--out stats.h5 [--bins 4096]\n"
    "                      [--method minmax] [--encodings enc.json] [--format aimet|aimet1|qnn|trt]\n"
    "                      [--skip-bad] [--dump REGEX --dump-samples N [--dump-out FILE]]\n"
    "                      [--checkpoint-every N] [--resume] [--quiet]\n"
    "       qcal calibrate JOB.yaml [--set key=value ...]\n"
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
    "  --dump REGEX          store the matching activations of the first --dump-samples samples\n"
    "  --dump-samples N      (written with parallel HDF5 to --dump-out, default <out>.dumps.h5)\n"
    "  --checkpoint-every N  each rank saves its partial state every N samples to <out>.ckpt/\n"
    "  --resume              continue from <out>.ckpt/ (any rank count); starts afresh if none\n"
    "  --quiet               no progress output\n"
    "\n"
    "SIGTERM (Slurm's time limit or preemption) writes a checkpoint and exits with status 143;\n"
    "rerun with --resume to continue.\n"
    PREPROCESS_HELP;

static volatile sig_atomic_t g_term;

static void on_term(int sig)
{
    (void)sig;
    g_term = 1;
}

void qcal_cal_opts_init(qcal_cal_opts *o)
{
    memset(o, 0, sizeof *o);
    o->bins = QCAL_HIST_DEFAULT_BINS;
    qcal_preprocess_init(&o->pp);
    o->n_enc = 1;
    qcal_encset_opts_default(&o->enc[0].eo);
}

static qcal_status parse_size(const char *name, const char *value, size_t lo, size_t *out,
                              qcal_error *err)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(value, &end, 10);
    if (errno || *end || value[0] == '-' || v < lo)
        return qcal_error_set(err, QCAL_E_INVALID, "--%s %s: expected a whole number >= %zu",
                              name, value, lo);
    *out = (size_t)v;
    return QCAL_OK;
}

qcal_status qcal_cal_opts_set(qcal_cal_opts *o, const char *name, const char *value,
                              qcal_error *err)
{
    qcal_cal_encoding *e = &o->enc[0];
    char *end;

    if (strcmp(name, "model") == 0) {
        o->model = value;
    } else if (strcmp(name, "data") == 0) {
        if (o->n_data == QCAL_CAL_MAX_DATA)
            return qcal_error_set(err, QCAL_E_INVALID, "at most %d --data", QCAL_CAL_MAX_DATA);
        o->data[o->n_data++] = value;
    } else if (strcmp(name, "out") == 0 || strcmp(name, "o") == 0) {
        o->out = value;
    } else if (strcmp(name, "bins") == 0) {
        size_t b = 0;
        if (parse_size(name, value, 2, &b, err) != QCAL_OK)
            return err->code;
        if ((b & (b - 1)) || b > QCAL_HIST_MAX_BINS)
            return qcal_error_set(err, QCAL_E_INVALID, "--bins %s: a power of two from 2 to %zu",
                                  value, (size_t)QCAL_HIST_MAX_BINS);
        o->bins = b;
    } else if (strcmp(name, "method") == 0) {
        return qcal_enc_method_parse(value, &e->eo.method, err);
    } else if (strcmp(name, "percentile") == 0) {
        double p = strtod(value, &end);
        if (*end || !(p > 50.0 && p <= 100.0))
            return qcal_error_set(err, QCAL_E_INVALID, "--percentile %s: in (50, 100]", value);
        e->eo.percentile = p;
    } else if (strcmp(name, "label") == 0) {
        e->eo.label = value;
    } else if (strcmp(name, "encodings") == 0) {
        e->path = value;
    } else if (strcmp(name, "format") == 0) {
        qcal_export_format f;
        if (qcal_export_format_parse(value, &f, err) != QCAL_OK)
            return err->code;
        e->format = value;
    } else if (strcmp(name, "skip-bad") == 0) {
        o->skip_bad = value == NULL || strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
    } else if (strcmp(name, "quiet") == 0) {
        o->quiet = value == NULL || strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
    } else if (strcmp(name, "resume") == 0) {
        o->resume = value == NULL || strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
    } else if (strcmp(name, "dump") == 0) {
        o->dump_regex = value;
    } else if (strcmp(name, "dump-samples") == 0) {
        return parse_size(name, value, 1, &o->dump_samples, err);
    } else if (strcmp(name, "dump-out") == 0) {
        o->dump_out = value;
    } else if (strcmp(name, "checkpoint-every") == 0) {
        return parse_size(name, value, 1, &o->checkpoint_every, err);
    } else if (qcal_preprocess_is_option(name)) {
        return qcal_preprocess_parse(&o->pp, name, value, err);
    } else {
        return qcal_error_set(err, QCAL_E_INVALID, "calibrate: unknown option '%s'", name);
    }
    return QCAL_OK;
}

qcal_status qcal_cal_opts_check(const qcal_cal_opts *o, qcal_error *err)
{
    if (!o->model || !o->n_data || !o->out)
        return qcal_error_set(err, QCAL_E_INVALID, "calibrate: --model, --data and -o are "
                              "required (see qcal calibrate --help)");
    if (o->dump_regex && !o->dump_samples)
        return qcal_error_set(err, QCAL_E_INVALID, "calibrate: --dump needs --dump-samples N");
    /* Two outputs on one file: one would silently replace the other. */
    if (o->dump_out && qcal_cli_same_output(o->dump_out, o->out))
        return qcal_error_set(err, QCAL_E_INVALID, "calibrate: the dump file %s is also the "
                              "stats file (-o/out)", o->dump_out);
    for (size_t k = 0; k < o->n_enc; k++) {
        const char *p = o->enc[k].path;
        if (qcal_cli_same_output(p, o->out))
            return qcal_error_set(err, QCAL_E_INVALID, "calibrate: the export file %s of "
                                  "encoding set %zu is also the stats file (-o/out)", p, k);
        if (qcal_cli_same_output(p, o->dump_out))
            return qcal_error_set(err, QCAL_E_INVALID, "calibrate: the export file %s of "
                                  "encoding set %zu is also the dump file (--dump-out)", p, k);
        for (size_t i = 0; i < k; i++)
            if (qcal_cli_same_output(p, o->enc[i].path))
                return qcal_error_set(err, QCAL_E_INVALID, "calibrate: the export file %s is "
                                      "written by encoding sets %zu and %zu", p, i, k);
    }
    return QCAL_OK;
}

/* Command-line parsing (every rank parses the same arguments). Returns -1 for --help. */
static int parse_args(int argc, char **argv, qcal_cal_opts *o, qcal_error *err)
{
    static const char *const NAMES[] = {
        "model", "data", "out", "bins", "method", "percentile", "label", "encodings", "format",
        "skip-bad", "quiet", "dump", "dump-samples", "dump-out", "checkpoint-every", "resume",
        "size", "resize", "channels", "layout", "scale", "mean", "std",
    };
    enum { NNAMES = sizeof NAMES / sizeof NAMES[0] };
    struct option lopts[NNAMES + 2];
    int c, idx;

    for (int i = 0; i < NNAMES; i++) {
        bool flag = strcmp(NAMES[i], "skip-bad") == 0 || strcmp(NAMES[i], "quiet") == 0 ||
                    strcmp(NAMES[i], "resume") == 0;
        lopts[i] = (struct option){ NAMES[i], flag ? no_argument : required_argument, NULL,
                                    1000 + i };
    }
    lopts[NNAMES] = (struct option){ "help", no_argument, NULL, 'h' };
    lopts[NNAMES + 1] = (struct option){ NULL, 0, NULL, 0 };
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", lopts, &idx)) != -1) {
        if (c == 'h')
            return -1;
        if (c == 'o') {
            o->out = optarg;
            continue;
        }
        if (c < 1000 || c >= 1000 + NNAMES)
            return qcal_error_set(err, QCAL_E_INVALID, "calibrate: unknown or incomplete option "
                                  "'%s' (see qcal calibrate --help)", argv[optind - 1]);
        if (qcal_cal_opts_set(o, NAMES[c - 1000], optarg, err) != QCAL_OK)
            return err->code;
    }
    if (optind < argc)
        return qcal_error_set(err, QCAL_E_INVALID, "calibrate: unexpected argument '%s'",
                              argv[optind]);
    return qcal_cal_opts_check(o, err);
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

/*
 * The /dumps external link target: HDF5 resolves a relative target against the stats file's
 * folder (or the working directory), so store the bare file name when both files share a
 * folder and the absolute path otherwise.
 */
static char *dump_link_target(const char *out, const char *dump)
{
    char a[PATH_MAX], b[PATH_MAX], da[PATH_MAX], db[PATH_MAX];
    const char *sa = strrchr(out, '/'), *sb = strrchr(dump, '/');
    char *ra, *rb, *res = NULL;

    snprintf(da, sizeof da, "%.*s", sa ? (int)(sa - out) : 1, sa ? out : ".");
    snprintf(db, sizeof db, "%.*s", sb ? (int)(sb - dump) : 1, sb ? dump : ".");
    if (!da[0])
        snprintf(da, sizeof da, "/");
    if (!db[0])
        snprintf(db, sizeof db, "/");
    ra = realpath(da, a);
    rb = realpath(db, b);
    if (ra && rb && strcmp(a, b) == 0)
        res = strdup(sb ? sb + 1 : dump);
    else if (rb) {
        size_t n = strlen(b) + strlen(sb ? sb + 1 : dump) + 2;
        res = malloc(n);
        if (res)
            snprintf(res, n, "%s/%s", b, sb ? sb + 1 : dump);
    }
    return res ? res : strdup(dump);
}

/* Rank 0's part after the reduction: stats, encodings, files. */
static qcal_status finish(const qcal_cal_opts *o, int size, qcal_calib *cal, uint64_t samples,
                          const uint64_t *rank_samples, const uint64_t *skipped,
                          uint64_t n_skipped, const char *dump_path, qcal_error *err)
{
    qcal_stats s;
    qcal_status st;
    size_t exported = 0;

    st = qcal_calib_fill_stats(cal, &s, err);
    if (st != QCAL_OK)
        goto out;
    s.samples = samples;
    s.ranks = size;
    s.rank_samples = malloc((size_t)size * sizeof *s.rank_samples);
    s.skipped = calloc(n_skipped + 1, sizeof *s.skipped);
    s.enc = calloc(o->n_enc + 1, sizeof *s.enc);
    if (!s.rank_samples || !s.skipped || !s.enc || (dump_path && !(s.dumps_file = dump_link_target(o->out, dump_path)))) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(s.rank_samples, rank_samples, (size_t)size * sizeof *s.rank_samples);
    for (uint64_t k = 0; k < n_skipped; k++)
        s.skipped[s.n_skipped++] = strdup(qcal_calib_sample_path(cal, skipped[k], 0));
    for (size_t k = 0; k < o->n_enc; k++) {
        qcal_encset_warnings warn;
        st = qcal_encset_compute(&s, &o->enc[k].eo, &s.enc[s.n_enc], &warn, err);
        for (size_t w = 0; !o->quiet && w < warn.n && k == 0; w++)
            fprintf(stderr, "qcal: warning: %s\n", warn.msg[w]);
        qcal_encset_warnings_fini(&warn);
        if (st != QCAL_OK)
            goto out;
        s.n_enc++;
    }
    for (size_t k = 0; k < o->n_enc; k++) {
        qcal_export_format fmt = QCAL_EXPORT_AIMET;
        if (!o->enc[k].path)
            continue;
        if (o->enc[k].format && (st = qcal_export_format_parse(o->enc[k].format, &fmt, err)))
            goto out;
        st = qcal_export_write(fmt, &s.enc[k], &s, &o->enc[k].eo, o->enc[k].trt_version,
                               o->enc[k].path, err);
        if (st != QCAL_OK)
            goto out;
        exported = k + 1;
    }
    st = qcal_stats_write(o->out, &s, err);
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
    if (st != QCAL_OK) /* no half-finished set of outputs */
        for (size_t k = 0; k < exported; k++)
            unlink(o->enc[k].path);
    qcal_stats_fini(&s);
    return st;
}

/* Per-rank bookkeeping of finished and skipped samples (global indices). */
typedef struct ledger {
    uint64_t *done, *skipped;
    size_t n_done, n_skipped, cap_done, cap_skipped;
} ledger;

static int ledger_push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
    if (*n == *cap) {
        uint64_t *g = realloc(*v, (*cap = *cap * 2 + 64) * sizeof *g);
        if (!g)
            return -1;
        *v = g;
    }
    (*v)[(*n)++] = x;
    return 0;
}

static qcal_status write_ckpt(const qcal_cal_opts *o, int rank, int gen, qcal_calib *cal,
                              const ledger *lg, qcal_error *err)
{
    char path[PATH_MAX];
    qcal_ckpt k;
    qcal_status st;

    memset(&k, 0, sizeof k);
    snprintf(k.model_sha256, sizeof k.model_sha256, "%s",
             qcal_model_sha256(qcal_calib_model(cal)));
    k.n_samples = qcal_calib_n_samples(cal);
    k.done = lg->done;
    k.n_done = lg->n_done;
    k.skipped = lg->skipped;
    k.n_skipped = lg->n_skipped;
    st = qcal_ckpt_dir_rank_path(o->out, gen, rank, path, sizeof path, err);
    if (st == QCAL_OK)
        st = qcal_ckpt_write(path, qcal_calib_collector(cal), &k, err);
    return st;
}

/*
 * --resume: reads every checkpoint of the newest generation. Rank 0 merges their statistics into
 * its collector (so they count once) and takes over their finished/skipped lists; every rank
 * marks those samples in `taken`. Returns the number of samples resumed.
 */
static qcal_status resume(const qcal_cal_opts *o, int rank, int gen, qcal_calib *cal,
                          uint8_t *taken, ledger *lg, size_t *resumed, int *nfiles,
                          qcal_error *err)
{
    qcal_collector *scratch = NULL;
    qcal_collector *c = qcal_calib_collector(cal);
    qcal_status st = QCAL_OK;
    size_t n = qcal_calib_n_samples(cal);

    *resumed = 0;
    *nfiles = 0;
    if (rank != 0) {
        st = qcal_collector_create(qcal_collector_tensors(c), qcal_collector_bins(c), &scratch,
                                   err);
        if (st != QCAL_OK)
            return st;
    }
    for (int r = 0;; r++) {
        char path[PATH_MAX];
        qcal_ckpt k;
        if (qcal_ckpt_dir_rank_path(o->out, gen, r, path, sizeof path, err) != QCAL_OK)
            break;
        if (access(path, R_OK) != 0)
            break;
        st = qcal_ckpt_read(path, rank == 0 ? c : scratch, &k, err);
        if (st != QCAL_OK)
            break;
        (*nfiles)++;
        if (strcmp(k.model_sha256, qcal_model_sha256(qcal_calib_model(cal))) != 0 ||
            k.n_samples != n) {
            st = qcal_error_set(err, QCAL_E_INVALID, "%s: checkpoint of another model or data "
                                "set (%llu samples, this run %zu)", path,
                                (unsigned long long)k.n_samples, n);
            qcal_ckpt_fini(&k);
            break;
        }
        for (size_t i = 0; i < k.n_done && st == QCAL_OK; i++) {
            if (k.done[i] >= n || taken[k.done[i]])
                st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: sample %llu listed twice or out "
                                    "of range", path, (unsigned long long)k.done[i]);
            else
                taken[k.done[i]] = 1;
            if (rank == 0 && ledger_push(&lg->done, &lg->n_done, &lg->cap_done, k.done[i]))
                st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < k.n_skipped && st == QCAL_OK; i++) {
            if (k.skipped[i] < n)
                taken[k.skipped[i]] = 1;
            if (rank == 0 &&
                ledger_push(&lg->skipped, &lg->n_skipped, &lg->cap_skipped, k.skipped[i]))
                st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        }
        *resumed += k.n_done + k.n_skipped;
        qcal_ckpt_fini(&k);
        if (st != QCAL_OK)
            break;
    }
    qcal_collector_destroy(scratch);
    return st;
}

static void print_error(const qcal_error *err, int rank, int size)
{
    if (size > 1)
        fprintf(stderr, "qcal: error: [rank %d] %s\n", rank, err->msg);
    else
        fprintf(stderr, "qcal: error: %s\n", err->msg);
}

int qcal_cli_calibrate_run(const qcal_cal_opts *o, int rank, int size)
{
    qcal_dist d = { rank, size };
    qcal_error err = { 0 };
    qcal_calib *cal = NULL;
    qcal_dump *dump = NULL;
    qcal_calib_opts co;
    qcal_status st = QCAL_OK, gst;
    ledger lg;
    uint8_t *taken = NULL;
    size_t *todo = NULL, n_todo = 0, n = 0, rounds, resumed = 0, since_ckpt = 0;
    uint64_t total = 0, *rank_samples = NULL, *all_skipped = NULL, n_all_skipped = 0;
    int fail_rank = -1, rc = 0, gen = 0, nfiles = 0;
    double t0 = qcal_dist_time(), last = 0;
    char dump_path[PATH_MAX] = "";
    struct sigaction sa;

    memset(&lg, 0, sizeof lg);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    g_term = 0;

    memset(&co, 0, sizeof co);
    co.model_path = o->model;
    co.n_data = o->n_data;
    co.data = o->data;
    co.pp = o->pp;
    co.bins = o->bins;
    if (rank == 0) {
        /* Every output, before any work (a device, FIFO or folder is never replaced). */
        st = qcal_cli_check_output(o->out, "-o", &err);
        for (size_t k = 0; st == QCAL_OK && k < o->n_enc; k++)
            st = qcal_cli_check_output(o->enc[k].path, "--encodings", &err);
        if (st == QCAL_OK && o->dump_regex) {
            if (o->dump_out) {
                st = qcal_cli_check_output(o->dump_out, "--dump-out", &err);
            } else if (snprintf(dump_path, sizeof dump_path, "%s.dumps.h5", o->out) >=
                       (int)sizeof dump_path) {
                st = qcal_error_set(&err, QCAL_E_INVALID, "-o %s: path too long", o->out);
            } else {
                st = qcal_cli_check_output(dump_path, "--dump-out", &err);
            }
            dump_path[0] = '\0';
        }
    }
    if (st == QCAL_OK)
        st = qcal_calib_create(&co, &cal, &err);
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    n = qcal_calib_n_samples(cal);

    /* Checkpoint generations: a resumed run writes the next one, rank 0 first. */
    taken = calloc(n + 1, 1);
    todo = malloc((n + 1) * sizeof *todo);
    if (!taken || !todo)
        st = qcal_error_set(&err, QCAL_E_NOMEM, "out of memory (sample list of %zu)", n);
    if (st == QCAL_OK && o->resume) {
        int latest = qcal_ckpt_dir_latest(o->out);
        if (latest >= 0) {
            st = resume(o, rank, latest, cal, taken, &lg, &resumed, &nfiles, &err);
            gen = latest + 1;
        }
    }
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    if (rank == 0 && (o->checkpoint_every || o->resume)) {
        if (!o->resume)
            qcal_ckpt_dir_remove(o->out);
        st = qcal_ckpt_dir_make(o->out, gen, &err);
        if (st == QCAL_OK && o->resume && nfiles)
            st = write_ckpt(o, 0, gen, cal, &lg, &err);
    }
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (!taken[i])
            todo[n_todo++] = i;
    if (o->dump_regex) {
        size_t nd = o->dump_samples < n ? o->dump_samples : n;
        if (resumed)
            st = qcal_error_set(&err, QCAL_E_INVALID, "--dump cannot be combined with a resumed "
                                "run (the dumped samples may be done already)");
        else
            st = qcal_dump_create(&d, qcal_calib_model(cal), o->dump_regex, nd, &dump, &err);
        if (st == QCAL_OK)
            qcal_calib_set_tap(cal, qcal_dump_tap, dump);
        snprintf(dump_path, sizeof dump_path, "%s", o->dump_out ? o->dump_out : "");
        if (!o->dump_out)
            snprintf(dump_path, sizeof dump_path, "%s.dumps.h5", o->out);
        gst = qcal_dist_agree(&d, st, &fail_rank);
        if (gst != QCAL_OK)
            goto fail;
    }
    rounds = (n_todo + (size_t)size - 1) / (size_t)size;
    if (rank == 0 && !o->quiet) {
        fprintf(stderr, "qcal: calibrating %s on %zu samples with %d rank%s\n", o->model, n, size,
                size == 1 ? "" : "s");
        if (o->resume)
            fprintf(stderr, "qcal: resumed %zu samples from %d checkpoint file%s; %zu to go\n",
                    resumed, nfiles, nfiles == 1 ? "" : "s", n_todo);
    }
    for (size_t r = 0; r < rounds; r++) {
        size_t j = r * (size_t)size + (size_t)rank;
        if (st == QCAL_OK && j < n_todo) {
            size_t i = todo[j];
            st = qcal_calib_run_sample(cal, i, &err);
            if (st != QCAL_OK && o->skip_bad &&
                (st == QCAL_E_IO || st == QCAL_E_CORRUPT || st == QCAL_E_SHAPE ||
                 st == QCAL_E_UNSUPPORTED)) {
                if (!o->quiet)
                    fprintf(stderr, "qcal: [rank %d] skipped: %s\n", rank, err.msg);
                st = ledger_push(&lg.skipped, &lg.n_skipped, &lg.cap_skipped, i)
                         ? qcal_error_set(&err, QCAL_E_NOMEM, "out of memory") : QCAL_OK;
            } else if (st == QCAL_OK) {
                if (ledger_push(&lg.done, &lg.n_done, &lg.cap_done, i))
                    st = qcal_error_set(&err, QCAL_E_NOMEM, "out of memory");
                since_ckpt++;
            }
            if (st == QCAL_OK && o->checkpoint_every && since_ckpt >= o->checkpoint_every) {
                st = write_ckpt(o, rank, gen, cal, &lg, &err);
                since_ckpt = 0;
            }
        }
        if ((r + 1) % AGREE_EVERY == 0 || r + 1 == rounds) {
            gst = qcal_dist_agree(&d, st, &fail_rank);
            if (gst != QCAL_OK)
                goto fail;
            if (qcal_dist_any(&d, g_term != 0)) {
                /* Slurm's time limit or preemption: save what we have, then stop. */
                if (rank == 0 && !(o->checkpoint_every || o->resume))
                    st = qcal_ckpt_dir_make(o->out, gen, &err);
                gst = qcal_dist_agree(&d, st, &fail_rank);
                if (gst == QCAL_OK)
                    gst = qcal_dist_agree(&d, write_ckpt(o, rank, gen, cal, &lg, &err),
                                          &fail_rank);
                if (gst != QCAL_OK)
                    goto fail;
                total = qcal_dist_sum_u64(&d, lg.n_done + lg.n_skipped);
                if (rank == 0)
                    fprintf(stderr, "qcal: terminated by SIGTERM with %llu of %zu samples done; "
                            "checkpoint in %s.ckpt/ (rerun with --resume)\n",
                            (unsigned long long)total, n, o->out);
                rc = EXIT_TERMINATED;
                goto out;
            }
            total = qcal_dist_sum_u64(&d, lg.n_done + lg.n_skipped);
            if (rank == 0 && !o->quiet) {
                double now = qcal_dist_time() - t0;
                if (now - last >= 1.0 || r + 1 == rounds) {
                    double rate = (double)(total - (uint64_t)resumed) / (now > 0 ? now : 1e-9);
                    fprintf(stderr, "qcal: %llu/%zu samples  %.1f samples/s  ETA %.0f s\n",
                            (unsigned long long)total, n, rate,
                            rate > 0 ? (double)(n - total) / rate : 0.0);
                    last = now;
                }
            }
        }
    }
    if (dump) {
        double td = qcal_dist_time();
        st = qcal_dump_write(dump, dump_path, &err);
        gst = qcal_dist_agree(&d, st, &fail_rank);
        if (gst != QCAL_OK)
            goto fail;
        if (rank == 0 && !o->quiet)
            fprintf(stderr, "qcal: dump: %zu samples to %s in %.3f s\n",
                    o->dump_samples < n ? o->dump_samples : n, dump_path,
                    qcal_dist_time() - td);
    }
    /* Exact reduction; rank 0 holds the global statistics afterwards. */
    st = qcal_dist_reduce_collector(&d, qcal_calib_collector(cal), &err);
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    rank_samples = calloc((size_t)size, sizeof *rank_samples);
    if (!rank_samples)
        qcal_dist_abort(QCAL_E_NOMEM);
    qcal_dist_gather_u64(&d, lg.n_done, rank_samples);
    st = qcal_dist_gatherv_u64(&d, lg.skipped, lg.n_skipped, &all_skipped, &n_all_skipped, &err);
    total = qcal_dist_sum_u64(&d, lg.n_done);
    if (st == QCAL_OK && rank == 0) {
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
            st = finish(o, size, cal, total, rank_samples, all_skipped, n_all_skipped,
                        dump ? dump_path : NULL, &err);
        if (st != QCAL_OK && dump)
            unlink(dump_path);
    }
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK)
        goto fail;
    if (rank == 0) {
        double wall = qcal_dist_time() - t0;
        qcal_ckpt_dir_remove(o->out); /* the run is complete: checkpoints are obsolete */
        if (!o->quiet)
            fprintf(stderr, "qcal: done: %llu samples (%llu run now, %zu resumed) in %.2f s "
                    "(%.1f samples/s), %d rank%s, peak RSS rank 0 %.1f MiB, %llu skipped; "
                    "wrote %s\n",
                    (unsigned long long)total, (unsigned long long)(total + n_all_skipped) -
                    (unsigned long long)resumed, resumed, wall,
                    (double)(total + n_all_skipped - (uint64_t)resumed) / (wall > 0 ? wall : 1e-9),
                    size, size == 1 ? "" : "s", peak_rss_mib(), (unsigned long long)n_all_skipped,
                    o->out);
    }
    goto out;
fail:
    /* Printed once, by the lowest failing rank. */
    if (rank == fail_rank)
        print_error(&err, rank, size);
    rc = gst ? (int)gst : 1;
out:
    free(lg.done);
    free(lg.skipped);
    free(taken);
    free(todo);
    free(all_skipped);
    free(rank_samples);
    qcal_dump_destroy(dump);
    qcal_calib_destroy(cal);
    return rc;
}

static bool is_job_file(const char *arg)
{
    size_t n = strlen(arg);
    return (n > 5 && strcmp(arg + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(arg + n - 4, ".yml") == 0);
}

int qcal_cli_calibrate(int argc, char **argv)
{
    static qcal_cal_opts o; /* large (encoding slots); one per process */
    qcal_dist d;
    qcal_error err = { 0 };
    int rc;
    qcal_status st;

    /* MPI first, so that option errors are printed once (by rank 0), not once per rank. */
    if (qcal_dist_init(&argc, &argv, &d, &err) != QCAL_OK)
        return qcal_cli_fail(&err);
    qcal_cal_opts_init(&o);
    if (argc >= 2 && is_job_file(argv[1])) {
        char *sets[64];
        int nset = 0;
        st = QCAL_OK;
        for (int i = 2; i < argc && st == QCAL_OK; i++) {
            if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && nset < 64)
                sets[nset++] = argv[++i];
            else
                st = qcal_error_set(&err, QCAL_E_INVALID, "calibrate %s: only --set key=value "
                                    "may follow a job file, not '%s'", argv[1], argv[i]);
        }
        if (st == QCAL_OK)
            st = qcal_cli_job_load(argv[1], nset, sets, &o, &err);
        rc = st == QCAL_OK ? 0 : (int)st;
    } else {
        rc = parse_args(argc, argv, &o, &err);
    }
    if (rc == -1) {
        if (d.rank == 0)
            fputs(HELP, stdout);
        rc = 0;
    } else if (rc != 0) {
        if (d.rank == 0)
            print_error(&err, 0, 1);
    } else {
        rc = qcal_cli_calibrate_run(&o, d.rank, d.size);
    }
    qcal_dist_finalize();
    return rc;
}
