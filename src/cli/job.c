/*
 * Job files for qcal calibrate: `qcal calibrate JOB.yaml [--set key=value ...]`.
 *
 * A job file is one YAML mapping whose keys are calibrate's command-line names without `--`
 * (DESIGN.md "Command line"); the file fills the same qcal_cal_opts as the command line, so both
 * run the same code. The schema (jobs/template-imagenet.yaml explains every key):
 *
 *   model, out, dump-out          paths (relative ones: to the job file's folder)
 *   data                          a path, a list of paths / NAME=PATH, or a mapping NAME: PATH
 *   bins, dump-samples, checkpoint-every   whole numbers
 *   skip-bad, quiet, resume       booleans
 *   dump                          a regex
 *   preprocess                    a mapping of size, resize, channels, layout, scale, mean, std
 *                                 (mean/std: a number, "a,b,c" or a list); also at top level
 *   method, percentile, label, format, encodings (an export path), act-bitwidth, ...
 *                                 the single encoding set, as on the command line
 *   encodings                     or a list of sets, each a mapping of method, percentile,
 *                                 act-bitwidth, param-bitwidth, act-symmetric, param-symmetric,
 *                                 per-channel, bias-bitwidth, overrides (list of REGEX=VALUE),
 *                                 label, format, path (export file), trt-version
 *
 * A null value (`key:`, `~`, `null`) leaves the default. --set key=value replaces one value of
 * the file before it is read (key, preprocess.KEY, encodings.N.KEY; encoding keys without an
 * index go to the first set); its paths are relative to the current folder. Every error names
 * the file and line (or the --set argument) and the key. The document is parsed with libyaml's
 * document API; the strings the options point to are kept for the life of the process. The
 * --set merge lives in job_set.c (job.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "cli/job.h"
#include "qcal/encode.h"
#include "qcal/export.h"
#include "util/atomic.h"

typedef qcal__cli_job job;

/*
 * The strings the options point to live as long as the process (one job per process): a chain
 * that stays reachable, so leak checkers do not report them.
 */
