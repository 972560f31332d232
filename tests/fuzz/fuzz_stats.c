/*
 * Fuzz harness: the stats-file reader and what the commands do with what it read. The input is
 * an HDF5 file (written to the harness's private folder: the reader opens paths). A file that
 * reads is checked for the promises of store.h (every array as long as its count says; graph
 * CSR ranges inside their lists), then goes through what encode does (qcal_encset_compute with
 * options picked from a hash of the input, every export format), what merge does (with a
 * second read of the same file), what plot does (one histogram rendered in memory) and, for
 * some inputs, a write and re-read: a file qcal itself wrote must read back.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "qcal/encset.h"
#include "qcal/export.h"
#include "qcal/merge.h"
#include "qcal/plot.h"
#include "qcal/store.h"

static void check_strs(char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!v[i])
            abort();
        else
            fuzz_touch(v[i], 1);
}

static void check_csr(const uint64_t *start, const uint64_t *count, size_t rows, size_t n)
{
    for (size_t i = 0; i < rows; i++)
        if (start[i] > n || count[i] > n - start[i])
            abort();
}

/* What store.h promises about a qcal_stats that read without error. */
static void check(const qcal_stats *s)
{
    const qcal_graph_rec *g = &s->graph;

    if (s->ranks > 0)
        fuzz_touch(s->rank_samples, (size_t)s->ranks * sizeof *s->rank_samples);
    for (size_t i = 0; i < s->n_act; i++) {
        const qcal_act_rec *a = &s->act[i];
        char *strs[] = { a->name, a->kind, a->dtype, a->shape, a->producer, a->op };
        check_strs(strs, 6);
        fuzz_touch(a->hist.counts, a->hist.bins * sizeof *a->hist.counts);
    }
    for (size_t i = 0; i < s->n_weights; i++) {
        const qcal_weight_rec *w = &s->weights[i];
        char *strs[] = { w->name, w->consumer, w->op, w->shape };
        check_strs(strs, 4);
        if (w->ch_count) {
            fuzz_touch(w->ch_min, w->ch_count * sizeof *w->ch_min);
            fuzz_touch(w->ch_max, w->ch_count * sizeof *w->ch_max);
        }
    }
    check_strs(g->node_name, g->n_nodes);
    check_strs(g->node_op, g->n_nodes);
    check_strs(g->inputs, g->n_inputs);
    check_strs(g->outputs, g->n_outputs);
    check_strs(g->graph_outputs, g->n_graph_outputs);
    check_csr(g->in_start, g->in_count, g->n_nodes, g->n_inputs);
    check_csr(g->out_start, g->out_count, g->n_nodes, g->n_outputs);
    check_strs(s->sample_paths, s->n_samples);
    check_strs(s->skipped, s->n_skipped);
    for (size_t k = 0; k < s->n_enc; k++) {
        const qcal_enc_set *e = &s->enc[k];
        for (size_t i = 0; i < e->n_act; i++)
            check_strs(&e->act[i].name, 1);
        for (size_t i = 0; i < e->n_param; i++) {
            const qcal_param_enc *p = &e->param[i];
            check_strs(&p->name, 1);
            fuzz_touch(p->scale, p->ch_count * sizeof *p->scale);
            fuzz_touch(p->min, p->ch_count * sizeof *p->min);
            fuzz_touch(p->max, p->ch_count * sizeof *p->max);
            fuzz_touch(p->offset, p->ch_count * sizeof *p->offset);
        }
    }
}

static void encode(const qcal_stats *s, uint64_t h)
{
    static const char *const OVR[] = { "^input$=float", "conv=16", ".*=4" };
    qcal_encset_opts o;
    qcal_enc_override ovr;
    qcal_encset_warnings warn;
    qcal_enc_set set;
    qcal_error err;
    bool have_ovr;

    qcal_encset_opts_default(&o);
    o.method = (qcal_method)(h % QCAL_METHOD_COUNT);
    o.percentile = (h >> 3) & 1 ? 99.99 : 50.0;
    o.act_bitwidth = (h >> 4) & 1 ? 8 : 16;
    o.act_sym = (qcal_sym)((h >> 5) % QCAL_SYM_COUNT);
    o.param_sym = (qcal_sym)((h >> 7) % QCAL_SYM_COUNT);
    o.per_channel = (h >> 9) & 1;
    o.bias_bitwidth = (h >> 10) & 1 ? 32 : 8;
    o.created = "2026-01-01T00:00:00Z";
    have_ovr = qcal_enc_override_parse(OVR[(h >> 11) % 3], &ovr, &err) == QCAL_OK;
    if (have_ovr && (h >> 13) & 1) {
        o.n_overrides = 1;
        o.overrides = &ovr;
    }
    if (qcal_encset_compute(s, &o, &set, &warn, &err) == QCAL_OK) {
        for (int f = 0; f < QCAL_EXPORT_COUNT; f++)
            qcal_export_write((qcal_export_format)f, &set, s, &o, 0, fuzz_path("enc.out"), &err);
        qcal_enc_set_fini(&set);
    }
    qcal_encset_warnings_fini(&warn);
    if (have_ovr)
        qcal_enc_override_fini(&ovr);
}

static void plot(const qcal_stats *s, uint64_t h)
{
    static uint8_t rgb[QCAL_PLOT_WIDTH * QCAL_PLOT_HEIGHT * 3];
    qcal_plot_mark marks[2] = { { "a", NULL, -1.0, 1.0 }, { "b", "float", 0.0, 0.0 } };
    qcal_error err;

    if (s->n_act == 0)
        return;
    if (s->n_enc > 0 && s->enc[0].n_act > 0) {
        marks[0].min = (double)s->enc[0].act[0].min;
        marks[0].max = (double)s->enc[0].act[0].max;
    }
    qcal_plot_render(s->act[h % s->n_act].name, &s->act[h % s->n_act].hist, marks, 2, rgb, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    qcal_stats s, s2, back;
    qcal_error err;
    uint64_t h = fuzz_hash(data, size);

    path = fuzz_write("in.h5", data, size);
    if (qcal_stats_read(path, &s, &err) != QCAL_OK)
        return 0;
    check(&s);
    encode(&s, h);
    plot(&s, h >> 20);
    if (qcal_stats_read(path, &s2, &err) == QCAL_OK) {
        qcal_stats_merge(&s2, &s, &err);
        qcal_stats_fini(&s2);
    }
    if ((h >> 24) % 4 == 0 && qcal_stats_write(fuzz_path("out.h5"), &s, &err) == QCAL_OK) {
        if (qcal_stats_read(fuzz_path("out.h5"), &back, &err) != QCAL_OK) {
            fprintf(stderr, "fuzz_stats: qcal wrote a stats file it cannot read: %s\n", err.msg);
            abort();
        }
        check(&back);
        qcal_stats_fini(&back);
    }
    qcal_stats_fini(&s);
    return 0;
}
