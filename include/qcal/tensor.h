/* Element types (values are ONNX TensorProto.DataType) and tensor views. */
#ifndef QCAL_TENSOR_H
#define QCAL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define QCAL_MAX_RANK 8

typedef enum qcal_dtype {
    QCAL_DT_UNDEFINED = 0,
    QCAL_DT_FLOAT = 1,
    QCAL_DT_UINT8 = 2,
    QCAL_DT_INT8 = 3,
    QCAL_DT_UINT16 = 4,
    QCAL_DT_INT16 = 5,
    QCAL_DT_INT32 = 6,
    QCAL_DT_INT64 = 7,
    QCAL_DT_STRING = 8,
    QCAL_DT_BOOL = 9,
    QCAL_DT_FLOAT16 = 10,
    QCAL_DT_DOUBLE = 11,
    QCAL_DT_UINT32 = 12,
    QCAL_DT_UINT64 = 13,
    /* Types qcal does not hold in memory. A float16/bfloat16 value is widened to float32 at
     * load (exactly); the others are refused at load with an error naming them. */
    QCAL_DT_COMPLEX64 = 14,
    QCAL_DT_COMPLEX128 = 15,
    QCAL_DT_BFLOAT16 = 16,
    QCAL_DT_FLOAT8E4M3FN = 17,
    QCAL_DT_FLOAT8E4M3FNUZ = 18,
    QCAL_DT_FLOAT8E5M2 = 19,
    QCAL_DT_FLOAT8E5M2FNUZ = 20,
    QCAL_DT_UINT4 = 21,
    QCAL_DT_INT4 = 22,
} qcal_dtype;

/* Bytes per element; 0 for types qcal cannot hold (string, complex, bfloat16, float8, 4-bit,
 * undefined). bool is 1 byte. float16 is 2 bytes, but a loaded model never holds float16:
 * its values are widened to float32 at load. */
size_t qcal_dtype_size(qcal_dtype dt);
/* Lower-case name ("float32", "int64", ...), never NULL. */
const char *qcal_dtype_name(qcal_dtype dt);

/* A borrowed view of a tensor: name, type, shape and data. Pointers live as long as the
 * object that handed the view out says. */
typedef struct qcal_tensor_view {
    const char *name;
    qcal_dtype dtype;
    int rank;
    int64_t dims[QCAL_MAX_RANK];
    size_t nelem;
    const void *data;
} qcal_tensor_view;

#endif
