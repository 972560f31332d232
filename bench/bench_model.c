/*
 * bench_model: throughput and per-layer time of qcal's executor on one model, batch 1, one sample
 * per qcal_model_run, on one core (the library sets single-threaded BLAS at load).
 *
 * Inputs: with --data, the first --count images of a dataset (qcal_dataset_open order) are
 * decoded and preprocessed once, before timing, exactly as `qcal run` would (--mean/--std);
 * without it every float32 input gets deterministic pseudo-random values in [-1, 1).
 *
 * Measurements, after --warmup passes over the samples (the first one also records the outputs):
 *   throughput  --rounds timed rounds of P passes over the samples, without observer, P being
 *               --passes or more so that a round lasts at least --min-time seconds (judged from
 *               the last warm-up pass); samples/s of every round, reported as median and best
 *               (maximum). Medians resist other processes on the machine; the best round is
 *               the closest to an idle core.
 *   per layer   --prof-rounds rounds with an observer that takes a CLOCK_MONOTONIC timestamp at
 *               each call: the time since the previous call belongs to the node whose output
 *               is being reported (the graph input's call starts the clock). Per node: median
 *               over the rounds of the time per sample; for Conv, ConvTranspose, Gemm and MatMul
 *               also FLOPs (2 per multiply-add, bias not counted) and GFLOP/s. "run overhead" is
 *               the part of a run before the first and after the last observer call.
 *
 * --dump-inputs F writes input 0 of every sample as raw float32 (sample after sample) and
 * --dump-outputs F output 0 likewise, so that bench/ort_bench.js feeds ONNX Runtime the same data
 * and compares results. The last line is machine-readable:
 *   RESULT qcal samples=N median_sps=X best_sps=Y median_us=U
 *
 * Usage: bench_model [options] MODEL.onnx
 *   --data SPEC  --count N (300)  --mean M  --std S  --rounds R (9)  --passes P (1)
 *   --min-time S (0.25)  --warmup W (2)  --prof-rounds R (5)  --dump-inputs FILE
 *   --dump-outputs FILE
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qcal/data.h"
#include "qcal/model.h"

#define MAX_ROUNDS 201

typedef struct bench_opts {
    const char *model, *data, *mean, *std, *dump_in, *dump_out;
    long count, rounds, passes, warmup, prof_rounds;
    double min_time; /* seconds a timed round should last at least */
} bench_opts;

/* Observer state: per-node time accumulated over one profiling round. */
typedef struct prof {
    size_t *node_of; /* tensor index -> producing node, SIZE_MAX for graph inputs */
    double *acc;     /* seconds per node */
    double last;     /* timestamp of the previous observer call */
    double first;    /* timestamp of the first call of the current run */
    double end;      /* timestamp of the last call of the current run */
} prof;

