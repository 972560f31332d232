/*
 * qcal inspect: what a stats file says about the model and its calibration set. A header (model,
 * samples, bins, ranks, created), one block per activation (range, counts, and for every stored
 * encoding set its scale/offset and the fraction of values it clips), the weight ranges, and
 * warnings that point at likely quantization trouble. --json prints the same as one document.
 *
 * Clipping (ALGORITHMS.md §1): an encoding (scale s, grid [min, max]) saturates x when
 * round(x / s) - offset leaves [0, 2^n - 1], i.e. when x < min - s/2 or x > max + s/2; inside
 * those bounds the error is at most s/2, which is rounding, not clipping. The histogram gives an
 * exact lower and upper bound on the number of such values: a bin (narrowed to [dmin, dmax]) that
 * lies entirely beyond a bound counts in both, a bin that straddles it only in the upper one,
 * except that the bin holding dmin (dmax) holds at least one value beyond the bound when dmin
 * (dmax) is. The estimate adds a straddling bin's count in proportion to the part of its
 * (narrowed) interval beyond the bound, kept within the two bounds. Fractions are of the finite
 * values; NaN and +-Inf are counted separately.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "qcal/encode.h"
#include "qcal/store.h"

/* Warning thresholds (see HELP). */
#define MIN_SAMPLES 100
#define CONCAT_RATIO 8.0
#define TAIL_RATIO 4.0
#define TAIL_PERCENTILE 99.99

static const char HELP[] =
    "usage: qcal inspect stats.h5 [--tensor REGEX] [--json]\n"
    "\n"
    "Prints the header of a stats file (model, samples, bins, ranks, created), a table of every\n"
    "activation (kind, producer op, shape, exact min/max, finite count, NaN/+Inf/-Inf counts) with,\n"
    "for each stored encoding set, its scale, offset, [min, max] and the fraction of values it\n"
    "clips, the weight ranges, and warnings.\n"
    "\n"
    "  --tensor REGEX   only tensors whose name matches (POSIX extended, search); Concat warnings\n"
    "                   are kept when the node's output or an input matches\n"
    "  --json           one JSON document instead of the tables\n"
    "\n"
    "Clipped: values x < min - scale/2 or x > max + scale/2 (where the quantizer saturates; inside,\n"
    "the error is rounding). From the histogram: an exact lower and upper bound, and an estimate\n"
    "that spreads a bin straddling a bound uniformly over its part of the data range. Printed as\n"
    "'estimate% [lower%, upper%]', or 'estimate% exact' when the bounds agree.\n"
    "\n"
    "Warnings: NaN or Inf seen; a constant tensor (min == max); no finite value; a Concat whose\n"
    "inputs' ranges (max - min) differ by more than 8x (one shared encoding wastes bits on the\n"
    "small input); a long tail (min/max range more than 4x the 99.99 % percentile range); fewer\n"
    "than 100 calibration samples.\n";

typedef struct clip_info {
    double lo_t, hi_t;                 /* saturation thresholds min - s/2, max + s/2 */
    uint64_t below_lo, below_hi;       /* bounds on the count below lo_t */
    uint64_t above_lo, above_hi;       /* bounds on the count above hi_t */
    uint64_t total_lo, total_hi;       /* bounds on the total */
    double below_est, above_est, total_est;
} clip_info;

typedef struct warning {
    const char *kind;
    char *subject; /* tensor or node name, "" for the file */
    char *msg;
} warning;

typedef struct warnings {
    size_t n, cap;
    warning *w;
} warnings;

typedef struct inspect_opts {
    const char *path;
    bool json, have_re;
    regex_t re;
} inspect_opts;

