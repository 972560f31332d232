/*
 * ONNX backend conformance runner.
 *
 *   conformance [-v] [--filter SUBSTR] [--exclude NAME]... [--min-pass N] [--readme README.md]
 *               DIR...
 *
 * Every sub-folder of each DIR holding a model.onnx is a test: each test_data_set_* folder gives
 * input_*.pb and output_*.pb (serialized TensorProto). Outputs are compared with the ONNX backend
 * runner's tolerances: |got - want| <= atol + rtol * |want|, rtol 1e-3, atol 1e-7 (floats; NaN
 * matches NaN); integers and bools exactly; dtype and shape exactly.
 *
 * A test is SKIPPED only when the model is refused at load time as unsupported (an operator,
 * opset or data type the registry does not have) — and, with --readme, only when the README lists
 * every refused item as unsupported: an operator of the generated operator table (between
 * `<!-- ops:begin -->` and `<!-- ops:end -->`) only for an opset outside the ranges the table
 * gives it; any other operator, and a data type, only when the README names it in backquotes
 * outside the table (its "Not supported" lists). Anything else that goes wrong (prepare error,
 * kernel refusing an attribute, wrong numbers) is a FAILURE. Prints each skip and failure with its
 * reason, and "N passed, N failed, N skipped"; exits 1 on any failure or when fewer than
 * --min-pass tests passed. --exclude NAME (repeatable) leaves out the test folder NAME exactly; each
 * is printed as EXCLUDED and counted on a line of its own (for tests waiting on work elsewhere,
 * named in tests/CMakeLists.txt).
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx/onnx.h"
#include "qcal/model.h"

#define RTOL 1e-3
#define ATOL 1e-7
#define MAX_IO 64

static int verbose;
static char *readme_text;  /* the README outside the operator table */
static char *readme_table; /* the operator table (between the ops markers) */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted names of the entries of dir starting with prefix (NULL: all but dot entries). */
static char **list_dir(const char *dir, const char *prefix, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;

    *count = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static double elem_as_double(const void *data, qcal_dtype dt, size_t i)
{
    switch (dt) {
    case QCAL_DT_FLOAT: return (double)((const float *)data)[i];
    case QCAL_DT_DOUBLE: return ((const double *)data)[i];
    default: return 0.0;
    }
}

/* Compares one output; fills why on mismatch. */
static bool compare(const qcal_tensor_view *got, const qcal__tensor *want, char *why, size_t wlen)
{
    char a[128], b[128];
    size_t esize = qcal_dtype_size(want->dtype);

    if (got->dtype != want->dtype) {
        snprintf(why, wlen, "output '%s': dtype %s, expected %s", want->name,
                 qcal_dtype_name(got->dtype), qcal_dtype_name(want->dtype));
        return false;
    }
    if (got->nelem != want->nelem || got->rank != want->rank ||
        memcmp(got->dims, want->dims, (size_t)want->rank * sizeof want->dims[0]) != 0) {
        snprintf(why, wlen, "output '%s': shape [%s], expected [%s]", want->name,
                 qcal__shape_str(got->rank, got->dims, a, sizeof a),
                 qcal__shape_str(want->rank, want->dims, b, sizeof b));
        return false;
    }
    if (!got->data && want->nelem) {
        snprintf(why, wlen, "output '%s': no data", want->name);
        return false;
    }
    for (size_t i = 0; i < want->nelem; i++) {
        if (want->dtype == QCAL_DT_FLOAT || want->dtype == QCAL_DT_DOUBLE) {
            double g = elem_as_double(got->data, got->dtype, i);
            double w = elem_as_double(want->data, want->dtype, i);
            if (isnan(w) && isnan(g))
                continue;
            if (isinf(w) && g == w)
                continue;
            if (!(fabs(g - w) <= ATOL + RTOL * fabs(w))) {
                snprintf(why, wlen, "output '%s'[%zu] = %.9g, expected %.9g", want->name, i, g, w);
                return false;
            }
        } else if (memcmp((const char *)got->data + i * esize,
                          (const char *)want->data + i * esize, esize) != 0) {
            long long g = 0, w = 0;
            memcpy(&g, (const char *)got->data + i * esize, esize < 8 ? esize : 8);
            memcpy(&w, (const char *)want->data + i * esize, esize < 8 ? esize : 8);
            snprintf(why, wlen, "output '%s'[%zu] = %lld, expected %lld (raw)", want->name, i, g,
                     w);
            return false;
        }
    }
    return true;
}

static void tensor_clear(qcal__tensor *t)
{
    free(t->data);
    free(t->name);
    memset(t, 0, sizeof *t);
}

/*
 * Tests whose reference data contradicts the ONNX specification. Such a test still runs; when it
 * fails it is reported as a skip with this reason (README: Tests), when it passes it counts as
 * passed. ONNX Runtime's backend runner excludes the same tests.
 */
static const struct bad_reference {
    const char *test;
    const char *why;
} BAD_REFERENCES[] = {
    { "test_cast_FLOAT_to_BFLOAT16", "the reference truncates to bfloat16; Cast rounds to nearest "
      "even (ONNX issues 3876, 5004)" },
    { "test_castlike_FLOAT_to_BFLOAT16", "the reference truncates to bfloat16; CastLike rounds "
      "to nearest even (ONNX issues 3876, 5004); ONNX 1.12's data also gives 'like' shape [1] for "
      "an input declared [3, 4]" },
    { "test_castlike_FLOAT_to_BFLOAT16_expanded", "the reference truncates to bfloat16; Cast "
      "rounds to nearest even (ONNX issues 3876, 5004); ONNX 1.12's data also gives 'like' shape "
      "[1] for an input declared [3, 4]" },
    { "test_castlike_BFLOAT16_to_FLOAT", "ONNX 1.12's data gives 'like' shape [1] for an input "
      "declared [3, 4] (fixed in ONNX 1.17)" },
    { "test_castlike_BFLOAT16_to_FLOAT_expanded", "ONNX 1.12's data gives 'like' shape [1] for an "
      "input declared [3, 4] (fixed in ONNX 1.17)" },
};

static const char *bad_reference(const char *test)
{
    for (size_t i = 0; i < sizeof BAD_REFERENCES / sizeof BAD_REFERENCES[0]; i++)
        if (strcmp(BAD_REFERENCES[i].test, test) == 0)
            return BAD_REFERENCES[i].why;
    return NULL;
}

/* The file's element type of the tensor named name (QCAL_DT_UNDEFINED if absent). */
static qcal_dtype source_dtype_of(const qcal_model *m, const char *name)
{
    for (size_t i = 0; name && i < qcal_model_n_tensors(m); i++)
        if (strcmp(qcal_model_tensor(m, i).name, name) == 0)
            return qcal_model_tensor_source_dtype(m, i);
    return QCAL_DT_UNDEFINED;
}

/* Reinterprets a uint16 tensor of bfloat16 bit patterns as the float32 values qcal holds. */
static void bf16_bits_to_float(qcal__tensor *t)
{
    float *f;

    if (t->dtype != QCAL_DT_UINT16 || !(f = malloc((t->nelem ? t->nelem : 1) * sizeof *f)))
        return;
    for (size_t i = 0; i < t->nelem; i++)
        f[i] = qcal__bfloat16_to_float(((const uint16_t *)t->data)[i]);
    free(t->data);
    t->data = f;
    t->dtype = QCAL_DT_FLOAT;
}

/* Runs every data set of one test. Returns 1 pass, 0 fail, -1 skip; why gets the reason. */
static int run_test(const char *dir, char *why, size_t wlen)
{
    char path[8192];
    qcal_model *m = NULL;
    qcal_model_opts opts = { .batch = 1, .defer_prepare = true };
    qcal_error err = { 0 };
    qcal_status st;
    char **sets;
    size_t nsets;
    int result = 1;

    snprintf(path, sizeof path, "%s/model.onnx", dir);
    st = qcal_model_load(path, &opts, &m, &err);
    if (st == QCAL_E_UNSUPPORTED) {
        snprintf(why, wlen, "%s", err.msg);
        return -1;
    }
    if (st != QCAL_OK) {
        snprintf(why, wlen, "load: %s", err.msg);
        return 0;
    }
    sets = list_dir(dir, "test_data_set_", &nsets);
    if (!nsets) {
        snprintf(why, wlen, "no test_data_set_* folder");
        result = 0;
    }
    for (size_t s = 0; s < nsets && result == 1; s++) {
        qcal__tensor in[MAX_IO], out[MAX_IO];
        qcal_tensor_view views[MAX_IO];
        const void *ptrs[MAX_IO];
        size_t nin = 0, nout = 0;

        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        /* ONNX's bfloat16 test data is stored as uint16 bit patterns (numpy has no bfloat16). */
        for (; nin < MAX_IO; nin++) {
            snprintf(path, sizeof path, "%s/%s/input_%zu.pb", dir, sets[s], nin);
            if (!file_exists(path))
                break;
            if (qcal__onnx_read_tensor_file(path, &in[nin], &err) != QCAL_OK) {
                snprintf(why, wlen, "%s", err.msg);
                result = 0;
                break;
            }
            if (source_dtype_of(m, qcal_model_input(m, nin).name) == QCAL_DT_BFLOAT16)
                bf16_bits_to_float(&in[nin]);
            memset(&views[nin], 0, sizeof views[nin]);
            views[nin].name = in[nin].name;
            views[nin].dtype = in[nin].dtype;
            views[nin].rank = in[nin].rank;
            memcpy(views[nin].dims, in[nin].dims, sizeof views[nin].dims);
            views[nin].nelem = in[nin].nelem;
            views[nin].data = in[nin].data;
            ptrs[nin] = in[nin].data;
        }
        for (; result == 1 && nout < MAX_IO; nout++) {
            snprintf(path, sizeof path, "%s/%s/output_%zu.pb", dir, sets[s], nout);
            if (!file_exists(path))
                break;
            if (qcal__onnx_read_tensor_file(path, &out[nout], &err) != QCAL_OK) {
                snprintf(why, wlen, "%s", err.msg);
                result = 0;
            }
        }
        if (result == 1 && (st = qcal_model_prepare(m, views, nin, &err)) != QCAL_OK) {
            snprintf(why, wlen, "%s: prepare: %s", sets[s], err.msg);
            result = 0;
        }
        if (result == 1 && (st = qcal_model_run(m, ptrs, NULL, NULL, &err)) != QCAL_OK) {
            snprintf(why, wlen, "%s: run: %s", sets[s], err.msg);
            result = 0;
        }
        if (result == 1 && nout != qcal_model_n_outputs(m)) {
            snprintf(why, wlen, "%s: %zu reference outputs, model has %zu", sets[s], nout,
                     qcal_model_n_outputs(m));
            result = 0;
        }
        for (size_t k = 0; result == 1 && k < nout; k++) {
            qcal_tensor_view got = qcal_model_output(m, k);
            char what[400];
            if (source_dtype_of(m, got.name) == QCAL_DT_BFLOAT16)
                bf16_bits_to_float(&out[k]);
            if (!compare(&got, &out[k], what, sizeof what)) {
                snprintf(why, wlen, "%s: %s", sets[s], what);
                result = 0;
            }
        }
        for (size_t k = 0; k < MAX_IO; k++) {
            tensor_clear(&in[k]);
            tensor_clear(&out[k]);
        }
    }
    free_list(sets, nsets);
    qcal_model_destroy(m);
    return result;
}

/*
 * True if the table lists `op` with ranges covering opset. Rows look like
 * "| `Op` | 1-17, 19+ | notes |".
 */
static bool table_covers(const char *op, int opset, bool *listed)
{
    char key[160];
    const char *row;

    *listed = false;
    if (!readme_table)
        return false;
    snprintf(key, sizeof key, "| `%s` |", op);
    row = strstr(readme_table, key);
    if (!row)
        return false;
    *listed = true;
    row += strlen(key);
    for (;;) {
        char *end;
        long lo, hi;
        while (*row == ' ' || *row == ',')
            row++;
        lo = strtol(row, &end, 10);
        if (end == row)
            return false;
        row = end;
        if (*row == '+') {
            hi = 1L << 30;
            row++;
        } else if (*row == '-') {
            hi = strtol(row + 1, &end, 10);
            row = end;
        } else {
            hi = lo;
        }
        if (opset >= lo && opset <= hi)
            return true;
    }
}

/*
 * With --readme: a skip is allowed only for what the README lists as unsupported. The loader's
 * message is "unsupported: ITEM, ITEM, ..." where each ITEM starts with an op type or a data type
 * name, optionally followed by a parenthesised note (which may contain commas), "(opset N)" or
 * "(domain D, opset N)" for operators.
 */
static bool skip_is_documented(const char *why)
{
    const char *p = strstr(why, "unsupported: ");
    char item[128];

    if (!readme_text)
        return true;
    if (!p)
        return false;
    p += strlen("unsupported: ");
    while (*p) {
        size_t len = strcspn(p, " ,(");
        const char *note = NULL;
        bool listed;
        int opset = -1;
        if (len == 0 || len > sizeof item - 3)
            return false;
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        p += len;
        while (*p == ' ')
            p++;
        if (*p == '(') {
            int depth = 0;
            note = p;
            for (; *p; p++) {
                depth += (*p == '(') - (*p == ')');
                if (depth == 0) {
                    p++;
                    break;
                }
            }
        }
        if (note && strncmp(note, "(domain ", 8) != 0) {
            const char *o = strstr(note, "opset ");
            if (o && o < p)
                opset = atoi(o + 6);
        }
        if (opset >= 0 && table_covers(item, opset, &listed))
            return false; /* the table says this (operator, opset) runs */
        if (opset >= 0 && listed) {
            /* listed with other opsets: this one is outside its ranges */
        } else {
            char quoted[132];
            snprintf(quoted, sizeof quoted, "`%s`", item);
            if (!strstr(readme_text, quoted))
                return false;
        }
        while (*p == ',' || *p == ' ')
            p++;
    }
    return true;
}

/* Splits the README into the operator table and the rest (the table is cut out of the text). */
static void split_readme(void)
{
    char *b = strstr(readme_text, "<!-- ops:begin -->"), *e;

    if (!b || !(e = strstr(b, "<!-- ops:end -->")))
        return;
    readme_table = strndup(b, (size_t)(e - b));
    memmove(b, e, strlen(e) + 1);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    long n;
    char *buf;

    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = calloc((size_t)n + 1, 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    return buf;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    const char *exclude[64];
    int n_exclude = 0, excluded = 0;
    long min_pass = 0;
    int passed = 0, failed = 0, skipped = 0;

    for (int i = 1; i < argc; i++) {
        char **tests;
        size_t ntests;
        const char *base;

        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            filter = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--exclude") == 0 && i + 1 < argc) {
            if (n_exclude == (int)(sizeof exclude / sizeof exclude[0])) {
                fprintf(stderr, "conformance: too many --exclude\n");
                return 2;
            }
            exclude[n_exclude++] = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--min-pass") == 0 && i + 1 < argc) {
            min_pass = atol(argv[++i]);
            continue;
        }
        if (strcmp(argv[i], "--readme") == 0 && i + 1 < argc) {
            readme_text = slurp(argv[++i]);
            if (!readme_text) {
                fprintf(stderr, "conformance: cannot read %s\n", argv[i]);
                return 2;
            }
            split_readme();
            continue;
        }
        base = argv[i];
        tests = list_dir(base, NULL, &ntests);
        if (!tests) {
            fprintf(stderr, "conformance: %s: no tests (missing folder?)\n", base);
            failed++;
            continue;
        }
        for (size_t t = 0; t < ntests; t++) {
            char dir[4096], why[1024] = "";
            int r;
            snprintf(dir, sizeof dir, "%s/%s/model.onnx", base, tests[t]);
            if (!file_exists(dir))
                continue;
            if (filter && !strstr(tests[t], filter))
                continue;
            {
                bool skip = false;
                for (int k = 0; k < n_exclude && !skip; k++)
                    skip = strcmp(tests[t], exclude[k]) == 0;
                if (skip) {
                    printf("EXCLUDED %s/%s\n", base, tests[t]);
                    excluded++;
                    continue;
                }
            }
            snprintf(dir, sizeof dir, "%s/%s", base, tests[t]);
            r = run_test(dir, why, sizeof why);
            if (r == 0 && bad_reference(tests[t])) {
                char detail[1024];
                snprintf(detail, sizeof detail, "%s", why);
                snprintf(why, sizeof why, "bad reference data: %s (%.600s)",
                         bad_reference(tests[t]), detail);
                r = -2;
            }
            if (r == -2) {
                r = -1;
            } else if (r == -1 && !skip_is_documented(why)) {
                r = 0;
                strncat(why, " [not listed as unsupported in the README]",
                        sizeof why - strlen(why) - 1);
            }
            if (r == 1) {
                passed++;
                if (verbose)
                    printf("PASS %s\n", dir);
            } else if (r == 0) {
                failed++;
                printf("FAIL %s: %s\n", dir, why);
            } else {
                skipped++;
                printf("SKIP %s: %s\n", dir, why);
            }
            fflush(stdout);
        }
        free_list(tests, ntests);
    }
    if (excluded)
        printf("conformance: %d excluded by --exclude\n", excluded);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    free(readme_text);
    free(readme_table);
    if (failed)
        return 1;
    if (passed < min_pass) {
        printf("conformance: only %d passed, at least %ld required\n", passed, min_pass);
        return 1;
    }
    return 0;
}
