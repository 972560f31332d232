/*
 * Data module: PNG/JPEG decoding against independently known pixel values, npy/raw parsing,
 * preprocessing (fmnist exact values, resize modes, references computed by
 * tests/data/make_images.py in numpy float32), dataset listing. Fixtures: $QCAL_TEST_DATA/img
 * (default data/img, relative to tests/).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "qcal/data.h"
#include "qtest.h"

static char g_img[1024];

static const char *fixture(const char *name)
{
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_img, name);
    return buf[k];
}

static bool contains(const char *s, const char *sub)
{
    return strstr(s, sub) != NULL;
}

/* ---- PNG ---------------------------------------------------------------------------------- */

/* make_images.py: v(x, y, c) = (x * 40503 + y * 9973 + c * 27001 + 1234) mod 2^depth. */
static unsigned pat(int x, int y, int c, int depth)
{
    return (unsigned)(((long)x * 40503 + (long)y * 9973 + (long)c * 27001 + 1234) %
                      (1L << depth));
}

typedef enum { GRAY, GA, RGB, RGBA, PAL } ctype;

typedef struct png_case {
    const char *file;
    ctype type;
    int depth; /* stored bit depth */
    bool trns;
    int channels, out_depth; /* expected after decoding */
} png_case;

static const png_case PNGS[] = {
    { "g1.png", GRAY, 1, false, 1, 8 },        { "g2.png", GRAY, 2, false, 1, 8 },
    { "g4.png", GRAY, 4, false, 1, 8 },        { "g8.png", GRAY, 8, false, 1, 8 },
    { "g16.png", GRAY, 16, false, 1, 16 },     { "g2_trns.png", GRAY, 2, true, 2, 8 },
    { "g8_trns.png", GRAY, 8, true, 2, 8 },    { "g16_trns.png", GRAY, 16, true, 2, 16 },
    { "ga8.png", GA, 8, false, 2, 8 },         { "ga16.png", GA, 16, false, 2, 16 },
    { "rgb8.png", RGB, 8, false, 3, 8 },       { "rgb16.png", RGB, 16, false, 3, 16 },
    { "rgb8_trns.png", RGB, 8, true, 4, 8 },   { "rgb16_trns.png", RGB, 16, true, 4, 16 },
    { "rgba8.png", RGBA, 8, false, 4, 8 },     { "rgba16.png", RGBA, 16, false, 4, 16 },
    { "p1.png", PAL, 1, false, 3, 8 },         { "p2.png", PAL, 2, false, 3, 8 },
    { "p4.png", PAL, 4, false, 3, 8 },         { "p8.png", PAL, 8, false, 3, 8 },
    { "p4_trns.png", PAL, 4, true, 4, 8 },     { "p8_trns.png", PAL, 8, true, 4, 8 },
    { "rgb8_adam7.png", RGB, 8, false, 3, 8 }, { "g16_adam7.png", GRAY, 16, false, 1, 16 },
};

/* The decoded value the fixture must give at (x, y, c). */
static unsigned expected_png(const png_case *pc, int x, int y, int c)
{
    unsigned maxv = pc->out_depth == 16 ? 65535u : 255u;
    int d = pc->depth;

    switch (pc->type) {
    case GRAY:
        if (c == 1) /* alpha from tRNS: transparent exactly where the value is v(2, 1) */
            return pat(x, y, 0, d) == pat(2, 1, 0, d) ? 0 : maxv;
        return d < 8 ? pat(x, y, 0, d) * (255u / ((1u << d) - 1u)) : pat(x, y, 0, d);
    case GA:
    case RGBA:
        return pat(x, y, c, d);
    case RGB:
        if (c == 3) {
            bool same = true;
            for (int k = 0; k < 3; k++)
                same = same && pat(x, y, k, d) == pat(3, 2, k, d);
            return same ? 0 : maxv;
        }
        return pat(x, y, c, d);
    case PAL: {
        unsigned k = pat(x, y, 0, d);
        unsigned n_trns = (1u << d) - 3 < 40 ? (1u << d) - 3 : 40;
        if (c == 3)
            return k < n_trns ? ((k * 97 + 13) & 255) : 255;
        unsigned mul[3] = { 73, 151, 199 }, add[3] = { 11, 7, 3 };
        return (k * mul[c] + add[c]) & 255;
    }
    }
    return 0;
}

static void test_png_all_types(void)
{
    for (size_t i = 0; i < sizeof PNGS / sizeof PNGS[0]; i++) {
        const png_case *pc = &PNGS[i];
        qcal_image img;
        qcal_error err = { 0 };
        int bad = 0, transparent = 0;

        QT_OK(qcal_image_load(fixture(pc->file), &img, &err));
        if (!img.data) {
            fprintf(stderr, "  %s: %s\n", pc->file, err.msg);
            continue;
        }
        QT_EQ_I64(img.width, 7);
        QT_EQ_I64(img.height, 5);
        QT_EQ_I64(img.channels, pc->channels);
        QT_EQ_I64(img.bit_depth, pc->out_depth);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 7; x++)
                for (int c = 0; c < img.channels; c++) {
                    unsigned want = expected_png(pc, x, y, c);
                    if (qcal_image_at(&img, x, y, c) != want) {
                        if (bad++ < 3)
                            fprintf(stderr, "  %s (%d,%d,%d): %u, want %u\n", pc->file, x, y, c,
                                    qcal_image_at(&img, x, y, c), want);
                    }
                    if (pc->trns && c == img.channels - 1 && want != 255 && want != 65535)
                        transparent++;
                }
        QT_EQ_I64(bad, 0);
        /* The tRNS fixtures really contain transparent pixels (the check is not vacuous). */
        if (pc->trns)
            QT_TRUE(transparent > 0);
        qcal_image_fini(&img);
    }
}

