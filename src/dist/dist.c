/* MPI calls of qcal: process group, agreement, reductions. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"

#define MPI_CHECK(call, what)                                                                    \
    do {                                                                                         \
        if ((call) != MPI_SUCCESS)                                                               \
            return qcal_error_set(err, QCAL_E_MPI, "MPI: %s failed", (what));                    \
    } while (0)

qcal_status qcal_dist_init(int *argc, char ***argv, qcal_dist *d, qcal_error *err)
{
    int inited = 0;

    MPI_Initialized(&inited);
    if (!inited)
        MPI_CHECK(MPI_Init(argc, argv), "MPI_Init");
    /* Errors come back as codes, so one rank's failure can be reported, not crash the job. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &d->rank), "MPI_Comm_rank");
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &d->size), "MPI_Comm_size");
    return QCAL_OK;
}

void qcal_dist_finalize(void)
{
    int inited = 0, done = 0;

    MPI_Initialized(&inited);
    MPI_Finalized(&done);
    if (inited && !done)
        MPI_Finalize();
}

void qcal_dist_abort(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

qcal_status qcal_dist_agree(const qcal_dist *d, qcal_status local, int *fail_rank)
{
    int mine = local != QCAL_OK ? d->rank : d->size, lowest = d->size;
    int code = (int)local;

    MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (lowest == d->size) {
        *fail_rank = -1;
        return QCAL_OK;
    }
    MPI_Bcast(&code, 1, MPI_INT, lowest, MPI_COMM_WORLD);
    *fail_rank = lowest;
    return (qcal_status)code;
}

bool qcal_dist_any(const qcal_dist *d, bool flag)
{
    int mine = flag ? 1 : 0, any = 0;

    (void)d;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    return any != 0;
}

uint64_t qcal_dist_sum_u64(const qcal_dist *d, uint64_t v)
{
    uint64_t sum = 0;

    (void)d;
    MPI_Allreduce(&v, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    return sum;
}

void qcal_dist_gather_u64(const qcal_dist *d, uint64_t v, uint64_t *all)
{
    (void)d;
    MPI_Gather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
}

qcal_status qcal_dist_gatherv_u64(const qcal_dist *d, const uint64_t *v, uint64_t n,
                                  uint64_t **out, uint64_t *total, qcal_error *err)
{
    int cnt = (int)n, *counts = NULL, *displs = NULL;
    uint64_t *buf = NULL;
    qcal_status st = QCAL_OK;
    long sum = 0;

    *out = NULL;
    *total = 0;
    if (d->rank == 0) {
        counts = calloc((size_t)d->size, sizeof *counts);
        displs = calloc((size_t)d->size, sizeof *displs);
        if (!counts || !displs)
            st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (d->rank == 0 && st == QCAL_OK) {
        for (int r = 0; r < d->size; r++) {
            displs[r] = (int)sum;
            sum += counts[r];
        }
        buf = malloc(((size_t)sum + 1) * sizeof *buf);
        if (!buf)
            st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    MPI_Gatherv(v, cnt, MPI_UINT64_T, buf, counts, displs, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    if (d->rank == 0 && st == QCAL_OK) {
        *out = buf;
        *total = (uint64_t)sum;
    } else {
        free(buf);
    }
    return st;
}

qcal_status qcal_dist_reduce_collector(const qcal_dist *d, qcal_collector *c, qcal_error *err)
{
    size_t T = qcal_collector_tensors(c), B = qcal_collector_bins(c), row = B + 4;
    float *lo = malloc((2 * T + 1) * sizeof *lo), *glo = malloc((2 * T + 1) * sizeof *glo);
    uint64_t *cnt = malloc((T * row + 1) * sizeof *cnt), *sum = NULL;
    qcal_status st = QCAL_OK;

    if (d->rank == 0)
        sum = malloc((T * row + 1) * sizeof *sum);
    if (!lo || !glo || !cnt || (d->rank == 0 && !sum)) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory (statistics reduction)");
        goto out;
    }
    /* Ranges: min of (min) and min of (-max) in one MIN reduction. */
    for (size_t j = 0; j < T; j++) {
        const qcal_hist *h = qcal_collector_hist(c, j);
        lo[j] = h->count ? h->min : INFINITY;
        lo[T + j] = h->count ? -h->max : INFINITY;
    }
    if (MPI_Allreduce(lo, glo, (int)(2 * T), MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
        st = qcal_error_set(err, QCAL_E_MPI, "MPI: allreduce of ranges failed");
        goto out;
    }
    for (size_t j = 0; j < T; j++) {
        qcal_hist *h = qcal_collector_hist_mut(c, j);
        uint64_t *r = cnt + j * row;
        if (isinf(glo[j])) { /* no rank saw a finite value */
            memset(r, 0, B * sizeof *r);
        } else {
            int e;
            int64_t k0;
            float gmax = -glo[T + j];
            qcal_hist_canonical_window(glo[j], gmax, B, &e, &k0);
            if (h->count) {
                st = qcal_hist_fold_to(h, e, k0, err);
                if (st != QCAL_OK)
                    goto out;
                memcpy(r, h->counts, B * sizeof *r);
            } else {
                memset(r, 0, B * sizeof *r);
            }
        }
        r[B] = h->count;
        r[B + 1] = h->nan;
        r[B + 2] = h->pinf;
        r[B + 3] = h->ninf;
    }
    if (MPI_Reduce(cnt, sum, (int)(T * row), MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD) !=
        MPI_SUCCESS) {
        st = qcal_error_set(err, QCAL_E_MPI, "MPI: reduction of histograms failed");
        goto out;
    }
    if (d->rank == 0) {
        for (size_t j = 0; j < T; j++) {
            qcal_hist *h = qcal_collector_hist_mut(c, j);
            const uint64_t *r = sum + j * row;
            if (isinf(glo[j])) {
                h->e = 0;
                h->k0 = 0;
                h->min = h->max = NAN;
            } else {
                qcal_hist_canonical_window(glo[j], -glo[T + j], B, &h->e, &h->k0);
                h->min = glo[j];
                h->max = -glo[T + j];
            }
            memcpy(h->counts, r, B * sizeof *r);
            h->count = r[B];
            h->nan = r[B + 1];
            h->pinf = r[B + 2];
            h->ninf = r[B + 3];
            st = qcal_hist_validate(h, err);
            if (st != QCAL_OK)
                goto out;
        }
    }
out:
    free(lo);
    free(glo);
    free(cnt);
    free(sum);
    return st;
}

int qcal_dist_bcast_int(const qcal_dist *d, int v)
{
    (void)d;
    MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return v;
}

double qcal_dist_time(void)
{
    return MPI_Wtime();
}