static double now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median of n values (sorts a copy). */
static double median(const double *v, size_t n)
{
    double tmp[MAX_ROUNDS];

    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

static void observe(void *ctx, size_t tensor, const qcal_tensor_view *view)
{
    prof *p = ctx;
    const double t = now_sec();
    const size_t node = p->node_of[tensor];

    (void)view;
    if (node == SIZE_MAX) {
        p->first = t;
    } else {
        p->acc[node] += t - p->last;
    }
    p->last = t;
    p->end = t;
}

/*
 * Floating-point operations of one run of node i (2 per multiply-add), or 0 for ops that are not
 * counted. Conv: 2 * |Y| * (C/group * prod(kernel)), ConvTranspose: 2 * |X| * (M/group *
 * prod(kernel)), Gemm: 2 * |Y| * K with K = |A| / rows(Y), MatMul: 2 * |Y| * K with K the last
 * dim of A.
 */
static double node_flops(const qcal_model *m, size_t i)
{
    const char *op = qcal_model_node_op(m, i);
    qcal_tensor_view x, w, y;
    size_t ix, iw, iy;

    if (qcal_model_node_n_inputs(m, i) < 2 || qcal_model_node_n_outputs(m, i) < 1)
        return 0.0;
    ix = qcal_model_node_input(m, i, 0);
    iw = qcal_model_node_input(m, i, 1);
    iy = qcal_model_node_output(m, i, 0);
    if (ix == SIZE_MAX || iw == SIZE_MAX || iy == SIZE_MAX)
        return 0.0;
    x = qcal_model_tensor(m, ix);
    w = qcal_model_tensor(m, iw);
    y = qcal_model_tensor(m, iy);
    if (strcmp(op, "Conv") == 0 && w.rank >= 3 && w.dims[0] > 0)
        return 2.0 * (double)y.nelem * (double)(w.nelem / (size_t)w.dims[0]);
    if (strcmp(op, "ConvTranspose") == 0 && w.rank >= 3 && w.dims[0] > 0)
        return 2.0 * (double)x.nelem * (double)(w.nelem / (size_t)w.dims[0]);
    if (strcmp(op, "Gemm") == 0 && y.rank == 2 && y.dims[0] > 0)
        return 2.0 * (double)y.nelem * (double)(x.nelem / (size_t)y.dims[0]);
    if (strcmp(op, "MatMul") == 0 && x.rank >= 1)
        return 2.0 * (double)y.nelem * (double)x.dims[x.rank - 1];
    return 0.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_model [--data SPEC] [--count N] [--mean M] [--std S] "
                    "[--rounds R] [--passes P] [--min-time S] [--warmup W] [--prof-rounds R] "
                    "[--dump-inputs FILE] [--dump-outputs FILE] MODEL.onnx\n");
}

/* Parses argv into o; returns non-zero on a bad command line. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->count = 300;
    o->rounds = 9;
    o->passes = 1;
    o->warmup = 2;
    o->prof_rounds = 5;
    o->min_time = 0.25;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *num = NULL;
        const char **str = NULL;
        double *real = NULL;

        if (a[0] != '-') {
            o->model = a;
            continue;
        }
        if (strcmp(a, "--data") == 0)
            str = &o->data;
        else if (strcmp(a, "--mean") == 0)
            str = &o->mean;
        else if (strcmp(a, "--std") == 0)
            str = &o->std;
        else if (strcmp(a, "--dump-inputs") == 0)
            str = &o->dump_in;
        else if (strcmp(a, "--dump-outputs") == 0)
            str = &o->dump_out;
        else if (strcmp(a, "--count") == 0)
            num = &o->count;
        else if (strcmp(a, "--rounds") == 0)
            num = &o->rounds;
        else if (strcmp(a, "--passes") == 0)
            num = &o->passes;
        else if (strcmp(a, "--warmup") == 0)
            num = &o->warmup;
        else if (strcmp(a, "--prof-rounds") == 0)
            num = &o->prof_rounds;
        else if (strcmp(a, "--min-time") == 0)
            real = &o->min_time;
        if ((!num && !str && !real) || !v) {
            fprintf(stderr, "bench_model: bad option %s\n", a);
            return 1;
        }
        if (str)
            *str = v;
        else if (real)
            *real = strtod(v, NULL);
        else
            *num = strtol(v, NULL, 10);
        i++;
    }
    if (!o->model || o->count < 1 || o->rounds < 1 || o->rounds > MAX_ROUNDS || o->passes < 1 ||
        o->warmup < 1 || o->prof_rounds < 0 || o->prof_rounds > MAX_ROUNDS ||
        !(o->min_time >= 0.0)) {
        usage();
        return 1;
    }
    return 0;
}

/*
 * Fills count samples of input k (nelem floats each): images of the dataset for input 0 when
 * o->data is set, pseudo-random values otherwise. May lower *count to the dataset size.
 */
