/*
 * Exact merge of statistics (include/qcal/merge.h): compare everything that must agree, build
 * the merged lists and dataset record aside, then merge the histograms and swap the new lists
 * in, so that a failure leaves the destination untouched.
 */
#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "qcal/encset.h"
#include "qcal/merge.h"

/* Messages quote at most this many bytes of a name or value, so they stay one short line. */
#define Q "%.160s"

static const char *nz(const char *s)
{
    return s ? s : "";
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(nz(a), nz(b)) == 0;
}

static bool f32_eq(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The two strings of a field must be equal; `what` names the field ("activation 'x': shape"). */
static qcal_status need_str(const char *what, const char *a, const char *b, qcal_error *err)
{
    if (str_eq(a, b))
        return QCAL_OK;
    return qcal_error_set(err, QCAL_E_INVALID, "%s differs: '" Q "' vs '" Q "'", what, nz(a),
                          nz(b));
}

/* Root attributes that must agree: bins, model, preprocessing. */
static qcal_status check_root(const qcal_stats *a, const qcal_stats *b, qcal_error *err)
{
    if (a->bins != b->bins)
        return qcal_error_set(err, QCAL_E_INVALID, "histogram bins differ: %d vs %d (calibrate "
                              "both with the same --bins)", a->bins, b->bins);
    if (!str_eq(a->model_sha256, b->model_sha256))
        return qcal_error_set(err, QCAL_E_INVALID, "different model files: model_sha256 %.64s "
                              "(" Q ") vs %.64s (" Q ")", nz(a->model_sha256), nz(a->model_path),
                              nz(b->model_sha256), nz(b->model_path));
    return need_str("preprocess", a->preprocess, b->preprocess, err);
}

static qcal_status check_acts(const qcal_stats *a, const qcal_stats *b, qcal_error *err)
{
    char what[256];
    qcal_status st = QCAL_OK;

    if (a->n_act != b->n_act)
        return qcal_error_set(err, QCAL_E_INVALID, "activation count differs: %zu vs %zu",
                              a->n_act, b->n_act);
    for (size_t i = 0; i < a->n_act && st == QCAL_OK; i++) {
        const qcal_act_rec *x = &a->act[i], *y = &b->act[i];

        snprintf(what, sizeof what, "activation %zu name", i);
        st = need_str(what, x->name, y->name, err);
        if (st != QCAL_OK)
            break;
#define FIELD(f)                                                                                 \
    do {                                                                                         \
        snprintf(what, sizeof what, "activation '" Q "': " #f, nz(x->name));                    \
        if (st == QCAL_OK)                                                                       \
            st = need_str(what, x->f, y->f, err);                                                \
    } while (0)
        FIELD(kind);
        FIELD(dtype);
        FIELD(shape);
        FIELD(producer);
        FIELD(op);
#undef FIELD
        if (st == QCAL_OK && (x->hist.bins != (size_t)a->bins || !x->hist.counts ||
                              y->hist.bins != (size_t)b->bins || !y->hist.counts))
            st = qcal_error_set(err, QCAL_E_CORRUPT, "activation '" Q "': histogram does not "
                                "have %d bins", nz(x->name), a->bins);
    }
    return st;
}

/* Weight ranges are data-independent, so with the same model they must be bit-identical. */
static qcal_status check_weight(const qcal_weight_rec *x, const qcal_weight_rec *y,
                                qcal_error *err)
{
    char what[256];
    qcal_status st;

    snprintf(what, sizeof what, "weight '" Q "': consumer", nz(x->name));
    st = need_str(what, x->consumer, y->consumer, err);
    snprintf(what, sizeof what, "weight '" Q "': op", nz(x->name));
    if (st == QCAL_OK)
        st = need_str(what, x->op, y->op, err);
    snprintf(what, sizeof what, "weight '" Q "': shape", nz(x->name));
    if (st == QCAL_OK)
        st = need_str(what, x->shape, y->shape, err);
    if (st != QCAL_OK)
        return st;
    if (x->axis != y->axis || x->ch_count != y->ch_count)
        return qcal_error_set(err, QCAL_E_INVALID, "weight '" Q "': channel axis/count differ: "
                              "%d/%zu vs %d/%zu", nz(x->name), x->axis, x->ch_count, y->axis,
                              y->ch_count);
    if (!f32_eq(x->min, y->min) || !f32_eq(x->max, y->max))
        return qcal_error_set(err, QCAL_E_INVALID, "weight '" Q "': range differs: [%.9g, %.9g] "
                              "vs [%.9g, %.9g]", nz(x->name), (double)x->min, (double)x->max,
                              (double)y->min, (double)y->max);
    for (size_t c = 0; c < x->ch_count; c++)
        if (!f32_eq(x->ch_min[c], y->ch_min[c]) || !f32_eq(x->ch_max[c], y->ch_max[c]))
            return qcal_error_set(err, QCAL_E_INVALID, "weight '" Q "': channel %zu range "
                                  "differs: [%.9g, %.9g] vs [%.9g, %.9g]", nz(x->name), c,
                                  (double)x->ch_min[c], (double)x->ch_max[c],
                                  (double)y->ch_min[c], (double)y->ch_max[c]);
    return QCAL_OK;
}

static qcal_status check_weights(const qcal_stats *a, const qcal_stats *b, qcal_error *err)
{
    char what[64];
    qcal_status st = QCAL_OK;

    if (a->n_weights != b->n_weights)
        return qcal_error_set(err, QCAL_E_INVALID, "weight count differs: %zu vs %zu",
                              a->n_weights, b->n_weights);
    for (size_t i = 0; i < a->n_weights && st == QCAL_OK; i++) {
        snprintf(what, sizeof what, "weight %zu name", i);
        st = need_str(what, a->weights[i].name, b->weights[i].name, err);
        if (st == QCAL_OK)
            st = check_weight(&a->weights[i], &b->weights[i], err);
    }
    return st;
}

/* Compares two string columns of n entries; `what` names the column. */
static qcal_status need_strs(const char *what, char *const *x, char *const *y, size_t n,
                             qcal_error *err)
{
    char w[128];

    for (size_t i = 0; i < n; i++)
        if (!str_eq(x[i], y[i])) {
            snprintf(w, sizeof w, "graph %s %zu", what, i);
            return need_str(w, x[i], y[i], err);
        }
    return QCAL_OK;
}

static qcal_status check_graph(const qcal_graph_rec *a, const qcal_graph_rec *b, qcal_error *err)
{
    size_t n = a->n_nodes;
    qcal_status st;

    if (a->n_nodes != b->n_nodes || a->n_inputs != b->n_inputs ||
        a->n_outputs != b->n_outputs || a->n_graph_outputs != b->n_graph_outputs)
        return qcal_error_set(err, QCAL_E_INVALID, "graph differs: %zu nodes, %zu inputs, %zu "
                              "outputs vs %zu nodes, %zu inputs, %zu outputs", a->n_nodes,
                              a->n_inputs, a->n_outputs, b->n_nodes, b->n_inputs, b->n_outputs);
    if (n && (memcmp(a->in_start, b->in_start, n * sizeof *a->in_start) ||
              memcmp(a->in_count, b->in_count, n * sizeof *a->in_count) ||
              memcmp(a->out_start, b->out_start, n * sizeof *a->out_start) ||
              memcmp(a->out_count, b->out_count, n * sizeof *a->out_count)))
        return qcal_error_set(err, QCAL_E_INVALID, "graph differs: node input/output lists");
    st = need_strs("node name", a->node_name, b->node_name, n, err);
    if (st == QCAL_OK)
        st = need_strs("node op", a->node_op, b->node_op, n, err);
    if (st == QCAL_OK)
        st = need_strs("node input", a->inputs, b->inputs, a->n_inputs, err);
    if (st == QCAL_OK)
        st = need_strs("node output", a->outputs, b->outputs, a->n_outputs, err);
    if (st == QCAL_OK)
        st = need_strs("output", a->graph_outputs, b->graph_outputs, a->n_graph_outputs, err);
    return st;
}

static int cmp_str_ptr(const void *x, const void *y)
{
    return strcmp(nz(*(char *const *)x), nz(*(char *const *)y));
}

/*
 * Refuses a sample path listed in both: the union of the two runs would count it twice.
 * Sorts a copy of a's path pointers (O((n + m) log n)); allocates it temporarily.
 */
static qcal_status check_disjoint(const qcal_stats *a, const qcal_stats *b, qcal_error *err)
{
    char **sorted;

    if (a->n_samples == 0 || b->n_samples == 0)
        return QCAL_OK;
    sorted = malloc(a->n_samples * sizeof *sorted);
    if (!sorted)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory (%zu sample paths)",
                              a->n_samples);
    memcpy(sorted, a->sample_paths, a->n_samples * sizeof *sorted);
    qsort(sorted, a->n_samples, sizeof *sorted, cmp_str_ptr);
    for (size_t i = 0; i < b->n_samples; i++) {
        if (bsearch(&b->sample_paths[i], sorted, a->n_samples, sizeof *sorted, cmp_str_ptr)) {
            qcal_status st = qcal_error_set(err, QCAL_E_INVALID, "sample '" Q "' is in both "
                                            "(the merged statistics would count it twice)",
                                            nz(b->sample_paths[i]));
            free(sorted);
            return st;
        }
    }
    free(sorted);
    return QCAL_OK;
}

/* Parses a dataset attribute: a JSON object with an integer "inputs". *out owned by caller. */
static qcal_status parse_dataset(const char *text, json_t **out, json_int_t *inputs,
                                 qcal_error *err)
{
    json_error_t je;
    json_t *root = json_loads(nz(text), 0, &je);
    json_t *in = root ? json_object_get(root, "inputs") : NULL;

    *out = NULL;
    if (!root || !json_is_object(root) || !json_is_integer(in)) {
        json_decref(root);
        return qcal_error_set(err, QCAL_E_CORRUPT, "dataset attribute is not calibrate's JSON "
                              "object with \"inputs\": '" Q "'", nz(text));
    }
    *inputs = json_integer_value(in);
    *out = root;
    return QCAL_OK;
}

/* Appends the parts of one source: its "parts" when it is itself a merge, else itself. */
static int add_parts(json_t *parts, json_t *ds)
{
    json_t *kind = json_object_get(ds, "kind"), *sub = json_object_get(ds, "parts");
    size_t i;
    json_t *v;

    if (json_is_string(kind) && strcmp(json_string_value(kind), "merged") == 0 &&
        json_is_array(sub)) {
        json_array_foreach(sub, i, v) {
            if (json_array_append(parts, v) != 0)
                return -1;
        }
        return 0;
    }
    return json_array_append(parts, ds);
}

/* Lowercase hex SHA-256 of the paths, each followed by '\n' (as calibrate's list_sha256). */
static qcal_status list_sha256(char *const *a, size_t na, char *const *b, size_t nb,
                               char hex[65], qcal_error *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int ok;

    if (!md)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < na + nb; i++) {
        const char *p = nz(i < na ? a[i] : b[i - na]);
        ok = EVP_DigestUpdate(md, p, strlen(p)) && EVP_DigestUpdate(md, "\n", 1);
    }
    ok = ok && EVP_DigestFinal_ex(md, digest, &dlen) && dlen == 32;
    EVP_MD_CTX_free(md);
    if (!ok)
        return qcal_error_set(err, QCAL_E_INVALID, "SHA-256 of the sample list failed");
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    hex[64] = '\0';
    return QCAL_OK;
}

