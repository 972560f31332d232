/*
 * qcal encode: a new encoding set from a stats file, without the model, the images or any
 * inference (DESIGN.md "Command line"). Reads the file, computes the set with the given method,
 * bitwidths, symmetry and overrides (encset.h), writes it in the chosen format and stores it in
 * the stats file as /encodings/<label>, replacing a set of the same label.
 *
 * Nothing changes unless everything succeeds: the export is written to a staging name next to
 * OUT, then the stats file is rewritten atomically (qcal_stats_write: temporary file + rename),
 * then the export is renamed to OUT. Under mpirun, rank 0 does the work and the others wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "dist/dist.h"
#include "qcal/encode.h"
#include "qcal/encset.h"
#include "qcal/export.h"
#include "qcal/store.h"
#include "util/atomic.h"

/* The QDQ exporter is optional: builds without include/qcal/qdq.h (or with -DQCAL_NO_QDQ)
 * refuse --format qdq. */
#if defined(__has_include) && !defined(QCAL_NO_QDQ)
#if __has_include("qcal/qdq.h")
#include "qcal/qdq.h"
#define HAVE_QDQ 1
#endif
#endif

#define MAX_OVERRIDES 256

static const char HELP[] =
    "usage: qcal encode stats.h5 --method M [--percentile 99.99] [--act-bitwidth 8]\n"
    "                   [--param-bitwidth 8] [--act-symmetric none|signed|strict|unsigned]\n"
    "                   [--param-symmetric ...] [--per-channel] [--bias-bitwidth 32]\n"
    "                   [--override REGEX=float|16|...] [--label L]\n"
    "                   [--format aimet|aimet1|qnn|trt|qdq [--model M.onnx]] [--trt-version N]\n"
    "                   -o OUT\n"
    "\n"
    "Computes encodings from the statistics in a stats file (no model, no images, no\n"
    "inference), writes them to OUT and stores them in the stats file as /encodings/<label>,\n"
    "replacing a set with the same label. The stats file is rewritten atomically; nothing is\n"
    "changed when any step fails.\n"
    "\n"
    "  --method M            minmax | percentile | entropy | mse | enhanced\n"
    "  --percentile P        kept on each side, for --method percentile (default 99.99)\n"
    "  --act-bitwidth N      activation bits, 2..32 (default 8)\n"
    "  --param-bitwidth N    weight bits, 2..32 (default 8)\n"
    "  --act-symmetric S     none (asymmetric, default) | signed | strict | unsigned\n"
    "  --param-symmetric S   weights: signed (default) | strict | none\n"
    "  --per-channel         per-output-channel weight encodings\n"
    "  --bias-bitwidth N     32 (default: derived by the runtime, no entries) or 2..31\n"
    "  --override RE=V       activations whose name matches the POSIX extended regex RE get V:\n"
    "                        float (fp16), float32, or a bitwidth 2..32; repeatable, the last\n"
    "                        match wins\n"
    "  --label L             set name (default <method>-a<actbits>-w<parambits>)\n"
    "  --format F            aimet (AIMET 0.6.1 JSON, default) | aimet1 (AIMET 1.0.0) | qnn\n"
    "                        (QNN --quantization_overrides) | trt (TensorRT calibration cache) |\n"
    "                        qdq (ONNX model with QuantizeLinear/DequantizeLinear; needs --model)\n"
    "  --model M.onnx        the float model to rewrite, for --format qdq\n"
    "  --trt-version N       version in the TensorRT cache header (default 8601)\n"
    "  -o, --out OUT         the export file (written atomically)\n";

typedef struct enc_opts {
    const char *stats, *out, *format, *model, *method;
    int trt_version;
    bool qdq;
    qcal_export_format fmt;
    qcal_encset_opts eo;
    size_t n_ov;
    qcal_enc_override ov[MAX_OVERRIDES];
} enc_opts;

static void opts_fini(enc_opts *o)
{
    for (size_t i = 0; i < o->n_ov; i++)
        qcal_enc_override_fini(&o->ov[i]);
    o->n_ov = 0;
}

