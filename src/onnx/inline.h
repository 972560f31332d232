/*
 * Model-local functions (ModelProto.functions, IR 8+) inlined at load: the node list of a graph
 * with every call of a local function replaced by the function's body, recursively. Internal.
 */
#ifndef QCAL_ONNX_INLINE_H
#define QCAL_ONNX_INLINE_H

#include <stddef.h>

#include "onnx.pb-c.h"
#include "qcal/status.h"

/* Function calls nest at most this deep (a function calling itself hits it). */
#define QCAL__INLINE_MAX_DEPTH 32
/* At most this many nodes after inlining (a chain of functions each calling the next twice
 * would otherwise grow exponentially). */
#define QCAL__INLINE_MAX_NODES (1u << 20)

/* One node of the expanded graph. Names are owned; attributes are borrowed from the model (the
 * caller's attribute for one that referred to it by ref_attr_name, under the name attr_name[k]). */
typedef struct qcal__xnode {
    const Onnx__NodeProto *np; /* op_type, domain */
    char *name;                /* never NULL */
    size_t n_in, n_out;
    char **in, **out;          /* "" for an omitted optional input or output */
    size_t n_attr;
    const Onnx__AttributeProto **attr;
    const char **attr_name;
    int opset;                 /* default-domain opset of the node's scope (model or function) */
} qcal__xnode;

/*
 * Expands the nodes of gp (mp->graph or a subgraph of mp): a node whose (domain, op_type, overload) names a function of
 * mp->functions becomes that function's body, its inputs and outputs renamed to the call's (names
 * internal to a call get "<call node>/<name>", made unique), attributes that refer to the
 * caller's by ref_attr_name resolved (else the function's default, else dropped), and the body's
 * nodes resolved with the function's own opset_import. opset is the model's default-domain
 * opset. Unnamed nodes get "<op_type>_<index in the graph>". On success *out (n entries) is owned
 * by the caller (qcal__xnodes_free). Errors name path, function and node.
 */
qcal_status qcal__onnx_expand(const Onnx__ModelProto *mp, const Onnx__GraphProto *gp, int opset,
                              const char *path, qcal__xnode **out, size_t *n, qcal_error *err);

void qcal__xnodes_free(qcal__xnode *x, size_t n); /* NULL-safe */

#endif
