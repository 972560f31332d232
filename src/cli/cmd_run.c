/*
 * qcal run: one sample through the model. Inputs are TensorProto .pb, float32 .npy/.raw or images
 * (preprocessed as for calibrate). Prints every output; -o writes <output>.npy files;
 * --all-tensors also writes every intermediate tensor.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "onnx/onnx.h"
#include "qcal/data.h"
#include "qcal/model.h"
#include "qcal/npy.h"
#include "util/atomic.h"

#define MAX_INPUTS 32

static const char HELP[] =
    "usage: qcal run --model M.onnx --input FILE [--input FILE ...] [preprocess options]\n"
    "                [-o|--output-dir DIR] [--all-tensors]\n"
    "\n"
    "Runs one sample through the model with qcal's reference executor and prints each output\n"
    "(name, shape, first values, argmax). One --input per model input, in order: a TensorProto\n"
    ".pb file, a float32 .npy or .raw/.bin file of the input's shape, or an image (.png, .jpg)\n"
    "preprocessed as below.\n"
    "\n"
    "  --model M.onnx        the model\n"
    "  --input FILE          one per model input, in graph order\n"
    "  -o, --output-dir DIR  write <output name>.npy for every output (characters outside\n"
    "                        [A-Za-z0-9._-] become '_')\n"
    "  --all-tensors         with -o: also write every intermediate tensor\n"
    "  --batch N             value of a symbolic batch dimension (default 1)\n"
    PREPROCESS_HELP;

typedef struct dump_ctx {
    const char *dir;
    qcal_status st;
    qcal_error *err;
    size_t written;
} dump_ctx;

/* DIR/<safe name>.npy of tensor name; false when it does not fit. */
static bool npy_path(const char *dir, const char *tensor, char *path, size_t size)
{
    char name[PATH_MAX / 2];
    int n;

    qcal_npy_safe_name(tensor, name, sizeof name);
    n = snprintf(path, size, "%s/%s.npy", dir, name);
    return n >= 0 && (size_t)n < size;
}

/* Before the run: every file -o DIR would get must fit in a path and be replaceable (no
 * directory, device or FIFO in the way: util/atomic.h). */
static qcal_status check_npy_outputs(const qcal_model *m, const char *dir, bool all,
                                     qcal_error *err)
{
    struct stat sb;
    char path[PATH_MAX];
    size_t n = all ? qcal_model_n_tensors(m) : qcal_model_n_outputs(m);

    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return qcal_error_set(err, QCAL_E_IO, "-o %s: not a directory", dir);
    for (size_t i = 0; i < n; i++) {
        qcal_tensor_view v = all ? qcal_model_tensor(m, i) : qcal_model_output(m, i);
        if (!npy_path(dir, v.name, path, sizeof path))
            return qcal_error_set(err, QCAL_E_INVALID, "-o %s: path too long for tensor '%s'",
                                  dir, v.name);
        if (qcal__output_check(path, err) != QCAL_OK)
            return qcal_error_prefix(err, "-o");
    }
    return QCAL_OK;
}

static void dump_tensor(void *ctx, size_t tensor, const qcal_tensor_view *v)
{
    dump_ctx *d = ctx;
    char path[PATH_MAX];

    (void)tensor;
    if (d->st != QCAL_OK || qcal_dtype_size(v->dtype) == 0)
        return;
    if (!npy_path(d->dir, v->name, path, sizeof path)) {
        d->st = qcal_error_set(d->err, QCAL_E_INVALID, "-o %s: path too long for tensor '%s'",
                               d->dir, v->name);
        return;
    }
    d->st = qcal_npy_write(path, v, d->err);
    d->written++;
}

static void print_output(const qcal_tensor_view *v)
{
    char shape[128];
    size_t show = v->nelem < 10 ? v->nelem : 10, arg = 0;

    qcal__shape_str(v->rank, v->dims, shape, sizeof shape);
    printf("%s  %s [%s]:", v->name, qcal_dtype_name(v->dtype), shape);
    for (size_t i = 0; i < show; i++) {
        if (v->dtype == QCAL_DT_FLOAT)
            printf(" %.6g", (double)((const float *)v->data)[i]);
        else if (v->dtype == QCAL_DT_INT64)
            printf(" %lld", (long long)((const int64_t *)v->data)[i]);
        else if (v->dtype == QCAL_DT_INT32)
            printf(" %d", ((const int32_t *)v->data)[i]);
    }
    if (show < v->nelem)
        printf(" ... (%zu values)", v->nelem);
    if (v->dtype == QCAL_DT_FLOAT && v->nelem) {
        const float *x = v->data;
        for (size_t i = 1; i < v->nelem; i++)
            if (x[i] > x[arg])
                arg = i;
        printf("  argmax %zu", arg);
    }
    printf("\n");
}

