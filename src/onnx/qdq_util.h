/*
 * Helpers of the QDQ export (src/onnx/qdq.c): a string -> index map, unique names, and builders
 * for the protobuf-c messages the export adds. Internal.
 *
 * Every message built here is allocated with malloc/strdup exactly as protobuf-c's default
 * allocator unpacks, so a model that mixes unpacked and built messages is released by one
 * onnx__model_proto__free_unpacked(model, NULL).
 */
#ifndef QCAL_ONNX_QDQ_UTIL_H
#define QCAL_ONNX_QDQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx.pb-c.h"
#include "qcal/status.h"
#include "qcal/store.h"

/* String -> size_t map with open addressing; it owns copies of its keys. */
typedef struct qcal__qdq_map {
    size_t cap, n;
    char **keys;
    size_t *vals;
} qcal__qdq_map;

/* Frees the keys and the tables, zeroes m. NULL-safe. */
void qcal__qdq_map_fini(qcal__qdq_map *m);

/* Inserts key -> val unless key is present (then the stored value is kept and *added is false).
 * added may be NULL. Fails only with QCAL_E_NOMEM. */
qcal_status qcal__qdq_map_put(qcal__qdq_map *m, const char *key, size_t val, bool *added,
                              qcal_error *err);

/* True and *val set when key is present. */
bool qcal__qdq_map_get(const qcal__qdq_map *m, const char *key, size_t *val);

/* The stored value of key (writable), NULL when absent. Valid until the next put. */
size_t *qcal__qdq_map_val(qcal__qdq_map *m, const char *key);

/* One quantized activation. */
typedef struct qcal__qdq_act {
    const qcal_act_enc *enc;
    long producer;     /* node index in the original graph, -1 for a graph input */
    bool is_output;    /* graph output: the producer's output is renamed instead */
    bool is_signed;    /* int8 with zero point 0, else uint8 */
    int zp;            /* uint8 zero point (-offset) */
    char *dq_out;      /* the name consumers read (NULL for a graph output) */
    Onnx__NodeProto *q, *dq;
} qcal__qdq_act;

/* State of one export. The model owns every message; the rest is the plan. */
typedef struct qcal__qdq_ctx {
    Onnx__ModelProto *m;
    Onnx__GraphProto *g;
    const qcal_stats *stats;   /* may be NULL */
    const qcal_enc_set *enc;
    Onnx__OperatorSetIdProto *opset_entry;
    int64_t opset;             /* the model's default-domain opset */
    size_t n_orig_nodes, n_orig_inits;
    qcal__qdq_map used;        /* every name in the model (unique-name source) */
    qcal__qdq_map uses;        /* tensor name -> node inputs + graph outputs using it */
    qcal__qdq_map producer;    /* node output -> original node index (main graph) */
    qcal__qdq_map init;        /* initializer name -> original index */
    qcal__qdq_map inputs, outputs; /* graph input / output names */
    qcal__qdq_map act;         /* activation name -> index in acts */
    qcal__qdq_map param;       /* weight name -> index in enc->param */
    qcal__qdq_act *acts;
    size_t n_acts;
    Onnx__NodeProto **front;   /* DequantizeLinear nodes of initializers, in creation order */
    size_t n_front;
    bool *drop_init;           /* [n_orig_inits]: replaced by its quantized form */
} qcal__qdq_ctx;

/* True for the ONNX default domain ("", "ai.onnx" or absent). */
bool qcal__qdq_default_domain(const char *domain);

/* True when nd is the default-domain operator op. */
bool qcal__qdq_is_op(const Onnx__NodeProto *nd, const char *op);

/* Appends a node / initializer to the graph (on failure it is freed). */
qcal_status qcal__qdq_add_node(qcal__qdq_ctx *c, Onnx__NodeProto *nd, qcal_error *err);
qcal_status qcal__qdq_add_init(qcal__qdq_ctx *c, Onnx__TensorProto *t, qcal_error *err);

/* Plans and writes the weights of c->enc->param (qdq_param.c). */
qcal_status qcal__qdq_params(qcal__qdq_ctx *c, qcal_error *err);

/* Plans and writes the 32-bit biases (qdq_param.c); after qcal__qdq_params. */
qcal_status qcal__qdq_biases(qcal__qdq_ctx *c, qcal_error *err);

/*
 * A name not yet in used: base + suffix, else base + suffix + "_1", "_2", ... The name is added
 * to used and returned in *out (malloc; the caller owns it).
 */
qcal_status qcal__qdq_unique_name(qcal__qdq_map *used, const char *base, const char *suffix,
                                  char **out, qcal_error *err);

/*
 * A new initializer: name (copied), ONNX data type dt, rank dims (rank 0: scalar) and nbytes of
 * little-endian raw data (copied). *out is NULL on failure.
 */
qcal_status qcal__qdq_tensor_new(const char *name, int32_t dt, size_t rank, const int64_t *dims,
                                 const void *raw, size_t nbytes, Onnx__TensorProto **out,
                                 qcal_error *err);

/* A new default-domain node op_type(inputs) -> outputs named name (all strings copied).
 * axis >= 0 adds the INT attribute "axis". *out is NULL on failure. */
qcal_status qcal__qdq_node_new(const char *op_type, const char *name, const char *const *inputs,
                               size_t n_in, const char *const *outputs, size_t n_out,
                               int64_t axis, Onnx__NodeProto **out, qcal_error *err);

/* Appends p to the pointer array *arr of *n elements (realloc). */
qcal_status qcal__qdq_append(void ***arr, size_t *n, void *p, qcal_error *err);

/* Replaces the string *slot by a copy of s, freeing the old one. */
qcal_status qcal__qdq_set_string(char **slot, const char *s, qcal_error *err);

/*
 * The float32 values of a tensor proto (raw_data or float_data) as a malloc'ed copy and its
 * element count. External data and other types fail (QCAL_E_UNSUPPORTED), a size mismatch with
 * QCAL_E_CORRUPT. what names the tensor in messages.
 */
qcal_status qcal__qdq_tensor_floats(const Onnx__TensorProto *tp, const char *what, float **out,
                                    size_t *count, qcal_error *err);

/* Element count of dims (1 for rank 0); false on a negative dimension or overflow. */
bool qcal__qdq_count(size_t rank, const int64_t *dims, size_t *count);

#endif
