/* Job files for qcal calibrate: not built yet. */
#include "cli/calibrate.h"

qcal_status qcal_cli_job_load(const char *path, int nset, char *const *sets, qcal_cal_opts *o,
                              qcal_error *err)
{
    (void)nset;
    (void)sets;
    (void)o;
    return qcal_error_set(err, QCAL_E_UNSUPPORTED, "%s: job files are not implemented in this "
                          "version", path);
}
