/*
 * Unit tests of the operator registry (src/ops/registry.c) and of the README's operator table.
 *
 * Checks: every entry has a sane closed opset range, the ranges of one op_type never intersect,
 * qcal__op_find resolves both ends of every range to that entry, and the table between
 * `<!-- ops:begin -->` and `<!-- ops:end -->` in the README (../README.md from the ctest working
 * directory tests/, or $QCAL_README) lists exactly the registered op types, each with its merged
 * opset ranges ("1-17", "7-12, 14+"; an open end QCAL__OPSET_LAST prints as "13+").
 *
 * `test_registry --print-table` prints that table instead (sorted by name, Notes column empty) so
 * the README can be regenerated from the registry.
 */
#include <ctype.h>
#include <stdlib.h>

#include "ops/ops.h"
#include "qtest.h"

/* The newest opset the loader accepts (src/onnx/load.c MAX_OPSET): open ranges print up to it. */
#define README_MAX_OPSET 22

#define MAX_ENTRIES 1024
#define RANGES_LEN 256

typedef struct entry {
    const qcal__op *op;
} entry;

typedef struct registry {
    entry e[MAX_ENTRIES];
    size_t n;
    bool overflow;
} registry;

static void collect(const qcal__op *op, void *ctx)
{
    registry *r = ctx;

    if (r->n < MAX_ENTRIES)
        r->e[r->n++].op = op;
    else
        r->overflow = true;
}

/* Case-insensitive name order (ASCII), byte order as the tie-break, then `since`. */
static int name_cmp(const char *a, const char *b)
{
    for (size_t i = 0;; i++) {
        int ca = tolower((unsigned char)a[i]), cb = tolower((unsigned char)b[i]);
        if (ca != cb)
            return ca - cb;
        if (ca == 0)
            break;
    }
    return strcmp(a, b);
}

static int entry_cmp(const void *pa, const void *pb)
{
    const qcal__op *a = ((const entry *)pa)->op, *b = ((const entry *)pb)->op;
    int c = name_cmp(a->op_type, b->op_type);

    if (c != 0)
        return c;
    return (a->since > b->since) - (a->since < b->since);
}

/* Collects and sorts the registry; the caller frees the result. */
static registry *load_registry(void)
{
    registry *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    qcal__op_foreach(collect, r);
    qsort(r->e, r->n, sizeof r->e[0], entry_cmp);
    return r;
}

/* Number of entries from index i on that share e[i]'s op_type (the registry is sorted). */
static size_t group_len(const registry *r, size_t i)
{
    size_t j = i + 1;

    while (j < r->n && strcmp(r->e[j].op->op_type, r->e[i].op->op_type) == 0)
        j++;
    return j - i;
}

static void append_range(char *out, size_t cap, int since, int until)
{
    size_t len = strlen(out);

    if (len)
        len += (size_t)snprintf(out + len, cap - len, ", ");
    if (len >= cap)
        return;
    if (until >= QCAL__OPSET_LAST) /* open-ended: up to the newest opset the loader accepts */
        snprintf(out + len, cap - len, "%d-%d", since, README_MAX_OPSET);
    else
        snprintf(out + len, cap - len, "%d-%d", since, until);
}

/*
 * Formats n ranges (sorted by since) into out, merging contiguous or overlapping neighbours:
 * {1-5, 6-12, 13-LAST} gives "1-22", {1-5, 7-17} gives "1-5, 7-17".
 */
static void format_ranges(const int *since, const int *until, size_t n, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < n;) {
        int lo = since[i], hi = until[i];
        size_t j = i + 1;
        while (j < n && since[j] <= hi + 1 && hi < QCAL__OPSET_LAST) {
            if (until[j] > hi)
                hi = until[j];
            j++;
        }
        append_range(out, cap, lo, hi);
        i = j;
    }
}

/* The merged ranges of the group starting at e[i] (len entries). */
static void group_ranges(const registry *r, size_t i, size_t len, char *out, size_t cap)
{
    int since[MAX_ENTRIES], until[MAX_ENTRIES];

    for (size_t k = 0; k < len; k++) {
        since[k] = r->e[i + k].op->since;
        until[k] = r->e[i + k].op->until;
    }
    format_ranges(since, until, len, out, cap);
}

