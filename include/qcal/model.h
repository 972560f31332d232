/*
 * Loading an ONNX model, resolving its shapes, and running it one sample at a time.
 *
 *   qcal_model_load()    parse the file, check the graph, resolve every node to a kernel
 *                        (one error lists every unsupported (op, opset) at once), then prepare
 *                        it with the declared input shapes (symbolic dimensions take opts.batch
 *                        for the first dimension and 1 elsewhere) unless opts.defer_prepare.
 *   qcal_model_prepare() shape inference, constant folding and buffer planning for concrete
 *                        input shapes. Values given for inputs that decide shapes (e.g. the
 *                        `shape` input of a Reshape) are bound as constants.
 *   qcal_model_run()     one forward pass; every computed tensor goes to the observer right
 *                        after its node ran; buffers are reused after their last consumer.
 */
#ifndef QCAL_MODEL_H
#define QCAL_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "qcal/status.h"
#include "qcal/tensor.h"

typedef struct qcal_model qcal_model; /* opaque */

typedef struct qcal_model_opts {
    int64_t batch;      /* value of a symbolic first dimension; 0 means 1 */
    bool defer_prepare; /* load only; the caller calls qcal_model_prepare() */
} qcal_model_opts;

/* What a tensor is, as the statistics see it. */
typedef enum qcal_tensor_kind {
    QCAL_TENSOR_INPUT = 0,   /* graph input fed per sample */
    QCAL_TENSOR_ACTIVATION,  /* computed per sample */
    QCAL_TENSOR_OUTPUT,      /* graph output computed per sample */
    QCAL_TENSOR_WEIGHT,      /* initializer or Constant-node value (a parameter) */
    QCAL_TENSOR_CONSTANT,    /* value folded from constants (shape arithmetic) */
} qcal_tensor_kind;

/* Loads path. On failure returns non-zero, sets *out to NULL and fills err. opts may be NULL.
 * The caller owns *out (qcal_model_destroy). */
qcal_status qcal_model_load(const char *path, const qcal_model_opts *opts, qcal_model **out,
                            qcal_error *err);
/* The same from the bytes of a model file in memory (data[len], not kept): name stands for the
 * file in messages and qcal_model_path, and its folder is where external data is looked up. */
qcal_status qcal_model_load_buffer(const char *name, const void *data, size_t len,
                                   const qcal_model_opts *opts, qcal_model **out, qcal_error *err);
void qcal_model_destroy(qcal_model *m); /* NULL: no-op */

/* Prepares for the given inputs (n must equal qcal_model_n_inputs; views give dtype and shape,
 * data may be NULL except for inputs that decide shapes). inputs == NULL: declared shapes.
 * May be called again with other shapes. Allocates the buffers the run needs. */
qcal_status qcal_model_prepare(qcal_model *m, const qcal_tensor_view *inputs, size_t n,
                               qcal_error *err);

/* Called for every graph input (before the first node) and every tensor a node computes, of any
 * dtype, in execution order. The view and its data are valid only during the call. */
typedef void (*qcal_observer_fn)(void *ctx, size_t tensor, const qcal_tensor_view *view);

/* Runs one sample. inputs[i] points to the data of graph input i with the prepared dtype and
 * shape. observer may be NULL; a subgraph's tensors are observed each time they are computed
 * (a Loop body's once per iteration, an untaken If branch's not at all). Static models do not
 * allocate and fail only on invalid arguments; a model with data-dependent shapes (dynamic
 * mode) grows a buffer pool as needed and may fail with the error of a node. */
qcal_status qcal_model_run(qcal_model *m, const void *const *inputs, qcal_observer_fn observer,
                           void *ctx, qcal_error *err);

/* Graph inputs and outputs of the prepared model; data of an output view is valid until the next
 * run or prepare (after a run), NULL before. */
size_t qcal_model_n_inputs(const qcal_model *m);
size_t qcal_model_n_outputs(const qcal_model *m);
qcal_tensor_view qcal_model_input(const qcal_model *m, size_t i);
qcal_tensor_view qcal_model_output(const qcal_model *m, size_t i);

/* Every tensor of the graph (indices as passed to the observer). Data only for constants. */
size_t qcal_model_n_tensors(const qcal_model *m);
qcal_tensor_view qcal_model_tensor(const qcal_model *m, size_t i);
qcal_tensor_kind qcal_model_tensor_kind(const qcal_model *m, size_t i);
/* True if the tensor's shape is known only at run time (it may differ from sample to sample):
 * outputs of data-dependent operators (NonZero, Unique, If, Loop, ...), everything computed from
 * them, and every tensor of a subgraph. Its view's shape is that of the last run. */
bool qcal_model_tensor_dynamic(const qcal_model *m, size_t i);
/* Producing node's name and op type ("" for inputs and constants; a subgraph's formal inputs
 * name the node that owns the subgraph). Borrowed. */
const char *qcal_model_tensor_producer(const qcal_model *m, size_t i);
const char *qcal_model_tensor_op(const qcal_model *m, size_t i);

/* Nodes in execution order, with their inputs and outputs (tensor indices; SIZE_MAX marks an
 * omitted optional one). The nodes of a control node's subgraphs (If branches, Loop and Scan
 * bodies, recursively) come right before it. Borrowed strings. */
size_t qcal_model_n_nodes(const qcal_model *m);
const char *qcal_model_node_name(const qcal_model *m, size_t i);
const char *qcal_model_node_op(const qcal_model *m, size_t i);
size_t qcal_model_node_n_inputs(const qcal_model *m, size_t i);
size_t qcal_model_node_input(const qcal_model *m, size_t i, size_t k);
size_t qcal_model_node_n_outputs(const qcal_model *m, size_t i);
size_t qcal_model_node_output(const qcal_model *m, size_t i, size_t k);
/* Integer attribute name of node i (e.g. Gemm's transB), def when the node has none. */
int64_t qcal_model_node_attr_int(const qcal_model *m, size_t i, const char *name, int64_t def);

/* QCAL_DT_FLOAT16 or QCAL_DT_BFLOAT16 when the file was a half-precision model (an input,
 * output, initializer or Constant of that type; qcal runs it in float32, with Casts to the
 * narrow type rounding to its precision), else QCAL_DT_FLOAT. */
qcal_dtype qcal_model_source_dtype(const qcal_model *m);
/* The element type of tensor i in the file's terms: float16/bfloat16 for a float32 tensor that
 * holds values of that type (declared so, or a Cast's output), else its dtype. */
qcal_dtype qcal_model_tensor_source_dtype(const qcal_model *m, size_t i);

/* Model file path and the SHA-256 (hex) of its bytes, computed at load. Borrowed. */
const char *qcal_model_path(const qcal_model *m);
const char *qcal_model_sha256(const qcal_model *m);

#endif
