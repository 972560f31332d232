/*
 * --set KEY=VALUE for job files (job.h): each argument replaces one value of the loaded YAML
 * document, or adds the key, before job.c reads the document into the options, so a value from
 * --set is checked exactly like one from the file. The nodes it adds are numbered after the
 * file's; set_origin remembers the argument each comes from, for error messages and for paths
 * (relative to the current folder, not the job file's).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli/job.h"

/* A --set may add a key node, a value node and nothing else. */
#define MAX_SET_NODES 2

typedef qcal__cli_job job;

const char *qcal__cli_job_set_origin(job *j, const yaml_node_t *n)
{
    int idx = (int)(n - j->doc.nodes.start) + 1;

    return idx > j->n_file_nodes ? j->set_origin[idx - j->n_file_nodes - 1] : NULL;
}

/* Adds a scalar node made by --set; returns its index (0: out of memory). */
static int add_set_scalar(job *j, const char *set, const char *text, size_t len)
{
    int idx;

    if (j->n_set_nodes == j->cap_set_nodes)
        return 0;
    idx = yaml_document_add_scalar(&j->doc, NULL, (yaml_char_t *)(uintptr_t)text, (int)len,
                                   YAML_PLAIN_SCALAR_STYLE);
    if (idx)
        j->set_origin[j->n_set_nodes++] = set;
    return idx;
}

/* The pair of `name` in mapping `map` (NULL: none, or not a mapping). */
static yaml_node_pair_t *find_pair(job *j, int map, const char *name)
{
    const yaml_node_t *m = qcal__cli_job_node(j, map);

    for (yaml_node_pair_t *p = m && m->type == YAML_MAPPING_NODE ? m->data.mapping.pairs.start
                                                                 : NULL;
         p && p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *kn = qcal__cli_job_node(j, p->key);
        if (kn->type == YAML_SCALAR_NODE && !strcmp((const char *)kn->data.scalar.value, name))
            return p;
    }
    return NULL;
}

int qcal__cli_job_lookup(job *j, int map, const char *name)
{
    const yaml_node_pair_t *p = find_pair(j, map, name);

    return p ? p->value : 0;
}

/* Replaces the value of `name` in mapping `map`, or adds the pair. */
static qcal_status set_in(job *j, int map, const char *set, const char *name, int value)
{
    yaml_node_pair_t *p = find_pair(j, map, name);
    int k;

    if (p) {
        p->value = value;
        return QCAL_OK;
    }
    if (!(k = add_set_scalar(j, set, name, strlen(name))) ||
        !yaml_document_append_mapping_pair(&j->doc, map, k, value))
        return qcal__cli_job_nomem(j);
    return QCAL_OK;
}

/* Merges one --set KEY=VALUE into the document (the value is a plain scalar). */
static qcal_status apply_set(job *j, const char *set)
{
    const char *eq = strchr(set, '=');
    char key[128];
    int value, root = 1, encs;

    if (!eq || eq == set || (size_t)(eq - set) >= sizeof key)
        return qcal_error_set(j->err, QCAL_E_INVALID, "--set %s: expected KEY=VALUE", set);
    snprintf(key, sizeof key, "%.*s", (int)(eq - set), set);
    if (!(value = add_set_scalar(j, set, eq + 1, strlen(eq + 1))))
        return qcal__cli_job_nomem(j);
    encs = qcal__cli_job_lookup(j, root, "encodings");
    if (encs && qcal__cli_job_node(j, encs)->type != YAML_SEQUENCE_NODE)
        encs = 0;
    if (!strncmp(key, "preprocess.", 11) || qcal_preprocess_is_option(key)) {
        /* Wherever the file gives it: top level or preprocess:. */
        const char *pk = strchr(key, '.') ? key + 11 : key;
        int pp = qcal__cli_job_lookup(j, root, "preprocess");
        if (!qcal_preprocess_is_option(pk) || !strncmp(pk, "--", 2))
            return qcal_error_set(j->err, QCAL_E_INVALID, "--set %s: unknown key '%s'", set,
                                  key);
        if (pp && qcal__cli_job_lookup(j, pp, pk))
            return set_in(j, pp, set, pk, value);
        return set_in(j, root, set, pk, value);
    }
    if (!strncmp(key, "encodings.", 10) ||
        (encs && (qcal__cli_job_is_enc_key(key) || !strcmp(key, "encodings")))) {
        /* encodings.N.KEY, or an encoding key of the first set of a list. */
        const char *name = !strcmp(key, "encodings") ? "path" : key;
        unsigned long k = 0;
        const yaml_node_t *list = encs ? qcal__cli_job_node(j, encs) : NULL;
        if (!strncmp(key, "encodings.", 10)) {
            char *end;
            k = strtoul(key + 10, &end, 10);
            if (end == key + 10 || *end != '.' || !end[1])
                return qcal_error_set(j->err, QCAL_E_INVALID, "--set %s: expected "
                                      "encodings.N.KEY", set);
            name = end + 1;
        }
        if (!list || k >= (unsigned long)(list->data.sequence.items.top -
                                          list->data.sequence.items.start))
            return qcal_error_set(j->err, QCAL_E_INVALID, "--set %s: the job file has no "
                                  "encodings entry %lu", set, k);
        if (qcal__cli_job_node(j, list->data.sequence.items.start[k])->type != YAML_MAPPING_NODE)
            return qcal_error_set(j->err, QCAL_E_INVALID, "--set %s: encodings entry %lu is not "
                                  "a mapping", set, k);
        return set_in(j, list->data.sequence.items.start[k], set, name, value);
    }
    if (strchr(key, '.'))
        return qcal_error_set(j->err, QCAL_E_INVALID, "--set %s: unknown key '%s'", set, key);
    return set_in(j, root, set, key, value);
}

qcal_status qcal__cli_job_apply_sets(job *j, int nset, char *const *sets)
{
    qcal_status st;

    j->cap_set_nodes = MAX_SET_NODES * nset;
    if (nset && !(j->set_origin = calloc((size_t)j->cap_set_nodes, sizeof *j->set_origin)))
        return qcal__cli_job_nomem(j);
    for (int i = 0; i < nset; i++)
        if ((st = apply_set(j, sets[i])) != QCAL_OK)
            return st;
    return QCAL_OK;
}