static int make_inputs(const bench_opts *o, const qcal_tensor_view *in, int k, long *count,
                       float **out)
{
    qcal_preprocess pp;
    qcal_dataset *ds = NULL;
    qcal_error err;
    float *x;
    int rc = 1;

    if (o->data && k == 0) {
        qcal_preprocess_init(&pp);
        if ((o->mean && qcal_preprocess_parse(&pp, "mean", o->mean, &err) != QCAL_OK) ||
            (o->std && qcal_preprocess_parse(&pp, "std", o->std, &err) != QCAL_OK) ||
            qcal_dataset_open(o->data, 0, &ds, &err) != QCAL_OK) {
            fprintf(stderr, "bench_model: %s\n", err.msg);
            return 1;
        }
        if ((long)qcal_dataset_count(ds) < *count)
            *count = (long)qcal_dataset_count(ds);
    }
    x = malloc((size_t)*count * in->nelem * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_model: out of memory\n");
        goto out;
    }
    if (ds) {
        for (long s = 0; s < *count; s++) {
            if (qcal_data_load_sample(qcal_dataset_path(ds, (size_t)s), in->dims, in->rank, &pp,
                                      x + (size_t)s * in->nelem, &err) != QCAL_OK) {
                fprintf(stderr, "bench_model: %s\n", err.msg);
                free(x);
                goto out;
            }
        }
    } else {
        uint32_t seed = 12345u + 7919u * (uint32_t)k;
        for (size_t i = 0; i < (size_t)*count * in->nelem; i++) {
            seed = seed * 1664525u + 1013904223u;
            x[i] = (float)(seed >> 8) * (1.0f / 8388608.0f) - 1.0f;
        }
    }
    *out = x;
    rc = 0;
out:
    qcal_dataset_close(ds);
    return rc;
}

static int write_raw(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(x, sizeof *x, n, f) != n;

    if (f && fclose(f) != 0)
        bad = 1;
    if (bad)
        fprintf(stderr, "bench_model: cannot write %s\n", path);
    return bad;
}

/* One pass over every sample: ptrs[k] is pointed at sample s of input k. */
static int run_pass(qcal_model *m, float *const *inputs, const size_t *nelem, size_t n_in,
                    long count, const void **ptrs, qcal_observer_fn obs, void *ctx)
{
    qcal_error err;

    for (long s = 0; s < count; s++) {
        for (size_t k = 0; k < n_in; k++)
            ptrs[k] = inputs[k] + (size_t)s * nelem[k];
        if (qcal_model_run(m, ptrs, obs, ctx, &err) != QCAL_OK) {
            fprintf(stderr, "bench_model: %s\n", err.msg);
            return 1;
        }
    }
    return 0;
}

/* Prints the per-layer table from per-round, per-node seconds per sample (node-major). */
static void print_layers(const qcal_model *m, const double *per, const double *ovh, long rounds,
                         double run_med)
{
    const size_t nn = qcal_model_n_nodes(m);
    double sum = 0.0, flops = 0.0, conv_t = 0.0, conv_f = 0.0;
    double *med = calloc(nn + 1, sizeof *med);

    if (!med)
        return;
    for (size_t i = 0; i < nn; i++) {
        med[i] = median(per + i * (size_t)rounds, (size_t)rounds);
        sum += med[i];
    }
    printf("\nper layer (median of %ld rounds; time between consecutive observer calls)\n",
           rounds);
    printf("%-32s %-18s %10s %6s %9s %9s\n", "node", "op", "us/sample", "%", "MFLOP", "GFLOP/s");
    for (size_t i = 0; i < nn; i++) {
        const double f = node_flops(m, i);

        printf("%-32.32s %-18.18s %10.2f %6.1f", qcal_model_node_name(m, i),
               qcal_model_node_op(m, i), 1e6 * med[i], sum > 0.0 ? 100.0 * med[i] / sum : 0.0);
        if (f > 0.0 && med[i] > 0.0)
            printf(" %9.3f %9.2f", 1e-6 * f, 1e-9 * f / med[i]);
        printf("\n");
        flops += f;
        if (f > 0.0) {
            conv_t += med[i];
            conv_f += f;
        }
    }
    printf("%-32s %-18s %10.2f\n", "(sum of nodes)", "", 1e6 * sum);
    printf("%-32s %-18s %10.2f\n", "(run overhead)", "", 1e6 * median(ovh, (size_t)rounds));
    printf("%-32s %-18s %10.2f\n", "(run with observer)", "", 1e6 * run_med);
    if (flops > 0.0)
        printf("counted FLOPs %.3f MFLOP/sample; Conv/Gemm/MatMul: %.1f%% of node time at "
               "%.2f GFLOP/s; whole run %.2f GFLOP/s\n",
               1e-6 * flops, sum > 0.0 ? 100.0 * conv_t / sum : 0.0,
               conv_t > 0.0 ? 1e-9 * conv_f / conv_t : 0.0, 1e-9 * flops / run_med);
    free(med);
}

