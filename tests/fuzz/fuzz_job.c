/*
 * Fuzz harness: the job-file parser of qcal calibrate (src/cli/job.c, job_set.c). The input is
 * a job file; leading lines "#set KEY=VALUE" (at most 8) are also passed as --set arguments.
 * It is written into <private folder>/job/job.yaml next to the files the seed jobs name (empty
 * model files, data folders, list files, output folders; see make_tree), so relative paths
 * resolve and the parser gets past its existence checks. A job that loads must satisfy
 * qcal_cal_opts_check and have consistent counts.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/calibrate.h"
#include "cli/job.h"
#include "fuzz.h"

#define MAX_SETS 8

static void make_tree(void)
{
    static const char *const TREE[] = {
        "job/fmnist/fmnist_cnn.onnx", "job/fmnist/calib/", "job/list.txt", "job/m.onnx",
        "job/calib/", "job/data/fmnist/fmnist_cnn.onnx", "job/data/fmnist/calib/",
        "out/", "one/", "demo-out/", "models/resnet50.onnx", "lists/imagenet-calib-1000.txt",
        "results/resnet50/", "job/out/",
    };
    static int done;

    if (done)
        return;
    for (size_t i = 0; i < sizeof TREE / sizeof *TREE; i++)
        fuzz_make(TREE[i]);
    done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sets[MAX_SETS], *copy;
    int nset = 0;
    size_t pos = 0;
    qcal_cal_opts o;
    qcal_error err;

    make_tree();
    /* --set arguments: the leading "#set " lines (NUL bytes end a value early, as argv would). */
    if (!(copy = malloc(size + 1)))
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    while (nset < MAX_SETS && size - pos > 5 && memcmp(copy + pos, "#set ", 5) == 0) {
        char *nl = memchr(copy + pos, '\n', size - pos);
        sets[nset++] = copy + pos + 5;
        if (!nl)
            break;
        *nl = '\0';
        pos = (size_t)(nl - copy) + 1;
    }
    qcal_cal_opts_init(&o);
    if (qcal_cli_job_load(fuzz_write("job/job.yaml", data, size), nset, sets, &o, &err) ==
        QCAL_OK) {
        if (qcal_cal_opts_check(&o, &err) != QCAL_OK || o.n_data == 0 ||
            o.n_data > QCAL_CAL_MAX_DATA || o.n_enc == 0 || o.n_enc > QCAL_CAL_MAX_ENC)
            abort(); /* a job that loads is a complete set of options */
        for (size_t i = 0; i < o.n_data; i++)
            fuzz_touch(o.data[i], strlen(o.data[i]));
    }
    /* Every set, also one that was being read when the job failed (not yet counted in n_enc). */
    for (size_t k = 0; k < QCAL_CAL_MAX_ENC; k++)
        for (size_t i = 0; i < QCAL_CAL_MAX_OVERRIDES; i++)
            qcal_enc_override_fini(&o.enc[k].overrides[i]);
    qcal__cli_job_release();
    free(copy);
    return 0;
}
