/*
 * Fuzz harness: the sample decoders and preprocessing (src/data). The format comes from the
 * input's first bytes: a PNG or JPEG signature is decoded in memory (qcal_image_decode) and, when
 * that works, preprocessed into a small input shape with options picked from a hash of the input
 * (size, resize mode, channels, layout, scale, mean/std); a .npy signature, or anything else as
 * .raw, goes through qcal_data_load_sample from a file, into the array's own shape or another
 * one. Every so often an image also takes that file path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "fuzz.h"
#include "qcal/data.h"

static const char *const MEANS[] = { "0", "0.2860", "0.485,0.456,0.406", "-3" };
static const char *const STDS[] = { "1", "0.3530", "0.229,0.224,0.225", "1e-30" };

/* Options from the hash h for a C x H x W input; falls back to the defaults when the picked
 * combination is refused by qcal_preprocess_check (that refusal is itself exercised). */
static void pick(uint64_t h, qcal_preprocess *pp, int64_t dims[4])
{
    qcal_error err;
    int c = (h & 1) ? 3 : 1;
    char v[32];

    dims[0] = 1;
    dims[1] = c;
    dims[2] = 1 + (int64_t)((h >> 1) % 32);
    dims[3] = 1 + (int64_t)((h >> 6) % 32);
    qcal_preprocess_init(pp);
    if ((h >> 11) & 1) {
        snprintf(v, sizeof v, "%dx%d", (int)dims[3], (int)dims[2]);
        qcal_preprocess_parse(pp, "size", v, &err);
    }
    qcal_preprocess_parse(pp, "resize", (const char *[]){ "stretch", "letterbox",
                                                         "center-crop" }[(h >> 12) % 3], &err);
    if ((h >> 14) & 1)
        qcal_preprocess_parse(pp, "channels", c == 1 ? "gray" : ((h >> 15) & 1) ? "bgr" : "rgb",
                              &err);
    if ((h >> 16) & 1)
        qcal_preprocess_parse(pp, "layout", "nhwc", &err);
    if ((h >> 17) & 1)
        qcal_preprocess_parse(pp, "scale", "0.00392156863", &err);
    qcal_preprocess_parse(pp, "mean", MEANS[(h >> 18) % 4], &err);
    qcal_preprocess_parse(pp, "std", STDS[(h >> 20) % 4], &err);
    if (qcal_preprocess_check(pp, dims, 4, &err) != QCAL_OK)
        qcal_preprocess_init(pp);
}

static void image(const uint8_t *data, size_t size, const char *name, uint64_t h)
{
    qcal_preprocess pp;
    qcal_image img;
    qcal_error err;
    int64_t dims[4];
    float out[3 * 32 * 32];

    pick(h, &pp, dims);
    if ((h >> 24) % 8 == 0) {
        qcal_data_load_sample(fuzz_write(name, data, size), dims, 4, &pp, out, &err);
        return;
    }
    if (qcal_image_decode(name, data, size, &img, &err) != QCAL_OK)
        return;
    if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4 ||
        (img.bit_depth != 8 && img.bit_depth != 16))
        abort(); /* a decoded image must be what data.h promises */
    fuzz_touch(img.data, (size_t)img.width * (size_t)img.height * (size_t)img.channels *
                             (size_t)(img.bit_depth / 8));
    qcal_preprocess_image(&img, dims, 4, &pp, out, &err);
    qcal_image_fini(&img);
}

static void tensor(const uint8_t *data, size_t size, const char *name, uint64_t h)
{
    qcal__npy_header hd;
    qcal_error err;
    int64_t dims[QCAL_MAX_RANK];
    int rank;
    size_t n = size / 4 + 1;
    float *out;

    if (strcmp(name, "x.npy") == 0 && qcal__npy_parse(name, data, size, &hd, &err) == QCAL_OK &&
        (h & 3) != 0) {
        rank = hd.rank;
        memcpy(dims, hd.dims, sizeof dims);
        if (hd.nelem > size / 4)
            abort(); /* the header promised more data than the file holds */
        n = hd.nelem ? hd.nelem : 1;
    } else {
        rank = 2;
        dims[0] = 1;
        dims[1] = (int64_t)(size / 4) + (int64_t)((h >> 2) % 3) - 1;
        if (dims[1] < 0)
            dims[1] = 0;
        n = (size_t)dims[1] + 1;
    }
    if (!(out = malloc(n * sizeof *out)))
        return;
    qcal_data_load_sample(fuzz_write(name, data, size), dims, rank, NULL, out, &err);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = fuzz_hash(data, size);

    if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
        image(data, size, "x.png", h);
    else if (size >= 2 && data[0] == 0xff && data[1] == 0xd8)
        image(data, size, (h >> 30) & 1 ? "x.jpeg" : "x.jpg", h);
    else if (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0)
        tensor(data, size, "x.npy", h);
    else
        tensor(data, size, (h >> 30) & 1 ? "x.bin" : "x.raw", h);
    return 0;
}