/*
 * Profiling rounds of `passes` passes: fills per[node * rounds + r], ovh[r] (seconds per sample)
 * and *run_med.
 */
static int profile(qcal_model *m, float *const *inputs, const size_t *nelem, size_t n_in,
                   long count, long passes, long rounds, const void **ptrs, double *per,
                   double *ovh, double *run_med)
{
    const size_t nn = qcal_model_n_nodes(m), nt = qcal_model_n_tensors(m);
    double run_t[MAX_ROUNDS];
    prof p;
    int rc = 1;

    p.node_of = malloc((nt + 1) * sizeof *p.node_of);
    p.acc = calloc(nn + 1, sizeof *p.acc);
    if (!p.node_of || !p.acc)
        goto out;
    for (size_t t = 0; t < nt; t++)
        p.node_of[t] = SIZE_MAX;
    for (size_t i = 0; i < nn; i++)
        for (size_t k = 0; k < qcal_model_node_n_outputs(m, i); k++)
            if (qcal_model_node_output(m, i, k) != SIZE_MAX)
                p.node_of[qcal_model_node_output(m, i, k)] = i;
    for (long r = 0; r < rounds; r++) {
        double tot = 0.0, outside = 0.0;

        memset(p.acc, 0, nn * sizeof *p.acc);
        for (long s = 0; s < count * passes; s++) {
            double t0, t1;

            for (size_t k = 0; k < n_in; k++)
                ptrs[k] = inputs[k] + (size_t)(s % count) * nelem[k];
            t0 = now_sec();
            p.first = p.end = t0;
            if (qcal_model_run(m, ptrs, observe, &p, NULL) != QCAL_OK)
                goto out;
            t1 = now_sec();
            tot += t1 - t0;
            outside += (p.first - t0) + (t1 - p.end);
        }
        for (size_t i = 0; i < nn; i++)
            per[i * (size_t)rounds + (size_t)r] = p.acc[i] / (double)(count * passes);
        ovh[r] = outside / (double)(count * passes);
        run_t[r] = tot / (double)(count * passes);
    }
    *run_med = median(run_t, (size_t)rounds);
    rc = 0;
out:
    free(p.node_of);
    free(p.acc);
    return rc;
}

