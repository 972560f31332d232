/*
 * AIMET encodings JSON, versions 0.6.1 (ALGORITHMS.md §4.1; also QNN --quantization_overrides)
 * and 1.0.0 (§4.2), built with jansson from a qcal_enc_set and written atomically.
 */
#include <math.h>
#include <string.h>

#include "export/export.h"

/* A float32 value as a JSON real; NULL for a non-finite value (jansson refuses them). */
static json_t *real32(float x)
{
    return json_real((double)x);
}

static qcal_status check_name(const char *kind, const char *name, size_t i, qcal_error *err)
{
    if (!name || !*name)
        return qcal_error_set(err, QCAL_E_INVALID, "%s encoding %zu has no name", kind, i);
    return QCAL_OK;
}

static qcal_status check_param(const qcal_param_enc *p, size_t i, qcal_error *err)
{
    qcal_status st = check_name("parameter", p->name, i, err);

    if (st != QCAL_OK)
        return st;
    if (p->ch_count == 0 || !p->scale || !p->min || !p->max || !p->offset)
        return qcal_error_set(err, QCAL_E_INVALID, "parameter '%s' has no channel encodings",
                              p->name);
    return QCAL_OK;
}

/* Adds value under name to obj unless the name is taken (new reference consumed). */
static qcal_status put_unique(json_t *obj, const char *kind, const char *name, json_t *value,
                              qcal_error *err)
{
    if (!value)
        return qcal_error_set(err, QCAL_E_NUMERIC,
                              "%s '%s': cannot write the encoding (non-finite value?)", kind,
                              name);
    if (json_object_get(obj, name)) {
        json_decref(value);
        return qcal_error_set(err, QCAL_E_INVALID, "duplicate %s name '%s'", kind, name);
    }
    if (json_object_set_new(obj, name, value) != 0)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    return QCAL_OK;
}

/* ---- 0.6.1 ---- */

/* One 0.6.1 integer entry; NULL if a real is not finite (json_real gives NULL and json_pack
 * fails on it, releasing the other values). */
static json_t *entry061(int bitwidth, bool symmetric, float scale, int64_t offset, float min,
                        float max)
{
    return json_pack("{s:i, s:s, s:s, s:o, s:o, s:I, s:o}", "bitwidth", bitwidth, "dtype",
                     "int", "is_symmetric", symmetric ? "True" : "False", "max", real32(max),
                     "min", real32(min), "offset", (json_int_t)offset, "scale", real32(scale));
}

static qcal_status acts061(const qcal_enc_set *e, json_t *dict, qcal_error *err)
{
    for (size_t i = 0; i < e->n_act; i++) {
        const qcal_act_enc *a = &e->act[i];
        json_t *entry;
        qcal_status st = check_name("activation", a->name, i, err);

        if (st != QCAL_OK)
            return st;
        if (a->is_float)
            entry = json_pack("{s:i, s:s}", "bitwidth", a->bitwidth, "dtype", "float");
        else
            entry = entry061(a->bitwidth, a->symmetric, a->scale, a->offset, a->min, a->max);
        st = put_unique(dict, "activation", a->name,
                        entry ? json_pack("[o]", entry) : NULL, err);
        if (st != QCAL_OK)
            return st;
    }
    return QCAL_OK;
}

static qcal_status params061(const qcal_enc_set *e, json_t *dict, qcal_error *err)
{
    for (size_t i = 0; i < e->n_param; i++) {
        const qcal_param_enc *p = &e->param[i];
        json_t *list;
        qcal_status st = check_param(p, i, err);

        if (st != QCAL_OK)
            return st;
        list = json_array();
        for (size_t c = 0; list && c < p->ch_count; c++) {
            json_t *entry = entry061(p->bitwidth, p->symmetric, p->scale[c], p->offset[c],
                                     p->min[c], p->max[c]);

            if (json_array_append_new(list, entry) != 0) {
                json_decref(list);
                list = NULL;
            }
        }
        st = put_unique(dict, "parameter", p->name, list, err);
        if (st != QCAL_OK)
            return st;
    }
    return QCAL_OK;
}

qcal_status qcal_export_aimet(const qcal_enc_set *e, const char *path, qcal_error *err)
{
    json_t *root, *acts = json_object(), *params = json_object();
    json_t *args = e ? qcal__export_quantizer_args(e) : NULL;
    qcal_status st = QCAL_OK;

    if (!e) {
        st = qcal_error_set(err, QCAL_E_INVALID, "no encoding set");
        goto out;
    }
    root = json_pack("{s:s, s:O, s:O, s:O}", "version", "0.6.1", "activation_encodings", acts,
                     "param_encodings", params, "quantizer_args", args);
    if (!root) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    /* The dicts are shared with root ("O" adds a reference), so filling them fills root. */
    st = acts061(e, acts, err);
    if (st == QCAL_OK)
        st = params061(e, params, err);
    if (st == QCAL_OK)
        st = qcal__export_write_json(path, root, err);
    json_decref(root);
out:
    json_decref(acts);
    json_decref(params);
    json_decref(args);
    return st;
}