typedef struct kept {
    struct kept *next;
    char s[];
} kept;
static kept *g_kept;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static char *keepf(const char *fmt, ...)
{
    va_list ap;
    int n;
    kept *k;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(k = malloc(sizeof *k + (size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(k->s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    k->next = g_kept;
    g_kept = k;
    return k->s;
}

/* "FILE:LINE" of a node of the file, or "--set KEY=VALUE". */
static void where(job *j, const yaml_node_t *n, char *buf, size_t cap)
{
    const char *set = n ? qcal__cli_job_set_origin(j, n) : NULL;

    if (set)
        snprintf(buf, cap, "--set %s", set);
    else if (n)
        snprintf(buf, cap, "%s:%lu", j->path, (unsigned long)n->start_mark.line + 1);
    else
        snprintf(buf, cap, "%s", j->path);
}

/* Fails with "WHERE: key 'KEY': MESSAGE" (key may be NULL). */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static qcal_status fail(job *j, qcal_status code, const yaml_node_t *n, const char *key,
                        const char *fmt, ...)
{
    char at[PATH_MAX + 64], what[PATH_MAX + 512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    where(j, n, at, sizeof at);
    if (key)
        return qcal_error_set(j->err, code, "%s: key '%s': %s", at, key, what);
    return qcal_error_set(j->err, code, "%s: %s", at, what);
}

/* Puts the location and key in front of an error a library call reported. */
static qcal_status wrap(job *j, const yaml_node_t *n, const char *key)
{
    char inner[sizeof j->err->msg];

    snprintf(inner, sizeof inner, "%s", j->err->msg);
    return fail(j, j->err->code, n, key, "%s", inner);
}

qcal_status qcal__cli_job_nomem(job *j)
{
    return qcal_error_set(j->err, QCAL_E_NOMEM, "%s: out of memory", j->path);
}

/* A plain `~`, `null` or empty scalar: the key keeps its default. */
static bool is_null(const yaml_node_t *n)
{
    const char *s = NULL;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE ? "a list" : n->type == YAML_MAPPING_NODE ? "a mapping"
                                                                                  : "a value";
}

/* The text of a scalar node, or an error saying what was expected. */
static qcal_status scalar(job *j, const yaml_node_t *n, const char *key, const char *expected,
                          const char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail(j, QCAL_E_INVALID, n, key, "expected %s, got %s", expected, kind_name(n));
    *out = (const char *)n->data.scalar.value;
    return QCAL_OK;
}

static qcal_status whole_number(job *j, const yaml_node_t *n, const char *key, const char **out)
{
    const char *s = NULL;
    qcal_status st = scalar(j, n, key, "a whole number", &s);

    if (st != QCAL_OK)
        return st;
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return fail(j, QCAL_E_INVALID, n, key, "expected a whole number, got '%s'", s);
    *out = s;
    return QCAL_OK;
}

static qcal_status int_range(job *j, const yaml_node_t *n, const char *key, long lo, long hi,
                             int *out)
{
    const char *s = NULL;
    long v;
    qcal_status st = whole_number(j, n, key, &s);

    if (st != QCAL_OK)
        return st;
    errno = 0;
    v = strtol(s, NULL, 10);
    if (errno || v < lo || v > hi)
        return fail(j, QCAL_E_INVALID, n, key, "expected a whole number from %ld to %ld, got "
                    "'%s'", lo, hi, s);
    *out = (int)v;
    return QCAL_OK;
}

/* YAML 1.1 booleans, in any case. */
static qcal_status boolean(job *j, const yaml_node_t *n, const char *key, bool *out)
{
    static const char *const T[] = { "true", "yes", "on" }, *const F[] = { "false", "no", "off" };
    const char *s = NULL;
    qcal_status st = scalar(j, n, key, "true or false", &s);

    for (size_t i = 0; st == QCAL_OK && i < 3; i++) {
        if (!strcasecmp(s, T[i]) || !strcasecmp(s, F[i])) {
            *out = !strcasecmp(s, T[i]);
            return QCAL_OK;
        }
    }
    return st ? st : fail(j, QCAL_E_INVALID, n, key, "expected true or false, got '%s'", s);
}

/* A path of the file relative to its folder; one from --set relative to the current folder. */
static const char *resolve(job *j, const yaml_node_t *n, const char *path)
{
    if (path[0] == '/' || !j->dir[0] || qcal__cli_job_set_origin(j, n))
        return keepf("%s", path);
    return keepf("%s/%s", j->dir, path);
}

/* Fails early, naming the key, when an input file is missing. */
static qcal_status need_input(job *j, const yaml_node_t *n, const char *key, const char *path,
                              bool dir_ok)
{
    struct stat sb;

    if (stat(path, &sb) != 0 || access(path, R_OK) != 0)
        return fail(j, QCAL_E_IO, n, key, "%s: %s", path, strerror(errno));
    if (!dir_ok && S_ISDIR(sb.st_mode))
        return fail(j, QCAL_E_IO, n, key, "%s: is a folder, not a file", path);
    return QCAL_OK;
}

/* Fails early when the folder of an output file is missing or not writable, or the file is not
 * a regular file (a device, FIFO, folder or a symlink to one is never replaced). */
static qcal_status need_folder(job *j, const yaml_node_t *n, const char *key, const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');

    if (qcal__output_check(path, j->err) != QCAL_OK)
        return wrap(j, n, key);
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
    if (access(dir, W_OK) != 0)
        return fail(j, QCAL_E_IO, n, key, "%s: folder %s: %s", path, dir, strerror(errno));
    return QCAL_OK;
}

/* ---- preprocessing ---------------------------------------------------------------------- */

static qcal_status apply_pp(job *j, const char *name, const yaml_node_t *n, const char *key)
{
    char buf[256];
    const char *value = NULL;
    size_t len = 0;
    qcal_status st;
    int k;

    for (k = 0; k < j->n_pp_seen; k++)
        if (!strcmp(j->pp_seen[k], name))
            return fail(j, QCAL_E_INVALID, n, key, "given twice (also on line %d)",
                        j->pp_line[k]);
    if (k < (int)(sizeof j->pp_seen / sizeof j->pp_seen[0])) {
        j->pp_seen[k] = name;
        j->pp_line[k] = (int)n->start_mark.line + 1;
        j->n_pp_seen++;
    }
    if (is_null(n))
        return QCAL_OK;
    if (n->type == YAML_SEQUENCE_NODE && (!strcmp(name, "mean") || !strcmp(name, "std"))) {
        /* [a, b, c] is the command line's "a,b,c". */
        buf[0] = '\0';
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
            const yaml_node_t *v = qcal__cli_job_node(j, *it);
            const char *s = NULL;
            if ((st = scalar(j, v, key, "a number", &s)) != QCAL_OK)
                return st;
            if (len + strlen(s) + 2 > sizeof buf)
                return fail(j, QCAL_E_INVALID, n, key, "list too long");
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", len ? "," : "", s);
        }
        value = buf;
    } else if ((st = scalar(j, n, key, !strcmp(name, "mean") || !strcmp(name, "std")
                                           ? "a number or a list of numbers" : "a value",
                            &value)) != QCAL_OK) {
        return st;
    }
    if (qcal_preprocess_parse(&j->o->pp, name, value, j->err) != QCAL_OK)
        return wrap(j, n, key);
    return QCAL_OK;
}

/* ---- encoding sets ---------------------------------------------------------------------- */

/* Applies one key of an encoding set (top level: `encodings` names the export path). */
static qcal_status apply_enc(job *j, qcal_cal_encoding *e, const char *name, const yaml_node_t *n,
                             const char *key)
{
    qcal_encset_opts *eo = &e->eo;
    const char *s = NULL;
    qcal_status st;

    if (is_null(n))
        return QCAL_OK;
    if (!strcmp(name, "method")) {
        if ((st = scalar(j, n, key, "a method name", &s)) == QCAL_OK &&
            qcal_enc_method_parse(s, &eo->method, j->err) != QCAL_OK)
            st = wrap(j, n, key);
    } else if (!strcmp(name, "percentile")) {
        char *end;
        if ((st = scalar(j, n, key, "a number", &s)) == QCAL_OK) {
            eo->percentile = strtod(s, &end);
            if (!*s || *end || !(eo->percentile > 50.0 && eo->percentile <= 100.0))
                st = fail(j, QCAL_E_INVALID, n, key, "expected a number in (50, 100], got '%s'",
                          s);
        }
    } else if (!strcmp(name, "act-bitwidth")) {
        st = int_range(j, n, key, 2, 32, &eo->act_bitwidth);
    } else if (!strcmp(name, "param-bitwidth")) {
        st = int_range(j, n, key, 2, 32, &eo->param_bitwidth);
    } else if (!strcmp(name, "bias-bitwidth")) {
        st = int_range(j, n, key, 2, 32, &eo->bias_bitwidth);
    } else if (!strcmp(name, "trt-version")) {
        st = int_range(j, n, key, 1, INT_MAX, &e->trt_version);
    } else if (!strcmp(name, "act-symmetric") || !strcmp(name, "param-symmetric")) {
        qcal_sym *sym = name[0] == 'a' ? &eo->act_sym : &eo->param_sym;
        if ((st = scalar(j, n, key, "none, signed, strict or unsigned", &s)) == QCAL_OK &&
            qcal_enc_sym_parse(s, sym, j->err) != QCAL_OK)
            st = wrap(j, n, key);
    } else if (!strcmp(name, "per-channel")) {
        st = boolean(j, n, key, &eo->per_channel);
    } else if (!strcmp(name, "label")) {
        if ((st = scalar(j, n, key, "a label", &s)) == QCAL_OK && !(eo->label = keepf("%s", s)))
            st = qcal__cli_job_nomem(j);
    } else if (!strcmp(name, "format")) {
        qcal_export_format f;
        if ((st = scalar(j, n, key, "aimet, aimet1, qnn or trt", &s)) == QCAL_OK) {
            if (qcal_export_format_parse(s, &f, j->err) != QCAL_OK)
                st = wrap(j, n, key);
            else if (!(e->format = keepf("%s", s)))
                st = qcal__cli_job_nomem(j);
        }
    } else if (!strcmp(name, "path") || !strcmp(name, "encodings")) {
        qcal_method m;
        qcal_error ignored;
        if (!strcmp(name, "encodings") && n->type != YAML_SCALAR_NODE)
            return fail(j, QCAL_E_INVALID, n, key, "expected a list of encoding sets (- method: "
                        "...) or an export file name, got %s", kind_name(n));
        if ((st = scalar(j, n, key, "a file name", &s)) == QCAL_OK &&
            qcal_enc_method_parse(s, &m, &ignored) == QCAL_OK)
            /* `encodings: minmax` would write a file named minmax. */
            return fail(j, QCAL_E_INVALID, n, key, "expected %s, got the method name '%s' (a "
                        "set is written as a list: - method: %s)",
                        !strcmp(name, "encodings") ? "a list of encoding sets or an export file "
                                                     "name" : "an export file name", s, s);
        if (st == QCAL_OK) {
            if (!(e->path = resolve(j, n, s)))
                st = qcal__cli_job_nomem(j);
            else
                st = need_folder(j, n, key, e->path);
        }
    } else if (!strcmp(name, "overrides")) {
        if (n->type != YAML_SEQUENCE_NODE)
            return fail(j, QCAL_E_INVALID, n, key, "expected a list of REGEX=VALUE strings, got "
                        "%s", kind_name(n));
        for (size_t i = 0; i < eo->n_overrides; i++)
            qcal_enc_override_fini(&e->overrides[i]);
        eo->n_overrides = 0;
        st = QCAL_OK;
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             st == QCAL_OK && it < n->data.sequence.items.top; it++) {
            const yaml_node_t *v = qcal__cli_job_node(j, *it);
            if (eo->n_overrides == QCAL_CAL_MAX_OVERRIDES)
                return fail(j, QCAL_E_INVALID, v, key, "at most %d overrides",
                            QCAL_CAL_MAX_OVERRIDES);
            if ((st = scalar(j, v, key, "a REGEX=VALUE string", &s)) != QCAL_OK)
                break;
            /* The regex copy is kept by the options for the life of the process. */
            if (qcal_enc_override_parse(s, &e->overrides[eo->n_overrides], j->err) != QCAL_OK)
                st = wrap(j, v, key);
            else
                eo->n_overrides++;
        }
    } else {
        return fail(j, QCAL_E_INVALID, n, key, "unknown key (encoding keys: method, percentile, "
                    "act-bitwidth, param-bitwidth, act-symmetric, param-symmetric, per-channel, "
                    "bias-bitwidth, overrides, label, format, path, trt-version)");
    }
    eo->overrides = e->overrides;
    return st;
}

bool qcal__cli_job_is_enc_key(const char *name)
{
    static const char *const K[] = {
        "method", "percentile", "act-bitwidth", "param-bitwidth", "act-symmetric",
        "param-symmetric", "per-channel", "bias-bitwidth", "overrides", "label", "format",
        "trt-version",
    };
    for (size_t i = 0; i < sizeof K / sizeof K[0]; i++)
        if (!strcmp(name, K[i]))
            return true;
    return false;
}

/* Fails when two keys of a mapping are the same. */
static qcal_status check_keys(job *j, const yaml_node_t *map, const char *where_key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = qcal__cli_job_node(j, p->key);
        if (k->type != YAML_SCALAR_NODE)
            return fail(j, QCAL_E_INVALID, k, where_key, "keys must be names, got %s",
                        kind_name(k));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k2 = qcal__cli_job_node(j, q->key);
            if (!strcmp((const char *)k->data.scalar.value, (const char *)k2->data.scalar.value))
                return fail(j, QCAL_E_INVALID, k, (const char *)k->data.scalar.value,
                            "given twice (also on line %lu)",
                            (unsigned long)k2->start_mark.line + 1);
        }
    }
    return QCAL_OK;
}

/* The `encodings` list: one set per entry, replacing the default set. */
static qcal_status apply_enc_list(job *j, const yaml_node_t *n)
{
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    char key[64], label[256], other[256];
    qcal_status st;

    if (count == 0 || count > QCAL_CAL_MAX_ENC)
        return fail(j, QCAL_E_INVALID, n, "encodings", "expected 1 to %d entries, got %zu",
                    QCAL_CAL_MAX_ENC, count);
    for (size_t k = 0; k < count; k++) {
        const yaml_node_t *m = qcal__cli_job_node(j, n->data.sequence.items.start[k]);
        qcal_cal_encoding *e = &j->o->enc[k];
        snprintf(key, sizeof key, "encodings[%zu]", k);
        if (k > 0)
            memset(e, 0, sizeof *e);
        else
            for (size_t i = 0; i < e->eo.n_overrides; i++)
                qcal_enc_override_fini(&e->overrides[i]);
        qcal_encset_opts_default(&e->eo);
        e->format = e->path = NULL;
        e->trt_version = 0;
        if (m->type != YAML_MAPPING_NODE)
            return fail(j, QCAL_E_INVALID, m, key, "expected a mapping (method: ..., ...), got %s",
                        is_null(m) ? "nothing" : kind_name(m));
        if ((st = check_keys(j, m, key)) != QCAL_OK)
            return st;
        for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
             p++) {
            const char *name = (const char *)qcal__cli_job_node(j, p->key)->data.scalar.value;
            char sub[128];
            snprintf(sub, sizeof sub, "%s.%s", key, name);
            if (!strcmp(name, "encodings"))
                return fail(j, QCAL_E_INVALID, qcal__cli_job_node(j, p->key), sub,
                            "unknown key (the export file of an entry is 'path')");
            if ((st = apply_enc(j, e, name, qcal__cli_job_node(j, p->value), sub)) != QCAL_OK)
                return st;
        }
        j->o->n_enc = k + 1;
    }
    /* Sets are stored by label and exported by path: both must differ. */
    for (size_t k = 0; k < count; k++) {
        const yaml_node_t *m = qcal__cli_job_node(j, n->data.sequence.items.start[k]);
        const qcal_cal_encoding *e = &j->o->enc[k];
        qcal_encset_default_label(&e->eo, label, sizeof label);
        for (size_t i = 0; i < k; i++) {
            const qcal_cal_encoding *f = &j->o->enc[i];
            qcal_encset_default_label(&f->eo, other, sizeof other);
            snprintf(key, sizeof key, "encodings[%zu]", k);
            if (!strcmp(e->eo.label ? e->eo.label : label, f->eo.label ? f->eo.label : other))
                return fail(j, QCAL_E_INVALID, m, key, "label '%s' is already used by "
                            "encodings[%zu]; give each set its own label",
                            e->eo.label ? e->eo.label : label, i);
            if (e->path && f->path && !strcmp(e->path, f->path))
                return fail(j, QCAL_E_INVALID, m, key, "export file %s is already written by "
                            "encodings[%zu]", e->path, i);
        }
    }
    return QCAL_OK;
}

