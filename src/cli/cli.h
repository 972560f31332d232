/* The command-line front end: one file per subcommand. Only src/cli prints or exits. */
#ifndef QCAL_CLI_H
#define QCAL_CLI_H

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

#endif
