/* qcal encode: not built yet; says so plainly (contract scripts look for "not implemented"). */
#include <stdio.h>

#include "cli/cli.h"

int qcal_cli_encode(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "qcal: error: 'encode' is not implemented in this version\n");
    return 1;
}
