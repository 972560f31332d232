/*
 * Fuzz harness: the ONNX loader, prepare and one run. The input is the bytes of a model file,
 * loaded from memory (qcal_model_load_buffer) as if it sat in an empty private folder, so
 * external data can only name files that are not there. A model that loads is prepared with its
 * declared input shapes (symbolic dimensions 1) when those inputs are small, and run once on
 * zeros when everything it plans is small; the observer reads every byte of every tensor it is
 * handed, and so do the checks of the outputs and of every constant.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "fuzz.h"
#include "qcal/model.h"

#define MAX_INPUT_ELEMS ((size_t)1 << 16)   /* per graph input */
#define MAX_TENSOR_BYTES ((size_t)64 << 20) /* all tensors of the prepared model */

static void observe(void *ctx, size_t tensor, const qcal_tensor_view *v)
{
    const qcal_model *m = ctx;

    if (tensor >= qcal_model_n_tensors(m))
        abort(); /* the observer got an index that names no tensor */
    if (v->data)
        fuzz_touch(v->data, v->nelem * qcal_dtype_size(v->dtype));
}

/* Product of the declared dimensions (symbolic ones count 1); false when over max. */
static bool small(const qcal_tensor_view *v, size_t max)
{
    size_t n = 1;

    for (int d = 0; d < v->rank; d++) {
        size_t k = v->dims[d] > 0 ? (size_t)v->dims[d] : 1;
        if (k > max || n > max / k)
            return false;
        n *= k;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qcal_model_opts opts = { .batch = 1, .defer_prepare = true };
    qcal_model *m = NULL;
    qcal_error err;
    void **ins = NULL;
    size_t n_in, total = 0;
    bool run = true;

    if (qcal_model_load_buffer(fuzz_path("model.onnx"), data, size, &opts, &m, &err) != QCAL_OK) {
        fuzz_note("load", err.msg);
        return 0;
    }
    n_in = qcal_model_n_inputs(m);
    for (size_t i = 0; i < n_in; i++) {
        qcal_tensor_view v = qcal_model_input(m, i);
        if (!small(&v, MAX_INPUT_ELEMS)) {
            fuzz_note("skip", "large input");
            goto out;
        }
    }
    /* Structure queries work on a loaded model. */
    for (size_t i = 0; i < qcal_model_n_nodes(m); i++) {
        (void)qcal_model_node_name(m, i);
        for (size_t k = 0; k < qcal_model_node_n_inputs(m, i); k++)
            if (qcal_model_node_input(m, i, k) != SIZE_MAX &&
                qcal_model_node_input(m, i, k) >= qcal_model_n_tensors(m))
                abort();
        for (size_t k = 0; k < qcal_model_node_n_outputs(m, i); k++)
            if (qcal_model_node_output(m, i, k) != SIZE_MAX &&
                qcal_model_node_output(m, i, k) >= qcal_model_n_tensors(m))
                abort(); /* SIZE_MAX: an omitted optional output (RNN's Y) */
    }
    if (qcal_model_prepare(m, NULL, 0, &err) != QCAL_OK) {
        fuzz_note("prepare", err.msg);
        goto out;
    }
    for (size_t i = 0; i < qcal_model_n_tensors(m); i++) {
        qcal_tensor_view v = qcal_model_tensor(m, i);
        size_t es = qcal_dtype_size(v.dtype);
        (void)qcal_model_tensor_kind(m, i);
        (void)qcal_model_tensor_producer(m, i);
        if (es && v.nelem > MAX_TENSOR_BYTES / es)
            run = false;
        else if ((total += v.nelem * es) > MAX_TENSOR_BYTES)
            run = false;
        if (v.data)
            fuzz_touch(v.data, v.nelem * es);
    }
    if (!run) {
        fuzz_note("skip", "large tensors");
        goto out;
    }
    ins = calloc(n_in + 1, sizeof *ins);
    if (!ins)
        goto out;
    for (size_t i = 0; i < n_in; i++) {
        qcal_tensor_view v = qcal_model_input(m, i);
        if (!(ins[i] = calloc(v.nelem + 1, qcal_dtype_size(v.dtype) + 1)))
            goto out;
    }
    if (qcal_model_run(m, (const void *const *)ins, observe, m, &err) != QCAL_OK) {
        fuzz_note("run", err.msg);
    } else {
        fuzz_note("ran", "ok");
        for (size_t i = 0; i < qcal_model_n_outputs(m); i++) {
            qcal_tensor_view v = qcal_model_output(m, i);
            if (v.data)
                fuzz_touch(v.data, v.nelem * qcal_dtype_size(v.dtype));
        }
    }
out:
    for (size_t i = 0; ins && i < n_in; i++)
        free(ins[i]);
    free(ins);
    qcal_model_destroy(m);
    return 0;
}