static void expect_corrupt(const char *name)
{
    qcal_image img;
    qcal_error err = { 0 };
    qcal_status st = qcal_image_load(fixture(name), &img, &err);

    QT_EQ_I64(st, QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, name));
    QT_TRUE(img.data == NULL);
    if (st != QCAL_E_CORRUPT || !contains(err.msg, name))
        fprintf(stderr, "  %s: %s\n", name, err.msg);
}

static void test_corrupt_files(void)
{
    qcal_image img;
    qcal_error err = { 0 };
    float out[3 * 5 * 7];
    const int64_t dims[4] = { 1, 3, 5, 7 };

    expect_corrupt("trunc.png");
    expect_corrupt("badcrc.png");
    expect_corrupt("notpng.png");
    expect_corrupt("trunc.jpg");
    /* The same through the sample loader, which the CLI uses. */
    QT_EQ_I64(qcal_data_load_sample(fixture("trunc.png"), dims, 4, NULL, out, &err),
              QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, "trunc.png"));
    QT_EQ_I64(qcal_image_load(fixture("missing.png"), &img, &err), QCAL_E_IO);
    QT_TRUE(contains(err.msg, "missing.png"));
}

/* ---- JPEG --------------------------------------------------------------------------------- */

/* Our decode equals djpeg -dct int (the same accurate integer DCT), stored by make_images.py. */
static void check_jpeg(const char *file, const char *ref, int channels)
{
    qcal_image img;
    qcal_npy r;
    qcal_error err = { 0 };
    int bad = 0;

    QT_OK(qcal_image_load(fixture(file), &img, &err));
    QT_OK(qcal_npy_load(fixture(ref), &r, &err));
    if (!img.data || !r.data)
        goto out;
    QT_EQ_I64(r.rank, 3);
    QT_EQ_I64(img.height, r.dims[0]);
    QT_EQ_I64(img.width, r.dims[1]);
    QT_EQ_I64(img.channels, channels);
    QT_EQ_I64(r.dims[2], channels);
    QT_EQ_I64(img.bit_depth, 8);
    if (img.height != r.dims[0] || img.width != r.dims[1] || img.channels != r.dims[2])
        goto out;
    for (size_t i = 0; i < r.nelem; i++)
        if ((float)((const uint8_t *)img.data)[i] != r.data[i])
            bad++;
    QT_EQ_I64(bad, 0);
out:
    qcal_image_fini(&img);
    qcal_npy_fini(&r);
}

static void test_jpeg(void)
{
    check_jpeg("rgb.jpg", "rgb_jpg_ref.npy", 3);
    check_jpeg("gray.jpg", "gray_jpg_ref.npy", 1);
    check_jpeg("prog.JPEG", "prog_jpg_ref.npy", 3);
}

/* ---- size limits of forged headers (issue 10) ---------------------------------------------- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static size_t put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

/* One PNG chunk (length, type, data, CRC) at out; returns its size. */
static size_t put_chunk(unsigned char *out, const char *type, const unsigned char *data,
                        size_t n)
{
    size_t k = put_be32(out, (uint32_t)n);
    memcpy(out + k, type, 4);
    if (n) /* an IEND chunk passes data NULL: memcpy needs a valid pointer even for 0 bytes */
        memcpy(out + k + 4, data, n);
    return k + 4 + n + put_be32(out + k + 4 + n, crc32_of(out + k, n + 4));
}

/* A PNG whose IHDR says w x h (8-bit gray) followed by a few bytes of deflate data. */
static size_t forged_png(unsigned char *out, uint32_t w, uint32_t h)
{
    static const unsigned char idat[] = { 0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01 };
    unsigned char ihdr[13] = { 0 };
    size_t n = 0;

    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8; /* depth */
    ihdr[9] = 0; /* gray */
    n += put_chunk(out + n, "IHDR", ihdr, sizeof ihdr);
    n += put_chunk(out + n, "IDAT", idat, sizeof idat);
    n += put_chunk(out + n, "IEND", NULL, 0);
    return n;
}

