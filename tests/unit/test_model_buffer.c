/* qcal_model_load_buffer: a model from bytes in memory behaves exactly like the same file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qcal/model.h"
#include "qtest.h"

#define MODEL "data/fmnist/fmnist_cnn.onnx"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    *len = 0;
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        *len = (size_t)n;
    fclose(fp);
    return buf;
}

static void test_same_as_file(void)
{
    qcal_model *mf = NULL, *mb = NULL;
    qcal_error err;
    size_t len;
    unsigned char *buf = slurp(MODEL, &len);

    QT_TRUE(buf != NULL);
    if (!buf)
        return;
    QT_OK(qcal_model_load(MODEL, NULL, &mf, &err));
    QT_OK(qcal_model_load_buffer("mem/fmnist.onnx", buf, len, NULL, &mb, &err));
    free(buf); /* the model keeps no pointer into the bytes */
    if (!mf || !mb)
        goto out;
    QT_EQ_STR(qcal_model_sha256(mb), qcal_model_sha256(mf));
    QT_EQ_STR(qcal_model_path(mb), "mem/fmnist.onnx");
    QT_EQ_U64(qcal_model_n_tensors(mb), qcal_model_n_tensors(mf));
    QT_EQ_U64(qcal_model_n_nodes(mb), qcal_model_n_nodes(mf));
    QT_EQ_U64(qcal_model_n_inputs(mb), 1);
    {
        qcal_tensor_view in = qcal_model_input(mb, 0);
        float *x = calloc(in.nelem, sizeof *x);
        const void *ins[1] = { x };
        QT_TRUE(x != NULL);
        for (size_t i = 0; x && i < in.nelem; i++)
            x[i] = (float)(i % 7) * 0.25f;
        QT_OK(qcal_model_run(mf, ins, NULL, NULL, &err));
        QT_OK(qcal_model_run(mb, ins, NULL, NULL, &err));
        qcal_tensor_view of = qcal_model_output(mf, 0), ob = qcal_model_output(mb, 0);
        QT_EQ_U64(ob.nelem, of.nelem);
        QT_TRUE(of.nelem == 10 && ob.data && of.data);
        if (ob.data && of.data && ob.nelem == of.nelem)
            QT_EQ_MEM(ob.data, of.data, of.nelem * sizeof(float));
        free(x);
    }
out:
    qcal_model_destroy(mf);
    qcal_model_destroy(mb);
}

static void test_bad_bytes(void)
{
    static const unsigned char junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12 };
    qcal_model *m = (qcal_model *)&m;
    qcal_error err;

    QT_EQ_I64(qcal_model_load_buffer("junk.onnx", junk, sizeof junk, NULL, &m, &err),
              QCAL_E_CORRUPT);
    QT_TRUE(m == NULL);
    QT_TRUE(strstr(err.msg, "junk.onnx") != NULL);
    m = (qcal_model *)&m;
    QT_TRUE(qcal_model_load_buffer("empty.onnx", NULL, 0, NULL, &m, &err) != QCAL_OK);
    QT_TRUE(m == NULL);
    QT_TRUE(strstr(err.msg, "empty.onnx") != NULL);
}

int main(void)
{
    QT_RUN(test_same_as_file);
    QT_RUN(test_bad_bytes);
    return qt_report();
}
