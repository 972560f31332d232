/*
 * Unit tests of the index-driven kernels (GatherND, ScatterND, ScatterElements, Scatter,
 * OneHot, ReverseSequence) for what the ONNX backend tests leave out: constant out-of-range
 * indices refused with the node's name, negative indices, opset-gated reductions, integer
 * reductions and OneHot's out-of-range rows. Expected values are worked out by hand in the
 * comments; everything is exact, so comparisons are bit for bit.
 */
#include "hnode.h"

/* data 2x3x2 = 0..11; indices [[1, -1], [-2, 0]] (k = 2) address rows data[1][2] = {10, 11}
 * and data[0][0] = {0, 1}. */
static void test_gathernd_negative(void)
{
    const int64_t dd[3] = { 2, 3, 2 }, id[2] = { 2, 2 }, want_dims[2] = { 2, 2 };
    const int64_t ix[4] = { 1, -1, -2, 0 };
    const float want[4] = { 10, 11, 0, 1 };
    float x[12];
    qcal_error err;
    hnode h;

    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    h_init(&h, "GatherND", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 3, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, true);
    QT_OK(h_run(&h, &err));
    check_dims(h.out[0], 2, want_dims);
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);
}

/* batch_dims = 1 with int32 indices: out[b] = data[b][ix[b]] over data 2x3 = 0..5, indices
 * [[2], [-3]] -> {2, 3}. */
static void test_gathernd_batch_int32(void)
{
    const int64_t dd[2] = { 2, 3 }, id[2] = { 2, 1 };
    const int32_t ix[2] = { 2, -3 };
    const int64_t x[6] = { 0, 1, 2, 3, 4, 5 }, want[2] = { 2, 3 };
    qcal_error err;
    hnode h;

    h_init(&h, "GatherND", 13, 1);
    h_in(&h, QCAL_DT_INT64, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT32, 2, id, ix, false);
    h_int(&h, "batch_dims", 1);
    QT_OK(h_run(&h, &err));
    QT_EQ_I64(h.out[0]->rank, 1);
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);
}

/* A constant index of 3 into a dim of 3 is refused at infer time, naming the node. */
static void test_gathernd_out_of_range(void)
{
    const int64_t dd[2] = { 3, 2 }, id[2] = { 1, 1 };
    const int64_t ix[1] = { 3 }, ixn[1] = { -4 };
    const float x[6] = { 0 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "GatherND", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, true);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "node 'test' (GatherND)") != NULL);
    QT_TRUE(strstr(err.msg, "index 3") != NULL);
    h_fini(&h);

    h_init(&h, "GatherND", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ixn, true);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "index -4") != NULL);
    h_fini(&h);

    /* k larger than the rank is a shape error. */
    {
        const int64_t id3[2] = { 1, 3 }, ix3[3] = { 0, 0, 0 };
        h_init(&h, "GatherND", 13, 1);
        h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
        h_in(&h, QCAL_DT_INT64, 2, id3, ix3, true);
        QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
        h_fini(&h);
    }
}

/* ScatterND over data 4x2 = 1..8 with indices [[-1], [0], [-1]] and rows {10, 20}, {30, 40},
 * {50, 60}: none writes in order (row 3 = the last update, {50, 60}); add sums duplicates
 * (row 3 = {7 + 10 + 50, 8 + 20 + 60}); int64 data keeps exact values. */
static void test_scatternd_reductions(void)
{
    const int64_t dd[2] = { 4, 2 }, id[2] = { 3, 1 }, ud[2] = { 3, 2 };
    const int64_t ix[3] = { -1, 0, -1 };
    const int64_t x[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, up[6] = { 10, 20, 30, 40, 50, 60 };
    const int64_t want_none[8] = { 30, 40, 3, 4, 5, 6, 50, 60 };
    const int64_t want_add[8] = { 31, 42, 3, 4, 5, 6, 67, 88 };
    const int64_t want_mul[8] = { 30, 80, 3, 4, 5, 6, 3500, 9600 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "ScatterND", 18, 1);
    h_in(&h, QCAL_DT_INT64, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_INT64, 2, ud, up, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_none, sizeof want_none);
    h_fini(&h);

    h_init(&h, "ScatterND", 16, 1);
    h_in(&h, QCAL_DT_INT64, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_INT64, 2, ud, up, false);
    h_str(&h, "reduction", "add");
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_add, sizeof want_add);
    h_fini(&h);

    h_init(&h, "ScatterND", 18, 1);
    h_in(&h, QCAL_DT_INT64, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_INT64, 2, ud, up, false);
    h_str(&h, "reduction", "mul");
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_mul, sizeof want_mul);
    h_fini(&h);

    /* max arrived at opset 18: refused at 16; add is no attribute at 13. */
    h_init(&h, "ScatterND", 16, 1);
    h_in(&h, QCAL_DT_INT64, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_INT64, 2, ud, up, false);
    h_str(&h, "reduction", "max");
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "reduction 'max'") != NULL);
    h_fini(&h);

    h_init(&h, "ScatterND", 13, 1);
    h_in(&h, QCAL_DT_INT64, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_INT64, 2, ud, up, false);
    h_str(&h, "reduction", "add");
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    h_fini(&h);
}

