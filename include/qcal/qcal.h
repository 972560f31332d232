/* libqcal: every public module header (STYLE.md: qcal.h includes them all). */
#ifndef QCAL_QCAL_H
#define QCAL_QCAL_H

#include "qcal/status.h"
#include "qcal/tensor.h"
#include "qcal/model.h"
#include "qcal/data.h"
#include "qcal/npy.h"
#include "qcal/round.h"
#include "qcal/stats.h"
#include "qcal/calib.h"
#include "qcal/ckpt.h"
#include "qcal/encode.h"
#include "qcal/encset.h"
#include "qcal/store.h"
#include "qcal/merge.h"
#include "qcal/export.h"
#include "qcal/qdq.h"
#include "qcal/plot.h"

#endif
