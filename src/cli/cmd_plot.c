/*
 * qcal plot: one PNG per activation of a stats file, the exact histogram on a log count axis with
 * every stored encoding's [min, max] as coloured lines (include/qcal/plot.h has the geometry).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "qcal/npy.h"
#include "qcal/plot.h"
#include "qcal/store.h"
#include "util/atomic.h"

static const char HELP[] =
    "usage: qcal plot stats.h5 [--tensor REGEX] -o|--output-dir DIR\n"
    "\n"
    "Writes DIR/<tensor>.png for every activation of the stats file (characters of the name\n"
    "outside [A-Za-z0-9._-] become '_'; a name that collides with an earlier one gets _<index>\n"
    "before .png). Each 800x400 RGB picture shows the exact histogram (bins merged in aligned\n"
    "groups of 2^m down to the plot width) with a log10(1 + count) y axis, and the [min, max] of\n"
    "every stored encoding set as a pair of coloured vertical lines with a legend.\n"
    "\n"
    "  --tensor REGEX        only activations whose name matches (POSIX extended, search)\n"
    "  -o, --output-dir DIR  where the PNGs go (created with its parents)\n"
    "\n"
    "Reading the pictures: the plot area is columns 64..775 and rows 48..351. The x axis [lo, hi]\n"
    "is the hull of the data range and the encodings' bounds, padded by 4 % on each side; value v\n"
    "is drawn in column 64 + floor((v - lo) / (hi - lo) * 712) (clamped to the area). lo and hi\n"
    "are stored exactly in the PNG text chunk 'qcal:x-axis' as \"lo hi 64 712\".\n";

/* mkdir -p: creates dir and its missing parents. */
static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
    {
        struct stat sb;
        if (stat(tmp, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
    }
    return 0;
}

/* The encoding of activation `name` in set es, or NULL. */
static const qcal_act_enc *find_enc(const qcal_enc_set *es, const char *name)
{
    for (size_t i = 0; i < es->n_act; i++)
        if (strcmp(es->act[i].name, name) == 0)
            return &es->act[i];
    return NULL;
}

/* File name of activation i: its safe name, or <safe>_<i> when an earlier activation took it. */
static void file_name(const qcal_stats *s, size_t i, char *out, size_t size)
{
    char mine[PATH_MAX / 2], other[PATH_MAX / 2];

    qcal_npy_safe_name(s->act[i].name, mine, sizeof mine);
    for (size_t j = 0; j < i; j++) {
        qcal_npy_safe_name(s->act[j].name, other, sizeof other);
        if (strcmp(mine, other) == 0) {
            snprintf(out, size, "%s_%zu", mine, i);
            return;
        }
    }
    snprintf(out, size, "%s", mine);
}

/* DIR/<file name of activation i>.png; false when it does not fit. */
static bool plot_path(const qcal_stats *s, size_t i, const char *outdir, char *out, size_t size)
{
    char fname[PATH_MAX / 2 + 32];
    int n;

    file_name(s, i, fname, sizeof fname);
    n = snprintf(out, size, "%s/%s.png", outdir, fname);
    return n >= 0 && (size_t)n < size;
}

int qcal_cli_plot(int argc, char **argv)
{
    static const struct option LONG[] = {
        { "tensor", required_argument, NULL, 't' },
        { "output-dir", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL, *regex = NULL, *outdir = NULL;
    qcal_stats s;
    qcal_error err = { 0 };
    qcal_plot_mark *marks = NULL;
    char **written_paths = NULL, fpath[PATH_MAX + PATH_MAX / 2 + 40];
    regex_t re;
    bool have_re = false;
    size_t written = 0;
    int c, rc = 0;

    memset(&s, 0, sizeof s);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "t:o:h", LONG, NULL)) != -1) {
        switch (c) {
        case 't': regex = optarg; break;
        case 'o': outdir = optarg; break;
        case 'h': fputs(HELP, stdout); return 0;
        default:
            return qcal_cli_failf(QCAL_E_INVALID, "plot: unknown option '%s' (see qcal plot --help)",
                                  argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return qcal_cli_failf(QCAL_E_INVALID,
                              "plot: expected one stats file (see qcal plot --help)");
    path = argv[optind];
    if (!outdir)
        return qcal_cli_failf(QCAL_E_INVALID, "plot: -o DIR is required");
    if (regex) {
        int e = regcomp(&re, regex, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char msg[256];
            regerror(e, &re, msg, sizeof msg);
            return qcal_cli_failf(QCAL_E_INVALID, "--tensor '%s': %s", regex, msg);
        }
        have_re = true;
    }
    if (qcal_stats_read(path, &s, &err) != QCAL_OK) {
        rc = qcal_cli_fail(&err);
        goto out;
    }
    marks = calloc(s.n_enc ? s.n_enc : 1, sizeof *marks);
    if (!marks) {
        rc = qcal_cli_failf(QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    {
        size_t matched = 0;
        for (size_t i = 0; i < s.n_act; i++)
            matched += !have_re || regexec(&re, s.act[i].name, 0, NULL, 0) == 0;
        if (matched == 0) {
            rc = regex ? qcal_cli_failf(QCAL_E_INVALID, "%s: no activation matches --tensor '%s'",
                                        path, regex)
                       : qcal_cli_failf(QCAL_E_INVALID, "%s: the file has no activations", path);
            goto out;
        }
    }
    /* Every file name first: a folder, device or FIFO in the way stops the run before anything
     * is written. */
    {
        struct stat sb;
        if (stat(outdir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            rc = qcal_cli_failf(QCAL_E_IO, "-o %s: not a directory", outdir);
            goto out;
        }
    }
    if (!(written_paths = calloc(s.n_act ? s.n_act : 1, sizeof *written_paths))) {
        rc = qcal_cli_failf(QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s.n_act; i++) {
        if (have_re && regexec(&re, s.act[i].name, 0, NULL, 0) != 0)
            continue;
        if (!plot_path(&s, i, outdir, fpath, sizeof fpath)) {
            rc = qcal_cli_failf(QCAL_E_INVALID, "-o %s: path too long", outdir);
            goto out;
        }
        if (qcal__output_check(fpath, &err) != QCAL_OK) {
            rc = qcal_cli_fail(&err);
            goto out;
        }
    }
    if (mkdir_p(outdir) != 0) {
        rc = qcal_cli_failf(QCAL_E_IO, "%s: %s", outdir, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < s.n_act; i++) {
        const qcal_act_rec *a = &s.act[i];

        if (have_re && regexec(&re, a->name, 0, NULL, 0) != 0)
            continue;
        for (size_t k = 0; k < s.n_enc; k++) {
            const qcal_act_enc *e = find_enc(&s.enc[k], a->name);
            marks[k].label = s.enc[k].label;
            marks[k].note = !e ? "none" : e->is_float ? "float" : NULL;
            marks[k].min = e && !e->is_float ? (double)e->min : (double)NAN;
            marks[k].max = e && !e->is_float ? (double)e->max : (double)NAN;
        }
        plot_path(&s, i, outdir, fpath, sizeof fpath); /* fits: checked above */
        if (qcal_plot_hist_png(fpath, a->name, &a->hist, marks, s.n_enc, &err) != QCAL_OK) {
            rc = qcal_cli_fail(&err);
            goto out;
        }
        if (!(written_paths[written] = strdup(fpath))) {
            unlink(fpath);
            rc = qcal_cli_failf(QCAL_E_NOMEM, "out of memory");
            goto out;
        }
        written++;
    }
    /* Printed once all are written: a failed run lists nothing (and leaves nothing). */
    for (size_t k = 0; k < written; k++)
        printf("%s\n", written_paths[k]);
    fprintf(stderr, "qcal: wrote %zu plots to %s/\n", written, outdir);
out:
    /* A failed run removes the plots it wrote (each was written atomically). */
    for (size_t k = 0; k < written && written_paths; k++) {
        if (rc != 0)
            unlink(written_paths[k]);
        free(written_paths[k]);
    }
    free(written_paths);
    free(marks);
    if (have_re)
        regfree(&re);
    qcal_stats_fini(&s);
    return rc;
}