qcal_status qcal_export_qnn(const qcal_enc_set *e, const char *path, qcal_error *err)
{
    return qcal_export_aimet(e, path, err);
}

/* ---- 1.0.0 ---- */

/* Sets entry's scale (n reals) and offset (n integers) arrays; QCAL_E_NUMERIC on a non-finite
 * scale (or an allocation failure), leaving entry without them. */
static qcal_status scale_offset(const float *scale, const int64_t *offset, size_t n, json_t *entry)
{
    json_t *s = json_array(), *o = json_array();

    for (size_t c = 0; s && o && c < n; c++) {
        if (json_array_append_new(s, real32(scale[c])) != 0 ||
            json_array_append_new(o, json_integer((json_int_t)offset[c])) != 0)
            break;
    }
    if (!s || !o || json_array_size(s) != n || json_array_size(o) != n ||
        json_object_set_new(entry, "scale", s) != 0) {
        json_decref(s);
        json_decref(o);
        return QCAL_E_NUMERIC;
    }
    if (json_object_set_new(entry, "offset", o) != 0)
        return QCAL_E_NOMEM;
    return QCAL_OK;
}

/* One 1.0.0 entry; floats carry no is_sym, scale or offset. */
static json_t *entry100(const char *name, int bw, bool is_float, bool per_channel, bool sym,
                        const float *scale, const int64_t *offset, size_t n)
{
    json_t *entry = json_pack("{s:s, s:i, s:s, s:s}", "name", name, "bw", bw, "dtype",
                              is_float ? "FLOAT" : "INT", "enc_type",
                              per_channel ? "PER_CHANNEL" : "PER_TENSOR");

    if (!entry || is_float)
        return entry;
    if (json_object_set_new(entry, "is_sym", json_boolean(sym)) != 0 ||
        scale_offset(scale, offset, n, entry) != QCAL_OK) {
        json_decref(entry);
        return NULL;
    }
    return entry;
}

/* Appends entry to list unless its name is already in seen (entry consumed). */
static qcal_status append_unique(json_t *list, json_t *seen, const char *kind, const char *name,
                                 json_t *entry, qcal_error *err)
{
    qcal_status st = put_unique(seen, kind, name, json_true(), err);

    if (st != QCAL_OK) {
        json_decref(entry);
        return st;
    }
    if (!entry)
        return qcal_error_set(err, QCAL_E_NUMERIC,
                              "%s '%s': cannot write the encoding (non-finite value?)", kind,
                              name);
    if (json_array_append_new(list, entry) != 0)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    return QCAL_OK;
}

static qcal_status lists100(const qcal_enc_set *e, json_t *acts, json_t *params, qcal_error *err)
{
    json_t *seen_a = json_object(), *seen_p = json_object();
    qcal_status st = QCAL_OK;

    if (!seen_a || !seen_p)
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    for (size_t i = 0; st == QCAL_OK && i < e->n_act; i++) {
        const qcal_act_enc *a = &e->act[i];

        st = check_name("activation", a->name, i, err);
        if (st == QCAL_OK)
            st = append_unique(acts, seen_a, "activation", a->name,
                               entry100(a->name, a->bitwidth, a->is_float, false, a->symmetric,
                                        &a->scale, &a->offset, 1),
                               err);
    }
    for (size_t i = 0; st == QCAL_OK && i < e->n_param; i++) {
        const qcal_param_enc *p = &e->param[i];

        st = check_param(p, i, err);
        if (st == QCAL_OK)
            st = append_unique(params, seen_p, "parameter", p->name,
                               entry100(p->name, p->bitwidth, false, p->ch_count > 1,
                                        p->symmetric, p->scale, p->offset, p->ch_count),
                               err);
    }
    json_decref(seen_a);
    json_decref(seen_p);
    return st;
}

qcal_status qcal_export_aimet1(const qcal_enc_set *e, const char *path, qcal_error *err)
{
    json_t *root, *acts = json_array(), *params = json_array();
    json_t *args = e ? qcal__export_quantizer_args(e) : NULL;
    qcal_status st = QCAL_OK;

    if (!e) {
        st = qcal_error_set(err, QCAL_E_INVALID, "no encoding set");
        goto out;
    }
    root = json_pack("{s:O, s:[], s:O, s:O, s:s}", "activation_encodings", acts,
                     "excluded_layers", "param_encodings", params, "quantizer_args", args,
                     "version", "1.0.0");
    if (!root) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    st = lists100(e, acts, params, err);
    if (st == QCAL_OK)
        st = qcal__export_write_json(path, root, err);
    json_decref(root);
out:
    json_decref(acts);
    json_decref(params);
    json_decref(args);
    return st;
}
