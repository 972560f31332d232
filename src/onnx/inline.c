/*
 * Inlining of model-local functions (ONNX IR 8+: ModelProto.functions, FunctionProto). A call
 * is a node whose (domain, op_type, overload) equals a function's (domain, name, overload); it is
 * replaced by the function's nodes with
 *   - formal inputs renamed to the call's inputs ("" when the call omits one),
 *   - formal outputs renamed to the call's outputs (a unique internal name when omitted),
 *   - every other name of the body renamed to "<call node name>/<name>" (made unique),
 *   - attributes with ref_attr_name replaced by the call's attribute of that name, else the
 *     function's default (attribute_proto, IR 9+), else dropped (ONNX IR spec, "Functions"),
 *   - the body's default-domain opset taken from the function's opset_import.
 * Bodies may call functions again, up to QCAL__INLINE_MAX_DEPTH deep; the whole expansion is
 * bounded by QCAL__INLINE_MAX_NODES steps. Every lookup is a hash map, so the expansion is linear
 * in the size of the result.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "onnx/inline.h"

#define MAX_OPSET 22

/* ---- string -> pointer hash map (open addressing, keys borrowed) ---- */
typedef struct smap {
    size_t cap, n;
    const char **keys;
    const void **vals;
} smap;

static const void *smap_get(const smap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = qcal__str_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return NULL;
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
    }
}