static void test_forged_sizes(void)
{
    unsigned char png[128], *jpg = NULL;
    size_t n, jlen = 0;
    qcal_image img;
    qcal_error err = { 0 };
    float out[28 * 28];
    const int64_t dims[4] = { 1, 1, 28, 28 };

    /* 100000 x 100000 pixels from 9 bytes of deflate data: corrupt, nothing allocated. */
    n = forged_png(png, 100000, 100000);
    QT_EQ_I64(qcal_image_decode("huge.png", png, n, &img, &err), QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, "huge.png: corrupt PNG: the header claims 100000x100000 pixels"));
    QT_TRUE(img.data == NULL);
    /* 16384 x 16384 (2^28 pixels, the default maximum) still needs a bigger file. */
    n = forged_png(png, 16384, 16384);
    QT_EQ_I64(qcal_image_decode("max.png", png, n, &img, &err), QCAL_E_CORRUPT);
    /* Above the maximum: unsupported, naming the setting (a 30000 x 30000 header with enough
     * bytes behind it to pass the ratio check). */
    n = forged_png(png, 30000, 30000);
    {
        static unsigned char bigfile[1 << 20];
        memcpy(bigfile, png, n);
        n = sizeof bigfile;
        QT_EQ_I64(qcal_image_decode("big.png", bigfile, n, &img, &err), QCAL_E_UNSUPPORTED);
    }
    QT_TRUE(contains(err.msg, "QCAL_MAX_IMAGE_PIXELS=268435456"));
    /* A small header with too little data is still decoded and found truncated by libpng. */
    n = forged_png(png, 4, 4);
    QT_EQ_I64(qcal_image_decode("small.png", png, n, &img, &err), QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, "small.png: corrupt PNG:") && !contains(err.msg, "claims"));

    /* QCAL_MAX_IMAGE_PIXELS lowers the maximum (28 x 28 = 784 pixels); a bad value is an
     * error. */
    setenv("QCAL_MAX_IMAGE_PIXELS", "783", 1);
    QT_EQ_I64(qcal_image_load(fixture("fmnist_calib_00000.png"), &img, &err),
              QCAL_E_UNSUPPORTED);
    QT_TRUE(contains(err.msg, "28x28 pixels exceeds QCAL_MAX_IMAGE_PIXELS=783"));
    QT_EQ_I64(qcal_data_load_sample(fixture("fmnist_calib_00000.png"), dims, 4, NULL, out, &err),
              QCAL_E_UNSUPPORTED);
    setenv("QCAL_MAX_IMAGE_PIXELS", "246", 1); /* rgb.jpg: 19 x 13 = 247 */
    QT_EQ_I64(qcal_image_load(fixture("rgb.jpg"), &img, &err), QCAL_E_UNSUPPORTED);
    QT_TRUE(contains(err.msg, "JPEG image of 19x13 pixels exceeds"));
    setenv("QCAL_MAX_IMAGE_PIXELS", "247", 1);
    QT_OK(qcal_image_load(fixture("rgb.jpg"), &img, &err));
    qcal_image_fini(&img);
    setenv("QCAL_MAX_IMAGE_PIXELS", "784", 1);
    QT_OK(qcal_image_load(fixture("fmnist_calib_00000.png"), &img, &err));
    qcal_image_fini(&img);
    setenv("QCAL_MAX_IMAGE_PIXELS", "12x", 1);
    QT_EQ_I64(qcal_image_load(fixture("fmnist_calib_00000.png"), &img, &err), QCAL_E_INVALID);
    QT_TRUE(contains(err.msg, "QCAL_MAX_IMAGE_PIXELS='12x'"));
    setenv("QCAL_MAX_IMAGE_PIXELS", "-1", 1);
    QT_EQ_I64(qcal_image_load(fixture("fmnist_calib_00000.png"), &img, &err), QCAL_E_INVALID);
    unsetenv("QCAL_MAX_IMAGE_PIXELS");

    /* A real JPEG whose frame header is patched to 60000 x 60000. */
    {
        FILE *fp = fopen(fixture("rgb.jpg"), "rb");
        long len = -1;
        if (fp && fseek(fp, 0, SEEK_END) == 0)
            len = ftell(fp);
        if (fp && len > 0 && fseek(fp, 0, SEEK_SET) == 0 && (jpg = malloc((size_t)len)) &&
            fread(jpg, 1, (size_t)len, fp) == (size_t)len)
            jlen = (size_t)len;
        if (fp)
            fclose(fp);
    }
    QT_TRUE(jlen > 0);
    for (size_t i = 0; i + 9 < jlen; i++) {
        if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) {
            jpg[i + 5] = 0xEA; /* height 60000 = 0xEA60 */
            jpg[i + 6] = 0x60;
            jpg[i + 7] = 0xEA; /* width */
            jpg[i + 8] = 0x60;
            QT_EQ_I64(qcal_image_decode("huge.jpg", jpg, jlen, &img, &err), QCAL_E_CORRUPT);
            QT_TRUE(contains(err.msg, "huge.jpg: corrupt JPEG: the header claims 60000x60000"));
            QT_TRUE(img.data == NULL);
            break;
        }
    }
    free(jpg);
}

/* ---- npy / raw ---------------------------------------------------------------------------- */

/* A .npy of version major.minor with header text hdr (padded by the caller) and nbytes of data. */
static size_t make_npy(unsigned char *out, int major, int minor, const char *hdr, size_t nbytes)
{
    size_t hl = strlen(hdr), start = major == 1 ? 10 : 12;

    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = (unsigned char)minor;
    out[8] = (unsigned char)(hl & 0xFF);
    out[9] = (unsigned char)(hl >> 8);
    if (major != 1)
        out[10] = out[11] = 0;
    memcpy(out + start, hdr, hl);
    memset(out + start + hl, 0, nbytes);
    return start + hl + nbytes;
}

static void test_npy_strict(void)
{
    static const char GOOD[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }   \n";
    unsigned char buf[256];
    qcal__npy_header h;
    qcal_error err = { 0 };
    size_t n;

    n = make_npy(buf, 1, 0, GOOD, 8);
    QT_OK(qcal__npy_parse("a.npy", buf, n, &h, &err));
    n = make_npy(buf, 2, 0, GOOD, 8);
    QT_OK(qcal__npy_parse("a.npy", buf, n, &h, &err));
    n = make_npy(buf, 3, 0, GOOD, 8);
    QT_OK(qcal__npy_parse("a.npy", buf, n, &h, &err));
    /* Only 1.0, 2.0 and 3.0 exist. */
    n = make_npy(buf, 1, 1, GOOD, 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_UNSUPPORTED);
    QT_TRUE(contains(err.msg, "a.npy: .npy format version 1.1"));
    n = make_npy(buf, 4, 0, GOOD, 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_UNSUPPORTED);
    /* Strict header: a key twice, text after the dict, no final newline. */
    n = make_npy(buf, 1, 0, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
                 "'shape': (2,), }\n", 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_CORRUPT);
    n = make_npy(buf, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x\n", 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, "malformed .npy header"));
    n = make_npy(buf, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }    ", 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_CORRUPT);
    /* Shapes: the product is checked against the file's size and for overflow. */
    n = make_npy(buf, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, "8 data bytes after the header, the shape needs 24"));
    n = make_npy(buf, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                 "(4294967296, 4294967296), }\n", 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, "shape too large"));
    n = make_npy(buf, 1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                 "(1152921504606846976,), }\n", 8);
    QT_EQ_I64(qcal__npy_parse("a.npy", buf, n, &h, &err), QCAL_E_CORRUPT);
}


