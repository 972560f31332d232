/*
 * ONNX model loading: protobuf-c parse (code generated at build time from the system's
 * onnx.proto), conversion to the internal graph, topological ordering and kernel resolution.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "onnx.pb-c.h"
#include "onnx/inline.h"
#include "onnx/onnx.h"
#include "onnx/subgraph.h"
#include "ops/ops.h"

#define MAX_IR_VERSION 10
#define MAX_OPSET 22

void qcal__sha256_hex(const void *data, size_t len, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * mdlen] = '\0';
}

/* Reads a whole file into a malloc'ed buffer. */
static qcal_status read_file(const char *path, uint8_t **buf, size_t *len, qcal_error *err)
{
    FILE *fp = fopen(path, "rb");
    long size;
    uint8_t *data;

    *buf = NULL;
    *len = 0;
    if (!fp)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return qcal_error_set(err, QCAL_E_IO, "%s: cannot determine size: %s", path,
                              strerror(errno));
    }
    data = malloc(size > 0 ? (size_t)size : 1);
    if (!data) {
        fclose(fp);
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory (%ld bytes)", path, size);
    }
    if (size > 0 && fread(data, 1, (size_t)size, fp) != (size_t)size) {
        free(data);
        fclose(fp);
        return qcal_error_set(err, QCAL_E_IO, "%s: read failed", path);
    }
    fclose(fp);
    *buf = data;
    *len = (size_t)size;
    return QCAL_OK;
}

/* ONNX element types a model may use: the ones qcal computes, plus float16 and bfloat16,
 * which are widened to float32 at load. */
static bool dtype_supported(int32_t dt)
{
    switch (dt) {
    case QCAL_DT_FLOAT: case QCAL_DT_DOUBLE: case QCAL_DT_BOOL:
    case QCAL_DT_INT8: case QCAL_DT_INT16: case QCAL_DT_INT32: case QCAL_DT_INT64:
    case QCAL_DT_UINT8: case QCAL_DT_UINT16: case QCAL_DT_UINT32: case QCAL_DT_UINT64:
    case QCAL_DT_FLOAT16: case QCAL_DT_BFLOAT16:
        return true;
    default:
        return false;
    }
}

static bool dtype_is_narrow(int32_t dt)
{
    return dt == QCAL_DT_FLOAT16 || dt == QCAL_DT_BFLOAT16;
}

/* Widens n float16/bfloat16 values (2-byte little-endian bit patterns in src) to float32. */
static void widen_narrow(float *dst, const uint8_t *src, size_t n, qcal_dtype dt)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        dst[i] = dt == QCAL_DT_FLOAT16 ? qcal__half_to_float(h) : qcal__bfloat16_to_float(h);
    }
}

/* Parses an external_data offset/length: decimal digits only, no sign or space, no overflow. */
static bool parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;

    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return true;
}

/*
 * Reads external data (data_location EXTERNAL). The ONNX rules, enforced: location is a relative
 * path that stays inside the model's folder once `..` and symbolic links are resolved (realpath
 * of both, then a prefix check), it names a regular file, and offset/length are decimal numbers
 * with offset + length inside the file. Anything else is refused before a byte is read.
 */
static qcal_status read_external(const Onnx__TensorProto *tp, const char *dir, void *dst,
                                 size_t nbytes, qcal_error *err)
{
    const char *name = tp->name ? tp->name : "", *loc = NULL;
    uint64_t offset = 0, length = 0;
    bool has_length = false;
    char joined[PATH_MAX], rdir[PATH_MAX], rfile[PATH_MAX];
    struct stat sb;
    size_t dlen;
    FILE *fp;

    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value)
            continue;
        if (strcmp(e->key, "location") == 0) {
            loc = e->value;
        } else if (strcmp(e->key, "offset") == 0) {
            if (!parse_u64(e->value, &offset))
                return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': external data offset "
                                      "'%.40s' is not a decimal number", name, e->value);
        } else if (strcmp(e->key, "length") == 0) {
            if (!parse_u64(e->value, &length))
                return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': external data length "
                                      "'%.40s' is not a decimal number", name, e->value);
            has_length = true;
        }
    }
    if (!loc || !loc[0])
        return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': external data without location",
                              name);
    if (has_length && length != nbytes)
        return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': external data length %llu, "
                              "expected %zu bytes", name, (unsigned long long)length, nbytes);
    if (loc[0] == '/')
        return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': external data location '%.200s' "
                              "is absolute (ONNX requires a path relative to the model)", name,
                              loc);
    if (!realpath(dir ? dir : ".", rdir))
        return qcal_error_set(err, QCAL_E_IO, "%s: %s", dir ? dir : ".", strerror(errno));
    if (snprintf(joined, sizeof joined, "%s/%s", rdir, loc) >= (int)sizeof joined)
        return qcal_error_set(err, QCAL_E_INVALID, "tensor '%s': external data path too long",
                              name);
    if (!realpath(joined, rfile))
        return qcal_error_set(err, QCAL_E_IO, "%s: %s (external data of tensor '%s')", joined,
                              strerror(errno), name);
    dlen = strlen(rdir);
    if (!(strcmp(rdir, "/") == 0 || (strncmp(rfile, rdir, dlen) == 0 && rfile[dlen] == '/')))
        return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': external data location "
                              "'%.200s' leaves the model's folder %s", name, loc, rdir);
    fp = fopen(rfile, "rb");
    if (!fp)
        return qcal_error_set(err, QCAL_E_IO, "%s: %s (external data of tensor '%s')", rfile,
                              strerror(errno), name);
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: not a regular file (external data of "
                              "tensor '%s')", rfile, name);
    }
    if (offset > (uint64_t)sb.st_size || nbytes > (uint64_t)sb.st_size - offset) {
        fclose(fp);
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: %lld bytes, too short for tensor '%s' "
                              "(%zu bytes at offset %llu)", rfile, (long long)sb.st_size, name,
                              nbytes, (unsigned long long)offset);
    }
    if (fseeko(fp, (off_t)offset, SEEK_SET) != 0 || fread(dst, 1, nbytes, fp) != nbytes) {
        fclose(fp);
        return qcal_error_set(err, QCAL_E_IO, "%s: read failed (external data of tensor '%s')",
                              rfile, name);
    }
    fclose(fp);
    return QCAL_OK;
}