/* ---- top level -------------------------------------------------------------------------- */

/* One `data` entry: NAME=PATH (only the path is resolved) or PATH. */
static qcal_status add_data(job *j, const yaml_node_t *n, const char *key, const char *name,
                            const char *path)
{
    qcal_cal_opts *o = j->o;
    const char *full = resolve(j, n, path), *spec;
    qcal_status st;

    if (!full)
        return qcal__cli_job_nomem(j);
    if (o->n_data == QCAL_CAL_MAX_DATA)
        return fail(j, QCAL_E_INVALID, n, key, "at most %d data entries", QCAL_CAL_MAX_DATA);
    /* Globs are expanded by calibrate; files and folders are checked now. */
    if (!strpbrk(path, "*?[") && (st = need_input(j, n, key, full, true)) != QCAL_OK)
        return st;
    spec = name ? keepf("%s=%s", name, full) : full;
    if (!spec)
        return qcal__cli_job_nomem(j);
    o->data[o->n_data++] = spec;
    return QCAL_OK;
}

/* A data string: "NAME=PATH" unless the whole string names an existing file. */
static qcal_status add_data_string(job *j, const yaml_node_t *n, const char *key)
{
    const char *s = NULL, *eq, *full;
    char name[256];
    struct stat sb;
    qcal_status st = scalar(j, n, key, "a path or NAME=PATH", &s);

    if (st != QCAL_OK)
        return st;
    eq = strchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= sizeof name)
        return add_data(j, n, key, NULL, s);
    if (!(full = resolve(j, n, s)))
        return qcal__cli_job_nomem(j);
    if (stat(full, &sb) == 0)
        return add_data(j, n, key, NULL, s);
    snprintf(name, sizeof name, "%.*s", (int)(eq - s), s);
    return add_data(j, n, key, name, eq + 1);
}