/* Hand-checked examples of the range formatting the README comparison relies on. */
static void test_format_ranges(void)
{
    const int s1[3] = { 1, 6, 13 }, u1[3] = { 5, 12, QCAL__OPSET_LAST };
    const int s2[2] = { 1, 7 }, u2[2] = { 5, 17 };
    const int s3[3] = { 7, 13, 20 }, u3[3] = { 12, 17, QCAL__OPSET_LAST };
    const int s4[1] = { 11 }, u4[1] = { 11 };
    char buf[RANGES_LEN];

    format_ranges(s1, u1, 3, buf, sizeof buf);
    QT_EQ_STR(buf, "1-22");
    format_ranges(s2, u2, 2, buf, sizeof buf);
    QT_EQ_STR(buf, "1-5, 7-17");
    format_ranges(s3, u3, 3, buf, sizeof buf);
    QT_EQ_STR(buf, "7-17, 20-22");
    format_ranges(s4, u4, 1, buf, sizeof buf);
    QT_EQ_STR(buf, "11-11");
}

/* (a) Sane entries, no two ranges of one op_type intersect, and lookups agree with the table. */
static void test_ranges(void)
{
    registry *r = load_registry();

    QT_TRUE(r != NULL);
    if (!r)
        return;
    QT_TRUE(!r->overflow);
    QT_TRUE(r->n > 0);
    for (size_t i = 0; i < r->n; i++) {
        const qcal__op *op = r->e[i].op;
        QT_CHECK_(op->op_type[0] != '\0', "entry %zu has an empty op_type", i);
        QT_CHECK_(op->infer && op->run, "%s: infer or run is NULL", op->op_type);
        QT_CHECK_(op->since >= 1 && op->since <= op->until && op->until <= QCAL__OPSET_LAST,
                  "%s: bad range %d-%d", op->op_type, op->since, op->until);
        for (size_t j = i + 1; j < r->n; j++) {
            const qcal__op *o = r->e[j].op;
            if (strcmp(op->op_type, o->op_type) != 0)
                continue;
            QT_CHECK_(op->until < o->since || o->until < op->since,
                      "%s: ranges %d-%d and %d-%d overlap", op->op_type, op->since, op->until,
                      o->since, o->until);
        }
        QT_CHECK_(qcal__op_find(op->op_type, op->since) == op &&
                      qcal__op_find(op->op_type, op->until) == op,
                  "%s: qcal__op_find does not resolve %d and %d to the entry %d-%d",
                  op->op_type, op->since, op->until, op->since, op->until);
        QT_CHECK_(qcal__op_known(op->op_type), "%s: qcal__op_known is false", op->op_type);
    }
    QT_TRUE(qcal__op_find("NoSuchOperator", 13) == NULL);
    QT_TRUE(!qcal__op_known("NoSuchOperator"));
    free(r);
}

/* ---- README table ---- */

#define MAX_ROWS 512

typedef struct row {
    char name[64];
    char opsets[RANGES_LEN];
    bool seen;
} row;

