/* The command-line front end: one file per subcommand. Only src/cli prints or exits. */
#ifndef QCAL_CLI_H
#define QCAL_CLI_H

#include <stdbool.h>

#include "qcal/status.h"

/* Each returns the process exit status (0, or a qcal_status code). */
int qcal_cli_run(int argc, char **argv);
int qcal_cli_calibrate(int argc, char **argv);
int qcal_cli_encode(int argc, char **argv);
int qcal_cli_merge(int argc, char **argv);
int qcal_cli_inspect(int argc, char **argv);
int qcal_cli_plot(int argc, char **argv);

/* Prints "qcal: error: <msg>" on stderr and returns the code. */
int qcal_cli_fail(const qcal_error *err);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int qcal_cli_failf(qcal_status code, const char *fmt, ...);

/*
 * Fails before any work when output path (given by option what, e.g. "-o") cannot be written:
 * QCAL_E_INVALID "<what>: <path>: is a character device, not a regular file (refusing to
 * replace it)" for anything but a regular file or a name that does not exist yet (also a
 * symlink to a device, FIFO or directory), QCAL_E_IO when its folder is missing or not
 * writable. NULL path: QCAL_OK.
 */
qcal_status qcal_cli_check_output(const char *path, const char *what, qcal_error *err);

/* Whether two output paths name the same file: the same inode when both exist, else the same
 * base name in the same (resolved) folder. */
bool qcal_cli_same_output(const char *a, const char *b);

#endif
