/* qcal status codes and the error record every fallible call fills. */
#ifndef QCAL_STATUS_H
#define QCAL_STATUS_H

typedef enum qcal_status {
    QCAL_OK = 0,
    QCAL_E_INVALID,     /* bad argument or option */
    QCAL_E_NOMEM,
    QCAL_E_IO,          /* open/read/write/fsync/rename failed */
    QCAL_E_CORRUPT,     /* malformed ONNX, image, npy or HDF5 */
    QCAL_E_UNSUPPORTED, /* valid but not handled: op, opset, dtype */
    QCAL_E_SHAPE,
    QCAL_E_NUMERIC,     /* NaN/Inf where a finite value is required */
    QCAL_E_MPI,
    QCAL_STATUS_COUNT
} qcal_status;

/* Filled by a failing call; owned by the caller (usually on its stack). */
typedef struct qcal_error {
    qcal_status code;
    char msg[512]; /* one line, no newline: "m.onnx: node 'conv1' (Conv): ..." */
} qcal_error;

/* Static string naming the code ("E_IO"), never NULL. */
const char *qcal_status_name(qcal_status st);

/* Formats the message into err (if err is not NULL) and returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
qcal_status qcal_error_set(qcal_error *err, qcal_status code, const char *fmt, ...);

/* Prepends "prefix: " to err->msg (e.g. a file name); returns err->code. NULL-safe. */
qcal_status qcal_error_prefix(qcal_error *err, const char *prefix);

#endif