/*
 * Converts a TensorProto into t (dtype, shape, owned data). Data may be in raw_data (little
 * endian), in the typed field matching the type (int32_data also holds 8/16-bit and bool values),
 * or in an external file.
 */
static qcal_status tensor_from_proto(const Onnx__TensorProto *tp, const char *dir, qcal__tensor *t,
                                     qcal_error *err)
{
    const char *name = tp->name ? tp->name : "";
    int64_t dims[QCAL_MAX_RANK];
    size_t esize, n, nbytes, have;
    qcal_status st;
    qcal_dtype narrow;
    uint8_t *data;

    if (!dtype_supported(tp->data_type))
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "tensor '%s': data type %s unsupported",
                              name, qcal_dtype_name((qcal_dtype)tp->data_type));
    if (tp->n_dims > QCAL_MAX_RANK)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "tensor '%s': rank %zu unsupported", name,
                              tp->n_dims);
    for (size_t i = 0; i < tp->n_dims; i++)
        dims[i] = tp->dims[i];
    /* float16/bfloat16 are read as 2-byte values into a temporary buffer and widened below. */
    narrow = dtype_is_narrow(tp->data_type) ? (qcal_dtype)tp->data_type : QCAL_DT_UNDEFINED;
    st = qcal__tensor_set_shape(t, narrow ? QCAL_DT_UINT16 : (qcal_dtype)tp->data_type,
                                (int)tp->n_dims, dims, err);
    if (st != QCAL_OK)
        return st;
    esize = qcal_dtype_size(t->dtype);
    n = t->nelem;
    nbytes = n * esize;
    data = calloc(nbytes ? nbytes : 1, 1);
    if (!data)
        return qcal_error_set(err, QCAL_E_NOMEM, "tensor '%s': out of memory", name);

    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        st = read_external(tp, dir, data, nbytes, err);
        if (st != QCAL_OK) {
            free(data);
            return st;
        }
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes) {
            free(data);
            return qcal_error_set(err, QCAL_E_CORRUPT,
                                  "tensor '%s': raw_data has %zu bytes, shape needs %zu", name,
                                  tp->raw_data.len, nbytes);
        }
        if (nbytes)
            memcpy(data, tp->raw_data.data, nbytes);
    } else {
        switch (t->dtype) {
        case QCAL_DT_FLOAT:
            have = tp->n_float_data;
            if (have == n && n)
                memcpy(data, tp->float_data, nbytes);
            break;
        case QCAL_DT_DOUBLE:
            have = tp->n_double_data;
            if (have == n && n)
                memcpy(data, tp->double_data, nbytes);
            break;
        case QCAL_DT_INT64:
            have = tp->n_int64_data;
            if (have == n && n)
                memcpy(data, tp->int64_data, nbytes);
            break;
        case QCAL_DT_UINT32: case QCAL_DT_UINT64:
            have = tp->n_uint64_data;
            for (size_t i = 0; have == n && i < n; i++) {
                if (t->dtype == QCAL_DT_UINT32)
                    ((uint32_t *)data)[i] = (uint32_t)tp->uint64_data[i];
                else
                    ((uint64_t *)data)[i] = tp->uint64_data[i];
            }
            break;
        default: /* int32, int16, int8, uint16, uint8, bool, float16 and bfloat16 (the bit
                  * pattern): stored in int32_data */
            have = tp->n_int32_data;
            for (size_t i = 0; have == n && i < n; i++) {
                int32_t v = tp->int32_data[i];
                switch (t->dtype) {
                case QCAL_DT_INT32: ((int32_t *)data)[i] = v; break;
                case QCAL_DT_INT16: ((int16_t *)data)[i] = (int16_t)v; break;
                case QCAL_DT_UINT16: ((uint16_t *)data)[i] = (uint16_t)v; break;
                case QCAL_DT_INT8: ((int8_t *)data)[i] = (int8_t)v; break;
                default: ((uint8_t *)data)[i] = (uint8_t)v; break;
                }
            }
            break;
        }
        if (have != n) {
            free(data);
            return qcal_error_set(err, QCAL_E_CORRUPT, "tensor '%s': has %zu values, shape needs %zu",
                                  name, have, n);
        }
    }
    if (narrow) {
        float *wide = calloc(n ? n : 1, sizeof *wide);
        if (!wide) {
            free(data);
            return qcal_error_set(err, QCAL_E_NOMEM, "tensor '%s': out of memory", name);
        }
        widen_narrow(wide, data, n, narrow);
        free(data);
        data = (uint8_t *)wide;
        t->dtype = QCAL_DT_FLOAT;
        t->narrow = narrow;
    }
    t->data = data;
    t->kind = QCAL__T_CONST;
    return QCAL_OK;
}