static void test_npy(void)
{
    qcal_npy a;
    qcal_error err = { 0 };
    char dir[] = "/tmp/qcal_test_npy_XXXXXX", path[256];

    QT_OK(qcal_npy_load(fixture("arr_f4.npy"), &a, &err));
    QT_EQ_I64(a.rank, 2);
    QT_EQ_I64(a.dims[0], 2);
    QT_EQ_I64(a.dims[1], 3);
    QT_EQ_U64(a.nelem, 6);
    for (size_t i = 0; a.data && i < 6; i++)
        QT_EQ_F32_BITS(a.data[i], (float)i * 0.5f - 1.0f);
    qcal_npy_fini(&a);

    QT_OK(qcal_npy_load(fixture("arr_v2.npy"), &a, &err));
    QT_EQ_I64(a.rank, 3);
    QT_EQ_I64(a.dims[0] * 100 + a.dims[1] * 10 + a.dims[2], 123);
    if (a.data)
        QT_EQ_F32_BITS(a.data[5], 1.5f);
    qcal_npy_fini(&a);

    QT_OK(qcal_npy_load(fixture("arr_scalar.npy"), &a, &err));
    QT_EQ_I64(a.rank, 0);
    QT_EQ_U64(a.nelem, 1);
    if (a.data)
        QT_EQ_F32_BITS(a.data[0], 3.25f);
    qcal_npy_fini(&a);

    QT_EQ_I64(qcal_npy_load(fixture("arr_f8.npy"), &a, &err), QCAL_E_UNSUPPORTED);
    QT_TRUE(contains(err.msg, "arr_f8.npy") && contains(err.msg, "<f8"));
    QT_EQ_I64(qcal_npy_load(fixture("arr_be.npy"), &a, &err), QCAL_E_UNSUPPORTED);
    QT_TRUE(contains(err.msg, ">f4"));
    QT_EQ_I64(qcal_npy_load(fixture("arr_fortran.npy"), &a, &err), QCAL_E_UNSUPPORTED);
    QT_TRUE(contains(err.msg, "Fortran") && contains(err.msg, "arr_fortran.npy"));
    QT_EQ_I64(qcal_npy_load(fixture("arr_trunc.npy"), &a, &err), QCAL_E_CORRUPT);
    QT_TRUE(contains(err.msg, "arr_trunc.npy"));
    QT_EQ_I64(qcal_npy_load(fixture("g8.png"), &a, &err), QCAL_E_CORRUPT);
    QT_TRUE(a.data == NULL);

    /* Round trip through qcal_npy_save, including a 1-d shape ("(5,)"). */
    if (!mkdtemp(dir)) {
        QT_TRUE(!"mkdtemp");
        return;
    }
    const float v[5] = { -0.0f, 1e-30f, 3.5f, -2.25f, 65504.0f };
    const int64_t d1[1] = { 5 };
    snprintf(path, sizeof path, "%s/v.npy", dir);
    QT_OK(qcal_npy_save(path, d1, 1, v, &err));
    QT_OK(qcal_npy_load(path, &a, &err));
    QT_EQ_I64(a.rank, 1);
    QT_EQ_I64(a.dims[0], 5);
    if (a.data)
        QT_EQ_MEM(a.data, v, sizeof v);
    qcal_npy_fini(&a);
    unlink(path);
    /* No temporary left behind when the target folder does not exist. */
    snprintf(path, sizeof path, "%s/nodir/v.npy", dir);
    QT_EQ_I64(qcal_npy_save(path, d1, 1, v, &err), QCAL_E_IO);
    rmdir(dir);
}

static void test_sample_npy_raw(void)
{
    float out[8];
    qcal_error err = { 0 };
    const int64_t d1123[4] = { 1, 1, 2, 3 }, d16[2] = { 1, 6 }, d23[2] = { 2, 3 },
                  d17[2] = { 1, 7 };

    memset(out, 0, sizeof out);
    /* [1,2,3] fits [1,1,2,3]: equal after dropping leading 1s. */
    QT_OK(qcal_data_load_sample(fixture("arr_v2.npy"), d1123, 4, NULL, out, &err));
    QT_EQ_F32_BITS(out[0], -1.0f);
    QT_EQ_F32_BITS(out[5], 1.5f);
    QT_OK(qcal_data_load_sample(fixture("arr_f4.npy"), d23, 2, NULL, out, &err));
    /* Same element count, different shape: refused, naming both shapes. */
    QT_EQ_I64(qcal_data_load_sample(fixture("arr_v2.npy"), d16, 2, NULL, out, &err),
              QCAL_E_SHAPE);
    QT_TRUE(contains(err.msg, "1x2x3") && contains(err.msg, "1x6") &&
            contains(err.msg, "arr_v2.npy"));
    /* Raw: exactly the element count, any shape. */
    memset(out, 0, sizeof out);
    QT_OK(qcal_data_load_sample(fixture("arr6.raw"), d16, 2, NULL, out, &err));
    QT_EQ_F32_BITS(out[3], 0.5f);
    QT_OK(qcal_data_load_sample(fixture("arr6.bin"), d23, 2, NULL, out, &err));
    QT_EQ_I64(qcal_data_load_sample(fixture("arr6.raw"), d17, 2, NULL, out, &err),
              QCAL_E_SHAPE);
    QT_TRUE(contains(err.msg, "arr6.raw") && contains(err.msg, "24 bytes"));
    QT_EQ_I64(qcal_data_load_sample(fixture("make_images.py"), d17, 2, NULL, out, &err),
              QCAL_E_UNSUPPORTED);
}

