/*
 * Fuzz harness: the QDQ exporter (src/onnx/qdq*.c) on loaded models. The input is a model file;
 * one that qcal loads (from memory, without prepare) gets an encoding set built from its tensors
 * (an 8-bit activation encoding for every float graph input and node output, a weight encoding
 * for every float initializer or Constant value, per tensor or per channel along dimension 0 or
 * the last one, symmetric or not, picked from a hash of the input), and qcal_export_qdq writes the
 * QDQ model from the file. A model it wrote must load again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qcal/model.h"
#include "qcal/encset.h"
#include "qcal/qdq.h"

/* One 8-bit encoding: asymmetric over [-1, 3] or signed symmetric over [-2, 2]. */
static void enc8(uint64_t h, float *scale, float *min, float *max, int64_t *offset, bool *sym)
{
    *sym = h & 1;
    if (*sym) {
        *scale = 2.0f / 127.0f;
        *offset = (h >> 1) & 1 ? -127 : -128;
        *min = (float)*offset * *scale;
        *max = 2.0f;
    } else {
        *scale = 4.0f / 255.0f;
        *offset = -64;
        *min = -64.0f * *scale;
        *max = *min + 255.0f * *scale;
    }
}

static bool build(const qcal_model *m, uint64_t h, qcal_enc_set *e)
{
    size_t n = qcal_model_n_tensors(m);

    memset(e, 0, sizeof *e);
    e->label = strdup("fuzz");
    e->method = strdup("minmax");
    e->params = strdup("{}");
    e->created = strdup("2026-01-01T00:00:00Z");
    e->act = calloc(n + 1, sizeof *e->act);
    e->param = calloc(n + 1, sizeof *e->param);
    if (!e->label || !e->method || !e->params || !e->created || !e->act || !e->param)
        return false;
    for (size_t i = 0; i < n; i++) {
        qcal_tensor_view v = qcal_model_tensor(m, i);
        qcal_tensor_kind k = qcal_model_tensor_kind(m, i);
        uint64_t hi = h ^ (i * 0x9e3779b97f4a7c15ull);
        if (v.dtype != QCAL_DT_FLOAT || !v.name || !v.name[0] || k == QCAL_TENSOR_CONSTANT)
            continue;
        if (k == QCAL_TENSOR_WEIGHT) {
            qcal_param_enc *p = &e->param[e->n_param];
            size_t ch = 1;
            if ((hi >> 8) % 4 == 0 && v.rank >= 1 && v.dims[0] > 0 && v.dims[0] <= 4096)
                ch = (size_t)v.dims[0];
            else if ((hi >> 8) % 4 == 1 && v.rank >= 2 && v.dims[v.rank - 1] > 0 &&
                     v.dims[v.rank - 1] <= 4096)
                ch = (size_t)v.dims[v.rank - 1];
            if (!(p->name = strdup(v.name)))
                return false;
            e->n_param++;
            p->bitwidth = 8;
            p->ch_count = ch;
            p->scale = calloc(ch, sizeof *p->scale);
            p->min = calloc(ch, sizeof *p->min);
            p->max = calloc(ch, sizeof *p->max);
            p->offset = calloc(ch, sizeof *p->offset);
            if (!p->scale || !p->min || !p->max || !p->offset)
                return false;
            for (size_t c = 0; c < ch; c++)
                enc8(hi | 1, &p->scale[c], &p->min[c], &p->max[c], &p->offset[c],
                     &p->symmetric);
        } else if ((hi >> 12) % 8 != 0) {
            qcal_act_enc *a = &e->act[e->n_act];
            if (!(a->name = strdup(v.name)))
                return false;
            e->n_act++;
            a->bitwidth = 8;
            a->is_float = (hi >> 16) % 16 == 0;
            enc8(hi >> 20, &a->scale, &a->min, &a->max, &a->offset, &a->symmetric);
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qcal_model_opts opts = { .batch = 1, .defer_prepare = true };
    qcal_model *m = NULL, *back = NULL;
    qcal_error err;
    qcal_enc_set e;
    char in[4096], out[4096];

    snprintf(in, sizeof in, "%s", fuzz_path("model.onnx"));
    snprintf(out, sizeof out, "%s", fuzz_path("qdq.onnx"));
    if (qcal_model_load_buffer(in, data, size, &opts, &m, &err) != QCAL_OK)
        return 0;
    if (build(m, fuzz_hash(data, size), &e)) {
        fuzz_write("model.onnx", data, size);
        if (qcal_export_qdq(in, NULL, &e, out, &err) == QCAL_OK) {
            qcal_status st = qcal_model_load(out, &opts, &back, &err);
            if (st != QCAL_OK && st != QCAL_E_UNSUPPORTED) {
                fprintf(stderr, "fuzz_qdq: the QDQ model does not load: %s\n", err.msg);
                abort();
            }
            qcal_model_destroy(back);
        }
    }
    qcal_enc_set_fini(&e);
    qcal_model_destroy(m);
    return 0;
}