qcal_status qcal__onnx_read_tensor_file(const char *path, qcal__tensor *t, qcal_error *err)
{
    uint8_t *buf;
    size_t len;
    Onnx__TensorProto *tp;
    qcal_status st = read_file(path, &buf, &len, err);

    if (st != QCAL_OK)
        return st;
    tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: not a serialized ONNX TensorProto", path);
    memset(t, 0, sizeof *t);
    t->producer = -1;
    t->last_use = -1;
    st = tensor_from_proto(tp, NULL, t, err);
    if (st == QCAL_OK) {
        t->name = strdup(tp->name ? tp->name : "");
        if (!t->name) {
            free(t->data);
            t->data = NULL;
            st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        }
    } else {
        qcal_error_prefix(err, path);
    }
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

/* ---- name -> tensor hash map (open addressing), load time only ---- */
typedef struct name_map {
    size_t cap;
    qcal__tensor **slots;
} name_map;

static qcal__tensor *map_get(const name_map *m, const char *name)
{
    for (size_t i = qcal__str_hash(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i])
            return NULL;
        if (strcmp(m->slots[i]->name, name) == 0)
            return m->slots[i];
    }
}

static void map_put(name_map *m, qcal__tensor *t)
{
    size_t i = qcal__str_hash(t->name) & (m->cap - 1);
    while (m->slots[i])
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = t;
}

/* ---- attributes ---- */
/* AttributeProto.AttributeType names and the field each type's value lives in. */
static const char *const ATTR_TYPE[] = {
    "UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS", "STRINGS",
    "TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS",
};
static const char *const ATTR_FIELD[] = {
    "none", "f", "i", "s", "t", "g", "floats", "ints", "strings", "tensors", "graphs",
    "sparse_tensor", "sparse_tensors", "tp", "type_protos",
};

/*
 * ONNX checker rule: an attribute holds exactly one value field (a list type may hold none, the
 * empty list), and when its type is declared the value is in that type's field (so a declared
 * TENSOR or GRAPH always has its message).
 */
static qcal_status check_attr_fields(const Onnx__AttributeProto *ap, qcal_error *err)
{
    /* Indexed by AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6, INTS 7,
     * STRINGS 8, TENSORS 9, GRAPHS 10, SPARSE_TENSOR 11, SPARSE_TENSORS 12, TYPE_PROTO 13,
     * TYPE_PROTOS 14. */
    const bool set[15] = {
        false, ap->has_f, ap->has_i, ap->has_s, ap->t != NULL, ap->g != NULL, ap->n_floats > 0,
        ap->n_ints > 0, ap->n_strings > 0, ap->n_tensors > 0, ap->n_graphs > 0,
        ap->sparse_tensor != NULL, ap->n_sparse_tensors > 0, ap->tp != NULL, ap->n_type_protos > 0,
    };
    const char *name = ap->name ? ap->name : "";
    int used = 0, which = 0, type = ap->has_type ? (int)ap->type : 0;

    for (int k = 1; k < 15; k++)
        if (set[k])
            used++, which = k;
    if (used > 1)
        return qcal_error_set(err, QCAL_E_CORRUPT, "attribute '%s' holds %d values (one of f, i, "
                              "s, t, g, floats, ints, ... expected)", name, used);
    if (type <= 0 || type >= 15 || which == type)
        return QCAL_OK; /* no type (IR 1-2: taken from the field), or an unknown newer type */
    if (which == 0 && type >= 6 && type != 11 && type != 13)
        return QCAL_OK; /* an empty list */
    return qcal_error_set(err, QCAL_E_CORRUPT, "attribute '%s' is declared %s but holds %s%s%s",
                          name, ATTR_TYPE[type], which ? "field '" : "no value",
                          which ? ATTR_FIELD[which] : "", which ? "'" : "");
}