/* ---- Preprocessing ------------------------------------------------------------------------ */

/* fmnist/README.md: x = ((float)p / 255.0f - 0.2860f) / 0.3530f; p = 0 -> -0.810198367,
 * p = 255 -> 2.02266288. Whole image against numpy's float32 values (make_images.py). */
static void test_fmnist_exact(void)
{
    qcal_preprocess pp;
    qcal_error err = { 0 };
    qcal_npy ref;
    qcal_image img;
    float out[784];
    const int64_t dims[4] = { 1, 1, 28, 28 };
    int found0 = 0, found255 = 0;

    qcal_preprocess_init(&pp);
    QT_OK(qcal_preprocess_parse(&pp, "--mean", "0.2860", &err));
    QT_OK(qcal_preprocess_parse(&pp, "--std", "0.3530", &err));
    QT_EQ_F32_BITS(pp.mean[0], 0.2860f);
    QT_EQ_F32_BITS(pp.std[0], 0.3530f);
    QT_OK(qcal_data_load_sample(fixture("fmnist_calib_00000.png"), dims, 4, &pp, out, &err));
    QT_OK(qcal_npy_load(fixture("fmnist_calib_00000.npy"), &ref, &err));
    QT_EQ_U64(ref.nelem, 784);
    if (ref.data)
        QT_EQ_MEM(out, ref.data, sizeof out);
    qcal_npy_fini(&ref);

    QT_OK(qcal_image_load(fixture("fmnist_calib_00000.png"), &img, &err));
    for (int i = 0; img.data && i < 784; i++) {
        unsigned p = qcal_image_at(&img, i % 28, i / 28, 0);
        if (p == 0 && !found0++)
            QT_EQ_F32_BITS(out[i], -0.810198367f);
        if (p == 255 && !found255++)
            QT_EQ_F32_BITS(out[i], 2.02266288f);
    }
    qcal_image_fini(&img);
    QT_TRUE(found0 > 0);

    /* Both ends on a synthetic 2x1 image (the fixture may lack a 255 pixel). */
    uint8_t px[2] = { 0, 255 };
    qcal_image two = { 2, 1, 1, 8, px };
    const int64_t d2[4] = { 1, 1, 1, 2 };
    float o2[2];
    QT_OK(qcal_preprocess_image(&two, d2, 4, &pp, o2, &err));
    QT_EQ_F32_BITS(o2[0], -0.810198367f);
    QT_EQ_F32_BITS(o2[1], 2.02266288f);
}

typedef struct pp_ref {
    const char *npy, *png;
    int64_t dims[4];
    const char *opts[7][2];
} pp_ref;

/* The cases of make_images.py (same images, same options given as strings). */
static const pp_ref PP_REFS[] = {
    { "pp_rgb8_stretch_bgr_nhwc.npy", "rgb8.png", { 1, 3, 4, 3 },
      { { "channels", "bgr" }, { "layout", "nhwc" }, { "mean", "0.485,0.456,0.406" },
        { "std", "0.229,0.224,0.225" } } },
    { "pp_rgb8_up_rgb_nchw.npy", "rgb8.png", { 1, 3, 9, 11 },
      { { "--mean", "0.5" }, { "--std", "0.25" }, { "--size", "11x9" } } },
    { "pp_rgb8_letterbox.npy", "rgb8.png", { 1, 3, 6, 6 }, { { "resize", "letterbox" } } },
    { "pp_rgb8_crop.npy", "rgb8.png", { 1, 3, 3, 3 },
      { { "resize", "center-crop" }, { "mean", "0.1" }, { "std", "0.9" } } },
    { "pp_rgb16_gray_scale.npy", "rgb16.png", { 1, 1, 4, 5 },
      { { "channels", "gray" }, { "scale", "0.0000152587890625" }, { "mean", "0.5" },
        { "std", "2" } } },
    { "pp_g8_rgb_letterbox_wide.npy", "g8.png", { 1, 4, 9, 3 },
      { { "resize", "letterbox" }, { "layout", "nhwc" }, { "channels", "rgb" } } },
};

static void test_preprocess_references(void)
{
    for (size_t i = 0; i < sizeof PP_REFS / sizeof PP_REFS[0]; i++) {
        const pp_ref *r = &PP_REFS[i];
        qcal_preprocess pp;
        qcal_error err = { 0 };
        qcal_npy ref;
        float out[512];
        int bad = 0;

        qcal_preprocess_init(&pp);
        for (int k = 0; k < 7 && r->opts[k][0]; k++)
            QT_OK(qcal_preprocess_parse(&pp, r->opts[k][0], r->opts[k][1], &err));
        QT_OK(qcal_data_load_sample(fixture(r->png), r->dims, 4, &pp, out, &err));
        QT_OK(qcal_npy_load(fixture(r->npy), &ref, &err));
        QT_EQ_I64(ref.rank, 4);
        for (int k = 0; k < 4; k++)
            QT_EQ_I64(ref.dims[k], r->dims[k]);
        for (size_t k = 0; ref.data && k < ref.nelem; k++)
            if (memcmp(&out[k], &ref.data[k], 4) != 0 && bad++ < 3)
                fprintf(stderr, "  %s[%zu]: %.9g vs %.9g\n", r->npy, k, (double)out[k],
                        (double)ref.data[k]);
        QT_EQ_I64(bad, 0);
        qcal_npy_fini(&ref);
    }
}

