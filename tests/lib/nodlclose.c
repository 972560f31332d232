/*
 * LD_PRELOAD shim for the sanitizer build's CLI and MPI tests (scripts/test.sh): dlclose() does
 * nothing, so the Open MPI components loaded with dlopen() stay mapped until exit and
 * LeakSanitizer can name them in its stacks (tests/lsan-mpi.supp suppresses their start-up
 * allocations by library name; an unloaded library would show as "<unknown module>").
 * Built without sanitizers; harmless for the other programs the tests run (bash, python).
 */
int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