static qcal_status convert_attr(const Onnx__AttributeProto *ap, const char *dir, qcal__attr *a,
                                qcal_error *err)
{
    int type = ap->has_type ? (int)ap->type : 0;
    qcal_status st;

    a->name = strdup(ap->name ? ap->name : "");
    if (!a->name)
        return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
    st = check_attr_fields(ap, err);
    if (st != QCAL_OK)
        return st;
    /* IR 1-2 files may omit the type: take it from the field that is set. */
    if (type == 0) {
        if (ap->n_floats) type = QCAL__A_FLOATS;
        else if (ap->n_ints) type = QCAL__A_INTS;
        else if (ap->n_strings) type = QCAL__A_STRINGS;
        else if (ap->t) type = QCAL__A_TENSOR;
        else if (ap->g) type = QCAL__A_GRAPH;
        else if (ap->has_s) type = QCAL__A_STRING;
        else if (ap->has_f) type = QCAL__A_FLOAT;
        else if (ap->has_i) type = QCAL__A_INT;
    }
    a->type = (qcal__attr_type)type;
    switch (type) {
    case QCAL__A_FLOAT: a->f = ap->f; break;
    case QCAL__A_INT: a->i = ap->i; break;
    case QCAL__A_STRING:
        a->s = malloc(ap->s.len + 1);
        if (!a->s)
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = '\0';
        break;
    case QCAL__A_FLOATS:
        a->n = ap->n_floats;
        a->floats = malloc((a->n ? a->n : 1) * sizeof *a->floats);
        if (!a->floats)
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        if (a->n)
            memcpy(a->floats, ap->floats, a->n * sizeof *a->floats);
        break;
    case QCAL__A_INTS:
        a->n = ap->n_ints;
        a->ints = malloc((a->n ? a->n : 1) * sizeof *a->ints);
        if (!a->ints)
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        if (a->n)
            memcpy(a->ints, ap->ints, a->n * sizeof *a->ints);
        break;
    case QCAL__A_STRINGS:
        a->n = ap->n_strings;
        a->strings = calloc(a->n ? a->n : 1, sizeof *a->strings);
        if (!a->strings)
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        for (size_t i = 0; i < a->n; i++) {
            a->strings[i] = malloc(ap->strings[i].len + 1);
            if (!a->strings[i])
                return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            memcpy(a->strings[i], ap->strings[i].data, ap->strings[i].len);
            a->strings[i][ap->strings[i].len] = '\0';
        }
        break;
    case QCAL__A_TENSOR: {
        a->t = calloc(1, sizeof *a->t);
        if (!a->t || !(a->t->name = strdup(ap->t->name ? ap->t->name : a->name)))
            return qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
        a->t->producer = -1;
        a->t->last_use = -1;
        st = tensor_from_proto(ap->t, dir, a->t, err);
        if (st != QCAL_OK)
            return st;
        break;
    }
    default:
        break; /* graphs and sparse tensors: kept as a typed, empty attribute */
    }
    return QCAL_OK;
}

/* ---- graph construction ---- */
typedef struct unsupported_list {
    char text[400];
    size_t used;
    int count;
} unsupported_list;

static void unsupported_add(unsupported_list *u, const char *what)
{
    int w;

    if (strstr(u->text, what)) /* list each (op, opset) once */
        return;
    u->count++;
    w = snprintf(u->text + u->used, sizeof u->text - u->used, "%s%s", u->used ? ", " : "", what);
    if (w > 0)
        u->used = (size_t)w + u->used < sizeof u->text ? u->used + (size_t)w : sizeof u->text - 1;
}

static char *dirname_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d;

    if (!slash)
        return strdup(".");
    d = strndup(path, (size_t)(slash - path));
    if (d && !d[0]) {
        free(d);
        d = strdup("/");
    }
    return d;
}