/* Hand-computed resampling: 2x1 image {0, 255} stretched to 4x1, r = 0.5:
 * src = -0.25 (clamped to 0) -> 0; 0.25 -> 63.75; 0.75 -> 191.25; 1.25 (past the last) -> 255. */
static void test_resize_by_hand(void)
{
    qcal_preprocess pp;
    qcal_error err = { 0 };
    uint8_t px[2] = { 0, 255 };
    qcal_image img = { 2, 1, 1, 8, px };
    const int64_t d41[4] = { 1, 1, 1, 4 };
    float out[16];

    qcal_preprocess_init(&pp);
    QT_OK(qcal_preprocess_parse(&pp, "scale", "1", &err));
    QT_OK(qcal_preprocess_image(&img, d41, 4, &pp, out, &err));
    QT_EQ_F32_BITS(out[0], 0.0f);
    QT_EQ_F32_BITS(out[1], 63.75f);
    QT_EQ_F32_BITS(out[2], 191.25f);
    QT_EQ_F32_BITS(out[3], 255.0f);

    /* Letterbox 4x2 into 4x4: rows fit exactly (no resampling), one pad row above and below. */
    uint8_t q[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    qcal_image img42 = { 4, 2, 1, 8, q };
    const int64_t d44[4] = { 1, 1, 4, 4 };
    QT_OK(qcal_preprocess_parse(&pp, "resize", "letterbox", &err));
    QT_OK(qcal_preprocess_parse(&pp, "mean", "-1", &err)); /* pad 0 -> (0 * 1 + 1) / 1 = 1 */
    QT_OK(qcal_preprocess_image(&img42, d44, 4, &pp, out, &err));
    for (int x = 0; x < 4; x++) {
        QT_EQ_F32_BITS(out[x], 1.0f);
        QT_EQ_F32_BITS(out[4 + x], (float)q[x] + 1.0f);
        QT_EQ_F32_BITS(out[8 + x], (float)q[4 + x] + 1.0f);
        QT_EQ_F32_BITS(out[12 + x], 1.0f);
    }
    /* Center-crop 4x2 into 2x2: the short side already fits; columns 1 and 2 are kept. */
    const int64_t d22[4] = { 1, 1, 2, 2 };
    QT_OK(qcal_preprocess_parse(&pp, "resize", "center-crop", &err));
    QT_OK(qcal_preprocess_parse(&pp, "mean", "0", &err));
    QT_OK(qcal_preprocess_image(&img42, d22, 4, &pp, out, &err));
    QT_EQ_F32_BITS(out[0], 2.0f);
    QT_EQ_F32_BITS(out[1], 3.0f);
    QT_EQ_F32_BITS(out[2], 6.0f);
    QT_EQ_F32_BITS(out[3], 7.0f);

    /* Gray from RGB keeps the fraction: 0.299 * 10 + 0.587 * 20 + 0.114 * 30 = 18.15. */
    uint8_t rgb[3] = { 10, 20, 30 };
    qcal_image one = { 1, 1, 3, 8, rgb };
    const int64_t d11[4] = { 1, 1, 1, 1 };
    QT_OK(qcal_preprocess_image(&one, d11, 4, &pp, out, &err));
    QT_NEAR((double)out[0], 18.15, 1e-5);
    QT_EQ_F32_BITS(out[0], (0.299f * 10.0f + 0.587f * 20.0f) + 0.114f * 30.0f);

    /* 16-bit, same size: bit-exact identity of v / 65535. */
    uint16_t w16[4] = { 0, 1, 32768, 65535 };
    qcal_image i16 = { 2, 2, 1, 16, w16 };
    qcal_preprocess_init(&pp);
    QT_OK(qcal_preprocess_image(&i16, d22, 4, &pp, out, &err));
    for (int k = 0; k < 4; k++)
        QT_EQ_F32_BITS(out[k], (float)w16[k] / 65535.0f);
}

static void test_options(void)
{
    qcal_preprocess pp;
    qcal_error err = { 0 };
    char json[512];
    const int64_t d3[4] = { 1, 3, 8, 8 }, d1[4] = { 1, 1, 8, 8 };

    qcal_preprocess_init(&pp);
    QT_OK(qcal_preprocess_parse(&pp, "--size", "32x24", &err));
    QT_EQ_I64(pp.width, 32);
    QT_EQ_I64(pp.height, 24);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "--size", "32", &err), QCAL_E_INVALID);
    QT_TRUE(contains(err.msg, "--size"));
    QT_EQ_I64(qcal_preprocess_parse(&pp, "--size", "0x5", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "--size", "4x5x", &err), QCAL_E_INVALID);
    QT_EQ_I64(pp.width, 32); /* unchanged by the failures */
    QT_OK(qcal_preprocess_parse(&pp, "mean", "0.5", &err));
    QT_EQ_F32_BITS(pp.mean[2], 0.5f);
    QT_OK(qcal_preprocess_parse(&pp, "mean", "1,2,3", &err));
    QT_EQ_I64(pp.n_mean, 3);
    QT_EQ_F32_BITS(pp.mean[1], 2.0f);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "mean", "1,2,3,4,5", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "mean", "1,,2", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "mean", "nan", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "std", "1,0,1", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "scale", "-1", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "channels", "rgba", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "channels", "auto", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "resize", "crop", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "layout", "chw", &err), QCAL_E_INVALID);
    QT_EQ_I64(qcal_preprocess_parse(&pp, "--gamma", "2", &err), QCAL_E_INVALID);
    QT_TRUE(qcal_preprocess_is_option("--std") && qcal_preprocess_is_option("resize"));
    QT_TRUE(!qcal_preprocess_is_option("--model"));
    QT_OK(qcal_preprocess_parse(&pp, "channels", "bgr", &err));
    QT_EQ_I64(pp.channels, QCAL_CHANNELS_BGR);
    QT_OK(qcal_preprocess_parse(&pp, "layout", "nhwc", &err));
    QT_OK(qcal_preprocess_parse(&pp, "resize", "center-crop", &err));
    QT_OK(qcal_preprocess_parse(&pp, "scale", "0.5", &err));
    qcal_preprocess_json(&pp, json, sizeof json);
    QT_EQ_STR(json, "{\"size\":[32,24],\"resize\":\"center-crop\",\"channels\":\"bgr\","
                    "\"layout\":\"nhwc\",\"scale\":0.5,\"mean\":[1,2,3],\"std\":[1]}");

    /* Checks against a model input. */
    qcal_preprocess_init(&pp);
    QT_OK(qcal_preprocess_check(&pp, d3, 4, &err));
    QT_OK(qcal_preprocess_parse(&pp, "channels", "gray", &err));
    QT_EQ_I64(qcal_preprocess_check(&pp, d3, 4, &err), QCAL_E_SHAPE);
    QT_OK(qcal_preprocess_check(&pp, d1, 4, &err));
    QT_OK(qcal_preprocess_parse(&pp, "mean", "1,2,3", &err));
    QT_EQ_I64(qcal_preprocess_check(&pp, d1, 4, &err), QCAL_E_INVALID);
    qcal_preprocess_init(&pp);
    QT_OK(qcal_preprocess_parse(&pp, "size", "9x8", &err));
    QT_EQ_I64(qcal_preprocess_check(&pp, d1, 4, &err), QCAL_E_SHAPE);
    QT_TRUE(contains(err.msg, "9x8"));

    /* Symbolic dims from --size / --channels. */
    int64_t decl[4] = { -1, 3, -1, -1 }, dims[4];
    qcal_preprocess_init(&pp);
    QT_EQ_I64(qcal_preprocess_resolve_shape(&pp, decl, 4, dims, &err), QCAL_E_SHAPE);
    QT_OK(qcal_preprocess_parse(&pp, "size", "32x24", &err));
    QT_OK(qcal_preprocess_resolve_shape(&pp, decl, 4, dims, &err));
    QT_EQ_I64(dims[0], 1);
    QT_EQ_I64(dims[1], 3);
    QT_EQ_I64(dims[2], 24);
    QT_EQ_I64(dims[3], 32);
}

