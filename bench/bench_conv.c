/*
 * bench_conv: times the Conv/Gemm kernels through the kernel interface (infer once, run many),
 * single-threaded BLAS as in the tool. Prints name, shape, reps, median and min time, GFLOP/s
 * (2 * multiply-adds / median time).
 *
 *   bench_conv [reps]     (default 50; one warm-up run first)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"

typedef struct bench_case {
    const char *name;
    const char *op;
    int n_in;
    int rank[3];
    int64_t dims[3][5];
    int64_t group;
    int64_t pads; /* same padding on every side */
    int64_t stride;
    double macs; /* multiply-adds per run */
} bench_case;

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

/* Fills t with shape dims and deterministic pseudo-random values in [-1, 1). */
static int make_tensor(qcal__tensor *t, const char *name, int rank, const int64_t *dims,
                       uint32_t seed)
{
    float *data;

    memset(t, 0, sizeof *t);
    t->name = (char *)name;
    t->dtype = QCAL_DT_FLOAT;
    t->rank = rank;
    t->nelem = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        t->nelem *= (size_t)dims[i];
    }
    data = malloc(t->nelem * sizeof *data);
    if (!data)
        return -1;
    for (size_t i = 0; i < t->nelem; i++) {
        seed = seed * 1664525u + 1013904223u;
        data[i] = (float)(seed >> 8) * (1.0f / 8388608.0f) - 1.0f;
    }
    t->data = data;
    t->kind = QCAL__T_CONST;
    t->shaped = true;
    return 0;
}

static int run_case(const bench_case *bc, int reps)
{
    qcal__tensor tin[3], tout;
    qcal__tensor *in[3], *out[1] = { &tout };
    int64_t pads[6], strides[3];
    qcal__attr attr[3];
    qcal__node node;
    qcal_error err;
    void *scratch = NULL;
    double *times = NULL;
    const qcal__op *op;
    int rc = -1, nsp = bc->rank[0] - 2;

    memset(&node, 0, sizeof node);
    memset(&tout, 0, sizeof tout);
    memset(attr, 0, sizeof attr);
    tout.name = (char *)"y";
    for (int i = 0; i < bc->n_in; i++) {
        if (make_tensor(&tin[i], "in", bc->rank[i], bc->dims[i], 12345u + (uint32_t)i) != 0)
            return -1;
        in[i] = &tin[i];
    }
    for (int i = 0; i < 2 * nsp; i++)
        pads[i] = bc->pads;
    for (int i = 0; i < nsp; i++)
        strides[i] = bc->stride;
    attr[0].name = (char *)"group";
    attr[0].type = QCAL__A_INT;
    attr[0].i = bc->group;
    attr[1].name = (char *)"pads";
    attr[1].type = QCAL__A_INTS;
    attr[1].ints = pads;
    attr[1].n = (size_t)(2 * nsp);
    attr[2].name = (char *)"strides";
    attr[2].type = QCAL__A_INTS;
    attr[2].ints = strides;
    attr[2].n = (size_t)nsp;
    node.name = (char *)bc->name;
    node.op_type = (char *)bc->op;
    node.domain = (char *)"";
    node.opset = 13;
    node.n_in = bc->n_in;
    node.in = in;
    node.n_out = 1;
    node.out = out;
    node.attr = attr;
    node.n_attr = strcmp(bc->op, "Conv") == 0 ? 3 : 0;
    op = qcal__op_find(bc->op, node.opset);
    if (!op || op->infer(&node, &err) != QCAL_OK) {
        fprintf(stderr, "%s: infer failed: %s\n", bc->name, op ? err.msg : "no kernel");
        goto out;
    }
    tout.data = malloc(tout.nelem * sizeof(float));
    times = malloc((size_t)reps * sizeof *times);
    if (node.scratch)
        scratch = aligned_alloc(64, (node.scratch + 63) / 64 * 64);
    if (!tout.data || !times || (node.scratch && !scratch))
        goto out;
    op->run(&node, scratch); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_sec();
        op->run(&node, scratch);
        times[r] = now_sec() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    printf("%-28s reps %4d  median %9.3f ms  min %9.3f ms  %7.2f GFLOP/s  (scratch %zu KiB)\n",
           bc->name, reps, 1e3 * times[reps / 2], 1e3 * times[0],
           2.0 * bc->macs / times[reps / 2] * 1e-9, node.scratch / 1024);
    rc = 0;
out:
    for (int i = 0; i < bc->n_in; i++)
        free(tin[i].data);
    free(tout.data);
    free(scratch);
    free(times);
    free(node.params);
    return rc;
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 50;
    const bench_case cases[] = {
        { "conv3x3 64->64 56x56", "Conv", 2, { 4, 4 },
          { { 1, 64, 56, 56 }, { 64, 64, 3, 3 } }, 1, 1, 1, 56.0 * 56 * 64 * 64 * 9 },
        { "conv3x3 s2 64->128 56x56", "Conv", 2, { 4, 4 },
          { { 1, 64, 56, 56 }, { 128, 64, 3, 3 } }, 1, 1, 2, 28.0 * 28 * 128 * 64 * 9 },
        { "conv1x1 64->256 56x56", "Conv", 2, { 4, 4 },
          { { 1, 64, 56, 56 }, { 256, 64, 1, 1 } }, 1, 0, 1, 56.0 * 56 * 256 * 64 },
        { "conv7x7 s2 3->64 224x224", "Conv", 2, { 4, 4 },
          { { 1, 3, 224, 224 }, { 64, 3, 7, 7 } }, 1, 3, 2, 112.0 * 112 * 64 * 3 * 49 },
        { "depthwise3x3 128 56x56", "Conv", 2, { 4, 4 },
          { { 1, 128, 56, 56 }, { 128, 1, 3, 3 } }, 128, 1, 1, 56.0 * 56 * 128 * 9 },
        { "depthwise3x3 s2 128 56x56", "Conv", 2, { 4, 4 },
          { { 1, 128, 56, 56 }, { 128, 1, 3, 3 } }, 128, 1, 2, 28.0 * 28 * 128 * 9 },
        { "matmul 1x197x768 768x768", "MatMul", 2, { 3, 2 },
          { { 1, 197, 768 }, { 768, 768 } }, 1, 0, 1, 197.0 * 768 * 768 },
    };

    if (reps < 1) {
        fprintf(stderr, "usage: bench_conv [reps >= 1]\n");
        return 2;
    }
    openblas_set_num_threads(1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (run_case(&cases[i], reps) != 0)
            return 1;
    return 0;
}
