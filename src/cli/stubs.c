/* Subcommands not built yet say so plainly (contract scripts look for "not implemented"). */
#include <stdio.h>

#include "cli/cli.h"

static int not_yet(const char *name)
{
    fprintf(stderr, "qcal: error: '%s' is not implemented in this version\n", name);
    return 1;
}

int qcal_cli_encode(int argc, char **argv) { (void)argc; (void)argv; return not_yet("encode"); }
int qcal_cli_merge(int argc, char **argv) { (void)argc; (void)argv; return not_yet("merge"); }
int qcal_cli_inspect(int argc, char **argv) { (void)argc; (void)argv; return not_yet("inspect"); }
int qcal_cli_plot(int argc, char **argv) { (void)argc; (void)argv; return not_yet("plot"); }