static qcal_status apply_data(job *j, const yaml_node_t *n)
{
    char key[64];
    qcal_status st = QCAL_OK;
    size_t k = 0;

    j->o->n_data = 0;
    if (n->type == YAML_SCALAR_NODE)
        return add_data_string(j, n, "data");
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             st == QCAL_OK && it < n->data.sequence.items.top; it++, k++) {
            snprintf(key, sizeof key, "data[%zu]", k);
            st = add_data_string(j, qcal__cli_job_node(j, *it), key);
        }
        return st;
    }
    if ((st = check_keys(j, n, "data")) != QCAL_OK)
        return st;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         st == QCAL_OK && p < n->data.mapping.pairs.top; p++) {
        const char *name = (const char *)qcal__cli_job_node(j, p->key)->data.scalar.value;
        const char *path = NULL;
        const yaml_node_t *v = qcal__cli_job_node(j, p->value);
        snprintf(key, sizeof key, "data.%s", name);
        if ((st = scalar(j, v, key, "a path", &path)) == QCAL_OK)
            st = add_data(j, v, key, name, path);
    }
    return st;
}

/* Options that qcal_cal_opts_set parses, after a type check here. */
static qcal_status apply_simple(job *j, const char *name, const yaml_node_t *n)
{
    const char *s = NULL;
    qcal_status st;
    bool b;

    if (!strcmp(name, "bins") || !strcmp(name, "dump-samples") ||
        !strcmp(name, "checkpoint-every")) {
        st = whole_number(j, n, name, &s);
    } else if (!strcmp(name, "skip-bad") || !strcmp(name, "quiet") || !strcmp(name, "resume")) {
        if ((st = boolean(j, n, name, &b)) == QCAL_OK)
            s = b ? "true" : "false";
    } else if (!strcmp(name, "model") || !strcmp(name, "out") || !strcmp(name, "dump-out")) {
        if ((st = scalar(j, n, name, "a file name", &s)) != QCAL_OK)
            return st;
        if (!(s = resolve(j, n, s)))
            return qcal__cli_job_nomem(j);
        st = !strcmp(name, "model") ? need_input(j, n, name, s, false)
                                    : need_folder(j, n, name, s);
    } else {
        /* dump: a regular expression. */
        if ((st = scalar(j, n, name, "a regular expression", &s)) == QCAL_OK &&
            !(s = keepf("%s", s)))
            return qcal__cli_job_nomem(j);
    }
    if (st != QCAL_OK)
        return st;
    if (qcal_cal_opts_set(j->o, name, s, j->err) != QCAL_OK)
        return wrap(j, n, name);
    return QCAL_OK;
}

