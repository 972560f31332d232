/*
 * Nesting-depth pre-scan of a serialized protobuf message, before protobuf-c unpacks it.
 * protobuf-c's unpacker recurses once per nested message, so a file of a few hundred kilobytes
 * holding tens of thousands of nested graph attributes (AttributeProto.g inside a NodeProto
 * inside a GraphProto ...) or nested TypeProtos overflows the stack. This scan walks the wire
 * format with an explicit stack, guided by the generated message descriptors (a length-delimited
 * field whose descriptor says MESSAGE is entered, everything else is skipped), so it cannot
 * overflow itself; it visits every byte once per message it is nested in, and it stops at the
 * first limit exceeded. Malformed framing ends the scan quietly: protobuf-c refuses such input
 * while scanning that message's fields, before it recurses into any of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnx/onnx.h"

typedef struct frame {
    const uint8_t *p, *end;
    const ProtobufCMessageDescriptor *desc;
    int graphs; /* GraphProtos on the path, this message included */
} frame;

/* Reads a varint at *p (at most 10 bytes, before end); false on truncation or overlong. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;

    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

qcal_status qcal__onnx_check_nesting(const void *data, size_t len, const char *path,
                                     qcal_error *err)
{
    frame *st = malloc((QCAL__ONNX_MAX_MESSAGE_DEPTH + 1) * sizeof *st);
    int top = 0;

    if (!st)
        return qcal_error_set(err, QCAL_E_NOMEM, "%s: out of memory", path);
    st[0].p = data;
    st[0].end = st[0].p + len;
    st[0].desc = &onnx__model_proto__descriptor;
    st[0].graphs = 0;
    while (top >= 0) {
        frame *f = &st[top];
        uint64_t key, n;
        const uint8_t *payload;
        const ProtobufCFieldDescriptor *fd;

        if (f->p >= f->end) {
            top--;
            continue;
        }
        if (!read_varint(&f->p, f->end, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
            break;
        switch (key & 7) {
        case 0:
            if (!read_varint(&f->p, f->end, &n))
                top = -1;
            continue;
        case 1:
            if ((size_t)(f->end - f->p) < 8)
                top = -1;
            else
                f->p += 8;
            continue;
        case 5:
            if ((size_t)(f->end - f->p) < 4)
                top = -1;
            else
                f->p += 4;
            continue;
        case 2:
            break;
        default: /* groups (3, 4) and invalid wire types: protobuf-c refuses them */
            top = -1;
            continue;
        }
        if (!read_varint(&f->p, f->end, &n) || n > (uint64_t)(f->end - f->p)) {
            top = -1;
            continue;
        }
        payload = f->p;
        f->p += n;
        fd = protobuf_c_message_descriptor_get_field(f->desc, (unsigned)(key >> 3));
        if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE || n == 0)
            continue; /* scalars, strings, bytes, packed arrays, unknown fields */
        if (top + 1 >= QCAL__ONNX_MAX_MESSAGE_DEPTH) {
            free(st);
            return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: messages nest more than %d deep "
                                  "(limit of this loader)", path, QCAL__ONNX_MAX_MESSAGE_DEPTH);
        }
        st[top + 1].p = payload;
        st[top + 1].end = payload + n;
        st[top + 1].desc = fd->descriptor;
        st[top + 1].graphs = f->graphs + (fd->descriptor == &onnx__graph_proto__descriptor);
        if (st[top + 1].graphs > QCAL__ONNX_MAX_GRAPH_DEPTH + 1) {
            free(st);
            return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: subgraphs (graph attributes of "
                                  "If/Loop/Scan) nest more than %d deep", path,
                                  QCAL__ONNX_MAX_GRAPH_DEPTH);
        }
        top++;
    }
    free(st);
    return QCAL_OK;
}
