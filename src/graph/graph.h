/*
 * Internal graph representation shared by the loader (src/onnx), the kernels (src/ops) and the
 * executor (src/exec). Not part of the public API.
 */
#ifndef QCAL_GRAPH_H
#define QCAL_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qcal/status.h"
#include "qcal/tensor.h"

typedef enum qcal__tensor_kind {
    QCAL__T_ACT = 0, /* computed per sample by a node */
    QCAL__T_INPUT,   /* graph input fed per sample */
    QCAL__T_CONST,   /* initializer, Constant node output, folded value, or bound input */
} qcal__tensor_kind;

typedef struct qcal__tensor {
    char *name;
    size_t id;        /* index in qcal__graph.tensors */
    qcal_dtype dtype;
    int rank;
    int64_t dims[QCAL_MAX_RANK];
    size_t nelem;
    /* CONST: owned heap buffer (never NULL once prepared, even when nelem is 0).
     * ACT/INPUT: points into the executor's arena while the tensor is live, else NULL. */
    void *data;
    qcal__tensor_kind kind;
    bool shaped;      /* dtype/rank/dims valid */
    bool is_output;   /* graph output */
    bool initializer; /* came from graph.initializer (a weight or a constant of the file) */
    bool folded;      /* became CONST by constant folding or a Constant node */
    /* QCAL_DT_FLOAT16 or QCAL_DT_BFLOAT16 when the model declares this float32 tensor with that
     * narrower type (its values were widened exactly at load, or rounded by a Cast); else
     * QCAL_DT_UNDEFINED. CastLike takes its target precision from it. */
    qcal_dtype narrow;
    int producer;     /* index of the producing node, -1 for inputs and initializers */
    int last_use;     /* index of the last consuming node, -1 if none (planner) */
    size_t offset;    /* arena offset (planner) */
    size_t nbytes;    /* nelem * dtype size (planner) */
    /* Subgraphs (If/Loop/Scan bodies) and data-dependent shapes. Every tensor of every subgraph
     * is in the model graph's tensor list (ids are global); scope says which graph defines it. */
    struct qcal__graph *scope; /* defining subgraph; NULL: the model's graph */
    bool dynamic;     /* shape known only at run time (executor's dynamic mode, set by prepare) */
} qcal__tensor;

typedef enum qcal__attr_type {
    QCAL__A_UNDEFINED = 0,
    QCAL__A_FLOAT = 1,
    QCAL__A_INT = 2,
    QCAL__A_STRING = 3,
    QCAL__A_TENSOR = 4,
    QCAL__A_GRAPH = 5,
    QCAL__A_FLOATS = 6,
    QCAL__A_INTS = 7,
    QCAL__A_STRINGS = 8,
} qcal__attr_type;

typedef struct qcal__attr {
    char *name;
    qcal__attr_type type;
    float f;
    int64_t i;
    char *s;               /* STRING, NUL-terminated */
    float *floats;         /* FLOATS */
    int64_t *ints;         /* INTS */
    char **strings;        /* STRINGS */
    size_t n;              /* element count of floats/ints/strings */
    qcal__tensor *t;       /* TENSOR (owned, kind CONST, data owned) */
    struct qcal__graph *g; /* GRAPH (owned subgraph; see qcal__graph.parent) */
} qcal__attr;

struct qcal__op;

typedef struct qcal__node {
    char *name;     /* never NULL: "<op_type>_<index>" when the file has none */
    char *op_type;
    char *domain;   /* "" for the default ONNX domain */
    int opset;      /* the model's opset for the node's domain */
    int index;      /* position in execution order */
    int n_in, n_out;
    qcal__tensor **in;  /* NULL entry: omitted optional input ("" in the file) */
    qcal__tensor **out; /* NULL entry: omitted optional output */
    int n_attr;
    qcal__attr *attr;
    const struct qcal__op *op; /* resolved kernel */
    void *params;   /* set by infer (malloc), freed with free() by the graph */
    size_t scratch; /* bytes of scratch memory run needs, set by infer */
    /* Set by run() (through qcal__run_fail) when per-sample data is invalid, e.g. an index out
     * of range: a static message; the executor checks it after the node and fails the run with
     * an error naming the node. Cleared by the executor before each run. */
    const char *run_error;
    /* Outer-scope tensors read by the node's subgraphs (at any depth) that are defined outside
     * the node's own graph scope: dependencies for ordering and buffer lifetimes. */
    int n_implicit;
    qcal__tensor **implicit;
    unsigned char xmode; /* executor: QCAL__X_* (set by prepare) */
    const struct qcal__xop *xop; /* exec kernel (src/ops/ops.h), set by the executor at load */
} qcal__node;

