/* qcal entry point: dispatches to the subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef QCAL_VERSION
#define QCAL_VERSION "dev"
#endif

static const char USAGE[] =
    "usage: qcal <command> [options]\n"
    "\n"
    "Distributed post-training-quantization calibration of ONNX models.\n"
    "\n"
    "commands:\n"
    "  run        run a model on one sample; print or save its outputs\n"
    "  calibrate  run a calibration set (sharded over MPI ranks), write the HDF5 stats file\n"
    "  encode     derive encodings from a stats file (no inference)\n"
    "  merge      merge stats files of disjoint datasets exactly\n"
    "  inspect    table of ranges, encodings and warnings of a stats file\n"
    "  plot       PNG histograms with encoding ranges\n"
    "\n"
    "'qcal <command> --help' describes each command. Exit status: 0 on success, else the\n"
    "error code (1 invalid, 2 out of memory, 3 I/O, 4 corrupt input, 5 unsupported, 6 shape,\n"
    "7 numeric, 8 MPI).\n";

int qcal_cli_fail(const qcal_error *err)
{
    fprintf(stderr, "qcal: error: %s\n", err->msg);
    return err->code ? (int)err->code : 1;
}

int qcal_cli_failf(qcal_status code, const char *fmt, ...)
{
    va_list ap;

    fputs("qcal: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code ? (int)code : 1;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } CMDS[] = {
        { "run", qcal_cli_run },         { "calibrate", qcal_cli_calibrate },
        { "encode", qcal_cli_encode },   { "merge", qcal_cli_merge },
        { "inspect", qcal_cli_inspect }, { "plot", qcal_cli_plot },
    };

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("qcal %s\n", QCAL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++)
        if (strcmp(argv[1], CMDS[i].name) == 0)
            return CMDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "qcal: error: unknown command '%s'\n%s", argv[1], USAGE);
    return 1;
}
