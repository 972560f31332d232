/*
 * Subgraphs (GRAPH attributes: If branches, Loop and Scan bodies) built into nested qcal__graphs
 * at load. Internal to src/onnx: load.c calls qcal__onnx_node_subgraphs() for every node once the
 * enclosing graph's names are known, and gives subgraph.c its converters through the hooks below.
 */
#ifndef QCAL_ONNX_SUBGRAPH_H
#define QCAL_ONNX_SUBGRAPH_H

#include "graph/graph.h"
#include "onnx.pb-c.h"

/* Names visible to a subgraph: its own, then its enclosing graphs' (lexical scoping). */
typedef struct qcal__scope {
    const struct qcal__scope *parent;
    qcal__tensor *(*lookup)(const void *ctx, const char *name);
    const void *ctx;
} qcal__scope;

/* What load.c lends to the subgraph builder. */
typedef struct qcal__subctx {
    const Onnx__ModelProto *mp;
    qcal__graph *root;  /* the model's graph: owns every tensor */
    qcal_status (*tensor)(const Onnx__TensorProto *tp, const char *dir, qcal__tensor *t,
                          qcal_error *err);
    qcal_status (*attr)(const Onnx__AttributeProto *ap, const char *dir, qcal__attr *a,
                        qcal_error *err);
    qcal_status (*input)(qcal__tensor *t, const Onnx__ValueInfoProto *vi, qcal_error *err);
    qcal_status (*sort)(qcal__graph *g, qcal_error *err); /* topological order of g's nodes */
    void (*unsupported)(void *ctx, const char *what);
    void *uctx;
} qcal__subctx;

/*
 * Builds the GRAPH attributes of node n (of graph g, whose names scope resolves) into
 * n->attr[k].g from the protos attrs[k] (k < n->n_attr), and sets n->implicit to the tensors of
 * enclosing graphs its subgraphs read. Unsupported operators and types are reported through
 * cx->unsupported (load continues); other errors are returned.
 */
qcal_status qcal__onnx_node_subgraphs(const qcal__subctx *cx, qcal__graph *g, qcal__node *n,
                                      const Onnx__AttributeProto *const *attrs,
                                      const qcal__scope *scope, qcal_error *err);

#endif
