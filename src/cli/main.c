/* Placeholder CLI entry; subcommands are added in src/cli/. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "qcal: not implemented yet\n");
    return 1;
}