/* Parses an integer option value in [lo, hi]. */
static qcal_status parse_int(const char *opt, const char *v, long lo, long hi, int *out,
                             qcal_error *err)
{
    char *end;
    long x;

    errno = 0;
    x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno || x < lo || x > hi)
        return qcal_error_set(err, QCAL_E_INVALID, "%s %s: expected an integer from %ld to %ld",
                              opt, v, lo, hi);
    *out = (int)x;
    return QCAL_OK;
}

/* Returns 0, -1 for --help, or a qcal_status (err filled). */
static int parse(int argc, char **argv, enc_opts *o, qcal_error *err)
{
    enum { OPT_METHOD = 1000, OPT_PCT, OPT_ABITS, OPT_PBITS, OPT_ASYM, OPT_PSYM, OPT_PERCH,
           OPT_BBITS, OPT_OVERRIDE, OPT_LABEL, OPT_FORMAT, OPT_MODEL, OPT_TRT };
    static const struct option LONG[] = {
        { "method", required_argument, NULL, OPT_METHOD },
        { "percentile", required_argument, NULL, OPT_PCT },
        { "act-bitwidth", required_argument, NULL, OPT_ABITS },
        { "param-bitwidth", required_argument, NULL, OPT_PBITS },
        { "act-symmetric", required_argument, NULL, OPT_ASYM },
        { "param-symmetric", required_argument, NULL, OPT_PSYM },
        { "per-channel", no_argument, NULL, OPT_PERCH },
        { "bias-bitwidth", required_argument, NULL, OPT_BBITS },
        { "override", required_argument, NULL, OPT_OVERRIDE },
        { "label", required_argument, NULL, OPT_LABEL },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "model", required_argument, NULL, OPT_MODEL },
        { "trt-version", required_argument, NULL, OPT_TRT },
        { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    qcal_status st = QCAL_OK;
    char *end;
    int c;

    qcal_encset_opts_default(&o->eo);
    optind = 1;
    opterr = 0;
    while (st == QCAL_OK && (c = getopt_long(argc, argv, "o:h", LONG, NULL)) != -1) {
        switch (c) {
        case OPT_METHOD:
            o->method = optarg;
            st = qcal_enc_method_parse(optarg, &o->eo.method, err);
            break;
        case OPT_PCT:
            o->eo.percentile = strtod(optarg, &end);
            if (*optarg == '\0' || *end || !(o->eo.percentile > 50.0 && o->eo.percentile <= 100.0))
                st = qcal_error_set(err, QCAL_E_INVALID, "--percentile %s: expected a number in "
                                    "(50, 100]", optarg);
            break;
        case OPT_ABITS: st = parse_int("--act-bitwidth", optarg, 2, 32, &o->eo.act_bitwidth, err);
            break;
        case OPT_PBITS:
            st = parse_int("--param-bitwidth", optarg, 2, 32, &o->eo.param_bitwidth, err);
            break;
        case OPT_BBITS: st = parse_int("--bias-bitwidth", optarg, 2, 32, &o->eo.bias_bitwidth, err);
            break;
        case OPT_ASYM: st = qcal_enc_sym_parse(optarg, &o->eo.act_sym, err); break;
        case OPT_PSYM: st = qcal_enc_sym_parse(optarg, &o->eo.param_sym, err); break;
        case OPT_PERCH: o->eo.per_channel = true; break;
        case OPT_OVERRIDE:
            if (o->n_ov == MAX_OVERRIDES)
                st = qcal_error_set(err, QCAL_E_INVALID, "at most %d --override", MAX_OVERRIDES);
            else if ((st = qcal_enc_override_parse(optarg, &o->ov[o->n_ov], err)) == QCAL_OK)
                o->n_ov++;
            break;
        case OPT_LABEL: o->eo.label = optarg; break;
        case OPT_FORMAT: o->format = optarg; break;
        case OPT_MODEL: o->model = optarg; break;
        case OPT_TRT: st = parse_int("--trt-version", optarg, 1, INT_MAX, &o->trt_version, err);
            break;
        case 'o': o->out = optarg; break;
        case 'h': return -1;
        default:
            st = qcal_error_set(err, QCAL_E_INVALID, "encode: unknown option or missing value "
                                "'%s' (see qcal encode --help)", argv[optind - 1]);
        }
    }
    if (st != QCAL_OK)
        return st;
    if (optind >= argc)
        return qcal_error_set(err, QCAL_E_INVALID, "encode: no stats file given (see qcal encode "
                              "--help)");
    o->stats = argv[optind++];
    if (optind < argc)
        return qcal_error_set(err, QCAL_E_INVALID, "encode: unexpected argument '%s'",
                              argv[optind]);
    if (!o->method || !o->out)
        return qcal_error_set(err, QCAL_E_INVALID, "encode: --method and -o are required (see "
                              "qcal encode --help)");
    o->eo.overrides = o->ov;
    o->eo.n_overrides = o->n_ov;
    if (o->format && strcmp(o->format, "qdq") == 0) {
        o->qdq = true;
        if (!o->model)
            return qcal_error_set(err, QCAL_E_INVALID, "encode: --format qdq needs --model M.onnx "
                                  "(the float model to rewrite)");
    } else if (o->format && qcal_export_format_parse(o->format, &o->fmt, NULL) != QCAL_OK) {
        return qcal_error_set(err, QCAL_E_INVALID, "--format %s: expected aimet, aimet1, qnn, trt "
                              "or qdq", o->format);
    } else if (o->model) {
        return qcal_error_set(err, QCAL_E_INVALID, "encode: --model is only used with --format "
                              "qdq");
    }
    if (o->trt_version && (o->qdq || o->fmt != QCAL_EXPORT_TRT))
        return qcal_error_set(err, QCAL_E_INVALID, "encode: --trt-version is only used with "
                              "--format trt");
#ifndef HAVE_QDQ
    if (o->qdq)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "qdq export not available in this build");
#endif
    return 0;
}