static bool is_simple_key(const char *name)
{
    static const char *const K[] = {
        "model", "out", "bins", "skip-bad", "quiet", "dump", "dump-samples", "dump-out",
        "checkpoint-every", "resume",
    };
    for (size_t i = 0; i < sizeof K / sizeof K[0]; i++)
        if (!strcmp(name, K[i]))
            return true;
    return false;
}

static qcal_status apply_top(job *j, const yaml_node_t *k, const yaml_node_t *n)
{
    const char *name = (const char *)k->data.scalar.value;
    char key[128];
    qcal_status st;

    if (!strcmp(name, "preprocess")) {
        if (is_null(n))
            return QCAL_OK;
        if (n->type != YAML_MAPPING_NODE)
            return fail(j, QCAL_E_INVALID, n, name, "expected a mapping (size: ..., mean: ...), "
                        "got %s", kind_name(n));
        if ((st = check_keys(j, n, name)) != QCAL_OK)
            return st;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *pk = (const char *)qcal__cli_job_node(j, p->key)->data.scalar.value;
            snprintf(key, sizeof key, "preprocess.%s", pk);
            if (!qcal_preprocess_is_option(pk) || !strncmp(pk, "--", 2))
                return fail(j, QCAL_E_INVALID, qcal__cli_job_node(j, p->key), key,
                            "unknown key (size, resize, channels, layout, scale, mean, std)");
            if ((st = apply_pp(j, pk, qcal__cli_job_node(j, p->value), key)) != QCAL_OK)
                return st;
        }
        return QCAL_OK;
    }
    if (qcal_preprocess_is_option(name) && strncmp(name, "--", 2))
        return apply_pp(j, name, n, name);
    if (!strcmp(name, "encodings") && n->type == YAML_SEQUENCE_NODE)
        return apply_enc_list(j, n);
    if (qcal__cli_job_is_enc_key(name) || !strcmp(name, "encodings")) {
        if (j->enc_list)
            return fail(j, QCAL_E_INVALID, k, name, "with an 'encodings' list, give the encoding "
                        "options in its entries");
        return apply_enc(j, &j->o->enc[0], name, n, name);
    }
    if (!strcmp(name, "data"))
        return is_null(n) ? QCAL_OK : apply_data(j, n);
    if (!is_simple_key(name))
        return fail(j, QCAL_E_INVALID, k, name, "unknown key (keys: model, data, out, bins, "
                    "preprocess, encodings, skip-bad, quiet, dump, dump-samples, dump-out, "
                    "checkpoint-every, resume; see jobs/template-imagenet.yaml)");
    if (is_null(n))
        return QCAL_OK;
    return apply_simple(j, name, n);
}

