/*
 * split.h - fixed evaluation splits (split.c, schemas/splits/<dataset>.yaml):
 * the cases, structures and slice rule of a dataset, with the SHA-256 of every
 * source file; verified before an evaluation uses them.
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, every _free
 * accepts NULL, nothing here prints.
 */
#ifndef HX_SPLIT_H
#define HX_SPLIT_H

#include "datasets.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- splits */

typedef struct hx_split_file {
    char *path; /* relative to the data root */
    char sha256[65];
} hx_split_file;

typedef struct hx_split_case {
    char *id;
    hx_split_file *files;
    int n_files;
} hx_split_case;

typedef struct hx_split {
    char *name, *dataset, *description;
    int template_only; /* `template: true`: no cases yet, not usable */
    int min_pixels;    /* slice_rule.min_pixels */
    int n_structures;
    hx_structure st[HX_MAX_STRUCTURES];
    hx_split_case *cases;
    int n_cases;
    char sha256[65]; /* of the split file's bytes */
} hx_split;

/* Parse a split YAML (schemas/splits/README.md). SF_ECONFIG with
 * file:line:col and the key on a malformed file. */
int hx_split_load(const char *path, hx_split **out, sf_err *err);
void hx_split_free(hx_split *s);
/* Check every file of the split under root against its SHA-256. Each
 * missing or changed file is passed to fn (may be NULL) as "path:
 * missing" / "path: changed (sha256 X, split says Y)"; *n_bad gets their
 * number. Returns SF_OK when the check could run (look at *n_bad). */
int hx_split_verify(const hx_split *s, const char *root,
                    void (*fn)(void *ctx, const char *problem), void *ctx,
                    int *n_bad, sf_err *err);
/* Write a split for the cases listed under root (all of them), hashing
 * every file: the tool that makes schemas/splits/<dataset>.yaml. */
int hx_split_write(const hx_dataset_ops *ds, const char *root, const char *name,
                   const char *description, int min_pixels,
                   const char *out_path, sf_err *err);
/* Keep only the cases of l named in s, in the split's order, with the
 * split's structures; SF_ECORRUPT naming a split case not found. */
int hx_split_apply(const hx_split *s, hx_case_list *l, sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_SPLIT_H */
