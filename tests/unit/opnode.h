/*
 * A kernel under test without a model file: hand-built input tensors and attributes, one node
 * resolved from the registry, infer, then run with output buffers and scratch allocated here.
 * Header-only, for the unit tests of the operator families (test_newmath.c, test_einsum.c).
 */
#ifndef QCAL_TESTS_OPNODE_H
#define QCAL_TESTS_OPNODE_H

#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "qtest.h"

#define OPN_MAX_IN 4
#define OPN_MAX_OUT 2
#define OPN_MAX_ATTR 6

typedef struct opnode {
    qcal__tensor in[OPN_MAX_IN];
    bool has[OPN_MAX_IN];
    int n_in;
    qcal__attr attr[OPN_MAX_ATTR];
    int n_attr;
    qcal__tensor out[OPN_MAX_OUT];
    int n_out; /* 1 unless set */
    qcal__node node;
    qcal_error err;
} opnode;

/* Input i: shape and data (borrowed, CONST so value inputs are readable by infer). */
static inline void opn_in(opnode *t, int i, qcal_dtype dt, int rank, const int64_t *dims,
                          const void *data)
{
    qcal__tensor *x = &t->in[i];

    QT_OK(qcal__tensor_set_shape(x, dt, rank, dims, NULL));
    x->name = "x";
    x->data = (void *)data;
    x->kind = QCAL__T_CONST;
    t->has[i] = true;
    if (i + 1 > t->n_in)
        t->n_in = i + 1;
}

static inline qcal__attr *opn_attr(opnode *t, const char *name, qcal__attr_type type)
{
    qcal__attr *a = &t->attr[t->n_attr++];

    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->type = type;
    return a;
}

static inline void opn_int(opnode *t, const char *name, int64_t v)
{
    opn_attr(t, name, QCAL__A_INT)->i = v;
}

static inline void opn_float(opnode *t, const char *name, float v)
{
    opn_attr(t, name, QCAL__A_FLOAT)->f = v;
}

static inline void opn_str(opnode *t, const char *name, const char *v)
{
    opn_attr(t, name, QCAL__A_STRING)->s = (char *)v;
}

static inline void opn_ints(opnode *t, const char *name, int64_t *v, size_t n)
{
    qcal__attr *a = opn_attr(t, name, QCAL__A_INTS);
    a->ints = v;
    a->n = n;
}

/*
 * Resolves op at opset, runs infer and, when it succeeds, run (outputs and scratch malloc'd
 * here). Returns infer's status; t->err holds its message.
 */
static inline qcal_status opn_run(opnode *t, const char *op, int opset)
{
    const qcal__op *k = qcal__op_find(op, opset);
    static qcal__tensor *ins[OPN_MAX_IN], *outs[OPN_MAX_OUT];
    qcal__node *n = &t->node;
    void *scratch = NULL;
    qcal_status st;

    QT_TRUE(k != NULL);
    if (!k)
        return QCAL_E_UNSUPPORTED;
    if (t->n_out == 0)
        t->n_out = 1;
    for (int i = 0; i < OPN_MAX_IN; i++)
        ins[i] = t->has[i] ? &t->in[i] : NULL;
    for (int i = 0; i < OPN_MAX_OUT; i++) {
        outs[i] = &t->out[i];
        t->out[i].name = "y";
    }
    memset(n, 0, sizeof *n);
    n->name = "unit";
    n->op_type = (char *)op;
    n->domain = "";
    n->opset = opset;
    n->n_in = t->n_in;
    n->n_out = t->n_out;
    n->in = ins;
    n->out = outs;
    n->n_attr = t->n_attr;
    n->attr = t->attr;
    n->op = k;
    st = k->infer(n, &t->err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < t->n_out; i++)
        t->out[i].data = malloc(t->out[i].nelem * qcal_dtype_size(t->out[i].dtype) + 1);
    if (n->scratch)
        scratch = aligned_alloc(64, (n->scratch + 63) / 64 * 64);
    k->run(n, scratch);
    free(scratch);
    return QCAL_OK;
}

/* Frees what opn_run allocated (outputs, params). */
static inline void opn_done(opnode *t)
{
    for (int i = 0; i < OPN_MAX_OUT; i++) {
        free(t->out[i].data);
        t->out[i].data = NULL;
    }
    free(t->node.params);
    t->node.params = NULL;
}

#endif
