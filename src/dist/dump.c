#include <stdlib.h>
#include "dist/dump.h"
qcal_status qcal_dump_create(const qcal_dist *d, const qcal_model *m, const char *regex,
                             size_t n_dump, qcal_dump **out, qcal_error *err)
{ (void)d; (void)m; (void)regex; (void)n_dump; *out = NULL;
  return qcal_error_set(err, QCAL_E_UNSUPPORTED, "--dump is not implemented in this version"); }
void qcal_dump_tap(void *dump, size_t sample, size_t tensor, const qcal_tensor_view *view)
{ (void)dump; (void)sample; (void)tensor; (void)view; }
qcal_status qcal_dump_write(qcal_dump *dp, const char *path, qcal_error *err)
{ (void)dp; return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: dumps not implemented", path); }
void qcal_dump_destroy(qcal_dump *dp) { (void)dp; }
