/* Preprocess option plumbing for getopt_long. */
#include "cli/opts.h"

qcal_status qcal_cli_preprocess_opt(qcal_preprocess *pp, int idx, const char *value,
                                    qcal_error *err)
{
    static const char *const NAMES[PREPROCESS_NOPTS] = {
        "size", "resize", "channels", "layout", "scale", "mean", "std",
    };

    if (idx < 0 || idx >= PREPROCESS_NOPTS)
        return qcal_error_set(err, QCAL_E_INVALID, "unknown preprocess option");
    return qcal_preprocess_parse(pp, NAMES[idx], value, err);
}
