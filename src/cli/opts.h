/* Preprocess options shared by run and calibrate (DESIGN.md: "Preprocess options"). */
#ifndef QCAL_CLI_OPTS_H
#define QCAL_CLI_OPTS_H

#include "qcal/data.h"

#define PREPROCESS_NOPTS 7
/* getopt_long entries for the preprocess options, with values base .. base + 6. */
#define PREPROCESS_OPTIONS(base)                                                                 \
    { "size", required_argument, NULL, (base) + 0 },                                             \
    { "resize", required_argument, NULL, (base) + 1 },                                           \
    { "channels", required_argument, NULL, (base) + 2 },                                         \
    { "layout", required_argument, NULL, (base) + 3 },                                           \
    { "scale", required_argument, NULL, (base) + 4 },                                            \
    { "mean", required_argument, NULL, (base) + 5 },                                             \
    { "std", required_argument, NULL, (base) + 6 }

#define PREPROCESS_HELP                                                                          \
    "\npreprocessing of images (float32: x = (p / maxval - mean[c]) / std[c], maxval 255 or\n"    \
    "65535; with --scale S: x = (p * S - mean[c]) / std[c]):\n"                                   \
    "  --size WxH            target size (default: the model input's H and W)\n"                 \
    "  --resize MODE         stretch | letterbox | center-crop (bilinear, half-pixel centres;\n"  \
    "                        default stretch)\n"                                                  \
    "  --channels C          gray | rgb | bgr (default: gray for 1 channel, rgb for 3)\n"         \
    "  --layout L            nchw | nhwc (default nchw)\n"                                        \
    "  --scale S             multiply pixels by S instead of dividing by maxval\n"               \
    "  --mean a[,b,c]        per-channel mean, in scaled units (default 0)\n"                    \
    "  --std a[,b,c]         per-channel std, in scaled units (default 1)\n"

/* Applies preprocess option number idx (0 .. PREPROCESS_NOPTS-1) with its value. */
qcal_status qcal_cli_preprocess_opt(qcal_preprocess *pp, int idx, const char *value,
                                    qcal_error *err);

#endif