/* ---- loading ---------------------------------------------------------------------------- */

/* A libyaml failure as "FILE:LINE: YAML syntax error: ...". */
static qcal_status syntax_error(job *j, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return qcal__cli_job_nomem(j);
    if (p->error == YAML_READER_ERROR)
        return qcal_error_set(j->err, QCAL_E_INVALID, "%s: cannot read as YAML (UTF-8 text): %s "
                              "at byte %zu", j->path, p->problem ? p->problem : "error",
                              p->problem_offset);
    if (p->context)
        return qcal_error_set(j->err, QCAL_E_INVALID, "%s:%lu: YAML syntax error: %s (%s, line "
                              "%lu)", j->path, (unsigned long)p->problem_mark.line + 1,
                              p->problem ? p->problem : "error", p->context,
                              (unsigned long)p->context_mark.line + 1);
    return qcal_error_set(j->err, QCAL_E_INVALID, "%s:%lu: YAML syntax error: %s", j->path,
                          (unsigned long)p->problem_mark.line + 1,
                          p->problem ? p->problem : "error");
}

/* Checks that need the whole file: required keys and keys that go together. */
static qcal_status check_job(job *j)
{
    static const char *const REQUIRED[] = { "model", "data", "out" };
    const qcal_cal_opts *o = j->o;
    const yaml_node_t *root = yaml_document_get_root_node(&j->doc);
    bool have[3] = { o->model != NULL, o->n_data > 0, o->out != NULL };

    for (int i = 0; i < 3; i++) {
        int v = qcal__cli_job_lookup(j, 1, REQUIRED[i]);
        if (!have[i])
            return fail(j, QCAL_E_INVALID, v ? qcal__cli_job_node(j, v) : root, REQUIRED[i], "%s",
                        v ? "needs a value (it is required)" : "missing (it is required)");
    }
    if (o->dump_regex && !o->dump_samples)
        return fail(j, QCAL_E_INVALID, qcal__cli_job_node(j, qcal__cli_job_lookup(j, 1, "dump")),
                    "dump", "needs 'dump-samples' (how many samples to dump)");
    for (size_t k = 0; k < o->n_enc; k++) {
        const qcal_cal_encoding *e = &o->enc[k];
        const yaml_node_t *at = root;
        char key[64];
        int list = qcal__cli_job_lookup(j, 1, "encodings");
        if (!e->trt_version || (e->format && !strcmp(e->format, "trt")))
            continue;
        if (j->enc_list)
            at = qcal__cli_job_node(j, qcal__cli_job_node(j, list)->data.sequence.items.start[k]);
        else if (qcal__cli_job_lookup(j, 1, "trt-version"))
            at = qcal__cli_job_node(j, qcal__cli_job_lookup(j, 1, "trt-version"));
        snprintf(key, sizeof key, j->enc_list ? "encodings[%zu].trt-version" : "trt-version", k);
        return fail(j, QCAL_E_INVALID, at, key, "only used with format trt");
    }
    if (qcal_cal_opts_check(o, j->err) != QCAL_OK)
        return qcal_error_prefix(j->err, j->path);
    return QCAL_OK;
}