/* Declared shape of a graph input; unknown dims are -1. */
static qcal_status set_declared_input(qcal__tensor *t, const Onnx__ValueInfoProto *vi,
                                      qcal_error *err)
{
    const Onnx__TypeProto *tp = vi->type;
    const Onnx__TypeProto__Tensor *tt;
    int64_t dims[QCAL_MAX_RANK];
    int rank = 0;

    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "Sequence/Optional (input '%s')", t->name);
    tt = tp->tensor_type;
    if (!dtype_supported(tt->elem_type))
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s (input '%s')",
                              qcal_dtype_name((qcal_dtype)tt->elem_type), t->name);
    if (tt->shape) {
        if (tt->shape->n_dim > QCAL_MAX_RANK)
            return qcal_error_set(err, QCAL_E_UNSUPPORTED, "input '%s': rank %zu unsupported",
                                  t->name, tt->shape->n_dim);
        rank = (int)tt->shape->n_dim;
        for (int i = 0; i < rank; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            dims[i] = (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                       d->dim_value > 0) ? d->dim_value : -1;
        }
    }
    t->dtype = qcal__dtype_held((qcal_dtype)tt->elem_type);
    t->narrow = dtype_is_narrow(tt->elem_type) ? (qcal_dtype)tt->elem_type : QCAL_DT_UNDEFINED;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->shaped = false; /* resolved by prepare */
    return QCAL_OK;
}

/* ---- subgraphs: the hooks src/onnx/subgraph.c builds GRAPH attributes with ---- */

/* Dependency k of node nd: its inputs, then the enclosing-scope tensors its subgraphs read. */
#define SUBGRAPH_DEP(nd, k) ((k) < (nd)->n_in ? (nd)->in[k] : (nd)->implicit[(k) - (nd)->n_in])
/* t is computed by a node of g itself (not an enclosing graph's, whose indices differ). */
#define LOCAL_DEP(g, t) ((t) && (t)->producer >= 0 && (t)->scope == ((g)->parent ? (g) : NULL))

static qcal_status topo_order(qcal__graph *g, qcal_error *err);

static qcal__tensor *root_lookup(const void *ctx, const char *name)
{
    return map_get(ctx, name);
}

static void root_unsupported(void *ctx, const char *what)
{
    unsupported_add(ctx, what);
}

/* Builds the subgraphs of every node of g (names of g in map). */
static qcal_status build_subgraphs(qcal__graph *g, const Onnx__ModelProto *mp, const name_map *map,
                                   const qcal__xnode *xn, unsupported_list *uns, qcal_error *err)
{
    qcal__subctx cx = { mp, g, tensor_from_proto, convert_attr, set_declared_input, topo_order,
                        root_unsupported, uns };
    qcal__scope scope = { NULL, root_lookup, map };

    for (int i = 0; i < g->n_nodes; i++) {
        qcal_status st = qcal__onnx_node_subgraphs(&cx, g, &g->nodes[i], xn[i].attr, &scope, err);
        if (st != QCAL_OK)
            return st;
    }
    return QCAL_OK;
}

/*
 * Kahn's algorithm over node dependencies. ONNX requires files to be topologically sorted;
 * we accept any order and fail only on cycles or undefined inputs. A node depends on its inputs
 * and on the enclosing-scope tensors its subgraphs read, when g computes them. Linear in nodes
 * + edges: the consumers of every node are listed once (CSR, in node order), so nodes become
 * ready in the same order as a scan of all nodes would give (ready nodes in file order, then
 * consumers in file order).
 */
static qcal_status topo_order(qcal__graph *g, qcal_error *err)
{
    size_t n = (size_t)g->n_nodes, edges = 0;
    int *indeg = calloc(n + 1, sizeof *indeg);
    size_t *start = calloc(n + 2, sizeof *start);
    int *order = malloc((n + 1) * sizeof *order);
    int *cons = NULL;
    qcal__node *sorted = malloc((n + 1) * sizeof *sorted);
    size_t head = 0, tail = 0;
    qcal_status st = QCAL_OK;

    if (!indeg || !start || !order || !sorted) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < g->nodes[i].n_in + g->nodes[i].n_implicit; k++) {
            const qcal__tensor *t = SUBGRAPH_DEP(&g->nodes[i], k);
            if (LOCAL_DEP(g, t)) {
                indeg[i]++;
                start[t->producer + 1]++;
                edges++;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    cons = malloc((edges + 1) * sizeof *cons);
    if (!cons) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) /* start[p] becomes the end of p's list as it fills */
        for (int k = 0; k < g->nodes[i].n_in + g->nodes[i].n_implicit; k++) {
            const qcal__tensor *t = SUBGRAPH_DEP(&g->nodes[i], k);
            if (LOCAL_DEP(g, t))
                cons[start[t->producer]++] = (int)i;
        }
    for (size_t i = n; i > 0; i--) /* back to the starts */
        start[i] = start[i - 1];
    start[0] = 0;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0)
            order[tail++] = (int)i;
    while (head < tail) {
        int i = order[head++];
        for (size_t e = start[i]; e < start[i + 1]; e++)
            if (--indeg[cons[e]] == 0)
                order[tail++] = cons[e];
    }
    if (tail != n) {
        st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: graph has a cycle", g->path);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = g->nodes[order[i]];
    for (size_t i = 0; i < n; i++) {
        sorted[i].index = (int)i;
        for (int k = 0; k < sorted[i].n_out; k++)
            if (sorted[i].out[k])
                sorted[i].out[k]->producer = (int)i;
    }
    free(g->nodes);
    g->nodes = sorted;
    sorted = NULL;
out:
    free(indeg);
    free(start);
    free(order);
    free(cons);
    free(sorted);
    return st;
}

