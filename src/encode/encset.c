/*
 * Encoding-set builder (include/qcal/encset.h): turns the statistics of a qcal_stats into one
 * labelled qcal_enc_set with the methods of ALGORITHMS.md §3 and the weight and bias rules of
 * §2.2-§2.4, plus the --override parser and the set's destructor.
 */
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "qcal/encset.h"

#define DEFAULT_FLOAT_BITS 16

/* ---- overrides ---- */

void qcal_enc_override_fini(qcal_enc_override *o)
{
    if (!o)
        return;
    free(o->regex);
    memset(o, 0, sizeof *o);
}

/* Compiles re into *rx; QCAL_E_INVALID with regerror's text when it does not compile. */
static qcal_status compile_regex(const char *re, regex_t *rx, qcal_error *err)
{
    int rc = regcomp(rx, re, REG_EXTENDED | REG_NOSUB);

    if (rc != 0) {
        char msg[256];

        regerror(rc, rx, msg, sizeof msg);
        return qcal_error_set(err, QCAL_E_INVALID, "override regex '%s': %s", re, msg);
    }
    return QCAL_OK;
}

/* Parses an override value: float names or an integer bitwidth 2..32. */
static qcal_status parse_override_value(const char *v, qcal_enc_override *out, qcal_error *err)
{
    char *end;
    long bits;

    if (strcmp(v, "float") == 0 || strcmp(v, "float16") == 0 || strcmp(v, "fp16") == 0) {
        out->is_float = true;
        out->bitwidth = DEFAULT_FLOAT_BITS;
        return QCAL_OK;
    }
    if (strcmp(v, "float32") == 0 || strcmp(v, "fp32") == 0) {
        out->is_float = true;
        out->bitwidth = 32;
        return QCAL_OK;
    }
    bits = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || bits < 2 || bits > 32)
        return qcal_error_set(err, QCAL_E_INVALID,
                              "override value '%s': expected float, float16, float32 or a "
                              "bitwidth 2..32", v);
    out->is_float = false;
    out->bitwidth = (int)bits;
    return QCAL_OK;
}

qcal_status qcal_enc_override_parse(const char *spec, qcal_enc_override *out, qcal_error *err)
{
    const char *eq;
    size_t len;
    regex_t rx;
    qcal_status st;

    memset(out, 0, sizeof *out);
    if (!spec)
        return qcal_error_set(err, QCAL_E_INVALID, "override: no specification");
    /* The regex may itself contain '=', the value never does: split at the last one. */
    eq = strrchr(spec, '=');
    if (!eq || eq == spec)
        return qcal_error_set(err, QCAL_E_INVALID, "override '%s': expected REGEX=VALUE", spec);
    len = (size_t)(eq - spec);
    if (len > QCAL_ENCSET_MAX_REGEX)
        return qcal_error_set(err, QCAL_E_INVALID, "override regex longer than %d bytes",
                              QCAL_ENCSET_MAX_REGEX);
    st = parse_override_value(eq + 1, out, err);
    if (st != QCAL_OK)
        goto fail;
    out->regex = malloc(len + 1);
    if (!out->regex) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(out->regex, spec, len);
    out->regex[len] = '\0';
    st = compile_regex(out->regex, &rx, err);
    if (st != QCAL_OK)
        goto fail;
    regfree(&rx);
    return QCAL_OK;
fail:
    qcal_enc_override_fini(out);
    return st;
}

/* ---- options, labels, warnings ---- */

void qcal_encset_opts_default(qcal_encset_opts *o)
{
    memset(o, 0, sizeof *o);
    o->method = QCAL_METHOD_MINMAX;
    o->percentile = QCAL_ENC_DEFAULT_PERCENTILE;
    o->act_bitwidth = 8;
    o->param_bitwidth = 8;
    o->act_sym = QCAL_SYM_NONE;
    o->param_sym = QCAL_SYM_SIGNED;
    o->per_channel = false;
    o->bias_bitwidth = 32;
}

int qcal_encset_default_label(const qcal_encset_opts *o, char *buf, size_t size)
{
    return snprintf(buf, size, "%s-a%d-w%d", qcal_enc_method_name(o->method), o->act_bitwidth,
                    o->param_bitwidth);
}