static bool matches(const inspect_opts *o, const char *name)
{
    return !o->have_re || regexec(&o->re, name, 0, NULL, 0) == 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int warn_add(warnings *ws, const char *kind, const char *subject, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    warning *w;

    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? 2 * ws->cap : 16;
        warning *p = realloc(ws->w, cap * sizeof *p);
        if (!p)
            return -1;
        ws->w = p;
        ws->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    w = &ws->w[ws->n];
    w->kind = kind;
    w->subject = strdup(subject);
    w->msg = strdup(buf);
    if (!w->subject || !w->msg) {
        free(w->subject);
        free(w->msg);
        return -1;
    }
    ws->n++;
    return 0;
}

static void warnings_fini(warnings *ws)
{
    for (size_t i = 0; i < ws->n; i++) {
        free(ws->w[i].subject);
        free(ws->w[i].msg);
    }
    free(ws->w);
}

static const qcal_act_rec *find_act(const qcal_stats *s, const char *name)
{
    for (size_t i = 0; i < s->n_act; i++)
        if (strcmp(s->act[i].name, name) == 0)
            return &s->act[i];
    return NULL;
}

static const qcal_act_enc *find_enc(const qcal_enc_set *es, const char *name)
{
    for (size_t i = 0; i < es->n_act; i++)
        if (strcmp(es->act[i].name, name) == 0)
            return &es->act[i];
    return NULL;
}

/* ---- clipping --------------------------------------------------------------------------- */

/* Counts of one bin (count c, values in [lo, hi], interval width > 0 or a point) beyond t on one
 * side: below (x < t) when `below`, else above (x > t). has_extreme: the bin holds the data's
 * extreme on that side. */
static void bin_side(uint64_t c, double lo, double hi, bool hi_open, double t, bool below,
                     bool has_extreme, uint64_t *lb, uint64_t *ub, double *est)
{
    bool surely, maybe;
    double frac;

    if (below) {
        surely = hi_open ? hi <= t : hi < t;
        maybe = lo < t;
        frac = hi > lo ? (t - lo) / (hi - lo) : 1.0;
    } else {
        surely = lo > t;
        maybe = hi > t;
        frac = hi > lo ? (hi - t) / (hi - lo) : 1.0;
    }
    if (surely) {
        *lb = *ub = c;
        *est = (double)c;
        return;
    }
    if (!maybe) {
        *lb = *ub = 0;
        *est = 0.0;
        return;
    }
    *lb = has_extreme ? 1 : 0;
    *ub = c;
    frac = frac < 0.0 ? 0.0 : frac > 1.0 ? 1.0 : frac;
    *est = frac * (double)c;
    *est = *est < (double)*lb ? (double)*lb : *est;
}

/* Bounds and estimate of the values of h that the encoding e saturates (see the file comment). */
static void clip_compute(const qcal_hist *h, const qcal_act_enc *e, clip_info *ci)
{
    double dmin = (double)h->min, dmax = (double)h->max;

    memset(ci, 0, sizeof *ci);
    ci->lo_t = (double)e->min - 0.5 * (double)e->scale;
    ci->hi_t = (double)e->max + 0.5 * (double)e->scale;
    if (h->count == 0)
        return;
    for (size_t i = 0; i < h->bins; i++) {
        uint64_t c = h->counts[i], lb, ub, alb, aub;
        double L, R, lo, hi, est, aest;
        bool hi_open;

        if (c == 0)
            continue;
        L = ldexp((double)(h->k0 + (int64_t)i), h->e);
        R = ldexp((double)(h->k0 + (int64_t)i + 1), h->e);
        lo = L > dmin ? L : dmin;
        hi_open = R <= dmax;
        hi = hi_open ? R : dmax;
        bin_side(c, lo, hi, hi_open, ci->lo_t, true, dmin >= L && dmin < R, &lb, &ub, &est);
        bin_side(c, lo, hi, hi_open, ci->hi_t, false, dmax >= L && dmax < R, &alb, &aub, &aest);
        ci->below_lo += lb;
        ci->below_hi += ub;
        ci->below_est += est;
        ci->above_lo += alb;
        ci->above_hi += aub;
        ci->above_est += aest;
        ci->total_lo += lb + alb > c ? c : lb + alb;
        ci->total_hi += ub + aub > c ? c : ub + aub;
        ci->total_est += est + aest > (double)c ? (double)c : est + aest;
    }
}

/* ---- warnings --------------------------------------------------------------------------- */

static int tensor_warnings(const qcal_act_rec *a, warnings *ws)
{
    const qcal_hist *h = &a->hist;
    qcal_enc_hist eh = { h->e, h->k0, h->bins, h->counts, h->min, h->max, h->count };
    qcal_enc_params p;
    qcal_error err;
    double lo, hi, full, core;
    int rc = 0;

    if (h->nan || h->pinf || h->ninf)
        rc |= warn_add(ws, "nonfinite", a->name,
                       "tensor '%s': %llu NaN, %llu +Inf, %llu -Inf values seen (kept out of "
                       "min/max and the histogram); find where the model or data produce them",
                       a->name, (unsigned long long)h->nan, (unsigned long long)h->pinf,
                       (unsigned long long)h->ninf);
    if (h->count == 0)
        return rc | warn_add(ws, "no_finite", a->name,
                             "tensor '%s': no finite value; it gets no encoding", a->name);
    if (h->min == h->max) {
        rc |= warn_add(ws, "constant", a->name,
                       "tensor '%s': constant (every finite value is %.9g); its encoding is the "
                       "0.01-wide minimum range; consider folding it into a constant",
                       a->name, (double)h->min);
        return rc;
    }
    qcal_enc_params_default(&p);
    p.method = QCAL_METHOD_PERCENTILE;
    p.percentile = TAIL_PERCENTILE;
    if (qcal_enc_range(&eh, &p, &lo, &hi, &err) != QCAL_OK)
        return rc | warn_add(ws, "error", a->name, "tensor '%s': %s", a->name, err.msg);
    full = (double)h->max - (double)h->min;
    core = hi - lo;
    if (full > TAIL_RATIO * core)
        rc |= warn_add(ws, "long_tail", a->name,
                       "tensor '%s': long tail: the min/max range [%.6g, %.6g] is %s%.3gx the "
                       "%g %% percentile range [%.6g, %.6g]; minmax spends most levels on rare "
                       "values; consider --method percentile, mse or enhanced for it",
                       a->name, (double)h->min, (double)h->max, core > 0.0 ? "" : "> ",
                       core > 0.0 ? full / core : full, TAIL_PERCENTILE, lo, hi);
    return rc;
}

/* A Concat whose inputs' ranges differ by more than CONCAT_RATIO. Inputs are activations or
 * weights; constant inputs (range 0) and unknown names are skipped. */
static int concat_warning(const qcal_stats *s, size_t node, const inspect_opts *o, warnings *ws)
{
    const qcal_graph_rec *g = &s->graph;
    const char *wide = NULL, *narrow = NULL, *out = "";
    double rmax = 0.0, rmin = (double)INFINITY, wmin = 0, wmax = 0, nmin = 0, nmax = 0;
    bool any = false;

    if (g->out_count[node] > 0)
        out = g->outputs[g->out_start[node]];
    any = matches(o, out);
    for (uint64_t j = 0; j < g->in_count[node]; j++) {
        const char *name = g->inputs[g->in_start[node] + j];
        const qcal_act_rec *a = find_act(s, name);
        double lo = (double)NAN, hi = (double)NAN, r;

        any = any || matches(o, name);
        if (a && a->hist.count > 0) {
            lo = (double)a->hist.min;
            hi = (double)a->hist.max;
        }
        for (size_t k = 0; !a && k < s->n_weights; k++)
            if (strcmp(s->weights[k].name, name) == 0) {
                lo = (double)s->weights[k].min;
                hi = (double)s->weights[k].max;
            }
        r = hi - lo;
        if (!(r > 0.0))
            continue;
        if (r > rmax) {
            rmax = r;
            wide = name;
            wmin = lo;
            wmax = hi;
        }
        if (r < rmin) {
            rmin = r;
            narrow = name;
            nmin = lo;
            nmax = hi;
        }
    }
    if (!any || !wide || !(rmax > CONCAT_RATIO * rmin))
        return 0;
    return warn_add(ws, "concat_ranges", s->graph.node_name[node],
                    "Concat node '%s' (output '%s'): input ranges differ by %.3gx ('%s' [%.6g, "
                    "%.6g] vs '%s' [%.6g, %.6g]); one shared encoding wastes bits on the small "
                    "input; expose the inputs as separate graph outputs (concatenate after "
                    "dequantization) or rescale them to similar ranges",
                    s->graph.node_name[node], out, rmax / rmin, wide, wmin, wmax, narrow, nmin,
                    nmax);
}

static int collect_warnings(const qcal_stats *s, const inspect_opts *o, warnings *ws)
{
    int rc = 0;

    if (s->samples < MIN_SAMPLES)
        rc |= warn_add(ws, "few_samples", "",
                       "only %llu calibration samples (fewer than %d): ranges and tails may not "
                       "represent the deployment data",
                       (unsigned long long)s->samples, MIN_SAMPLES);
    for (size_t i = 0; i < s->n_act; i++)
        if (matches(o, s->act[i].name))
            rc |= tensor_warnings(&s->act[i], ws);
    for (size_t i = 0; i < s->graph.n_nodes; i++)
        if (strcmp(s->graph.node_op[i], "Concat") == 0)
            rc |= concat_warning(s, i, o, ws);
    return rc;
}

/* ---- text output ------------------------------------------------------------------------ */

static void print_pct(double part, uint64_t total)
{
    printf("%.4g%%", total ? 100.0 * part / (double)total : 0.0);
}

static void print_clip(const clip_info *ci, uint64_t total)
{
    printf("clipped ");
    print_pct(ci->total_est, total);
    if (ci->total_lo == ci->total_hi) {
        printf(" exact");
    } else {
        printf(" [");
        print_pct((double)ci->total_lo, total);
        printf(", ");
        print_pct((double)ci->total_hi, total);
        printf("]");
    }
    if (ci->total_hi > 0) {
        printf("  (below ");
        print_pct(ci->below_est, total);
        printf(", above ");
        print_pct(ci->above_est, total);
        printf(")");
    }
}

static void print_text(const qcal_stats *s, const inspect_opts *o, const warnings *ws)
{
    size_t nw = 4, shown = 0;

    for (size_t i = 0; i < s->n_act; i++)
        if (matches(o, s->act[i].name) && strlen(s->act[i].name) > nw)
            nw = strlen(s->act[i].name);
    nw = nw > 48 ? 48 : nw;
    printf("%s: %s\n", o->path, "qcal-stats v1");
    printf("  model     %s (sha256 %.16s...)\n", s->model_path ? s->model_path : "",
           s->model_sha256 ? s->model_sha256 : "");
    if (s->source_dtype)
        printf("  source    a %s model, run in float32 (values widened exactly; Casts to %s "
               "rounded)\n", s->source_dtype, s->source_dtype);
    printf("  samples   %llu (%zu skipped)  ranks %d  bins %d\n",
           (unsigned long long)s->samples, s->n_skipped, s->ranks, s->bins);
    printf("  created   %s  by qcal %s\n", s->created ? s->created : "",
           s->qcal_version ? s->qcal_version : "");
    printf("  encodings %zu set%s", s->n_enc, s->n_enc == 1 ? "" : "s");
    for (size_t k = 0; k < s->n_enc; k++)
        printf("%s[%zu] %s (%s)", k ? ", " : ": ", k + 1, s->enc[k].label, s->enc[k].method);
    printf("\n\n");
    for (size_t i = 0; i < s->n_act; i++)
        shown += matches(o, s->act[i].name);
    printf("activations (%zu of %zu)\n", shown, s->n_act);
    printf("%-*s  %-10s  %-18s  %-14s  %13s  %13s  %10s  %s\n", (int)nw, "name", "kind", "op",
           "shape", "min", "max", "count", "NaN/+Inf/-Inf");
    for (size_t i = 0; i < s->n_act; i++) {
        const qcal_act_rec *a = &s->act[i];
        const qcal_hist *h = &a->hist;

        if (!matches(o, a->name))
            continue;
        printf("%-*s  %-10s  %-18s  %-14s  %13.6g  %13.6g  %10llu  %llu/%llu/%llu\n", (int)nw,
               a->name, a->kind, a->op[0] ? a->op : "-", a->shape, (double)h->min,
               (double)h->max, (unsigned long long)h->count, (unsigned long long)h->nan,
               (unsigned long long)h->pinf, (unsigned long long)h->ninf);
        for (size_t k = 0; k < s->n_enc; k++) {
            const qcal_act_enc *e = find_enc(&s->enc[k], a->name);
            clip_info ci;

            printf("    [%zu] ", k + 1);
            if (!e) {
                printf("no encoding\n");
                continue;
            }
            if (e->is_float) {
                printf("float%d (not quantized)\n", e->bitwidth);
                continue;
            }
            clip_compute(h, e, &ci);
            printf("%2d-bit%s scale %-12.6g offset %-6lld [%.6g, %.6g]  ", e->bitwidth,
                   e->symmetric ? " sym" : "", (double)e->scale, (long long)e->offset,
                   (double)e->min, (double)e->max);
            print_clip(&ci, h->count);
            printf("\n");
        }
    }
    shown = 0;
    for (size_t i = 0; i < s->n_weights; i++)
        shown += matches(o, s->weights[i].name);
    if (shown) {
        printf("\nweights (%zu of %zu)\n", shown, s->n_weights);
        printf("%-*s  %-18s  %-14s  %13s  %13s  %s\n", (int)nw, "name", "consumer op", "shape",
               "min", "max", "channels");
        for (size_t i = 0; i < s->n_weights; i++) {
            const qcal_weight_rec *w = &s->weights[i];
            if (!matches(o, w->name))
                continue;
            printf("%-*s  %-18s  %-14s  %13.6g  %13.6g  ", (int)nw, w->name, w->op, w->shape,
                   (double)w->min, (double)w->max);
            if (w->axis >= 0)
                printf("%zu (axis %d)\n", w->ch_count, w->axis);
            else
                printf("-\n");
        }
    }
    printf("\nwarnings (%zu)\n", ws->n);
    for (size_t i = 0; i < ws->n; i++)
        printf("  warning: %s\n", ws->w[i].msg);
}

/* ---- JSON output ------------------------------------------------------------------------ */

/* A real, or null for NaN/Inf (JSON has neither). */
static json_t *jreal(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A JSON string attribute parsed, or the raw string when it is not JSON. */
static json_t *jparsed(const char *text)
{
    json_t *v;

    if (!text)
        return json_null();
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

static json_t *jfrac(double part, uint64_t total)
{
    return json_real(total ? part / (double)total : 0.0);
}

static json_t *json_clip(const clip_info *ci, uint64_t total)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "fraction", jfrac(ci->total_est, total),
                     "fraction_lower", jfrac((double)ci->total_lo, total),
                     "fraction_upper", jfrac((double)ci->total_hi, total),
                     "below", jfrac(ci->below_est, total),
                     "below_lower", jfrac((double)ci->below_lo, total),
                     "below_upper", jfrac((double)ci->below_hi, total),
                     "above", jfrac(ci->above_est, total),
                     "above_lower", jfrac((double)ci->above_lo, total),
                     "above_upper", jfrac((double)ci->above_hi, total),
                     "threshold_low", jreal(ci->lo_t), "threshold_high", jreal(ci->hi_t));
}

static json_t *json_act(const qcal_stats *s, const qcal_act_rec *a)
{
    const qcal_hist *h = &a->hist;
    json_t *encs = json_object(), *t;

    for (size_t k = 0; encs && k < s->n_enc; k++) {
        const qcal_act_enc *e = find_enc(&s->enc[k], a->name);
        clip_info ci;
        json_t *je;

        if (!e) {
            json_object_set_new(encs, s->enc[k].label, json_null());
            continue;
        }
        if (e->is_float) {
            je = json_pack("{s:b, s:i}", "float", 1, "bitwidth", e->bitwidth);
        } else {
            clip_compute(h, e, &ci);
            je = json_pack("{s:b, s:i, s:o, s:I, s:o, s:o, s:b, s:o}", "float", 0, "bitwidth",
                           e->bitwidth, "scale", jreal((double)e->scale), "offset",
                           (json_int_t)e->offset, "min", jreal((double)e->min), "max",
                           jreal((double)e->max), "symmetric", e->symmetric, "clipped",
                           json_clip(&ci, h->count));
        }
        json_object_set_new(encs, s->enc[k].label, je);
    }
    t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:o}", "name",
                  a->name, "kind", a->kind, "dtype", a->dtype, "shape", a->shape, "producer",
                  a->producer, "op", a->op, "min", jreal((double)h->min), "max",
                  jreal((double)h->max), "count", (json_int_t)h->count, "nan",
                  (json_int_t)h->nan, "pinf", (json_int_t)h->pinf, "ninf", (json_int_t)h->ninf,
                  "encodings", encs ? encs : json_null());
    return t;
}

