/*
 * hx.h - the synthfm harness library (libhx), all of it: one include for
 * its area headers (each usable alone) and the library's set-up.
 *   readers.h     volume readers (NIfTI, DICOM, MetaImage, PNG, TIFF)
 *   preprocess.h  MedSAM-style preprocessing to 8-bit slices
 *   dice.h        Dice of binary masks
 *   stats.h       paired t-tests, "a,b" pairs
 *   metrics.h     surface metrics, interactive clicks, confidence intervals
 *   eval.h        the evaluation driver, with datasets.h, split.h,
 *                 results.h and methods.h
 *   report.h      tables, figures and the report folder
 *
 * Conventions as in sf.h (see STYLE.md): fallible calls return SF_OK (0) or
 * a negative SF_E* code and fill a caller-owned sf_err (NULL allowed);
 * results come back through T **out and belong to the caller; every _free
 * accepts NULL; nothing here prints. Call hx_init() once before using the
 * statistics (it switches GSL's abort-on-error handler off).
 */
#ifndef HX_H
#define HX_H

#include "dice.h"
#include "eval.h"
#include "metrics.h"
#include "preprocess.h"
#include "readers.h"
#include "report.h"
#include "sf.h"
#include "stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Process-wide set-up for libhx: turns GSL's default error handler (which
 * aborts) off, so GSL reports through return values and we check them.
 * Idempotent; call it from main-like code (commands, tests), not from
 * library functions. */
void hx_init(void);

#ifdef __cplusplus
}
#endif
#endif /* HX_H */