void qcal_encset_warnings_fini(qcal_encset_warnings *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->msg[i]);
    free(w->msg);
    memset(w, 0, sizeof *w);
}

/* Appends one formatted warning to w (w NULL: nothing). Allocates the message. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static qcal_status warn_add(qcal_encset_warnings *w, qcal_error *err, const char *fmt, ...)
{
    va_list ap;
    char **grown;
    char *msg;
    int len;

    if (!w)
        return QCAL_OK;
    va_start(ap, fmt);
    len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return qcal_error_set(err, QCAL_E_INVALID, "cannot format a warning");
    msg = malloc((size_t)len + 1);
    grown = realloc(w->msg, (w->n + 1) * sizeof *w->msg);
    if (!msg || !grown) {
        free(msg);
        if (grown)
            w->msg = grown;
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    w->msg = grown;
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)len + 1, fmt, ap);
    va_end(ap);
    w->msg[w->n++] = msg;
    return QCAL_OK;
}

static qcal_status check_opts(const qcal_encset_opts *o, qcal_error *err)
{
    if ((unsigned)o->method >= QCAL_METHOD_COUNT)
        return qcal_error_set(err, QCAL_E_INVALID, "bad method %d", (int)o->method);
    if (o->act_bitwidth < 2 || o->act_bitwidth > 32)
        return qcal_error_set(err, QCAL_E_INVALID, "activation bitwidth %d outside 2..32",
                              o->act_bitwidth);
    if (o->param_bitwidth < 2 || o->param_bitwidth > 32)
        return qcal_error_set(err, QCAL_E_INVALID, "parameter bitwidth %d outside 2..32",
                              o->param_bitwidth);
    if (o->bias_bitwidth < 2 || o->bias_bitwidth > 32)
        return qcal_error_set(err, QCAL_E_INVALID, "bias bitwidth %d outside 2..32",
                              o->bias_bitwidth);
    if ((unsigned)o->act_sym >= QCAL_SYM_COUNT || (unsigned)o->param_sym >= QCAL_SYM_COUNT)
        return qcal_error_set(err, QCAL_E_INVALID, "bad symmetry mode");
    if (!isfinite(o->percentile))
        return qcal_error_set(err, QCAL_E_INVALID, "percentile is not finite");
    if (o->method == QCAL_METHOD_PERCENTILE && !(o->percentile > 50.0 && o->percentile <= 100.0))
        return qcal_error_set(err, QCAL_E_INVALID, "percentile %g outside (50, 100]",
                              o->percentile);
    if (o->n_overrides > 0 && !o->overrides)
        return qcal_error_set(err, QCAL_E_INVALID, "overrides missing");
    for (size_t i = 0; i < o->n_overrides; i++) {
        const qcal_enc_override *v = &o->overrides[i];
        bool ok = v->is_float ? (v->bitwidth == 0 || v->bitwidth == 16 || v->bitwidth == 32)
                              : (v->bitwidth >= 2 && v->bitwidth <= 32);

        if (!v->regex)
            return qcal_error_set(err, QCAL_E_INVALID, "override %zu has no regex", i);
        if (!ok)
            return qcal_error_set(err, QCAL_E_INVALID, "override '%s': bad bitwidth %d",
                                  v->regex, v->bitwidth);
    }
    return QCAL_OK;
}

/* ---- set header: label, method, params, created ---- */

/* Smallest %.Ng precision (15..17) that reads back as exactly x, so 99.99 prints as 99.99. */
static int round_trip_precision(double x)
{
    char buf[64];

    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return p;
    }
    return 17;
}