/* Constant out-of-range ScatterND and ScatterElements indices are refused; mismatched updates
 * are shape errors. */
static void test_scatter_out_of_range(void)
{
    const int64_t dd[2] = { 4, 2 }, id[2] = { 1, 1 }, ud[2] = { 1, 2 };
    const int64_t ix[1] = { 4 };
    const float x[8] = { 0 }, up[2] = { 1, 2 };
    const int64_t ed[2] = { 1, 2 };
    const int64_t eix[2] = { 0, -3 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "ScatterND", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, true);
    h_in(&h, QCAL_DT_FLOAT, 2, ud, up, false);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "node 'test' (ScatterND)") != NULL);
    h_fini(&h);

    h_init(&h, "ScatterND", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_FLOAT, 1, ud, up, false);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_SHAPE);
    h_fini(&h);

    /* data 4x2, axis 1: -3 is outside [-2, 2). */
    h_init(&h, "ScatterElements", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, ed, eix, true);
    h_in(&h, QCAL_DT_FLOAT, 2, ed, up, false);
    h_int(&h, "axis", 1);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "node 'test' (ScatterElements)") != NULL);
    QT_TRUE(strstr(err.msg, "index -3") != NULL);
    h_fini(&h);
}

/* ScatterElements axis 0 on int32 data 3x2 = 1..6, indices [[-1, 0]] and updates [[5, 7]]:
 * out[2][0] (op)= 5, out[0][1] (op)= 7. min at opset 18 keeps the smaller value. */
static void test_scatter_elements_int(void)
{
    const int64_t dd[2] = { 3, 2 }, id[2] = { 1, 2 };
    const int64_t ix[2] = { -1, 0 };
    const int32_t x[6] = { 1, 2, 3, 4, 5, 6 }, up[2] = { 5, 7 };
    const int32_t want_add[6] = { 1, 9, 3, 4, 10, 6 };
    const int32_t want_min[6] = { 1, 2, 3, 4, 5, 6 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "ScatterElements", 16, 1);
    h_in(&h, QCAL_DT_INT32, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_INT32, 2, id, up, false);
    h_str(&h, "reduction", "add");
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_add, sizeof want_add);
    h_fini(&h);

    h_init(&h, "ScatterElements", 18, 1);
    h_in(&h, QCAL_DT_INT32, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_INT32, 2, id, up, false);
    h_str(&h, "reduction", "min");
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_min, sizeof want_min);
    h_fini(&h);

    /* Scatter-9: the same without reduction (out[2][0] = 5, out[0][1] = 7). */
    {
        const int32_t want9[6] = { 1, 7, 3, 4, 5, 6 };
        h_init(&h, "Scatter", 9, 1);
        h_in(&h, QCAL_DT_INT32, 2, dd, x, false);
        h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
        h_in(&h, QCAL_DT_INT32, 2, id, up, false);
        QT_OK(h_run(&h, &err));
        QT_EQ_MEM(h.out[0]->data, want9, sizeof want9);
        h_fini(&h);
    }
    /* Scatter was removed at opset 11. */
    QT_TRUE(qcal__op_find("Scatter", 11) == NULL);
}

/* OneHot depth 3, values [0, 1]: indices {2, -1, 3, -4}. Opset 11: -1 -> 2, 3 and -4 are out of
 * range (all off). Opset 9 has no negative indices: -1 is out of range too. */
static void test_onehot_ranges(void)
{
    const int64_t id[1] = { 4 }, vd[1] = { 2 }, want_dims[2] = { 4, 3 };
    const int64_t ix[4] = { 2, -1, 3, -4 };
    const int64_t depth = 3;
    const float vals[2] = { 0.0f, 1.0f };
    const float want11[12] = { 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    const float want9[12] = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    const float zero = 0.0f;
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "OneHot", 11, 1);
    h_in(&h, QCAL_DT_INT64, 1, id, ix, false);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &depth, true);
    h_in(&h, QCAL_DT_FLOAT, 1, vd, vals, false);
    QT_OK(h_run(&h, &err));
    check_dims(h.out[0], 2, want_dims);
    QT_EQ_MEM(h.out[0]->data, want11, sizeof want11);
    h_fini(&h);

    h_init(&h, "OneHot", 9, 1);
    h_in(&h, QCAL_DT_INT64, 1, id, ix, false);
    h_in(&h, QCAL_DT_INT64, 0, NULL, &depth, true);
    h_in(&h, QCAL_DT_FLOAT, 1, vd, vals, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want9, sizeof want9);
    h_fini(&h);

    /* A depth of 0 is refused. */
    h_init(&h, "OneHot", 11, 1);
    h_in(&h, QCAL_DT_INT64, 1, id, ix, false);
    h_in(&h, QCAL_DT_FLOAT, 0, NULL, &zero, true);
    h_in(&h, QCAL_DT_FLOAT, 1, vd, vals, false);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "depth") != NULL);
    h_fini(&h);
}