static bool smap_grow(smap *m)
{
    size_t cap = m->cap ? 2 * m->cap : 64;
    const char **keys = calloc(cap, sizeof *keys);
    const void **vals = calloc(cap, sizeof *vals);

    if (!keys || !vals) {
        free(keys);
        free(vals);
        return false;
    }
    for (size_t k = 0; k < m->cap; k++) {
        size_t i;
        if (!m->keys[k])
            continue;
        for (i = qcal__str_hash(m->keys[k]) & (cap - 1); keys[i]; i = (i + 1) & (cap - 1)) {}
        keys[i] = m->keys[k];
        vals[i] = m->vals[k];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return true;
}

/* Inserts or replaces; false on allocation failure. */
static bool smap_put(smap *m, const char *key, const void *val)
{
    size_t i;

    if (2 * (m->n + 1) > m->cap && !smap_grow(m))
        return false;
    for (i = qcal__str_hash(key) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1)) {
        if (strcmp(m->keys[i], key) == 0) {
            m->vals[i] = val;
            return true;
        }
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return true;
}

static void smap_fini(smap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- the expansion ---- */
typedef struct finfo {
    const Onnx__FunctionProto *fn;
    uint64_t size;   /* nodes and calls its expansion has (saturates above the limit) */
    int state;       /* 0 not counted, 1 being counted, 2 counted */
} finfo;

typedef struct expander {
    const Onnx__ModelProto *mp;
    const char *path;
    finfo *fi;       /* one per function of mp */
    smap funcs;      /* "domain\x1fname\x1foverload" -> finfo */
    smap used;       /* every tensor name of the expanded graph */
    char **owned;    /* generated names and function keys, freed at the end */
    size_t n_owned, cap_owned;
    qcal__xnode *x;
    size_t n, cap;
    size_t steps;    /* nodes and calls expanded so far */
    qcal_error *err;
} expander;

/* One function call being expanded (NULL fn: the graph itself). */
typedef struct scope {
    const Onnx__FunctionProto *fn;
    smap names; /* body name -> name in the expanded graph */
    const Onnx__AttributeProto *const *cattr;
    const char *const *cattr_name;
    size_t n_cattr;
    int opset;
} scope;

static qcal_status oom(expander *e)
{
    return qcal_error_set(e->err, QCAL_E_NOMEM, "%s: out of memory inlining functions", e->path);
}

static char *keep(expander *e, char *s)
{
    if (!s)
        return NULL;
    if (e->n_owned == e->cap_owned) {
        size_t cap = e->cap_owned ? 2 * e->cap_owned : 64;
        char **grown = realloc(e->owned, cap * sizeof *grown);
        if (!grown) {
            free(s);
            return NULL;
        }
        e->owned = grown;
        e->cap_owned = cap;
    }
    e->owned[e->n_owned++] = s;
    return s;
}

static char *fn_key(const char *domain, const char *name, const char *overload)
{
    size_t len = strlen(domain) + strlen(name) + strlen(overload) + 3;
    char *k = malloc(len);

    if (k)
        snprintf(k, len, "%s\x1f%s\x1f%s", domain, name, overload);
    return k;
}

static const char *str_or(const char *s)
{
    return s ? s : "";
}

/* A name "<prefix>/<base>" not used anywhere in the graph yet (suffix _2, _3, ... if needed). */
static const char *fresh_name(expander *e, const char *prefix, const char *base)
{
    size_t len = strlen(prefix) + strlen(base) + 24;
    char *s = malloc(len);

    if (!s)
        return NULL;
    snprintf(s, len, "%s/%s", prefix, base);
    for (unsigned long k = 2; smap_get(&e->used, s); k++)
        snprintf(s, len, "%s/%s_%lu", prefix, base, k);
    if (!keep(e, s) || !smap_put(&e->used, s, s))
        return NULL;
    return s;
}

/* The call's attribute named name, else the function's default for it; NULL if neither. */
static const Onnx__AttributeProto *find_ref(const scope *sc, const char *name)
{
    for (size_t k = 0; k < sc->n_cattr; k++)
        if (strcmp(sc->cattr_name[k], name) == 0)
            return sc->cattr[k];
    for (size_t k = 0; k < sc->fn->n_attribute_proto; k++)
        if (sc->fn->attribute_proto[k]->name &&
            strcmp(sc->fn->attribute_proto[k]->name, name) == 0)
            return sc->fn->attribute_proto[k];
    return NULL;
}

static int scope_opset(const Onnx__FunctionProto *fn, int model_opset)
{
    for (size_t i = 0; i < fn->n_opset_import; i++) {
        const char *dom = str_or(fn->opset_import[i]->domain);
        if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0)
            return (int)fn->opset_import[i]->version;
    }
    return model_opset;
}

static qcal_status expand_node(expander *e, const scope *sc, const Onnx__NodeProto *np,
                               const char *name, int depth);

/* The function np calls, or NULL. *st is set on allocation failure. */
static finfo *callee(expander *e, const Onnx__NodeProto *np, qcal_status *st)
{
    char *key;
    finfo *f;

    if (!e->funcs.n)
        return NULL;
    if (!(key = fn_key(str_or(np->domain), str_or(np->op_type), str_or(np->overload)))) {
        *st = oom(e);
        return NULL;
    }
    f = (finfo *)smap_get(&e->funcs, key);
    free(key);
    return f;
}

/*
 * Counts the nodes and calls f's expansion has, memoised, so a file of a few kilobytes that
 * would expand to billions of nodes is refused before anything is allocated. A function met
 * again while it is being counted calls itself.
 */
static qcal_status count_function(expander *e, finfo *f, int depth)
{
    const Onnx__FunctionProto *fn = f->fn;
    qcal_status st = QCAL_OK;
    uint64_t size = 0;

    if (f->state == 2)
        return QCAL_OK;
    if (f->state == 1)
        return qcal_error_set(e->err, QCAL_E_CORRUPT, "%s: local function '%s' calls itself",
                              e->path, str_or(fn->name));
    if (depth > QCAL__INLINE_MAX_DEPTH)
        return qcal_error_set(e->err, QCAL_E_UNSUPPORTED, "%s: local functions nest more than %d "
                              "deep (function '%s')", e->path, QCAL__INLINE_MAX_DEPTH,
                              str_or(fn->name));
    f->state = 1;
    for (size_t j = 0; j < fn->n_node && st == QCAL_OK; j++) {
        finfo *c = callee(e, fn->node[j], &st);
        if (c && (st = count_function(e, c, depth + 1)) == QCAL_OK)
            size += c->size;
        size += 1;
        if (size > QCAL__INLINE_MAX_NODES)
            size = QCAL__INLINE_MAX_NODES + 1ull;
    }
    f->state = 2;
    f->size = size;
    return st;
}

static qcal_status expand_call(expander *e, const Onnx__FunctionProto *fn, const char *const *in,
                               size_t n_in, const char *const *out, size_t n_out,
                               const Onnx__AttributeProto *const *attr,
                               const char *const *attr_name, size_t n_attr, const char *name,
                               int opset, int depth)
{
    scope sc = { fn, { 0, 0, NULL, NULL }, attr, attr_name, n_attr, scope_opset(fn, opset) };
    const char *fname = str_or(fn->name);
    qcal_status st = QCAL_OK;

    if (depth > QCAL__INLINE_MAX_DEPTH) {
        st = qcal_error_set(e->err, QCAL_E_UNSUPPORTED, "%s: node '%s': local functions nest "
                            "more than %d deep (function '%s')", e->path, name,
                            QCAL__INLINE_MAX_DEPTH, fname);
        goto out;
    }
    if (sc.opset > MAX_OPSET) {
        st = qcal_error_set(e->err, QCAL_E_UNSUPPORTED, "%s: function '%s': opset %d (at most "
                            "%d supported)", e->path, fname, sc.opset, MAX_OPSET);
        goto out;
    }
    for (size_t k = 0; k < fn->n_input; k++) {
        const char *actual = k < n_in ? in[k] : "";
        if (!fn->input[k] || !smap_put(&sc.names, fn->input[k], actual)) {
            st = fn->input[k] ? oom(e) : qcal_error_set(e->err, QCAL_E_CORRUPT, "%s: function "
                                                        "'%s': unnamed input", e->path, fname);
            goto out;
        }
    }
    for (size_t k = 0; k < fn->n_output; k++) {
        const char *actual = k < n_out && out[k][0] ? out[k] : NULL;
        if (!fn->output[k] || !fn->output[k][0]) {
            st = qcal_error_set(e->err, QCAL_E_CORRUPT, "%s: function '%s': unnamed output",
                                e->path, fname);
            goto out;
        }
        if (!actual && !(actual = fresh_name(e, name, fn->output[k]))) {
            st = oom(e);
            goto out;
        }
        if (!smap_put(&sc.names, fn->output[k], actual)) {
            st = oom(e);
            goto out;
        }
    }
    /* Names computed inside the body; a body may list its nodes in any order. */
    for (size_t j = 0; j < fn->n_node; j++) {
        const Onnx__NodeProto *np = fn->node[j];
        for (size_t k = 0; k < np->n_output; k++) {
            const char *o = np->output[k];
            const char *actual;
            if (!o || !o[0] || smap_get(&sc.names, o))
                continue;
            if (!(actual = fresh_name(e, name, o)) || !smap_put(&sc.names, o, actual)) {
                st = oom(e);
                goto out;
            }
        }
    }
    for (size_t j = 0; j < fn->n_node && st == QCAL_OK; j++) {
        const Onnx__NodeProto *np = fn->node[j];
        char inner[64];
        const char *base = np->name && np->name[0] ? np->name : inner;
        size_t len;
        char *full;

        snprintf(inner, sizeof inner, "%s_%zu", np->op_type ? np->op_type : "node", j);
        len = strlen(name) + strlen(base) + 2;
        full = malloc(len);
        if (!full) {
            st = oom(e);
            break;
        }
        snprintf(full, len, "%s/%s", name, base);
        st = expand_node(e, &sc, np, full, depth);
        free(full);
    }
out:
    smap_fini(&sc.names);
    return st;
}

static qcal_status push_xnode(expander *e, const Onnx__NodeProto *np, const char *name,
                              const char *const *in, const char *const *out,
                              const Onnx__AttributeProto **attr, const char **attr_name,
                              size_t n_attr, int opset)
{
    qcal__xnode *x;

    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 64;
        qcal__xnode *grown = realloc(e->x, cap * sizeof *grown);
        if (!grown)
            return oom(e);
        e->x = grown;
        e->cap = cap;
    }
    x = &e->x[e->n++];
    memset(x, 0, sizeof *x);
    x->np = np;
    x->opset = opset;
    x->attr = attr;
    x->attr_name = attr_name;
    x->n_attr = n_attr;
    x->name = strdup(name);
    x->in = calloc(np->n_input + 1, sizeof *x->in);
    x->out = calloc(np->n_output + 1, sizeof *x->out);
    if (!x->name || !x->in || !x->out)
        return oom(e);
    for (size_t k = 0; k < np->n_input; k++, x->n_in++)
        if (!(x->in[k] = strdup(in[k])))
            return oom(e);
    for (size_t k = 0; k < np->n_output; k++, x->n_out++)
        if (!(x->out[k] = strdup(out[k])))
            return oom(e);
    return QCAL_OK;
}