static char *params_json(const qcal_encset_opts *o, qcal_error *err)
{
    json_t *root = NULL, *ov = json_array();
    char *text = NULL;

    if (!ov)
        goto nomem;
    for (size_t i = 0; i < o->n_overrides; i++) {
        const qcal_enc_override *v = &o->overrides[i];
        int bits = v->is_float && v->bitwidth == 0 ? DEFAULT_FLOAT_BITS : v->bitwidth;

        if (json_array_append_new(ov, json_pack("{s:s, s:s, s:i}", "regex", v->regex, "dtype",
                                                v->is_float ? "float" : "int", "bitwidth",
                                                bits)) != 0)
            goto nomem;
    }
    root = json_pack("{s:s, s:i, s:i, s:s, s:s, s:f, s:b, s:i, s:o}", "method",
                     qcal_enc_method_name(o->method), "act_bitwidth", o->act_bitwidth,
                     "param_bitwidth", o->param_bitwidth, "act_symmetric",
                     qcal_enc_sym_name(o->act_sym), "param_symmetric",
                     qcal_enc_sym_name(o->param_sym), "percentile", o->percentile, "per_channel",
                     (int)o->per_channel, "bias_bitwidth", o->bias_bitwidth, "overrides", ov);
    ov = NULL; /* "o" steals the reference, also when json_pack fails */
    if (!root)
        goto nomem;
    text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT |
                                JSON_REAL_PRECISION(round_trip_precision(o->percentile)));
    json_decref(root);
    if (!text)
        qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    return text;
nomem:
    json_decref(ov);
    qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    return NULL;
}

/* ISO 8601 UTC of now, "2024-05-01T12:00:00Z". */
static char *now_iso8601(void)
{
    char buf[32];
    time_t t = time(NULL);
    struct tm tm;

    if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return strdup("1970-01-01T00:00:00Z");
    return strdup(buf);
}

static qcal_status fill_header(const qcal_encset_opts *o, qcal_enc_set *out, qcal_error *err)
{
    char label[64];

    if (o->label) {
        if (o->label[0] == '\0')
            return qcal_error_set(err, QCAL_E_INVALID, "empty encoding label");
        out->label = strdup(o->label);
    } else {
        qcal_encset_default_label(o, label, sizeof label);
        out->label = strdup(label);
    }
    out->method = strdup(qcal_enc_method_name(o->method));
    out->created = o->created ? strdup(o->created) : now_iso8601();
    if (!out->label || !out->method || !out->created)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    out->params = params_json(o, err);
    return out->params ? QCAL_OK : QCAL_E_NOMEM;
}

/* ---- activations ---- */

/* The last override whose regex matches name, or NULL. */
static const qcal_enc_override *find_override(const qcal_encset_opts *o, const regex_t *rx,
                                              const char *name)
{
    const qcal_enc_override *hit = NULL;

    for (size_t i = 0; i < o->n_overrides; i++)
        if (regexec(&rx[i], name, 0, NULL, 0) == 0)
            hit = &o->overrides[i];
    return hit;
}

static qcal_status act_entry(const qcal_act_rec *r, const qcal_encset_opts *o,
                             const qcal_enc_override *ov, qcal_act_enc *a,
                             qcal_encset_warnings *warn, bool *added, qcal_error *err)
{
    const qcal_hist *h = &r->hist;
    qcal_enc_hist eh = { h->e, h->k0, h->bins, h->counts, h->min, h->max, h->count };
    qcal_enc_params p;
    qcal_encoding enc;
    qcal_status st;

    *added = false;
    if (ov && ov->is_float) {
        qcal_enc_float(ov->bitwidth ? ov->bitwidth : DEFAULT_FLOAT_BITS, &enc);
    } else if (h->count == 0) {
        return warn_add(warn, err,
                        "activation '%s': no finite value (%llu NaN, %llu +Inf, %llu -Inf); "
                        "no encoding",
                        r->name, (unsigned long long)h->nan, (unsigned long long)h->pinf,
                        (unsigned long long)h->ninf);
    } else {
        qcal_enc_params_default(&p);
        p.method = o->method;
        p.bitwidth = ov ? ov->bitwidth : o->act_bitwidth;
        p.sym = o->act_sym;
        p.percentile = o->percentile;
        st = qcal_enc_compute(&eh, &p, &enc, err);
        if (st != QCAL_OK) {
            char pre[96];

            snprintf(pre, sizeof pre, "activation '%.80s'", r->name);
            qcal_error_prefix(err, pre);
            return st;
        }
    }
    a->name = strdup(r->name);
    if (!a->name)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    a->bitwidth = enc.bitwidth;
    a->scale = enc.scale;
    a->min = enc.min;
    a->max = enc.max;
    a->offset = enc.offset;
    a->symmetric = enc.symmetric;
    a->is_float = enc.is_float;
    *added = true;
    return QCAL_OK;
}