/* Reads one input file into a buffer of the input's dtype and prepared shape. */
static qcal_status load_input(const char *path, const qcal_tensor_view *want,
                              const qcal_preprocess *pp, void **buf, qcal_error *err)
{
    const char *dot = strrchr(path, '.');
    char a[128], b[128];

    *buf = NULL;
    if (dot && strcmp(dot, ".pb") == 0) {
        qcal__tensor t;
        qcal_status st = qcal__onnx_read_tensor_file(path, &t, err);
        if (st != QCAL_OK)
            return st;
        if (t.dtype != want->dtype || t.nelem != want->nelem) {
            st = qcal_error_set(err, QCAL_E_SHAPE, "%s: %s [%s], input '%s' needs %s [%s]", path,
                                qcal_dtype_name(t.dtype), qcal__shape_str(t.rank, t.dims, a, sizeof a),
                                want->name, qcal_dtype_name(want->dtype),
                                qcal__shape_str(want->rank, want->dims, b, sizeof b));
            free(t.data);
            free(t.name);
            return st;
        }
        free(t.name);
        *buf = t.data;
        return QCAL_OK;
    }
    if (want->dtype != QCAL_DT_FLOAT)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: input '%s' is %s; give it as a .pb "
                              "TensorProto", path, want->name, qcal_dtype_name(want->dtype));
    *buf = malloc(want->nelem * sizeof(float) + 1);
    if (!*buf)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    {
        qcal_status st = qcal_data_load_sample(path, want->dims, want->rank, pp, *buf, err);
        if (st != QCAL_OK) {
            free(*buf);
            *buf = NULL;
        }
        return st;
    }
}

/* mkdir -p: creates dir and its missing parents. */
static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    size_t n = strlen(dir);

    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return (mkdir(tmp, 0777) != 0 && errno != EEXIST) ? -1 : 0;
}

/* Shape of a .pb/.npy input, to prepare models with symbolic dimensions; 0 if not known. */
static int file_shape(const char *path, qcal_tensor_view *v)
{
    const char *dot = strrchr(path, '.');
    qcal_error err;

    if (dot && strcmp(dot, ".pb") == 0) {
        qcal__tensor t;
        if (qcal__onnx_read_tensor_file(path, &t, &err) != QCAL_OK)
            return 0;
        v->dtype = t.dtype;
        v->rank = t.rank;
        memcpy(v->dims, t.dims, sizeof v->dims);
        v->nelem = t.nelem;
        free(t.data);
        free(t.name);
        return 1;
    }
    if (dot && strcmp(dot, ".npy") == 0) {
        qcal_npy arr;
        if (qcal_npy_load(path, &arr, &err) != QCAL_OK)
            return 0;
        v->dtype = QCAL_DT_FLOAT;
        v->rank = arr.rank;
        memcpy(v->dims, arr.dims, sizeof arr.dims);
        qcal_npy_fini(&arr);
        return 1;
    }
    return 0;
}