/* Renames np's inputs, outputs and attributes for scope sc; then inlines it (a call) or
 * appends it. */
static qcal_status expand_node(expander *e, const scope *sc, const Onnx__NodeProto *np,
                               const char *name, int depth)
{
    const char **in = calloc(np->n_input + 1, sizeof *in);
    const char **out = calloc(np->n_output + 1, sizeof *out);
    const Onnx__AttributeProto **attr = calloc(np->n_attribute + 1, sizeof *attr);
    const char **attr_name = calloc(np->n_attribute + 1, sizeof *attr_name);
    finfo *f = NULL;
    size_t n_attr = 0;
    qcal_status st = QCAL_OK;

    if (!in || !out || !attr || !attr_name) {
        st = oom(e);
        goto out;
    }
    if (++e->steps > QCAL__INLINE_MAX_NODES) {
        st = qcal_error_set(e->err, QCAL_E_UNSUPPORTED, "%s: more than %u nodes after inlining "
                            "local functions", e->path, QCAL__INLINE_MAX_NODES);
        goto out;
    }
    for (size_t k = 0; k < np->n_input + np->n_output; k++) {
        const char *s = str_or(k < np->n_input ? np->input[k] : np->output[k - np->n_input]);
        const char *r = s;
        if (sc->fn && s[0] && !(r = smap_get(&sc->names, s))) {
            st = qcal_error_set(e->err, QCAL_E_CORRUPT, "%s: function '%s': node '%s' reads "
                                "'%s', which is neither a function input nor computed in the "
                                "function", e->path, str_or(sc->fn->name), name, s);
            goto out;
        }
        if (k < np->n_input)
            in[k] = r;
        else
            out[k - np->n_input] = r;
    }
    for (size_t k = 0; k < np->n_attribute; k++) {
        const Onnx__AttributeProto *a = np->attribute[k];
        const char *ref = str_or(a->ref_attr_name);
        if (ref[0]) {
            if (!sc->fn) {
                st = qcal_error_set(e->err, QCAL_E_CORRUPT, "%s: node '%s': attribute '%s' "
                                    "refers to '%s' outside a function", e->path, name,
                                    str_or(a->name), ref);
                goto out;
            }
            if (!(a = find_ref(sc, ref)))
                continue; /* neither given nor defaulted: the attribute is absent */
        }
        attr[n_attr] = a;
        attr_name[n_attr++] = str_or(np->attribute[k]->name);
    }
    f = callee(e, np, &st);
    if (st != QCAL_OK)
        goto out;
    if (f) {
        st = expand_call(e, f->fn, in, np->n_input, out, np->n_output, attr, attr_name, n_attr,
                         name, sc->opset, depth + 1);
    } else {
        size_t before = e->n;
        st = push_xnode(e, np, name, in, out, attr, attr_name, n_attr, sc->opset);
        if (e->n != before)
            attr = NULL, attr_name = NULL; /* owned by the xnode now, even if it failed */
    }
out:
    free(in);
    free(out);
    free(attr);
    free(attr_name);
    return st;
}

