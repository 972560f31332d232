/* ONNX protobuf (de)serialisation through protobuf-c. Internal. */
#ifndef QCAL_ONNX_H
#define QCAL_ONNX_H

#include "graph/graph.h"

/* Parses path into a graph: tensors (initializers CONST with data, inputs INPUT with declared
 * shapes where a symbolic or unknown dimension is -1), nodes in topological order with resolved
 * kernels. Every unsupported (op, opset) or data type is listed in one error. sha256_hex (65
 * bytes) receives the file's SHA-256. */
qcal_status qcal__onnx_load(const char *path, qcal__graph **out, char *sha256_hex,
                            qcal_error *err);
/* The same from the bytes data[len] of a model; path names it in messages, and its folder is
 * where external data is looked up. */
qcal_status qcal__onnx_load_buffer(const char *path, const void *data, size_t len,
                                   qcal__graph **out, char *sha256_hex, qcal_error *err);

/* Subgraphs (graph attributes) nest at most this deep below the main graph, and protobuf
 * messages at most QCAL__ONNX_MAX_MESSAGE_DEPTH deep (TypeProtos nest too). */
#define QCAL__ONNX_MAX_GRAPH_DEPTH 64
#define QCAL__ONNX_MAX_MESSAGE_DEPTH 320

/* Scans a serialized ModelProto's wire format (iteratively, without recursion) and refuses one
 * whose subgraphs or messages nest deeper than the limits above, so that protobuf-c's recursive
 * unpacker cannot overflow the stack. Malformed framing is left for protobuf-c to refuse. */
qcal_status qcal__onnx_check_nesting(const void *data, size_t len, const char *path,
                                     qcal_error *err);

/* Reads a serialized TensorProto file (the ONNX test-data .pb format) into t: dtype, shape,
 * owned data (malloc), name (strdup, "" when absent). On failure t is left empty. */
qcal_status qcal__onnx_read_tensor_file(const char *path, qcal__tensor *t, qcal_error *err);

/* SHA-256 of a buffer as 64 lowercase hex digits + NUL. */
void qcal__sha256_hex(const void *data, size_t len, char *hex);

#endif