int qcal_cli_run(int argc, char **argv)
{
    enum { OPT_MODEL = 1000, OPT_INPUT, OPT_ALL, OPT_BATCH, OPT_PRE };
    static const struct option LONG[] = {
        { "model", required_argument, NULL, OPT_MODEL },
        { "input", required_argument, NULL, OPT_INPUT },
        { "output-dir", required_argument, NULL, 'o' },
        { "all-tensors", no_argument, NULL, OPT_ALL },
        { "batch", required_argument, NULL, OPT_BATCH },
        { "help", no_argument, NULL, 'h' },
        PREPROCESS_OPTIONS(OPT_PRE),
        { NULL, 0, NULL, 0 },
    };
    const char *model_path = NULL, *outdir = NULL, *inputs[MAX_INPUTS];
    size_t ninputs = 0;
    bool all = false;
    qcal_model_opts mopts = { .batch = 1, .defer_prepare = true };
    qcal_preprocess pp;
    qcal_model *m = NULL;
    qcal_error err = { 0 };
    qcal_tensor_view views[MAX_INPUTS];
    void *bufs[MAX_INPUTS] = { 0 };
    int c, rc = 0;

    qcal_preprocess_init(&pp);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", LONG, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: model_path = optarg; break;
        case OPT_INPUT:
            if (ninputs == MAX_INPUTS)
                return qcal_cli_failf(QCAL_E_INVALID, "at most %d --input", MAX_INPUTS);
            inputs[ninputs++] = optarg;
            break;
        case 'o': outdir = optarg; break;
        case OPT_ALL: all = true; break;
        case OPT_BATCH: mopts.batch = atoll(optarg); break;
        case 'h': fputs(HELP, stdout); return 0;
        default:
            if (c >= OPT_PRE && c < OPT_PRE + PREPROCESS_NOPTS) {
                if (qcal_cli_preprocess_opt(&pp, c - OPT_PRE, optarg, &err) != QCAL_OK)
                    return qcal_cli_fail(&err);
                break;
            }
            fputs(HELP, stderr);
            return QCAL_E_INVALID;
        }
    }
    if (optind < argc)
        return qcal_cli_failf(QCAL_E_INVALID, "run: unexpected argument '%s'", argv[optind]);
    if (!model_path)
        return qcal_cli_failf(QCAL_E_INVALID, "run: --model is required (see qcal run --help)");
    if (all && !outdir)
        return qcal_cli_failf(QCAL_E_INVALID, "run: --all-tensors needs -o DIR");
    if (qcal_model_load(model_path, &mopts, &m, &err) != QCAL_OK)
        return qcal_cli_fail(&err);
    if (ninputs != qcal_model_n_inputs(m)) {
        rc = qcal_cli_failf(QCAL_E_INVALID, "%s: model has %zu inputs, %zu --input given",
                            model_path, qcal_model_n_inputs(m), ninputs);
        goto out;
    }
    /* Shapes: the declared ones, with symbolic dims taken from .pb/.npy files when given. */
    for (size_t i = 0; i < ninputs; i++) {
        qcal_tensor_view decl = qcal_model_input(m, i), f;
        views[i] = decl;
        memset(&f, 0, sizeof f);
        for (int k = 0; k < decl.rank; k++)
            if (decl.dims[k] < 0)
                views[i].dims[k] = k == 0 ? mopts.batch : 1;
        if (file_shape(inputs[i], &f)) {
            bool fits = f.rank == decl.rank;
            for (int k = 0; fits && k < decl.rank; k++)
                fits = decl.dims[k] < 0 || decl.dims[k] == f.dims[k];
            if (!fits) {
                char a[128], b[128];
                rc = qcal_cli_failf(QCAL_E_SHAPE, "%s: shape [%s] does not fit input '%s' [%s]",
                                    inputs[i], qcal__shape_str(f.rank, f.dims, a, sizeof a),
                                    decl.name, qcal__shape_str(decl.rank, decl.dims, b, sizeof b));
                goto out;
            }
            memcpy(views[i].dims, f.dims, sizeof f.dims);
        }
        views[i].nelem = 1;
        for (int k = 0; k < views[i].rank; k++)
            views[i].nelem *= (size_t)views[i].dims[k];
        views[i].data = NULL;
    }
    for (size_t i = 0; i < ninputs; i++) {
        if (load_input(inputs[i], &views[i], &pp, &bufs[i], &err) != QCAL_OK) {
            rc = qcal_cli_fail(&err);
            goto out;
        }
        views[i].data = bufs[i];
    }
    if (qcal_model_prepare(m, views, ninputs, &err) != QCAL_OK) {
        rc = qcal_cli_fail(&err);
        goto out;
    }
    if (outdir && check_npy_outputs(m, outdir, all, &err) != QCAL_OK) {
        rc = qcal_cli_fail(&err);
        goto out;
    }
    if (outdir && mkdir_p(outdir) != 0) {
        rc = qcal_cli_failf(QCAL_E_IO, "%s: %s", outdir, strerror(errno));
        goto out;
    }
    {
        dump_ctx d = { outdir, QCAL_OK, &err, 0 };
        if (qcal_model_run(m, (const void *const *)bufs, all ? dump_tensor : NULL, &d, &err) !=
                QCAL_OK ||
            d.st != QCAL_OK) {
            rc = qcal_cli_fail(&err);
            goto out;
        }
        for (size_t i = 0; i < qcal_model_n_outputs(m); i++) {
            qcal_tensor_view v = qcal_model_output(m, i);
            print_output(&v);
            if (outdir && !all) {
                dump_tensor(&d, 0, &v);
                if (d.st != QCAL_OK) {
                    rc = qcal_cli_fail(&err);
                    goto out;
                }
            }
        }
        if (outdir)
            fprintf(stderr, "qcal: wrote %zu tensors to %s/\n", d.written, outdir);
    }
out:
    for (size_t i = 0; i < ninputs; i++)
        free(bufs[i]);
    qcal_model_destroy(m);
    return rc;
}