/*
 * YAML tags are refused (`out: !!int 5` must not quietly become a file named 5): a job file holds
 * plain values, so every node must carry the default tag of its kind (an explicit !!str, !!seq
 * or !!map is the default and accepted).
 */
static qcal_status check_tags(job *j)
{
    static const char PREFIX[] = "tag:yaml.org,2002:";

    for (yaml_node_t *n = j->doc.nodes.start; n < j->doc.nodes.top; n++) {
        const char *tag = (const char *)n->tag, *want;
        want = n->type == YAML_SEQUENCE_NODE  ? YAML_SEQ_TAG
               : n->type == YAML_MAPPING_NODE ? YAML_MAP_TAG
                                              : YAML_STR_TAG;
        if (!tag || !strcmp(tag, want))
            continue;
        if (!strncmp(tag, PREFIX, sizeof PREFIX - 1))
            return fail(j, QCAL_E_INVALID, n, NULL, "YAML tag '!!%s' is not supported (job "
                        "files take plain values; quote a string)", tag + sizeof PREFIX - 1);
        return fail(j, QCAL_E_INVALID, n, NULL, "YAML tag '%s' is not supported (job files take "
                    "plain values; quote a string)", tag);
    }
    return QCAL_OK;
}

/* Reads the document, merges the --set values and fills the options. */
static qcal_status load(job *j, yaml_parser_t *parser, int nset, char *const *sets)
{
    yaml_document_t extra;
    yaml_node_t *root;
    qcal_status st;
    bool more;
    int list;

    if (!yaml_parser_load(parser, &extra))
        return syntax_error(j, parser);
    more = yaml_document_get_root_node(&extra) != NULL;
    if (more)
        st = qcal_error_set(j->err, QCAL_E_INVALID, "%s:%lu: more than one YAML document (only "
                            "one job per file)", j->path,
                            (unsigned long)extra.start_mark.line + 1);
    yaml_document_delete(&extra);
    if (more)
        return st;
    j->n_file_nodes = (int)(j->doc.nodes.top - j->doc.nodes.start);
    if (!(root = yaml_document_get_root_node(&j->doc)))
        return qcal_error_set(j->err, QCAL_E_INVALID, "%s: empty job file (expected keys such as "
                              "model: m.onnx)", j->path);
    if (root->type != YAML_MAPPING_NODE)
        return fail(j, QCAL_E_INVALID, root, NULL, "expected a mapping of keys (model: ..., "
                    "data: ...), got %s", kind_name(root));
    if ((st = check_keys(j, root, NULL)) != QCAL_OK || (st = check_tags(j)) != QCAL_OK)
        return st;
    /* --set values replace the file's before anything is read. */
    if ((st = qcal__cli_job_apply_sets(j, nset, sets)) != QCAL_OK)
        return st;
    /* No node is added from here on, so node pointers stay valid. */
    root = yaml_document_get_root_node(&j->doc);
    list = qcal__cli_job_lookup(j, 1, "encodings");
    j->enc_list = list && qcal__cli_job_node(j, list)->type == YAML_SEQUENCE_NODE;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++)
        if ((st = apply_top(j, qcal__cli_job_node(j, p->key),
                            qcal__cli_job_node(j, p->value))) != QCAL_OK)
            return st;
    return check_job(j);
}