static json_t *build_json(const qcal_stats *s, const inspect_opts *o, const warnings *ws)
{
    json_t *root, *acts = json_array(), *wts = json_array(), *sets = json_array(),
                  *warns = json_array(), *rs = json_array();

    for (int r = 0; rs && s->rank_samples && r < s->ranks; r++)
        json_array_append_new(rs, json_integer((json_int_t)s->rank_samples[r]));
    for (size_t k = 0; sets && k < s->n_enc; k++)
        json_array_append_new(sets, json_pack("{s:s, s:s, s:o, s:s}", "label", s->enc[k].label,
                                              "method", s->enc[k].method, "params",
                                              jparsed(s->enc[k].params), "created",
                                              s->enc[k].created ? s->enc[k].created : ""));
    for (size_t i = 0; acts && i < s->n_act; i++)
        if (matches(o, s->act[i].name))
            json_array_append_new(acts, json_act(s, &s->act[i]));
    for (size_t i = 0; wts && i < s->n_weights; i++) {
        const qcal_weight_rec *w = &s->weights[i];
        if (matches(o, w->name))
            json_array_append_new(wts, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:I}",
                                                 "name", w->name, "consumer", w->consumer, "op",
                                                 w->op, "shape", w->shape, "min",
                                                 jreal((double)w->min), "max",
                                                 jreal((double)w->max), "axis", w->axis,
                                                 "channels", (json_int_t)w->ch_count));
    }
    for (size_t i = 0; warns && i < ws->n; i++)
        json_array_append_new(warns, json_pack("{s:s, s:s, s:s}", "kind", ws->w[i].kind,
                                               "subject", ws->w[i].subject, "message",
                                               ws->w[i].msg));
    root = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:o, s:s, s:s, s:o, s:o, s:o, "
                     "s:o, s:o, s:o}",
                     "file", o->path, "format", "qcal-stats v1", "model",
                     s->model_path ? s->model_path : "", "model_sha256",
                     s->model_sha256 ? s->model_sha256 : "", "samples",
                     (json_int_t)s->samples, "skipped", (json_int_t)s->n_skipped, "bins",
                     s->bins, "ranks", s->ranks, "rank_samples", rs ? rs : json_null(),
                     "created", s->created ? s->created : "", "qcal_version",
                     s->qcal_version ? s->qcal_version : "", "preprocess",
                     jparsed(s->preprocess), "dataset", jparsed(s->dataset), "encoding_sets",
                     sets ? sets : json_null(), "activations", acts ? acts : json_null(),
                     "weights", wts ? wts : json_null(), "warnings",
                     warns ? warns : json_null());
    if (root)
        json_object_set_new(root, "source_dtype",
                            s->source_dtype ? json_string(s->source_dtype) : json_string("float32"));
    return root;
}