enum { QCAL__X_FOLDED = 0, QCAL__X_STATIC, QCAL__X_DYNAMIC };

typedef struct qcal__graph {
    char *path;      /* model file, for messages */
    char *dir;       /* its folder, for external data */
    int64_t ir_version;
    int opset;       /* default-domain opset */
    /* QCAL_DT_FLOAT16 / QCAL_DT_BFLOAT16 when an input, output, initializer or Constant of the
     * file has that type (the model was converted to half precision), else QCAL_DT_FLOAT. */
    qcal_dtype source_dtype;
    size_t n_tensors, cap_tensors;
    qcal__tensor **tensors; /* all tensors, owned (capacity cap_tensors, grown by doubling) */
    int n_nodes;
    qcal__node *nodes;      /* execution (topological) order */
    int n_inputs;
    qcal__tensor **inputs;  /* graph inputs that are not initializers, in file order */
    int n_outputs;
    qcal__tensor **outputs;
    /* Subgraphs: parent is the enclosing graph (NULL for the model's graph), owner the node whose
     * attribute holds it (set after the outer graph is sorted). A subgraph's tensors[] lists the
     * tensors it defines without owning them (the model graph owns every tensor); inputs are
     * the body's formal inputs, outputs its results (tensors of any scope). */
    struct qcal__graph *parent;
    struct qcal__node *owner;
    char *name;
} qcal__graph;

/* Destroys the graph and everything it owns. NULL-safe. */
void qcal__graph_destroy(qcal__graph *g);

/* FNV-1a hash of a NUL-terminated string (name tables). */
size_t qcal__str_hash(const char *s);

/* Finds a tensor by name; NULL if absent. Linear search (load time only). */
qcal__tensor *qcal__graph_find(const qcal__graph *g, const char *name);

/* Adds a new empty tensor named name (copied). Returns NULL on allocation failure. */
qcal__tensor *qcal__graph_add_tensor(qcal__graph *g, const char *name);

/* Sets dtype and shape, computes nelem with an overflow check. dims may be NULL when rank is 0.
 * Errors (QCAL_E_SHAPE) name the tensor. Does not touch data. */
qcal_status qcal__tensor_set_shape(qcal__tensor *t, qcal_dtype dt, int rank, const int64_t *dims,
                                   qcal_error *err);

/* Element count of dims (checked: negative dims or overflow give SIZE_MAX). */
size_t qcal__shape_nelem(int rank, const int64_t *dims);

/* Formats dims as "1x16x28x28" ("" for a scalar) into buf. Returns buf. */
char *qcal__shape_str(int rank, const int64_t *dims, char *buf, size_t size);

/* The dtype qcal holds for an ONNX element type: float32 for float16 and bfloat16 (widened
 * exactly), the type itself otherwise. */
qcal_dtype qcal__dtype_held(qcal_dtype dt);

/* float16 / bfloat16 bit patterns to float32 (exact; NaN stays NaN). */
float qcal__half_to_float(uint16_t h);
float qcal__bfloat16_to_float(uint16_t h);

/* Rounds x to the nearest value of narrow (QCAL_DT_FLOAT16 or QCAL_DT_BFLOAT16), ties to even,
 * with the type's subnormals and overflow to +-inf; returned as float32 (exact, since both types
 * are subsets of float32). Any other narrow: x converted to float32 (overflow to +-inf). */
float qcal__round_narrow(double x, qcal_dtype narrow);

/* Sets the narrow precision of n's float32 outputs that have none: the common narrow type of its
 * float32 inputs and tensor attributes when they all have the same one (float16 ops compute
 * float16). Called by prepare after infer. */
void qcal__node_narrow_outputs(qcal__node *n);
/* A public view of t (name, dtype, shape, data as they are now). */
qcal_tensor_view qcal__tensor_view(const qcal__tensor *t);

/* Frees a tensor and its owned data (CONST data only). NULL-safe. */
void qcal__tensor_free(qcal__tensor *t);

#endif
