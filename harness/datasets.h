/*
 * datasets.h - libhx's dataset adapters (datasets.c, eval_ood.c): the
 * datasets of the evaluation (a const table), their cases under a data
 * root, one case loaded as preprocessed axial slices with a structure bit
 * set per voxel, the synthetic OOD corpus, and the SHA-256 of a source
 * (a file or a DICOM series folder).
 *
 * Conventions as in hx.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), T **out belongs to the caller, every _free
 * accepts NULL, nothing here prints.
 */
#ifndef HX_DATASETS_H
#define HX_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "preprocess.h" /* enum hx_modality */
#include "readers.h"
#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Structures per case (bits of a uint32 voxel set). Synthetic cases with
 * more instances keep the first HX_MAX_STRUCTURES labels. */
#define HX_MAX_STRUCTURES 32
/* Default minimum pixel count of a structure on a slice for the slice to
 * count (issue 6: "configurable"); our choice. */
#define HX_MIN_PIXELS_DEFAULT 10
/* Default prompt seed of `synthfm eval`. */
#define HX_PROMPT_SEED_DEFAULT 0

/* A labelled structure: its name in tables and the label values that
 * mean it (lo..hi inclusive; lo = hi for an exact value). */
typedef struct hx_structure {
    char name[48];
    int lo, hi;
} hx_structure;

/* How a case's ground truth is stored (set by the adapter). */
enum hx_label_kind {
    HX_LABELS_MAP = 0,       /* one label volume/image; values lo..hi */
    HX_LABELS_PER_FILE = 1,  /* one binary file per structure (> 0.5) */
    HX_LABELS_PNG_STACK = 2, /* CHAOS: a folder of PNG slices, one per
                                DICOM file, in file-name order */
    HX_LABELS_HC18 = 3,      /* HC18 outline PNG, filled */
    HX_LABELS_CORPUS = 4     /* synthetic corpus sample: instance ids */
};

/* One case as listed by an adapter. Paths are absolute or relative to the
 * working directory (root joined with the dataset's layout). */
typedef struct hx_case {
    char *id;            /* case id, unique within the dataset */
    char *image;         /* image file or DICOM directory */
    char *labels;        /* label file / PNG folder (HX_LABELS_MAP,
                            PNG_STACK, HC18); NULL otherwise */
    char **struct_files; /* HX_LABELS_PER_FILE: n_structures paths (NULL =
                            the structure has no file in this case) */
    int label_kind;
    int n_structures;
    hx_structure st[HX_MAX_STRUCTURES];
    uint64_t corpus_pos; /* HX_LABELS_CORPUS: sample position */
} hx_case;

typedef struct hx_case_list {
    hx_case *v;
    size_t n;
    char root[HX_VOL_PATH_MAX];
} hx_case_list;
void hx_case_list_free(hx_case_list *l);

/* A dataset: name on the command line, default folder under data/, the
 * modality written to the results database, the preprocessing. */
typedef struct hx_dataset_ops {
    const char *name;     /* "totalseg-ct", "amos-ct", ... */
    const char *folder;   /* default data root: data/<folder> */
    const char *modality; /* 'CT', 'MR', 'US', 'microscopy', 'synthetic' */
    int prep;             /* enum hx_modality, or -1: images are 8-bit
                             already and used as they are */
    const char *summary;  /* one line for --help and data check */
    /* The default structures and label values. */
    const hx_structure *structures;
    int n_structures;
    /* List the cases under root (sorted by id). SF_EIO when root or the
     * layout's folders are missing (err names the path). */
    int (*list)(const struct hx_dataset_ops *ds, const char *root,
                hx_case_list *out, sf_err *err);
} hx_dataset_ops;

/* The datasets, NULL-terminated. Static storage. */
const hx_dataset_ops *const *hx_datasets(void);
/* The dataset called `name`, or NULL. */
const hx_dataset_ops *hx_dataset_by_name(const char *name);
/* List the cases of ds under root into *out (hx_case_list_free). */
int hx_dataset_list(const hx_dataset_ops *ds, const char *root,
                    hx_case_list *out, sf_err *err);

/* A loaded case: nz axial slices of ny x nx pixels, canonical (LPS+)
 * orientation for volumes with a patient geometry. */
typedef struct hx_case_data {
    int nx, ny, nz;
    uint8_t *image; /* (nz, ny, nx) preprocessed 8-bit */
    uint32_t *bits; /* (nz, ny, nx): bit s set = structure s */
    int n_structures;
    hx_structure st[HX_MAX_STRUCTURES];
    char source_sha256[65]; /* of the image file (DICOM: of the sorted
                               files' hashes) */
    double spacing_mm[3];   /* voxel size along x (column), y (row), z
                               (slice) in mm, as the reader gives it after
                               reorientation (1, 1, 1 for corpus images) */
} hx_case_data;

/* Load case c of dataset ds: read the image and labels, check that their
 * grids agree, reorient both to LPS+, preprocess the image. A corrupt,
 * truncated or missing file gives the reader's error, naming the file.
 * *out belongs to the caller (hx_case_data_free). */
int hx_case_load(const hx_dataset_ops *ds, const hx_case_list *l,
                 const hx_case *c, hx_case_data **out, sf_err *err);
void hx_case_data_free(hx_case_data *d);
/* mask[i] = bit s of slice z, nx * ny bytes; returns the pixel count. */
long hx_case_mask(const hx_case_data *d, int z, int s, uint8_t *mask);

/* SHA-256 of a file as 64 hex digits (of a directory: of the sorted list
 * of "name hash\n" lines of its regular files). SF_EIO naming the path. */
int hx_sha256_path(const char *path, char hex[65], sf_err *err);

/* ------------------------------------------------------- synthetic OOD */

/* The synthetic out-of-distribution split: a corpus made by the factory
 * from schemas/factory/ood.yaml (compiled in) with a held-out seed. */
#define HX_OOD_SEED          900001u
#define HX_OOD_COUNT_DEFAULT 32
/* Make (or resume, or leave alone when complete) the OOD corpus in dir:
 * `count` samples (0 = default) at `size` px (0 = ood.yaml's). SF_EEXIST
 * if dir holds another corpus. */
int hx_ood_generate(const char *dir, uint64_t count, int size, sf_err *err);
/* The embedded ood.yaml text (NUL-terminated, static). */
const char *hx_ood_yaml(void);

#ifdef __cplusplus
}
#endif
#endif /* HX_DATASETS_H */
