/*
 * Dropout. Inference (the normal case) is the identity with an all-"kept" mask. Training mode
 * (opset 12+, training_mode input true) is reproducible: the mask comes from an MT19937 stream
 * seeded with the 'seed' attribute and numpy's 53-bit doubles, the generator ONNX's reference
 * uses (np.random.seed(seed); mask = uniform(0, 1, shape) >= ratio), re-seeded on every run so
 * each sample sees the same mask whatever rank runs it.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/move.h"

#define MT_N 624
#define MT_M 397

typedef struct mt19937 {
    uint32_t key[MT_N];
    int pos;
} mt19937;

static void mt_seed(mt19937 *s, uint32_t seed)
{
    s->key[0] = seed;
    for (uint32_t i = 1; i < MT_N; i++)
        s->key[i] = 1812433253u * (s->key[i - 1] ^ (s->key[i - 1] >> 30)) + i;
    s->pos = MT_N;
}

static uint32_t mt_twist(uint32_t hi, uint32_t lo, uint32_t far)
{
    uint32_t y = (hi & 0x80000000u) | (lo & 0x7fffffffu);
    return far ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
}

static uint32_t mt_next(mt19937 *s)
{
    uint32_t y;

    if (s->pos >= MT_N) {
        int i;
        for (i = 0; i < MT_N - MT_M; i++)
            s->key[i] = mt_twist(s->key[i], s->key[i + 1], s->key[i + MT_M]);
        for (; i < MT_N - 1; i++)
            s->key[i] = mt_twist(s->key[i], s->key[i + 1], s->key[i + MT_M - MT_N]);
        s->key[MT_N - 1] = mt_twist(s->key[MT_N - 1], s->key[0], s->key[MT_M - 1]);
        s->pos = 0;
    }
    y = s->key[s->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* numpy's random_sample(): 27 + 26 random bits over 2^53, in [0, 1). */
static double mt_double(mt19937 *s)
{
    uint32_t a = mt_next(s) >> 5, b = mt_next(s) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

typedef struct dropout_params {
    bool training;
    float ratio;
    uint32_t seed;
    size_t mask_esz;
    unsigned char one[16]; /* the mask's "kept" value in the mask's dtype */
} dropout_params;

/*
 * Dropout-1/6 ('is_test', 'ratio': inference), -7 (mask of the input's type), -10 (bool mask),
 * -12/13 (ratio and training_mode inputs, both needed at infer). Training mode needs float32 or
 * float64 data.
 */
qcal_status qcal__dropout_infer(qcal__node *n, qcal_error *err)
{
    const qcal__tensor *x = NULL;
    qcal__tensor *mask = n->n_out > 1 ? n->out[1] : NULL;
    qcal_dtype mdt;
    dropout_params *p;
    qcal_status st = qcal__check_inputs(n, 1, n->opset < 12 ? 1 : 3, err);

    if (st != QCAL_OK)
        return st;
    if (n->n_out < 1 || !n->out[0])
        return qcal__node_error(err, n, QCAL_E_INVALID, "output 0 is missing");
    x = n->in[0];
    if (qcal_dtype_size(x->dtype) == 0)
        return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "dtype %s is not supported",
                                qcal_dtype_name(x->dtype));
    p = calloc(1, sizeof *p);
    if (!p)
        return qcal__node_error(err, n, QCAL_E_NOMEM, "out of memory");
    n->params = p;
    p->ratio = 0.5f;
    p->seed = (uint32_t)qcal__attr_int(n, "seed", 0);
    if (n->opset >= 12 && qcal__in(n, 2)) {
        int64_t training = 0;
        size_t cnt;
        if ((st = qcal__const_ints(n, 2, &training, 1, &cnt, err)) != QCAL_OK)
            return st;
        if (qcal__in(n, 1) &&
            (st = qcal__const_floats(n, 1, &p->ratio, 1, &cnt, err)) != QCAL_OK)
            return st;
        p->training = training != 0 && p->ratio != 0.0f;
        if (p->training && x->dtype != QCAL_DT_FLOAT && x->dtype != QCAL_DT_DOUBLE)
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "training mode on %s data is "
                                    "not supported", qcal_dtype_name(x->dtype));
        if (p->training && !(p->ratio > 0.0f && p->ratio < 1.0f))
            return qcal__node_error(err, n, QCAL_E_INVALID, "ratio %g is outside [0, 1)",
                                    (double)p->ratio);
    }
    mdt = n->opset < 10 ? x->dtype : QCAL_DT_BOOL;
    p->mask_esz = qcal_dtype_size(mdt);
    if (mask) {
        const uint8_t one = 1;
        if (!qcal__cast_supported(mdt))
            return qcal__node_error(err, n, QCAL_E_UNSUPPORTED, "mask of dtype %s is not "
                                    "supported", qcal_dtype_name(mdt));
        qcal__cast_elem(p->one, mdt, &one, QCAL_DT_UINT8);
        if ((st = qcal__tensor_set_shape(mask, mdt, x->rank, x->dims, err)) != QCAL_OK)
            return st;
    }
    return qcal__tensor_set_shape(n->out[0], x->dtype, x->rank, x->dims, err);
}

/* Training mode: y = (mask * x) * scale with scale = 1 / (1 - ratio), in the data's type, as
 * the reference computes it. The generator state lives on the stack (2.5 KB). */
static void dropout_train(const qcal__node *n, const dropout_params *p)
{
    const qcal__tensor *x = n->in[0];
    qcal__tensor *mask = n->n_out > 1 ? n->out[1] : NULL;
    uint8_t *m = mask ? mask->data : NULL;
    const double ratio = (double)p->ratio;
    mt19937 s;

    mt_seed(&s, p->seed);
    if (x->dtype == QCAL_DT_FLOAT) {
        const float *xs = x->data, scale = 1.0f / (1.0f - p->ratio);
        float *y = n->out[0]->data;
        for (size_t i = 0; i < x->nelem; i++) {
            bool keep = mt_double(&s) >= ratio;
            y[i] = (keep ? 1.0f : 0.0f) * xs[i] * scale;
            if (m)
                m[i] = keep;
        }
    } else {
        const double *xs = x->data, scale = 1.0 / (1.0 - ratio);
        double *y = n->out[0]->data;
        for (size_t i = 0; i < x->nelem; i++) {
            bool keep = mt_double(&s) >= ratio;
            y[i] = (keep ? 1.0 : 0.0) * xs[i] * scale;
            if (m)
                m[i] = keep;
        }
    }
}

void qcal__dropout_run(const qcal__node *n, void *scratch)
{
    const dropout_params *p = n->params;
    qcal__tensor *mask = n->n_out > 1 ? n->out[1] : NULL;

    if (p->training) {
        dropout_train(n, p);
        return;
    }
    qcal__copy_input_run(n, scratch);
    if (mask)
        for (size_t i = 0; i < mask->nelem; i++)
            memcpy((unsigned char *)mask->data + i * p->mask_esz, p->one, p->mask_esz);
}