/* Copies cell text [b, e) without surrounding blanks and backquotes into out. */
static void cell_copy(const char *b, const char *e, char *out, size_t cap)
{
    size_t len;

    while (b < e && (isspace((unsigned char)*b) || *b == '`'))
        b++;
    while (e > b && (isspace((unsigned char)e[-1]) || e[-1] == '`'))
        e--;
    len = (size_t)(e - b);
    if (len >= cap)
        len = cap - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

/*
 * Parses one table line "| `Op` | 1-17 | notes |" into rw. Returns false for lines that are not
 * operator rows: the header, the |---| separator, blank lines.
 */
static bool parse_row(const char *line, row *rw)
{
    const char *c1, *c2, *c3;

    if (line[0] != '|')
        return false;
    c1 = line + 1;
    c2 = strchr(c1, '|');
    if (!c2)
        return false;
    c3 = strchr(c2 + 1, '|');
    if (!c3)
        c3 = c2 + 1 + strlen(c2 + 1);
    cell_copy(c1, c2, rw->name, sizeof rw->name);
    cell_copy(c2 + 1, c3, rw->opsets, sizeof rw->opsets);
    if (rw->name[0] == '\0' || rw->name[0] == '-' || rw->name[0] == ':' ||
        strcmp(rw->name, "Operator") == 0)
        return false;
    rw->seen = false;
    return true;
}

/* Reads the rows between the markers; returns -1 if the file or a marker is missing. */
static int read_readme_rows(const char *path, row *rows, size_t max)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    int state = 0, n = 0; /* 0: before begin, 1: inside, 2: after end */

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f) && state < 2) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strstr(line, "<!-- ops:begin -->")) {
            state = 1;
            continue;
        }
        if (strstr(line, "<!-- ops:end -->")) {
            state = state == 1 ? 2 : 0;
            continue;
        }
        if (state == 1 && (size_t)n < max && parse_row(line, &rows[n]))
            n++;
    }
    fclose(f);
    return state == 2 ? n : -1;
}

/* (b) The README table lists exactly the registered op types with their merged ranges. */
static void test_readme_table(void)
{
    const char *path = getenv("QCAL_README");
    registry *r = load_registry();
    row *rows = calloc(MAX_ROWS, sizeof *rows);
    int nrows, dups = 0;

    if (!path || !path[0])
        path = "../README.md";
    QT_TRUE(r != NULL && rows != NULL);
    if (!r || !rows)
        goto done;
    nrows = read_readme_rows(path, rows, MAX_ROWS);
    QT_CHECK_(nrows > 0, "%s: no operator rows between <!-- ops:begin --> and <!-- ops:end --> "
              "(file missing, markers missing, or empty table; set QCAL_README)", path);
    if (nrows <= 0)
        goto done;
    for (int k = 0; k < nrows; k++)
        for (int m = k + 1; m < nrows; m++)
            if (strcmp(rows[k].name, rows[m].name) == 0) {
                fprintf(stderr, "%s: %s is listed twice\n", path, rows[k].name);
                dups++;
            }
    QT_EQ_I64(dups, 0);
    for (size_t i = 0; i < r->n;) {
        const char *name = r->e[i].op->op_type;
        size_t len = group_len(r, i);
        char want[RANGES_LEN];
        row *found = NULL;
        group_ranges(r, i, len, want, sizeof want);
        for (int k = 0; k < nrows && !found; k++)
            if (strcmp(rows[k].name, name) == 0)
                found = &rows[k];
        QT_CHECK_(found != NULL, "%s: registered operator %s (%s) is not in the table", path,
                  name, want);
        if (found) {
            found->seen = true;
            QT_CHECK_(strcmp(found->opsets, want) == 0,
                      "%s: %s lists opsets \"%s\", the registry has \"%s\"", path, name,
                      found->opsets, want);
        }
        i += len;
    }
    for (int k = 0; k < nrows; k++)
        QT_CHECK_(rows[k].seen, "%s: %s is in the table but not registered", path, rows[k].name);
done:
    free(rows);
    free(r);
}

/* (c) Prints the markdown table of the registry for the README. */
static int print_table(void)
{
    registry *r = load_registry();

    if (!r || r->overflow) {
        fprintf(stderr, "test_registry: cannot collect the registry\n");
        free(r);
        return 1;
    }
    printf("| Operator | Opsets | Notes |\n");
    printf("| --- | --- | --- |\n");
    for (size_t i = 0; i < r->n;) {
        size_t len = group_len(r, i);
        char ranges[RANGES_LEN];
        group_ranges(r, i, len, ranges, sizeof ranges);
        printf("| `%s` | %s | |\n", r->e[i].op->op_type, ranges);
        i += len;
    }
    free(r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-table") == 0)
        return print_table();
    QT_RUN(test_format_ranges);
    QT_RUN(test_ranges);
    QT_RUN(test_readme_table);
    return qt_report();
}