/* Builds the merged dataset JSON (see merge.h) into *out (malloc). */
static qcal_status merge_dataset(const qcal_stats *a, const qcal_stats *b, char **out,
                                 qcal_error *err)
{
    json_t *da = NULL, *db = NULL, *root = NULL, *parts = NULL;
    json_int_t ia = 0, ib = 0;
    char hex[65] = "";
    qcal_status st;
    int bad = 0;

    *out = NULL;
    st = parse_dataset(a->dataset, &da, &ia, err);
    if (st == QCAL_OK)
        st = parse_dataset(b->dataset, &db, &ib, err);
    if (st != QCAL_OK)
        goto out;
    if (ia != ib) {
        st = qcal_error_set(err, QCAL_E_INVALID, "dataset input count differs: %lld vs %lld",
                            (long long)ia, (long long)ib);
        goto out;
    }
    if (ia == 1) {
        st = list_sha256(a->sample_paths, a->n_samples, b->sample_paths, b->n_samples, hex, err);
        if (st != QCAL_OK)
            goto out;
    }
    root = json_object();
    parts = json_array();
    if (!root || !parts) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        goto out;
    }
    bad |= add_parts(parts, da) | add_parts(parts, db);
    /* The key order of calibrate's record, then the parts (jansson keeps insertion order). */
    bad |= json_object_set_new(root, "kind", json_string("merged"));
    bad |= json_object_set_new(root, "path", json_string(""));
    bad |= json_object_set_new(root, "count", json_integer((json_int_t)(a->n_samples +
                                                                         b->n_samples)));
    bad |= json_object_set_new(root, "inputs", json_integer(ia));
    bad |= json_object_set_new(root, "list_sha256", json_string(hex));
    bad |= json_object_set(root, "parts", parts);
    *out = bad ? NULL : json_dumps(root, JSON_PRESERVE_ORDER);
    if (!*out)
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory (dataset record)");
out:
    json_decref(parts);
    json_decref(root);
    json_decref(da);
    json_decref(db);
    return st;
}

