/*
 * A small MPI driver of the dump module, for tests and benchmarks before (and besides) the CLI:
 *
 *   mpirun -n P dump_driver MODEL DATA REGEX N_DUMP OUT [--skip I] [--OPTION VALUE ...]
 *
 * runs a calibration session over DATA with sample i on rank i mod P, taps every sample into a
 * dump of the first N_DUMP samples of the tensors matching REGEX, writes OUT and prints on rank 0
 * one line "dump: <bytes> bytes (file), write <s> s, <MB/s> MB/s". --skip I leaves sample I
 * out (as --skip-bad would); other --OPTION VALUE pairs are preprocess options. Exit status: the
 * qcal_status. The write time is rank 0's view of the slowest rank (MPI_MIN of starts, MPI_MAX
 * of ends); replacing an existing OUT puts its unlinking into that time, so remove OUT first.
 *
 * Not built by CMake. Build it by hand in a build directory B with the link line of the qcal_cli
 * target (B/CMakeFiles/qcal_cli.dir/link.txt), the CLI objects replaced by this file:
 *   cd B && cc -std=c11 -I../include -I../src $(mpicc --showme:compile) \
 *     ../tests/mpi/dump_driver.c CMakeFiles/qcal_cli.dir/src/dist/dist.c.o \
 *     CMakeFiles/qcal_cli.dir/src/dist/dump.c.o libqcal.a libqcal_onnxpb.a \
 *     <the libraries of link.txt> -o dump_driver
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "dist/dump.h"
#include "qcal/calib.h"

int main(int argc, char **argv)
{
    qcal_dist d;
    qcal_error err = { .code = QCAL_OK, .msg = "" };
    qcal_calib_opts o;
    qcal_calib *cal = NULL;
    qcal_dump *dp = NULL;
    const char *data[1];
    long skip = -1;
    qcal_status st;
    double t0, t1, lo, hi;

    st = qcal_dist_init(&argc, &argv, &d, &err);
    if (st != QCAL_OK || argc < 6) {
        fprintf(stderr, "usage: dump_driver MODEL DATA REGEX N_DUMP OUT [--skip I] [--OPT V]\n");
        qcal_dist_finalize();
        return 1;
    }
    memset(&o, 0, sizeof o);
    o.model_path = argv[1];
    data[0] = argv[2];
    o.n_data = 1;
    o.data = data;
    qcal_preprocess_init(&o.pp);
    for (int i = 6; i + 1 < argc && st == QCAL_OK; i += 2) {
        if (strcmp(argv[i], "--skip") == 0)
            skip = atol(argv[i + 1]);
        else
            st = qcal_preprocess_parse(&o.pp, argv[i], argv[i + 1], &err);
    }
    if (st == QCAL_OK)
        st = qcal_calib_create(&o, &cal, &err);
    st = qcal_dist_agree(&d, st, &(int){ 0 });
    if (st == QCAL_OK) {
        size_t n = qcal_calib_n_samples(cal), nd = (size_t)atol(argv[4]);
        st = qcal_dump_create(&d, qcal_calib_model(cal), argv[3], nd < n ? nd : n, &dp, &err);
        if (st == QCAL_OK) {
            qcal_calib_set_tap(cal, qcal_dump_tap, dp);
            for (size_t i = (size_t)d.rank; i < n && st == QCAL_OK; i += (size_t)d.size)
                if ((long)i != skip)
                    st = qcal_calib_run_sample(cal, i, &err);
            st = qcal_dist_agree(&d, st, &(int){ 0 });
        }
    }
    if (st == QCAL_OK) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        st = qcal_dump_write(dp, argv[5], &err);
        t1 = MPI_Wtime();
        MPI_Reduce(&t0, &lo, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
        MPI_Reduce(&t1, &hi, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (st == QCAL_OK && d.rank == 0) {
            FILE *fp = fopen(argv[5], "rb");
            long bytes = 0;
            if (fp && fseek(fp, 0, SEEK_END) == 0)
                bytes = ftell(fp);
            if (fp)
                fclose(fp);
            printf("dump: %ld bytes (file), write %.4f s, %.1f MB/s\n", bytes, hi - lo,
                   (double)bytes / 1e6 / (hi - lo));
        }
    }
    /* The dump calls give every rank the message; others only the failing rank. */
    if (st != QCAL_OK && err.msg[0] && (d.rank == 0 || err.code != QCAL_OK))
        fprintf(stderr, "dump_driver: error: [rank %d] %s\n", d.rank, err.msg);
    qcal_dump_destroy(dp);
    qcal_calib_destroy(cal);
    qcal_dist_finalize();
    return (int)st;
}