static qcal_status fill_acts(const qcal_stats *s, const qcal_encset_opts *o, qcal_enc_set *out,
                             qcal_encset_warnings *warn, qcal_error *err)
{
    regex_t *rx = NULL;
    size_t n_rx = 0;
    qcal_status st = QCAL_OK;

    out->act = calloc(s->n_act + 1, sizeof *out->act);
    rx = calloc(o->n_overrides + 1, sizeof *rx);
    if (!out->act || !rx) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    for (; n_rx < o->n_overrides; n_rx++) {
        st = compile_regex(o->overrides[n_rx].regex, &rx[n_rx], err);
        if (st != QCAL_OK)
            goto out;
    }
    for (size_t i = 0; i < s->n_act; i++) {
        const qcal_act_rec *r = &s->act[i];
        bool added;

        if (!r->name) {
            st = qcal_error_set(err, QCAL_E_INVALID, "activation %zu has no name", i);
            goto out;
        }
        st = act_entry(r, o, find_override(o, rx, r->name), &out->act[out->n_act], warn, &added,
                       err);
        if (st != QCAL_OK)
            goto out;
        out->n_act += added;
    }
out:
    for (size_t i = 0; i < n_rx; i++)
        regfree(&rx[i]);
    free(rx);
    return st;
}

/* ---- parameters ---- */

/* A shape string "16" (one dimension); "1x16" and "" (scalar) are not 1-D. */
static bool shape_is_1d(const char *shape)
{
    return shape && shape[0] != '\0' && strchr(shape, 'x') == NULL;
}

bool qcal_encset_is_bias(const qcal_stats *s, size_t w)
{
    const qcal_graph_rec *g = &s->graph;
    const char *name;
    size_t uses = 0;

    if (w >= s->n_weights || !s->weights[w].name || !shape_is_1d(s->weights[w].shape))
        return false;
    name = s->weights[w].name;
    for (size_t i = 0; i < g->n_nodes; i++) {
        uint64_t start = g->in_start[i], count = g->in_count[i];
        const char *op = g->node_op[i] ? g->node_op[i] : "";
        bool bias_op = strcmp(op, "Conv") == 0 || strcmp(op, "ConvTranspose") == 0 ||
                       strcmp(op, "Gemm") == 0;

        if (start > g->n_inputs || count > g->n_inputs - start)
            return false; /* malformed graph table: do not guess */
        for (uint64_t k = 0; k < count; k++) {
            const char *in = g->inputs[start + k];

            if (!in || strcmp(in, name) != 0)
                continue;
            if (!bias_op || k != 2)
                return false;
            uses++;
        }
    }
    return uses > 0;
}

static qcal_status param_alloc(qcal_param_enc *p, const char *name, size_t ch, qcal_error *err)
{
    p->name = strdup(name);
    p->ch_count = ch;
    p->scale = calloc(ch, sizeof *p->scale);
    p->min = calloc(ch, sizeof *p->min);
    p->max = calloc(ch, sizeof *p->max);
    p->offset = calloc(ch, sizeof *p->offset);
    if (!p->name || !p->scale || !p->min || !p->max || !p->offset)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    return QCAL_OK;
}

static void param_free(qcal_param_enc *p)
{
    free(p->name);
    free(p->scale);
    free(p->min);
    free(p->max);
    free(p->offset);
    memset(p, 0, sizeof *p);
}

/*
 * The entry of weight r: n_ch channel ranges (mins/maxs; per_ch tells whether they are the
 * weight's channels or its per-tensor range), bitwidth and symmetry already chosen. A channel
 * without a finite value makes the whole weight entry-less (warning). Allocates the entry.
 */
