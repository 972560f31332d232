/*
 * Shared helpers of the fuzz harnesses (tests/fuzz/fuzz_*.c). Each harness defines
 * LLVMFuzzerTestOneInput; built with -DQCAL_FUZZ=ON (clang) it links libFuzzer, otherwise
 * replay.c supplies a main that runs files and folders of inputs once (the ctest replay).
 */
#ifndef QCAL_FUZZ_H
#define QCAL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private folder for this process (created on first use under $TMPDIR, else /dev/shm, else
 * /tmp; removed with everything in it at exit). Never NULL: aborts when it cannot be made. */
const char *fuzz_dir(void);

/* "<fuzz_dir>/<name>" in a static buffer (one per call site is enough: callers copy it). */
const char *fuzz_path(const char *name);

/* Writes data[size] to "<fuzz_dir>/<name>" (replacing it); returns the path (fuzz_path) or
 * aborts when the write fails. */
const char *fuzz_write(const char *name, const void *data, size_t size);

/* Creates "<fuzz_dir>/<rel>" as an empty file (mkdir -p of its folders) or, with a trailing '/',
 * as a folder. Aborts on failure. */
void fuzz_make(const char *rel);

/* FNV-1a of data[size]: a deterministic per-input choice of options. */
uint64_t fuzz_hash(const void *data, size_t size);

/* Reads every byte of p[n] (so the sanitizers check the whole range is valid memory). */
void fuzz_touch(const void *p, size_t n);

/* With FUZZ_VERBOSE set in the environment: prints "what: message" to stderr (how far an input
 * got, to check that a corpus reaches the code it should). */
void fuzz_note(const char *what, const char *msg);

#endif