/* ---- Dataset listing ---------------------------------------------------------------------- */

static char g_tmp[64];

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_tmp, rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void mk(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_tmp, rel);
    mkdir(p, 0755);
}

static const char *TREE_FILES[] = {
    "b.png", "a.PNG", "A.jpg", "a.jpeg.txt", "notes.md", "z.Raw", "y.bin", "sub/c.npy",
    "sub/x.txt", "sub/deep/e.JPEG", "sub.png", "a-b.npy", "lists/l.txt",
};
static const char *TREE_DIRS[] = { "sub/deep", "sub", "lists", "empty" };

static void make_tree(void)
{
    mk("sub");
    mk("sub/deep");
    mk("lists");
    mk("empty");
    for (size_t i = 0; i < sizeof TREE_FILES / sizeof TREE_FILES[0]; i++)
        put(TREE_FILES[i], "x");
    char p[512], target[512];
    /* A link back to the root must not loop. */
    snprintf(p, sizeof p, "%s/sub/loop", g_tmp);
    snprintf(target, sizeof target, "%s", g_tmp);
    if (symlink(target, p) != 0)
        fprintf(stderr, "symlink: %s\n", strerror(errno));
}

static void remove_tree(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/sub/loop", g_tmp);
    unlink(p);
    for (size_t i = 0; i < sizeof TREE_FILES / sizeof TREE_FILES[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_tmp, TREE_FILES[i]);
        unlink(p);
    }
    for (size_t i = 0; i < sizeof TREE_DIRS / sizeof TREE_DIRS[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_tmp, TREE_DIRS[i]);
        rmdir(p);
    }
    rmdir(g_tmp);
}

static void check_list(qcal_dataset *ds, const char *const *want, size_t n, bool prefix)
{
    char p[512];

    QT_EQ_U64(qcal_dataset_count(ds), n);
    for (size_t i = 0; i < n && i < qcal_dataset_count(ds); i++) {
        if (prefix)
            snprintf(p, sizeof p, "%s/%s", g_tmp, want[i]);
        else
            snprintf(p, sizeof p, "%s", want[i]);
        QT_EQ_STR(qcal_dataset_path(ds, i), p);
    }
}