int main(int argc, char **argv)
{
    bench_opts o;
    qcal_model *m = NULL;
    qcal_model_opts mo = { .batch = 1, .defer_prepare = false };
    qcal_error err;
    float **inputs = NULL, *outs = NULL;
    size_t *nelem = NULL, n_in, out_n = 0;
    const void **ptrs = NULL;
    double sps[MAX_ROUNDS], *per = NULL, *ovh = NULL, run_med = 0.0, pass_t = 0.0;
    int rc = 1;

    if (parse_args(argc, argv, &o))
        return 2;
    if (qcal_model_load(o.model, &mo, &m, &err) != QCAL_OK) {
        fprintf(stderr, "bench_model: %s\n", err.msg);
        return 1;
    }
    n_in = qcal_model_n_inputs(m);
    inputs = calloc(n_in + 1, sizeof *inputs);
    nelem = calloc(n_in + 1, sizeof *nelem);
    ptrs = calloc(n_in + 1, sizeof *ptrs);
    if (!inputs || !nelem || !ptrs)
        goto out;
    for (size_t k = 0; k < n_in; k++) {
        const qcal_tensor_view v = qcal_model_input(m, k);

        if (v.dtype != QCAL_DT_FLOAT) {
            fprintf(stderr, "bench_model: input '%s' is %s; only float32 inputs are fed\n",
                    v.name, qcal_dtype_name(v.dtype));
            goto out;
        }
        nelem[k] = v.nelem;
        if (make_inputs(&o, &v, (int)k, &o.count, &inputs[k]))
            goto out;
    }
    if (qcal_model_n_outputs(m) > 0) {
        out_n = qcal_model_output(m, 0).nelem;
        outs = malloc((size_t)o.count * out_n * sizeof *outs + 1);
        if (!outs)
            goto out;
    }
    printf("model %s (sha256 %.16s...), %zu nodes, %zu input(s), batch 1\n", o.model,
           qcal_model_sha256(m), qcal_model_n_nodes(m), n_in);

    /* Warm-up; the first pass also records output 0 of every sample. */
    pass_t = now_sec();
    for (long s = 0; s < o.count; s++) {
        for (size_t k = 0; k < n_in; k++)
            ptrs[k] = inputs[k] + (size_t)s * nelem[k];
        if (qcal_model_run(m, ptrs, NULL, NULL, &err) != QCAL_OK) {
            fprintf(stderr, "bench_model: %s\n", err.msg);
            goto out;
        }
        if (outs)
            memcpy(outs + (size_t)s * out_n, qcal_model_output(m, 0).data,
                   out_n * sizeof *outs);
    }
    pass_t = now_sec() - pass_t;
    for (long w = 1; w < o.warmup; w++) {
        const double t0 = now_sec();

        if (run_pass(m, inputs, nelem, n_in, o.count, ptrs, NULL, NULL))
            goto out;
        pass_t = now_sec() - t0;
    }
    if ((double)o.passes * pass_t < o.min_time)
        o.passes = pass_t > 0.0 ? (long)(o.min_time / pass_t) + 1 : 1000;
    if ((o.dump_in && n_in > 0 && write_raw(o.dump_in, inputs[0], (size_t)o.count * nelem[0])) ||
        (o.dump_out && outs && write_raw(o.dump_out, outs, (size_t)o.count * out_n)))
        goto out;
    printf("samples %ld (%s), warm-up passes %ld, rounds %ld x %ld pass(es)\n", o.count,
           o.data ? o.data : "pseudo-random", o.warmup, o.rounds, o.passes);

    for (long r = 0; r < o.rounds; r++) {
        const double t0 = now_sec();

        for (long p = 0; p < o.passes; p++)
            if (run_pass(m, inputs, nelem, n_in, o.count, ptrs, NULL, NULL))
                goto out;
        sps[r] = (double)(o.count * o.passes) / (now_sec() - t0);
        printf("round %2ld: %10.1f samples/s\n", r + 1, sps[r]);
    }
    qsort(sps, (size_t)o.rounds, sizeof *sps, cmp_double);
    const double med = median(sps, (size_t)o.rounds), best = sps[o.rounds - 1];
    printf("qcal: median %.1f samples/s (%.2f us/sample), best %.1f samples/s (%.2f us/sample)\n",
           med, 1e6 / med, best, 1e6 / best);

    if (o.prof_rounds > 0) {
        const size_t nn = qcal_model_n_nodes(m);

        per = calloc(nn * (size_t)o.prof_rounds + 1, sizeof *per);
        ovh = calloc((size_t)o.prof_rounds + 1, sizeof *ovh);
        if (!per || !ovh)
            goto out;
        if (profile(m, inputs, nelem, n_in, o.count, o.passes, o.prof_rounds, ptrs, per, ovh,
                    &run_med))
            goto out;
        print_layers(m, per, ovh, o.prof_rounds, run_med);
    }
    printf("RESULT qcal samples=%ld median_sps=%.1f best_sps=%.1f median_us=%.2f\n", o.count, med,
           best, 1e6 / med);
    rc = 0;
out:
    if (rc && !ptrs)
        fprintf(stderr, "bench_model: out of memory\n");
    for (size_t k = 0; inputs && k < n_in; k++)
        free(inputs[k]);
    free(inputs);
    free(nelem);
    free(ptrs);
    free(outs);
    free(per);
    free(ovh);
    qcal_model_destroy(m);
    return rc;
}