/* ONNX checker: a graph input that names an initializer declares the initializer's type and,
 * where it gives dimensions, its shape. */
static qcal_status check_redeclared(const qcal__tensor *t, const Onnx__ValueInfoProto *vi,
                                    const char *path, qcal_error *err)
{
    const Onnx__TypeProto *tp = vi->type;
    const Onnx__TypeProto__Tensor *tt;
    qcal_dtype file_dt = t->narrow ? t->narrow : t->dtype;
    char a[128], b[128];

    if (!t->shaped || !tp)
        return QCAL_OK; /* an initializer of an unsupported type (reported later), no type */
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: graph input '%s' redeclares an "
                              "initializer as a non-tensor type", path, t->name);
    tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != (int32_t)file_dt)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: graph input '%s' is declared %s, its "
                              "initializer is %s", path, t->name,
                              qcal_dtype_name((qcal_dtype)tt->elem_type), qcal_dtype_name(file_dt));
    if (!tt->shape)
        return QCAL_OK;
    if (tt->shape->n_dim != (size_t)t->rank)
        goto mismatch;
    for (size_t k = 0; k < tt->shape->n_dim; k++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            d->dim_value != t->dims[k])
            goto mismatch;
    }
    return QCAL_OK;
mismatch:
    a[0] = '\0';
    for (size_t k = 0, used = 0; k < tt->shape->n_dim && used < sizeof a; k++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
        int w = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                    ? snprintf(a + used, sizeof a - used, "%s%lld", k ? "x" : "",
                               (long long)d->dim_value)
                    : snprintf(a + used, sizeof a - used, "%s?", k ? "x" : "");
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return qcal_error_set(err, QCAL_E_CORRUPT, "%s: graph input '%s' is declared [%s], its "
                          "initializer has shape [%s]", path, t->name, a,
                          qcal__shape_str(t->rank, t->dims, b, sizeof b));
}

/* A float16/bfloat16 input, output, initializer or Constant makes the model a half-precision
 * one (DESIGN.md: float16 models run in float32; inspect notes it). */
static void note_source_dtype(qcal__graph *g, int32_t dt)
{
    if (dtype_is_narrow(dt) && g->source_dtype == QCAL_DT_FLOAT)
        g->source_dtype = (qcal_dtype)dt;
}