void qcal__xnodes_free(qcal__xnode *x, size_t n)
{
    if (!x)
        return;
    for (size_t i = 0; i < n; i++) {
        free(x[i].name);
        for (size_t k = 0; x[i].in && k < x[i].n_in; k++)
            free(x[i].in[k]);
        for (size_t k = 0; x[i].out && k < x[i].n_out; k++)
            free(x[i].out[k]);
        free(x[i].in);
        free(x[i].out);
        free(x[i].attr);
        free(x[i].attr_name);
    }
    free(x);
}

qcal_status qcal__onnx_expand(const Onnx__ModelProto *mp, const Onnx__GraphProto *gp, int opset,
                              const char *path, qcal__xnode **out, size_t *n, qcal_error *err)
{
    expander e;
    scope top = { NULL, { 0, 0, NULL, NULL }, NULL, NULL, 0, opset };
    qcal_status st = QCAL_OK;

    memset(&e, 0, sizeof e);
    e.mp = mp;
    e.path = path;
    e.err = err;
    *out = NULL;
    *n = 0;
    e.fi = calloc(mp->n_functions + 1, sizeof *e.fi);
    if (!e.fi) {
        st = oom(&e);
        goto out;
    }
    for (size_t i = 0; i < mp->n_functions; i++) {
        const Onnx__FunctionProto *fn = mp->functions[i];
        char *key = keep(&e, fn_key(str_or(fn->domain), str_or(fn->name), str_or(fn->overload)));
        e.fi[i].fn = fn;
        if (!key || !smap_put(&e.funcs, key, &e.fi[i])) {
            st = oom(&e);
            goto out;
        }
        if (e.funcs.n != i + 1) {
            st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: local function '%s' (domain '%s') is "
                                "defined twice", path, str_or(fn->name), str_or(fn->domain));
            goto out;
        }
    }
    if (e.funcs.n) {
        /* Names already taken by the graph, so that generated ones cannot clash. */
        for (size_t i = 0; i < gp->n_input; i++)
            if (gp->input[i]->name && !smap_put(&e.used, gp->input[i]->name, gp->input[i]->name))
                st = oom(&e);
        for (size_t i = 0; i < gp->n_initializer; i++)
            if (gp->initializer[i]->name &&
                !smap_put(&e.used, gp->initializer[i]->name, gp->initializer[i]->name))
                st = oom(&e);
        for (size_t i = 0; i < gp->n_node; i++)
            for (size_t k = 0; k < gp->node[i]->n_output; k++)
                if (gp->node[i]->output[k] &&
                    !smap_put(&e.used, gp->node[i]->output[k], gp->node[i]->output[k]))
                    st = oom(&e);
    }
    if (e.funcs.n) {
        uint64_t total = 0;
        for (size_t i = 0; i < gp->n_node && st == QCAL_OK; i++) {
            finfo *c = callee(&e, gp->node[i], &st);
            if (c && (st = count_function(&e, c, 1)) == QCAL_OK)
                total += c->size;
            total += 1;
            if (st == QCAL_OK && total > QCAL__INLINE_MAX_NODES)
                st = qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: more than %u nodes after "
                                    "inlining local functions", path, QCAL__INLINE_MAX_NODES);
        }
    }
    for (size_t i = 0; i < gp->n_node && st == QCAL_OK; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        char defname[64];
        snprintf(defname, sizeof defname, "%s_%zu", np->op_type ? np->op_type : "node", i);
        st = expand_node(&e, &top, np, np->name && np->name[0] ? np->name : defname, 0);
    }
out:
    for (size_t i = 0; i < e.n_owned; i++)
        free(e.owned[i]);
    free(e.owned);
    smap_fini(&e.funcs);
    smap_fini(&e.used);
    free(e.fi);
    if (st != QCAL_OK) {
        qcal__xnodes_free(e.x, e.n);
        return st;
    }
    *out = e.x;
    *n = e.n;
    return QCAL_OK;
}
