/*
 * results.h - the results database (results.c, schemas/results.sql; view
 * dice_scores): one SQLite file per evaluation campaign, written one case
 * per transaction by the driver (eval.h).
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, every _free
 * accepts NULL, nothing here prints.
 */
#ifndef HX_RESULTS_H
#define HX_RESULTS_H

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- results */

typedef struct hx_results hx_results;

/* The format_version this build writes (schemas/results.sql). */
#define HX_RESULTS_FORMAT_VERSION "2"

/* Open (create) a results database with schemas/results.sql (compiled
 * in). An existing file of format_version 1 is migrated in place (its
 * rows kept; version 2's tables and views added, the version stamped
 * 2, in one transaction); any other version than 1 or 2 is refused with
 * SF_EFORMAT and left unchanged. */
int hx_results_open(const char *path, hx_results **out, sf_err *err);
void hx_results_close(hx_results *r);
/* The embedded schema text. */
const char *hx_results_schema(void);
/* Merge the n shard files of one evaluation (`synthfm eval --shard I/N`,
 * every shard done) into a new results database `out`, equal to the
 * single run row for row (slice ids in case order). Refused (SF_EINVAL,
 * nothing written): shards of different evaluations (run key: method,
 * checkpoint, dataset, split, settings, prompt seed) or builds, a
 * missing, repeated or unfinished shard, overlapping units; SF_EEXIST
 * when out exists. */
int hx_results_merge(const char *out, const char *const *paths, int n,
                     sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_RESULTS_H */