/* ReverseSequence with time_axis 0, batch_axis 1 over x 3x2 (t, b) = {t*2+b}: lens {3, 1}
 * reverses batch 0 fully (4, 2, 0) and keeps batch 1 (1, 3, 5). A constant length above the
 * time steps is refused. */
static void test_reverse_sequence(void)
{
    const int64_t xd[2] = { 3, 2 }, ld[1] = { 2 };
    const float x[6] = { 0, 1, 2, 3, 4, 5 }, want[6] = { 4, 1, 2, 3, 0, 5 };
    const int64_t lens[2] = { 3, 1 }, bad[2] = { 4, 1 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "ReverseSequence", 10, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, xd, x, false);
    h_in(&h, QCAL_DT_INT64, 1, ld, lens, false);
    h_int(&h, "time_axis", 0);
    h_int(&h, "batch_axis", 1);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want, sizeof want);
    h_fini(&h);

    h_init(&h, "ReverseSequence", 10, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, xd, x, false);
    h_in(&h, QCAL_DT_INT64, 1, ld, bad, true);
    h_int(&h, "time_axis", 0);
    h_int(&h, "batch_axis", 1);
    QT_EQ_I64(h_run(&h, &err), QCAL_E_INVALID);
    QT_TRUE(strstr(err.msg, "node 'test' (ReverseSequence)") != NULL);
    h_fini(&h);
}

/* Per-sample (non-constant) indices out of range cannot be refused at infer: run() fails the
 * run through the node's run_error, writes zeros for a GatherND tuple and skips a scatter
 * update, and touches nothing outside the tensors (ASan checks that). In-range work is done. */
static void test_runtime_out_of_range(void)
{
    const int64_t dd[2] = { 3, 2 }, id[2] = { 2, 1 }, ud[2] = { 2, 2 };
    const int64_t ix[2] = { 1, 3 };
    const float x[6] = { 1, 2, 3, 4, 5, 6 }, up[4] = { 7, 8, 9, 10 };
    const float want_g[4] = { 3, 4, 0, 0 }, want_s[6] = { 1, 2, 7, 8, 5, 6 };
    const int64_t ed[2] = { 1, 2 }, eix[2] = { 0, 2 }, eok[2] = { 1, -2 };
    const float want_e[6] = { 7, 2, 3, 4, 5, 6 };
    const int64_t ld[1] = { 2 }, lens[2] = { 3, 4 }, xd[2] = { 3, 2 };
    qcal_error err = { 0 };
    hnode h;

    h_init(&h, "GatherND", 13, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_g, sizeof want_g);
    QT_EQ_STR(h.n.run_error, "index out of range");
    h_fini(&h);

    h_init(&h, "ScatterND", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, id, ix, false);
    h_in(&h, QCAL_DT_FLOAT, 2, ud, up, false);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_s, sizeof want_s);
    QT_EQ_STR(h.n.run_error, "index out of range");
    h_fini(&h);

    /* ScatterElements axis 1 on 3x2: index 2 is outside [-2, 2). */
    h_init(&h, "ScatterElements", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, ed, eix, false);
    h_in(&h, QCAL_DT_FLOAT, 2, ed, up, false);
    h_int(&h, "axis", 1);
    QT_OK(h_run(&h, &err));
    QT_EQ_MEM(h.out[0]->data, want_e, sizeof want_e);
    QT_EQ_STR(h.n.run_error, "index out of range");
    h_fini(&h);

    /* In range: no error. */
    h_init(&h, "ScatterElements", 18, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, dd, x, false);
    h_in(&h, QCAL_DT_INT64, 2, ed, eok, false);
    h_in(&h, QCAL_DT_FLOAT, 2, ed, up, false);
    h_int(&h, "axis", 1);
    QT_OK(h_run(&h, &err));
    QT_TRUE(h.n.run_error == NULL);
    h_fini(&h);

    /* ReverseSequence with 3 time steps: a length of 4 fails the run. */
    h_init(&h, "ReverseSequence", 10, 1);
    h_in(&h, QCAL_DT_FLOAT, 2, xd, x, false);
    h_in(&h, QCAL_DT_INT64, 1, ld, lens, false);
    h_int(&h, "time_axis", 0);
    h_int(&h, "batch_axis", 1);
    QT_OK(h_run(&h, &err));
    QT_EQ_STR(h.n.run_error, "sequence_lens value out of range");
    h_fini(&h);
}

int main(void)
{
    QT_RUN(test_gathernd_negative);
    QT_RUN(test_gathernd_batch_int32);
    QT_RUN(test_gathernd_out_of_range);
    QT_RUN(test_scatternd_reductions);
    QT_RUN(test_scatter_out_of_range);
    QT_RUN(test_scatter_elements_int);
    QT_RUN(test_onehot_ranges);
    QT_RUN(test_reverse_sequence);
    QT_RUN(test_runtime_out_of_range);
    return qt_report();
}
