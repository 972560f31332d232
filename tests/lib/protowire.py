"""Protobuf wire-format pieces for test scripts that write models python3-onnx cannot build
(fields of newer ONNX versions, unknown fields, nesting deeper than protobuf's own limits)."""


def varint(n):
    """Base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num, wire):
    """A field key: number and wire type (0 varint, 2 length-delimited)."""
    return varint(num << 3 | wire)


def field(num, payload):
    """A length-delimited field (wire type 2)."""
    return key(num, 2) + varint(len(payload)) + payload


def vfield(num, v):
    """A varint field (wire type 0)."""
    return key(num, 0) + varint(v)