static qcal_status build_graph(qcal__graph *g, const Onnx__ModelProto *mp, qcal_error *err)
{
    const Onnx__GraphProto *gp = mp->graph;
    name_map map = { 0, NULL };
    unsupported_list uns = { .text = "", .used = 0, .count = 0 };
    qcal__xnode *xn = NULL; /* the graph's nodes with local functions inlined */
    size_t n_xn = 0, total;
    qcal_status st = QCAL_OK;
    int default_opset = -1;

    if (!gp)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: model has no graph", g->path);
    g->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    if (g->ir_version > MAX_IR_VERSION)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: IR version %lld (at most %d supported)",
                              g->path, (long long)g->ir_version, MAX_IR_VERSION);
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        const char *dom = o->domain ? o->domain : "";
        if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0)
            default_opset = (int)o->version;
    }
    /* ONNX checker: IR 3+ files name their operator sets; IR 1-2 files have none (opset 1). */
    if (mp->n_opset_import == 0 && g->ir_version >= 3)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: IR version %lld model without "
                              "opset_import", g->path, (long long)g->ir_version);
    if (default_opset < 0)
        default_opset = mp->n_opset_import ? -1 : 1;
    if (gp->n_output == 0)
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: the graph has no outputs", g->path);
    if (default_opset > MAX_OPSET)
        return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: opset %d (at most %d supported)",
                              g->path, default_opset, MAX_OPSET);
    g->opset = default_opset;
    g->source_dtype = QCAL_DT_FLOAT;

    st = qcal__onnx_expand(mp, gp, g->opset, g->path, &xn, &n_xn, err);
    if (st != QCAL_OK)
        return st;
    total = gp->n_initializer + gp->n_input + 8;
    for (size_t i = 0; i < n_xn; i++)
        total += xn[i].n_out;
    for (map.cap = 64; map.cap < 2 * total; map.cap *= 2) {}
    map.slots = calloc(map.cap, sizeof *map.slots);
    if (!map.slots) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
        goto out;
    }

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        qcal__tensor *t;
        if (!tp->name || !tp->name[0]) {
            st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: initializer %zu has no name", g->path,
                                i);
            goto out;
        }
        if (map_get(&map, tp->name)) {
            st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: initializer '%s' is defined twice",
                                g->path, tp->name);
            goto out;
        }
        t = qcal__graph_add_tensor(g, tp->name);
        if (!t) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
            goto out;
        }
        st = tensor_from_proto(tp, g->dir, t, err);
        if (st == QCAL_E_UNSUPPORTED) {
            char what[160];
            snprintf(what, sizeof what, "%s (initializer '%.80s')",
                     qcal_dtype_name((qcal_dtype)tp->data_type), tp->name);
            unsupported_add(&uns, what);
            st = QCAL_OK;
            t->kind = QCAL__T_CONST;
            t->data = calloc(1, 1);
            map_put(&map, t);
            continue;
        }
        if (st != QCAL_OK)
            goto out;
        t->initializer = true;
        note_source_dtype(g, tp->data_type);
        map_put(&map, t);
    }
    g->inputs = calloc(gp->n_input + 1, sizeof *g->inputs);
    g->outputs = calloc(gp->n_output + 1, sizeof *g->outputs);
    if (!g->inputs || !g->outputs) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        qcal__tensor *t;
        if (!vi->name || !vi->name[0]) {
            st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: graph input %zu has no name", g->path,
                                i);
            goto out;
        }
        if ((t = map_get(&map, vi->name))) {
            /* An initializer listed as an input too (IR < 4 requires it; later IRs allow it, as
             * an overridable default): the declarations must agree. */
            if (t->kind == QCAL__T_INPUT) {
                st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: graph input '%s' is declared twice",
                                    g->path, vi->name);
                goto out;
            }
            st = check_redeclared(t, vi, g->path, err);
            if (st != QCAL_OK)
                goto out;
            continue;
        }
        t = qcal__graph_add_tensor(g, vi->name);
        if (!t) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
            goto out;
        }
        t->kind = QCAL__T_INPUT;
        if (vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
            vi->type->tensor_type)
            note_source_dtype(g, vi->type->tensor_type->elem_type);
        st = set_declared_input(t, vi, err);
        if (st == QCAL_E_UNSUPPORTED) {
            unsupported_add(&uns, err ? err->msg : "input type");
            st = QCAL_OK;
        } else if (st != QCAL_OK) {
            goto out;
        }
        map_put(&map, t);
        g->inputs[g->n_inputs++] = t;
    }

    if (n_xn > INT_MAX - 1) {
        st = qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: %zu nodes", g->path, n_xn);
        goto out;
    }
    g->nodes = calloc(n_xn + 1, sizeof *g->nodes);
    if (!g->nodes) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
        goto out;
    }
    /* First pass: outputs, so that inputs can refer to nodes later in the file. */
    for (size_t i = 0; i < n_xn; i++) {
        const qcal__xnode *x = &xn[i];
        const Onnx__NodeProto *np = x->np;
        qcal__node *n = &g->nodes[i];

        g->n_nodes = (int)i + 1;
        n->name = strdup(x->name);
        n->op_type = strdup(np->op_type ? np->op_type : "");
        n->domain = strdup(np->domain ? np->domain : "");
        n->in = calloc(x->n_in + 1, sizeof *n->in);
        n->out = calloc(x->n_out + 1, sizeof *n->out);
        n->attr = calloc(x->n_attr + 1, sizeof *n->attr);
        if (!n->name || !n->op_type || !n->domain || !n->in || !n->out || !n->attr) {
            st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
            goto out;
        }
        n->n_in = (int)x->n_in;
        n->n_out = (int)x->n_out;
        n->index = (int)i;
        for (size_t k = 0; k < x->n_out; k++) {
            qcal__tensor *t;
            if (!x->out[k][0])
                continue;
            if (map_get(&map, x->out[k])) {
                st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: node '%s': tensor '%s' is defined twice",
                                    g->path, n->name, x->out[k]);
                goto out;
            }
            t = qcal__graph_add_tensor(g, x->out[k]);
            if (!t) {
                st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", g->path);
                goto out;
            }
            t->producer = (int)i;
            map_put(&map, t);
            n->out[k] = t;
        }
        for (size_t k = 0; k < x->n_attr; k++) {
            n->n_attr = (int)k + 1;
            st = convert_attr(x->attr[k], g->dir, &n->attr[k], err);
            if (st == QCAL_OK && strcmp(n->attr[k].name, x->attr_name[k]) != 0) {
                /* A function's attribute given by the call under the function's name. */
                free(n->attr[k].name);
                if (!(n->attr[k].name = strdup(x->attr_name[k])))
                    st = qcal_error_set(err, QCAL_E_NOMEM, "out of memory");
            }
            if (st == QCAL_E_UNSUPPORTED) {
                unsupported_add(&uns, err ? err->msg : "attribute");
                st = QCAL_OK;
            } else if (st != QCAL_OK) {
                qcal_error_prefix(err, n->name);
                qcal_error_prefix(err, g->path);
                goto out;
            }
            if (x->attr[k]->t)
                note_source_dtype(g, x->attr[k]->t->data_type);
        }
    }
    /* Second pass: inputs and kernels. */
    for (size_t i = 0; i < n_xn; i++) {
        const qcal__xnode *x = &xn[i];
        qcal__node *n = &g->nodes[i];
        const char *dom = n->domain;
        char what[160];

        for (size_t k = 0; k < x->n_in; k++) {
            if (!x->in[k][0])
                continue;
            n->in[k] = map_get(&map, x->in[k]);
            if (!n->in[k]) {
                st = qcal_error_set(err, QCAL_E_CORRUPT,
                                    "%s: node '%s' (%s): input '%s' is not defined by any node, "
                                    "initializer or graph input", g->path, n->name, n->op_type,
                                    x->in[k]);
                goto out;
            }
        }
        if (dom[0] && strcmp(dom, "ai.onnx") != 0) {
            int ver = 0;
            for (size_t o = 0; o < mp->n_opset_import; o++)
                if (mp->opset_import[o]->domain && strcmp(mp->opset_import[o]->domain, dom) == 0)
                    ver = (int)mp->opset_import[o]->version;
            snprintf(what, sizeof what, "%s (domain %s, opset %d)", n->op_type, dom, ver);
            unsupported_add(&uns, what);
            continue;
        }
        n->opset = x->opset;
        n->op = qcal__op_find(n->op_type, n->opset);
        if (!n->op) {
            snprintf(what, sizeof what, "%s (opset %d)", n->op_type, n->opset);
            unsupported_add(&uns, what);
        }
    }
    st = build_subgraphs(g, mp, &map, xn, &uns, err);
    if (st != QCAL_OK)
        goto out;
    if (uns.count) {
        st = qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: unsupported: %s", g->path, uns.text);
        goto out;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__TypeProto *tp = gp->output[i]->type;
        if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type &&
            tp->tensor_type->has_elem_type)
            note_source_dtype(g, tp->tensor_type->elem_type);
        if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type &&
            tp->tensor_type->has_elem_type && !dtype_supported(tp->tensor_type->elem_type)) {
            char what[160];
            snprintf(what, sizeof what, "%s (output '%.80s')",
                     qcal_dtype_name((qcal_dtype)tp->tensor_type->elem_type),
                     gp->output[i]->name ? gp->output[i]->name : "");
            unsupported_add(&uns, what);
        }
    }
    if (uns.count) {
        st = qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: unsupported: %s", g->path, uns.text);
        goto out;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        qcal__tensor *t = gp->output[i]->name ? map_get(&map, gp->output[i]->name) : NULL;
        if (!t) {
            st = qcal_error_set(err, QCAL_E_CORRUPT, "%s: graph output '%s' is never computed",
                                g->path, gp->output[i]->name ? gp->output[i]->name : "");
            goto out;
        }
        t->is_output = true;
        g->outputs[g->n_outputs++] = t;
    }
    st = topo_order(g, err);