/* OUT must not be the stats file itself (the export would replace the statistics), and its
 * directory must be writable (checked first, so the message names OUT, not a staging file). */
static qcal_status check_paths(const enc_opts *o, qcal_error *err)
{
    struct stat a, b;
    char buf[PATH_MAX];
    const char *dir;

    if (stat(o->stats, &a) == 0 && stat(o->out, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: -o would overwrite the stats file",
                              o->out);
    if (qcal__output_check(o->out, err) != QCAL_OK)
        return qcal_error_prefix(err, "-o");
    snprintf(buf, sizeof buf, "%s", o->out);
    dir = dirname(buf);
    if (access(dir, W_OK | X_OK) != 0)
        return qcal_error_set(err, QCAL_E_IO, "%s: cannot write into directory %s: %s", o->out,
                              dir, strerror(errno));
    return QCAL_OK;
}

/* Puts *set into s->enc at *at (replacing the set with the same label, else appending); set
 * is moved (left empty) on success. *replaced tells which. */
static qcal_status store_set(qcal_stats *s, qcal_enc_set *set, size_t *at, bool *replaced,
                             qcal_error *err)
{
    qcal_enc_set *v;

    *replaced = false;
    for (size_t i = 0; i < s->n_enc; i++) {
        if (strcmp(s->enc[i].label, set->label) == 0) {
            qcal_enc_set_fini(&s->enc[i]);
            s->enc[i] = *set;
            memset(set, 0, sizeof *set);
            *at = i;
            *replaced = true;
            return QCAL_OK;
        }
    }
    v = realloc(s->enc, (s->n_enc + 1) * sizeof *v);
    if (!v)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    s->enc = v;
    *at = s->n_enc;
    s->enc[s->n_enc++] = *set;
    memset(set, 0, sizeof *set);
    return QCAL_OK;
}

/* Writes the export of set to path (atomically, by the exporter). */
static qcal_status write_export(const enc_opts *o, const qcal_stats *s, const qcal_enc_set *set,
                                const char *path, qcal_error *err)
{
#ifdef HAVE_QDQ
    if (o->qdq)
        return qcal_export_qdq(o->model, s, set, path, err);
#endif
    return qcal_export_write(o->fmt, set, s, &o->eo, o->trt_version, path, err);
}

/* Rank 0's work: read, compute, export (staged), store, publish the export. */
/*
 * Serialises read-modify-write cycles on stats files (several encodes at once, e.g. a Slurm array
 * job sharing one file): an exclusive flock on the file's folder. Not on the file itself: HDF5
 * takes its own flock on the files it opens, and the file is replaced by rename anyway. Returns
 * the locked descriptor, or -1 (then the encode runs unlocked: a file system without flock must
 * not stop it).
 */
static int lock_stats(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd;

    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static qcal_status encode(const enc_opts *o, qcal_error *err)
{
    qcal_stats s;
    qcal_enc_set set;
    qcal_encset_warnings warn;
    char stage[PATH_MAX];
    size_t n_act = 0, n_param = 0, n_float = 0, at = 0;
    double t0 = qcal_dist_time(), t_read, t_comp, t_exp;
    bool replaced = false, staged = false;
    int lock_fd = -1;
    qcal_status st;

    memset(&set, 0, sizeof set);
    memset(&warn, 0, sizeof warn);
    memset(&s, 0, sizeof s);
    if (snprintf(stage, sizeof stage, "%s.encode.%ld", o->out, (long)getpid()) >=
        (int)sizeof stage)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: path too long", o->out);
    st = check_paths(o, err);
    if (st == QCAL_OK) {
        lock_fd = lock_stats(o->stats);
        st = qcal_stats_read(o->stats, &s, err);
    }
    if (st != QCAL_OK)
        goto out;
    t_read = qcal_dist_time();
    st = qcal_encset_compute(&s, &o->eo, &set, &warn, err);
    for (size_t k = 0; k < warn.n; k++)
        fprintf(stderr, "qcal: warning: %s\n", warn.msg[k]);
    if (st != QCAL_OK)
        goto out;
    t_comp = qcal_dist_time();
    n_act = set.n_act;
    n_param = set.n_param;
    for (size_t k = 0; k < set.n_act; k++)
        n_float += set.act[k].is_float;
    st = write_export(o, &s, &set, stage, err);
    if (st != QCAL_OK)
        goto out;
    staged = true;
    t_exp = qcal_dist_time();
    st = store_set(&s, &set, &at, &replaced, err);
    if (st == QCAL_OK)
        st = qcal_stats_write(o->stats, &s, err);
    if (st != QCAL_OK)
        goto out;
    if (qcal__output_check(o->out, err) != QCAL_OK) {
        st = qcal_error_prefix(err, "-o");
        goto out;
    }
    if (rename(stage, o->out) != 0) {
        st = qcal_error_set(err, QCAL_E_IO, "%s: rename from %s failed: %s (%s was updated)",
                            o->out, stage, strerror(errno), o->stats);
        goto out;
    }
    staged = false;
    fprintf(stderr, "qcal: encode: %s: %zu activation (%zu float) and %zu param encodings, %zu "
            "warning%s, in %.3f s (read %.3f, compute %.3f, export %.3f, store %.3f); wrote %s, "
            "%s /encodings/%s in %s\n", s.enc[at].label, n_act, n_float, n_param, warn.n,
            warn.n == 1 ? "" : "s", qcal_dist_time() - t0, t_read - t0, t_comp - t_read,
            t_exp - t_comp, qcal_dist_time() - t_exp, o->out, replaced ? "replaced" : "added",
            s.enc[at].label, o->stats);
out:
    if (staged)
        unlink(stage);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock */
    qcal_encset_warnings_fini(&warn);
    qcal_enc_set_fini(&set);
    qcal_stats_fini(&s);
    return st;
}

int qcal_cli_encode(int argc, char **argv)
{
    enc_opts o;
    qcal_dist d;
    qcal_error err = { 0 };
    qcal_status st = QCAL_OK, gst;
    int fail_rank = -1, prc;

    memset(&o, 0, sizeof o);
    prc = parse(argc, argv, &o, &err);
    if (prc == -1) {
        opts_fini(&o);
        fputs(HELP, stdout);
        return 0;
    }
    if (prc != 0) {
        opts_fini(&o);
        return qcal_cli_fail(&err);
    }
    if (qcal_dist_init(&argc, &argv, &d, &err) != QCAL_OK) {
        opts_fini(&o);
        return qcal_cli_fail(&err);
    }
    if (d.rank == 0)
        st = encode(&o, &err);
    gst = qcal_dist_agree(&d, st, &fail_rank);
    if (gst != QCAL_OK && d.rank == fail_rank) {
        if (d.size > 1)
            fprintf(stderr, "qcal: error: [rank %d] %s\n", d.rank, err.msg);
        else
            fprintf(stderr, "qcal: error: %s\n", err.msg);
    }
    opts_fini(&o);
    qcal_dist_finalize();
    return gst ? (int)gst : 0;
}