static void test_dataset_dir(void)
{
    /* strcmp order of full paths: 'A' < 'a' < 'b'; "a-b" < "a." ('-' 0x2d < '.' 0x2e);
     * "sub.png" < "sub/..." ('.' < '/'). Not listed: .txt, .md, a link loop. */
    static const char *const want[] = {
        "A.jpg", "a-b.npy", "a.PNG", "b.png", "sub.png", "sub/c.npy", "sub/deep/e.JPEG",
        "y.bin", "z.Raw",
    };
    qcal_dataset *ds = NULL;
    qcal_error err = { 0 };
    char spec[256];

    QT_OK(qcal_dataset_open(g_tmp, 0, &ds, &err));
    if (ds) {
        QT_EQ_I64(qcal_dataset_get_kind(ds), QCAL_DATASET_DIR);
        QT_EQ_STR(qcal_dataset_kind_name(qcal_dataset_get_kind(ds)), "dir");
        check_list(ds, want, sizeof want / sizeof want[0], true);
    }
    qcal_dataset_close(ds);
    /* A trailing slash lists the same paths. */
    snprintf(spec, sizeof spec, "%s//", g_tmp);
    QT_OK(qcal_dataset_open(spec, 0, &ds, &err));
    if (ds)
        check_list(ds, want, sizeof want / sizeof want[0], true);
    qcal_dataset_close(ds);
    /* An empty directory is an error naming it. */
    snprintf(spec, sizeof spec, "%s/empty", g_tmp);
    QT_EQ_I64(qcal_dataset_open(spec, 0, &ds, &err), QCAL_E_INVALID);
    QT_TRUE(ds == NULL && contains(err.msg, spec));
    /* A missing path is an I/O error naming it. */
    snprintf(spec, sizeof spec, "%s/nope", g_tmp);
    QT_EQ_I64(qcal_dataset_open(spec, 0, &ds, &err), QCAL_E_IO);
    QT_TRUE(contains(err.msg, spec));
}

static void test_dataset_list_glob(void)
{
    qcal_dataset *ds = NULL;
    qcal_error err = { 0 };
    char spec[256], text[1024], want_abs[256];

    /* Relative entries resolve against the list's folder; absolute ones stay; order is kept. */
    snprintf(want_abs, sizeof want_abs, "%s/sub/c.npy", g_tmp);
    snprintf(text, sizeof text,
             "# calibration list\n\n  ../b.png  \r\n%s\n\t# indented comment\n../sub/deep/e.JPEG\n"
             "../b.png",
             want_abs);
    put("lists/l.txt", text);
    snprintf(spec, sizeof spec, "%s/lists/l.txt", g_tmp);
    QT_OK(qcal_dataset_open(spec, QCAL_DATASET_CHECK, &ds, &err));
    if (ds) {
        static const char *const want[] = { "lists/../b.png", "sub/c.npy",
                                            "lists/../sub/deep/e.JPEG", "lists/../b.png" };
        QT_EQ_I64(qcal_dataset_get_kind(ds), QCAL_DATASET_LIST);
        check_list(ds, want, 4, true);
    }
    qcal_dataset_close(ds);
    /* A missing entry: fails with CHECK (naming the line and the file), passes without. */
    put("lists/l.txt", "../b.png\n../missing.png\n");
    QT_EQ_I64(qcal_dataset_open(spec, QCAL_DATASET_CHECK, &ds, &err), QCAL_E_IO);
    QT_TRUE(contains(err.msg, "l.txt:2") && contains(err.msg, "missing.png"));
    QT_OK(qcal_dataset_open(spec, 0, &ds, &err));
    qcal_dataset_close(ds);
    /* An entry that is not a data file. */
    put("lists/l.txt", "../b.png\n../notes.md\n");
    QT_EQ_I64(qcal_dataset_open(spec, 0, &ds, &err), QCAL_E_INVALID);
    QT_TRUE(contains(err.msg, "l.txt:2") && contains(err.msg, "notes.md"));

    /* Glob: sorted, only data files. */
    snprintf(spec, sizeof spec, "%s/[ab]*", g_tmp);
    QT_OK(qcal_dataset_open(spec, 0, &ds, &err));
    if (ds) {
        static const char *const want[] = { "a-b.npy", "a.PNG", "b.png" };
        QT_EQ_I64(qcal_dataset_get_kind(ds), QCAL_DATASET_GLOB);
        check_list(ds, want, 3, true);
    }
    qcal_dataset_close(ds);
    snprintf(spec, sizeof spec, "%s/*.gif", g_tmp);
    QT_EQ_I64(qcal_dataset_open(spec, 0, &ds, &err), QCAL_E_IO);
    QT_TRUE(contains(err.msg, "*.gif"));
    /* One data file. */
    snprintf(spec, sizeof spec, "%s/b.png", g_tmp);
    QT_OK(qcal_dataset_open(spec, 0, &ds, &err));
    if (ds) {
        QT_EQ_I64(qcal_dataset_get_kind(ds), QCAL_DATASET_FILE);
        QT_EQ_U64(qcal_dataset_count(ds), 1);
        QT_EQ_STR(qcal_dataset_path(ds, 0), spec);
    }
    qcal_dataset_close(ds);
}

int main(void)
{
    const char *base = getenv("QCAL_TEST_DATA");
    snprintf(g_img, sizeof g_img, "%s/img", base && *base ? base : "data");

    QT_RUN(test_png_all_types);
    QT_RUN(test_corrupt_files);
    QT_RUN(test_jpeg);
    QT_RUN(test_npy);
    QT_RUN(test_npy_strict);
    QT_RUN(test_forged_sizes);
    QT_RUN(test_sample_npy_raw);
    QT_RUN(test_fmnist_exact);
    QT_RUN(test_preprocess_references);
    QT_RUN(test_resize_by_hand);
    QT_RUN(test_options);

    snprintf(g_tmp, sizeof g_tmp, "/tmp/qcal_test_data_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        QT_TRUE(!"mkdtemp");
        return qt_report();
    }
    make_tree();
    QT_RUN(test_dataset_dir);
    QT_RUN(test_dataset_list_glob);
    remove_tree();
    return qt_report();
}