static qcal_status param_entry(const qcal_weight_rec *r, const float *mins, const float *maxs,
                               size_t n_ch, bool per_ch, int bits, qcal_sym sym, qcal_param_enc *p,
                               qcal_encset_warnings *warn, bool *added, qcal_error *err)
{
    qcal_status st;

    *added = false;
    for (size_t c = 0; c < n_ch; c++) {
        if (isnan(mins[c]) || isnan(maxs[c])) {
            if (!per_ch)
                return warn_add(warn, err, "weight '%s': no finite value; no encoding", r->name);
            return warn_add(warn, err,
                            "weight '%s': channel %zu has no finite value; weight skipped "
                            "(no encoding)", r->name, c);
        }
    }
    st = param_alloc(p, r->name, n_ch, err);
    for (size_t c = 0; c < n_ch && st == QCAL_OK; c++) {
        qcal_encoding enc;

        st = qcal_enc_weight(mins[c], maxs[c], bits, sym, &enc, err);
        if (st != QCAL_OK) {
            char pre[128];

            if (per_ch)
                snprintf(pre, sizeof pre, "weight '%.80s' channel %zu", r->name, c);
            else
                snprintf(pre, sizeof pre, "weight '%.80s'", r->name);
            qcal_error_prefix(err, pre);
            break;
        }
        p->bitwidth = enc.bitwidth;
        p->symmetric = enc.symmetric;
        p->scale[c] = enc.scale;
        p->min[c] = enc.min;
        p->max[c] = enc.max;
        p->offset[c] = enc.offset;
    }
    if (st != QCAL_OK) {
        param_free(p);
        return st;
    }
    *added = true;
    return QCAL_OK;
}

static qcal_status fill_params(const qcal_stats *s, const qcal_encset_opts *o, qcal_enc_set *out,
                               qcal_encset_warnings *warn, qcal_error *err)
{
    bool bias_warned = false;

    out->param = calloc(s->n_weights + 1, sizeof *out->param);
    if (!out->param)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n_weights; i++) {
        const qcal_weight_rec *r = &s->weights[i];
        const float *mins = &r->min, *maxs = &r->max;
        size_t n_ch = 1;
        bool per_ch = false;
        int bits = o->param_bitwidth;
        qcal_sym sym = o->param_sym;
        bool added;
        qcal_status st;

        if (!r->name)
            return qcal_error_set(err, QCAL_E_INVALID, "weight %zu has no name", i);
        if (qcal_encset_is_bias(s, i)) {
            /* §2.4: 32-bit biases are derived (s_x * s_w), not calibrated; narrower ones are
             * encoded like a weight with tf. */
            if (o->bias_bitwidth == 32)
                continue;
            if (!bias_warned) {
                st = warn_add(warn, err,
                              "bias tensors encoded with %d bits (tf); 32-bit bias is "
                              "recommended", o->bias_bitwidth);
                if (st != QCAL_OK)
                    return st;
                bias_warned = true;
            }
            bits = o->bias_bitwidth;
            sym = QCAL_SYM_NONE;
        } else if (o->per_channel && r->ch_count > 0) {
            if (!r->ch_min || !r->ch_max)
                return qcal_error_set(err, QCAL_E_INVALID,
                                      "weight '%s': %zu channels without ranges", r->name,
                                      r->ch_count);
            mins = r->ch_min;
            maxs = r->ch_max;
            n_ch = r->ch_count;
            per_ch = true;
        }
        st = param_entry(r, mins, maxs, n_ch, per_ch, bits, sym, &out->param[out->n_param], warn,
                         &added, err);
        if (st != QCAL_OK)
            return st;
        out->n_param += added;
    }
    return QCAL_OK;
}

/* ---- entry points ---- */

qcal_status qcal_encset_compute(const qcal_stats *s, const qcal_encset_opts *o, qcal_enc_set *out,
                                qcal_encset_warnings *warn, qcal_error *err)
{
    qcal_status st;

    memset(out, 0, sizeof *out);
    if (warn)
        memset(warn, 0, sizeof *warn);
    if (!s || !o)
        return qcal_error_set(err, QCAL_E_INVALID, "encoding set: no stats or options");
    st = check_opts(o, err);
    if (st == QCAL_OK)
        st = fill_header(o, out, err);
    if (st == QCAL_OK)
        st = fill_acts(s, o, out, warn, err);
    if (st == QCAL_OK)
        st = fill_params(s, o, out, warn, err);
    if (st != QCAL_OK)
        qcal_enc_set_fini(out);
    return st;
}

void qcal_enc_set_fini(qcal_enc_set *e)
{
    if (!e)
        return;
    free(e->label);
    free(e->method);
    free(e->params);
    free(e->created);
    for (size_t i = 0; e->act && i < e->n_act; i++)
        free(e->act[i].name);
    free(e->act);
    for (size_t i = 0; e->param && i < e->n_param; i++)
        param_free(&e->param[i]);
    free(e->param);
    memset(e, 0, sizeof *e);
}