out:
    free(map.slots);
    qcal__xnodes_free(xn, n_xn);
    return st;
}

qcal_status qcal__onnx_load_buffer(const char *path, const void *data, size_t len,
                                   qcal__graph **out, char *sha256_hex, qcal_error *err)
{
    Onnx__ModelProto *mp = NULL;
    qcal__graph *g = NULL;
    qcal_status st;

    *out = NULL;
    if (sha256_hex)
        qcal__sha256_hex(data, len, sha256_hex);
    /* protobuf-c recurses per nested message: bound the nesting before it runs. */
    st = qcal__onnx_check_nesting(data, len, path, err);
    if (st != QCAL_OK)
        return st;
    mp = onnx__model_proto__unpack(NULL, len, data);
    if (!mp || !mp->graph) {
        if (mp) /* parsed, but without a graph */
            onnx__model_proto__free_unpacked(mp, NULL);
        return qcal_error_set(err, QCAL_E_CORRUPT, "%s: not a valid ONNX model (protobuf parse "
                              "failed)", path);
    }
    g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path)) || !(g->dir = dirname_of(path))) {
        st = qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    st = build_graph(g, mp, err);
out:
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st != QCAL_OK) {
        qcal__graph_destroy(g);
        return st;
    }
    *out = g;
    return QCAL_OK;
}

qcal_status qcal__onnx_load(const char *path, qcal__graph **out, char *sha256_hex,
                            qcal_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    qcal_status st;

    *out = NULL;
    st = read_file(path, &buf, &len, err);
    if (st != QCAL_OK)
        return st;
    st = qcal__onnx_load_buffer(path, buf, len, out, sha256_hex, err);
    free(buf);
    return st;
}