qcal_status qcal_cli_job_load(const char *path, int nset, char *const *sets, qcal_cal_opts *o,
                              qcal_error *err)
{
    const char *slash = strrchr(path, '/');
    yaml_parser_t parser;
    bool parser_ok = false, doc_ok = false;
    FILE *fp = NULL;
    qcal_status st;
    job j;

    memset(&j, 0, sizeof j);
    j.path = path;
    j.o = o;
    j.err = err;
    j.dir = slash ? keepf("%.*s", (int)(slash == path ? 1 : slash - path), path) : "";
    if (!j.dir) {
        st = qcal__cli_job_nomem(&j);
        goto out;
    }
    if (!(fp = fopen(path, "rb"))) {
        st = qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        st = qcal__cli_job_nomem(&j);
        goto out;
    }
    parser_ok = true;
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &j.doc)) {
        st = syntax_error(&j, &parser);
        goto out;
    }
    doc_ok = true;
    st = load(&j, &parser, nset, sets);
out:
    if (doc_ok)
        yaml_document_delete(&j.doc);
    if (parser_ok)
        yaml_parser_delete(&parser);
    if (fp)
        fclose(fp);
    free(j.set_origin);
    return st;
}

void qcal__cli_job_release(void)
{
    while (g_kept) {
        kept *k = g_kept;
        g_kept = k->next;
        free(k);
    }
}