/* ---- command ---------------------------------------------------------------------------- */

int qcal_cli_inspect(int argc, char **argv)
{
    static const struct option LONG[] = {
        { "tensor", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    inspect_opts o;
    qcal_stats s;
    qcal_error err = { 0 };
    warnings ws = { 0 };
    const char *regex = NULL;
    int c, rc = 0;

    memset(&o, 0, sizeof o);
    memset(&s, 0, sizeof s);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "t:jh", LONG, NULL)) != -1) {
        switch (c) {
        case 't': regex = optarg; break;
        case 'j': o.json = true; break;
        case 'h': fputs(HELP, stdout); return 0;
        default:
            return qcal_cli_failf(QCAL_E_INVALID,
                                  "inspect: unknown option '%s' (see qcal inspect --help)",
                                  argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return qcal_cli_failf(QCAL_E_INVALID,
                              "inspect: expected one stats file (see qcal inspect --help)");
    o.path = argv[optind];
    if (regex) {
        int e = regcomp(&o.re, regex, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char msg[256];
            regerror(e, &o.re, msg, sizeof msg);
            return qcal_cli_failf(QCAL_E_INVALID, "--tensor '%s': %s", regex, msg);
        }
        o.have_re = true;
    }
    if (qcal_stats_read(o.path, &s, &err) != QCAL_OK) {
        rc = qcal_cli_fail(&err);
        goto out;
    }
    if (regex) {
        bool any = false;
        for (size_t i = 0; !any && i < s.n_act; i++)
            any = matches(&o, s.act[i].name);
        for (size_t i = 0; !any && i < s.n_weights; i++)
            any = matches(&o, s.weights[i].name);
        if (!any) {
            rc = qcal_cli_failf(QCAL_E_INVALID, "%s: no tensor matches --tensor '%s'", o.path,
                                regex);
            goto out;
        }
    }
    if (collect_warnings(&s, &o, &ws) != 0) {
        rc = qcal_cli_failf(QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    if (o.json) {
        json_t *root = build_json(&s, &o, &ws);
        if (!root || json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) != 0) {
            json_decref(root);
            rc = qcal_cli_failf(QCAL_E_NOMEM, "inspect: cannot build the JSON document");
            goto out;
        }
        fputc('\n', stdout);
        json_decref(root);
    } else {
        print_text(&s, &o, &ws);
    }
    if (fflush(stdout) != 0)
        rc = qcal_cli_failf(QCAL_E_IO, "inspect: cannot write the output");
out:
    warnings_fini(&ws);
    if (o.have_re)
        regfree(&o.re);
    qcal_stats_fini(&s);
    return rc;
}