/* Allocates a + b (n_a + n_b pointers, plus a NULL): a's pointers moved, b's strings copied.
 * Nothing is moved until the caller commits; on failure *out is NULL and a is untouched. */
static qcal_status concat_strs(char *const *a, size_t na, char *const *b, size_t nb, char ***out,
                               qcal_error *err)
{
    char **v = calloc(na + nb + 1, sizeof *v);

    *out = NULL;
    if (!v)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory (%zu paths)", na + nb);
    for (size_t i = 0; i < nb; i++) {
        v[na + i] = strdup(nz(b[i]));
        if (!v[na + i]) {
            for (size_t k = 0; k < i; k++)
                free(v[na + k]);
            free(v);
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory (%zu paths)", na + nb);
        }
    }
    if (na)
        memcpy(v, a, na * sizeof *v);
    *out = v;
    return QCAL_OK;
}

/* Frees the copied tail of a concat_strs result that was not committed. */
static void concat_abort(char **v, size_t na, size_t nb)
{
    if (!v)
        return;
    for (size_t i = 0; i < nb; i++)
        free(v[na + i]);
    free(v);
}

qcal_status qcal_stats_merge(qcal_stats *dst, const qcal_stats *src, qcal_error *err)
{
    char **paths = NULL, **skipped = NULL, *dataset = NULL;
    uint64_t *rank_samples = NULL;
    size_t ranks;
    qcal_status st;

    if (!dst || !src)
        return qcal_error_set(err, QCAL_E_INVALID, "merge: no statistics");
    if (dst == src)
        return qcal_error_set(err, QCAL_E_INVALID, "merge: a file cannot be merged with itself "
                              "(every sample would count twice)");
    if ((dst->n_samples && !dst->sample_paths) || (src->n_samples && !src->sample_paths) ||
        (dst->n_skipped && !dst->skipped) || (src->n_skipped && !src->skipped) ||
        dst->ranks < 0 || src->ranks < 0 || (dst->ranks && !dst->rank_samples) ||
        (src->ranks && !src->rank_samples))
        return qcal_error_set(err, QCAL_E_INVALID, "merge: malformed statistics");
    st = check_root(dst, src, err);
    if (st == QCAL_OK)
        st = check_acts(dst, src, err);
    if (st == QCAL_OK)
        st = check_weights(dst, src, err);
    if (st == QCAL_OK)
        st = check_graph(&dst->graph, &src->graph, err);
    if (st == QCAL_OK)
        st = check_disjoint(dst, src, err);
    if (st != QCAL_OK)
        return st;
    if (src->samples > UINT64_MAX - dst->samples || src->ranks > INT_MAX - dst->ranks ||
        src->n_samples > SIZE_MAX / 2 - dst->n_samples)
        return qcal_error_set(err, QCAL_E_INVALID, "merge: sample or rank count overflows");
    /* Everything that allocates, before dst changes. */
    ranks = (size_t)dst->ranks + (size_t)src->ranks;
    st = merge_dataset(dst, src, &dataset, err);
    if (st == QCAL_OK)
        st = concat_strs(dst->sample_paths, dst->n_samples, src->sample_paths, src->n_samples,
                         &paths, err);
    if (st == QCAL_OK)
        st = concat_strs(dst->skipped, dst->n_skipped, src->skipped, src->n_skipped, &skipped,
                         err);
    if (st == QCAL_OK && !(rank_samples = calloc(ranks + 1, sizeof *rank_samples)))
        st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    if (st != QCAL_OK) {
        free(dataset);
        concat_abort(paths, dst->n_samples, src->n_samples);
        concat_abort(skipped, dst->n_skipped, src->n_skipped);
        return st;
    }
    /* Commit. The histograms were checked to have the same bins, so no merge can fail. */
    for (size_t i = 0; i < dst->n_act; i++) {
        qcal_status hs = qcal_hist_merge(&dst->act[i].hist, &src->act[i].hist, err);
        assert(hs == QCAL_OK);
        (void)hs;
    }
    if (dst->ranks)
        memcpy(rank_samples, dst->rank_samples, (size_t)dst->ranks * sizeof *rank_samples);
    if (src->ranks)
        memcpy(rank_samples + dst->ranks, src->rank_samples,
               (size_t)src->ranks * sizeof *rank_samples);
    free(dst->rank_samples);
    dst->rank_samples = rank_samples;
    dst->ranks = (int)ranks;
    dst->samples += src->samples;
    free(dst->sample_paths); /* the strings moved into paths */
    dst->sample_paths = paths;
    dst->n_samples += src->n_samples;
    free(dst->skipped);
    dst->skipped = skipped;
    dst->n_skipped += src->n_skipped;
    free(dst->dataset);
    dst->dataset = dataset;
    for (size_t i = 0; i < dst->n_enc; i++)
        qcal_enc_set_fini(&dst->enc[i]);
    free(dst->enc);
    dst->enc = NULL;
    dst->n_enc = 0;
    free(dst->dumps_file);
    dst->dumps_file = NULL;
    return QCAL_OK;
}
