/*
 * A hand-built single-node graph for kernel unit tests: inputs view caller data, outputs get
 * zeroed buffers, and the node is resolved with qcal__op_find, inferred and run.
 */
#ifndef QCAL_TESTS_HNODE_H
#define QCAL_TESTS_HNODE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "qtest.h"

#define MAX_IO 10
#define MAX_ATTR 8

/* A hand-built node owning its tensors and attributes. */
typedef struct hnode {
    qcal__node n;
    qcal__tensor ins[MAX_IO], outs[MAX_IO];
    qcal__tensor *in[MAX_IO], *out[MAX_IO];
    qcal__attr attr[MAX_ATTR];
} hnode;

static inline void h_init(hnode *h, const char *op_type, int opset, int n_out)
{
    memset(h, 0, sizeof *h);
    h->n.name = "test";
    h->n.op_type = (char *)op_type;
    h->n.domain = "";
    h->n.opset = opset;
    h->n.in = h->in;
    h->n.out = h->out;
    h->n.attr = h->attr;
    h->n.n_out = n_out;
    for (int i = 0; i < n_out; i++) {
        h->outs[i].name = "y";
        h->outs[i].kind = QCAL__T_ACT;
        h->out[i] = &h->outs[i];
    }
}

/* Appends an input viewing data (not copied); constant inputs have values at infer time. */
static inline void h_in(hnode *h, qcal_dtype dt, int rank, const int64_t *dims, const void *data,
                 bool constant)
{
    qcal__tensor *t = &h->ins[h->n.n_in];

    t->name = "x";
    t->kind = constant ? QCAL__T_CONST : QCAL__T_INPUT;
    qcal__tensor_set_shape(t, dt, rank, dims, NULL);
    t->data = (void *)data;
    h->in[h->n.n_in++] = t;
}

static inline qcal__attr *h_attr(hnode *h, const char *name, qcal__attr_type type)
{
    qcal__attr *a = &h->attr[h->n.n_attr++];

    a->name = (char *)name;
    a->type = type;
    return a;
}

static inline void h_ints(hnode *h, const char *name, int64_t *v, size_t n)
{
    qcal__attr *a = h_attr(h, name, QCAL__A_INTS);

    a->ints = v;
    a->n = n;
}

static inline void h_int(hnode *h, const char *name, int64_t v)
{
    h_attr(h, name, QCAL__A_INT)->i = v;
}

static inline void h_str(hnode *h, const char *name, const char *s)
{
    h_attr(h, name, QCAL__A_STRING)->s = (char *)s;
}

/* Infers and runs; outputs get zeroed buffers. Returns infer's status (err filled). */
static inline qcal_status h_run(hnode *h, qcal_error *err)
{
    const qcal__op *op = qcal__op_find(h->n.op_type, h->n.opset);
    void *scratch = NULL;
    qcal_status st;

    if (!op)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "no kernel for %s-%d", h->n.op_type,
                              h->n.opset);
    h->n.op = op;
    st = op->infer(&h->n, err);
    if (st != QCAL_OK)
        return st;
    for (int i = 0; i < h->n.n_out; i++)
        if (h->out[i])
            h->out[i]->data = calloc(h->out[i]->nelem + 1, qcal_dtype_size(h->out[i]->dtype));
    if (h->n.scratch)
        scratch = malloc(h->n.scratch);
    op->run(&h->n, scratch);
    free(scratch);
    return QCAL_OK;
}

static inline void h_fini(hnode *h)
{
    for (int i = 0; i < h->n.n_out; i++)
        if (h->out[i])
            free(h->out[i]->data);
    free(h->n.params);
    h->n.params = NULL;
}

static inline void check_dims(const qcal__tensor *t, int rank, const int64_t *dims)
{
    QT_EQ_I64(t->rank, rank);
    for (int k = 0; k < rank && k < t->rank; k++)
        QT_EQ_I64(t->dims[k], dims[k]);
}

static inline void h_float(hnode *h, const char *name, float v)
{
    h_attr(h, name, QCAL__A_FLOAT)->f = v;
}

static inline void h_floats(hnode *h, const char *name, float *v, size_t n)
{
    qcal__attr *a = h_attr(h, name, QCAL__A_FLOATS);

    a->floats = v;
    a->n = n;
}

static inline void h_strs(hnode *h, const char *name, char **v, size_t n)
{
    qcal__attr *a = h_attr(h, name, QCAL__A_STRINGS);

    a->strings = v;
    a->n = n;
}

/* Appends an omitted optional input ("" in a file). */
static inline void h_skip(hnode *h)
{
    h->in[h->n.n_in++] = NULL;
}

#endif
