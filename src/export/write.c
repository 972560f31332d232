/*
 * Shared parts of the exports: format names, the JSON writer (atomic, through src/util/atomic.h),
 * the AIMET quant_scheme / quantizer_args (ALGORITHMS.md §4.1-§4.2) and the format dispatcher.
 */
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "util/atomic.h"

static const char *const FORMAT_NAMES[] = { "aimet", "aimet1", "qnn", "trt" };
_Static_assert(sizeof FORMAT_NAMES / sizeof FORMAT_NAMES[0] == QCAL_EXPORT_COUNT,
               "one name per qcal_export_format");

const char *qcal_export_format_name(qcal_export_format f)
{
    return (unsigned)f < QCAL_EXPORT_COUNT ? FORMAT_NAMES[f] : "?";
}

qcal_status qcal_export_format_parse(const char *name, qcal_export_format *out, qcal_error *err)
{
    *out = QCAL_EXPORT_AIMET;
    for (int i = 0; name && i < QCAL_EXPORT_COUNT; i++) {
        if (strcmp(name, FORMAT_NAMES[i]) == 0) {
            *out = (qcal_export_format)i;
            return QCAL_OK;
        }
    }
    if (name && strcmp(name, "qdq") == 0)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED,
                              "format 'qdq' is not written by the encodings exporter");
    return qcal_error_set(err, QCAL_E_INVALID,
                          "unknown format '%s' (expected aimet, aimet1, qnn or trt)",
                          name ? name : "(null)");
}

qcal_status qcal__export_write_json(const char *path, const json_t *root, qcal_error *err)
{
    char *text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(4) | JSON_REAL_PRECISION(9));
    char *full;
    size_t len;
    qcal_status st;

    if (!text)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: cannot serialise the JSON", path);
    len = strlen(text);
    full = realloc(text, len + 2);
    if (!full) {
        free(text);
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    }
    full[len] = '\n';
    full[len + 1] = '\0';
    st = qcal__atomic_write(path, full, len + 1, err);
    free(full);
    return st;
}

const char *qcal_export_quant_scheme(const char *method, const char **extra_method)
{
    *extra_method = NULL;
    if (!method)
        return "post_training_tf";
    if (strcmp(method, "enhanced") == 0)
        return "post_training_tf_enhanced";
    if (strcmp(method, "percentile") == 0)
        return "post_training_percentile";
    if (strcmp(method, "entropy") == 0)
        *extra_method = "entropy";
    else if (strcmp(method, "mse") == 0)
        *extra_method = "mse";
    return "post_training_tf";
}

json_t *qcal__export_quantizer_args(const qcal_enc_set *e)
{
    json_t *params = e->params ? json_loads(e->params, 0, NULL) : NULL;
    json_t *v, *args;
    const char *qm, *scheme = qcal_export_quant_scheme(e->method, &qm);
    int act_bits = 8, param_bits = 8;
    int sym = 1, per_channel = 0;

    /* Fallbacks from the entries first, overridden by what params says. */
    for (size_t i = 0; i < e->n_act; i++) {
        if (!e->act[i].is_float) {
            act_bits = e->act[i].bitwidth;
            break;
        }
    }
    if (e->n_param > 0) {
        param_bits = e->param[0].bitwidth;
        sym = e->param[0].symmetric;
    }
    for (size_t i = 0; i < e->n_param; i++)
        per_channel |= e->param[i].ch_count > 1;
    if (json_is_object(params)) {
        if (json_is_integer(v = json_object_get(params, "act_bitwidth")))
            act_bits = (int)json_integer_value(v);
        if (json_is_integer(v = json_object_get(params, "param_bitwidth")))
            param_bits = (int)json_integer_value(v);
        if (json_is_string(v = json_object_get(params, "param_symmetric")))
            sym = strcmp(json_string_value(v), "none") != 0;
        if (json_is_boolean(v = json_object_get(params, "per_channel")))
            per_channel = json_is_true(v);
    }
    json_decref(params);
    args = json_pack("{s:i, s:s, s:b, s:i, s:b, s:s}", "activation_bitwidth", act_bits, "dtype",
                     "int", "is_symmetric", sym, "param_bitwidth", param_bits,
                     "per_channel_quantization", per_channel, "quant_scheme", scheme);
    if (args && qm && json_object_set_new(args, "qcal_method", json_string(qm)) != 0) {
        json_decref(args);
        return NULL;
    }
    return args;
}

qcal_status qcal_export_write(qcal_export_format f, const qcal_enc_set *e, const qcal_stats *s,
                              const qcal_encset_opts *o, int trt_version, const char *path,
                              qcal_error *err)
{
    switch (f) {
    case QCAL_EXPORT_AIMET:
        return qcal_export_aimet(e, path, err);
    case QCAL_EXPORT_AIMET1:
        return qcal_export_aimet1(e, path, err);
    case QCAL_EXPORT_QNN:
        return qcal_export_qnn(e, path, err);
    case QCAL_EXPORT_TRT:
        return qcal_export_trt(s, o, trt_version, path, err);
    default:
        return qcal_error_set(err, QCAL_E_INVALID, "bad export format %d", (int)f);
    }
}
