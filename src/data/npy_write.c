/* .npy writer (NumPy format 1.0, any fixed-size dtype) with fsync and an atomic rename. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "qcal/npy.h"
#include "util/atomic.h"

static const char *descr(qcal_dtype dt)
{
    switch (dt) {
    case QCAL_DT_FLOAT: return "<f4";
    case QCAL_DT_DOUBLE: return "<f8";
    case QCAL_DT_INT8: return "|i1";
    case QCAL_DT_INT16: return "<i2";
    case QCAL_DT_INT32: return "<i4";
    case QCAL_DT_INT64: return "<i8";
    case QCAL_DT_UINT8: return "|u1";
    case QCAL_DT_UINT16: return "<u2";
    case QCAL_DT_UINT32: return "<u4";
    case QCAL_DT_UINT64: return "<u8";
    case QCAL_DT_BOOL: return "|b1";
    default: return NULL;
    }
}

char *qcal_npy_safe_name(const char *name, char *out, size_t size)
{
    size_t i = 0;

    if (size == 0)
        return out;
    for (; name[i] && i + 1 < size; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
    if (i == 0 && size > 1) {
        out[0] = '_';
        out[1] = '\0';
    }
    return out;
}

qcal_status qcal_npy_write(const char *path, const qcal_tensor_view *v, qcal_error *err)
{
    const char *d = descr(v->dtype);
    char header[512], shape[256] = "";
    size_t used = 0, hlen, esize = qcal_dtype_size(v->dtype);
    qcal__atomic_part parts[3];
    unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0 };
    int w;

    if (!d)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: cannot write %s as .npy", path,
                              qcal_dtype_name(v->dtype));
    for (int i = 0; i < v->rank; i++) {
        w = snprintf(shape + used, sizeof shape - used, "%lld,%s", (long long)v->dims[i],
                     (i + 1 < v->rank) ? " " : "");
        if (w < 0 || (size_t)w >= sizeof shape - used)
            return qcal_error_set(err, QCAL_E_INVALID, "%s: shape too long", path);
        used += (size_t)w;
    }
    if (v->rank > 1 && used > 0 && shape[used - 1] == ',')
        shape[--used] = '\0'; /* (2, 3) but (5,) */
    w = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                 d, shape);
    if (w < 0 || (size_t)w >= sizeof header - 64)
        return qcal_error_set(err, QCAL_E_INVALID, "%s: header too long", path);
    /* Pad with spaces so that the data starts on a multiple of 64 bytes; end with '\n'. */
    hlen = (size_t)w;
    while ((10 + hlen + 1) % 64)
        header[hlen++] = ' ';
    header[hlen++] = '\n';
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    parts[0] = (qcal__atomic_part){ pre, sizeof pre };
    parts[1] = (qcal__atomic_part){ header, hlen };
    parts[2] = (qcal__atomic_part){ v->data, v->nelem * esize };
    return qcal__atomic_writev(path, parts, 3, err);
}
