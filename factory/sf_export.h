/*
 * sf_export.h - corpora in other tools' layouts (export.c), and the small
 * NIfTI-1 writer they need (nifti_write.c).
 *
 *   nnunet       an nnU-Net v2 raw dataset: imagesTr/<case>_0000.nii.gz,
 *                labelsTr/<case>.nii.gz, dataset.json (channel_names,
 *                labels, numTraining, file_ending), as nnU-Net's
 *                documentation/dataset_format.md describes it
 *   imagefolder  the layout Hugging Face `datasets` loads with its
 *                ImageFolder builder: train/images/NNNNNN.png,
 *                train/labels/NNNNNN.png and train/metadata.jsonl whose
 *                file_name and label_file_name columns name each pair
 *
 * Conventions as in sf.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), nothing printed. Output is deterministic: the
 * same corpus and options give the same bytes, whatever the thread count.
 */
#ifndef SF_EXPORT_H
#define SF_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- NIfTI */

/* NIfTI-1 datatype codes (nifti1.h DT_UINT8, DT_UINT16). */
enum { SF_NIFTI_UINT8 = 2, SF_NIFTI_UINT16 = 512 };

/*
 * Encode one 2-D image (ny rows of nx pixels, row 0 first, x fastest) as
 * a gzip-compressed single-file NIfTI-1 (.nii.gz) in memory: the 348-byte
 * header, 4 zero extension bytes, the pixels at vox_offset 352, all
 * little-endian. The image is stored as a 3-D volume with one slice,
 * dim = {3, nx, ny, 1}, the way nnU-Net's 2-D conversions write 2-D data
 * (a singleton third axis with a large spacing; SimpleITK and nibabel
 * both read it as (1, ny, nx) / (nx, ny, 1)).
 *
 * Geometry: pixdim = {1, sx, sy, sz} (mm, xyzt_units NIFTI_UNITS_MM),
 * qform_code = sform_code = 1 (scanner anatomical), both the same
 * transform: i (columns) towards patient Left, j (rows) towards
 * Posterior, origin 0, i.e. the RAS+ affine diag(-sx, -sy, sz) that
 * SimpleITK writes for an image with identity direction (quaternion
 * b = c = 0, d = 1, qfac = 1). A viewer shows slice 0 as the PNG it came
 * from (radiological axial view, row 0 at the top).
 *
 * datatype: SF_NIFTI_UINT8 (px is uint8_t *) or SF_NIFTI_UINT16 (px is
 * uint16_t *). spacing_mm: sx, sy, sz, each finite and > 0. descrip: at
 * most 79 bytes go into the header (NULL: empty). gzip_level: 1..9, or -1
 * for zlib's default (6). The gzip member carries no name and mtime 0,
 * so the bytes depend only on the arguments (and the zlib version).
 * *out (caller frees) gets the bytes and *out_n their count.
 *
 * Errors: SF_EINVAL (NULL px/out/out_n, nx or ny < 1 or above 32767,
 * unknown datatype, bad spacing or level), SF_ENOMEM.
 */
int sf_nifti_encode_2d(const void *px, int nx, int ny, int datatype,
                       const double spacing_mm[3], const char *descrip,
                       int gzip_level, uint8_t **out, size_t *out_n,
                       sf_err *err);

/* sf_nifti_encode_2d, then write the bytes to exactly `path` (no rename:
 * callers that need atomicity write into a staging directory or a .tmp
 * name). Errors as encode, plus SF_EIO naming the path. */
int sf_nifti_write_2d(const char *path, const void *px, int nx, int ny,
                      int datatype, const double spacing_mm[3],
                      const char *descrip, int gzip_level, sf_err *err);

/* The spacing of exported 2-D data: 1 mm in-plane (the images have no
 * physical size) and 999 mm across the singleton axis, nnU-Net's value
 * for 2-D data (its NaturalImage2DIO and convert_2d_image_to_nifti use
 * spacing (999, 1, 1) in (z, y, x) order). */
#define SF_EXPORT_SPACING_XY_MM 1.0
#define SF_EXPORT_SPACING_Z_MM  999.0

/* -------------------------------------------------------------- export */

enum sf_export_format { SF_EXPORT_NNUNET = 1, SF_EXPORT_IMAGEFOLDER = 2 };

/*
 * What the exported label maps hold. Our label maps are instance maps
 * (0 = background, 1..K per image, K varies); nnU-Net is semantic
 * segmentation with one class per value, so:
 *   BINARY     1 wherever any instance is, 0 elsewhere (nnU-Net labels
 *              {"background": 0, "foreground": 1}; the nnunet default)
 *   INSTANCES  the instance ids themselves; for nnunet, ids above
 *              max_label are written as max_label, and dataset.json
 *              declares one class per value 1..L, L = min(largest K of
 *              the corpus, max_label) (imagefolder: the label PNGs
 *              unchanged, the imagefolder default; max_label unused)
 */
enum sf_export_labels {
    SF_EXPORT_LABELS_DEFAULT = 0, /* binary for nnunet, instances else */
    SF_EXPORT_LABELS_BINARY = 1,
    SF_EXPORT_LABELS_INSTANCES = 2
};

/* Largest max_label: uint16 label files. */
#define SF_EXPORT_MAX_LABEL_LIMIT   65535
#define SF_EXPORT_MAX_LABEL_DEFAULT 255

typedef struct sf_export_opts {
    int format;              /* enum sf_export_format */
    int labels;              /* enum sf_export_labels */
    int max_label;           /* instances cap, 1..65535; 0 = default (255) */
    int threads;             /* <= 0: all cores; output does not depend on it */
    int gzip_level;          /* .nii.gz deflate level 1..9; 0 = default (1: at
                                1024 px 4x faster than 6, 17% larger images) */
    sf_progress_fn progress; /* samples done / total; non-zero cancels */
    void *progress_ctx;
} sf_export_opts;

typedef struct sf_export_stats {
    uint64_t n_samples;     /* exported cases */
    uint64_t bytes_written; /* files of the export, all of them */
    int n_classes;          /* foreground classes declared (nnunet) */
    int max_instances;      /* largest K in the corpus */
    uint64_t n_clamped;     /* nnunet instances: samples with ids > cap */
    int up_to_date;         /* out was already this export: untouched */
    double seconds;
} sf_export_stats;

/*
 * Export the complete corpus in `corpus_dir` (a whole corpus or one
 * finished shard) into the new directory `out` in the layout o->format
 * (see the top of this file; both also get README.md, what the export
 * holds and how it maps labels, and synthfm_export.json, its identity).
 *
 * Every source file is checked against the manifest's SHA-256 and sizes
 * before it is used. The export is built in `out`.partial and renamed to
 * `out` at the end, so `out` appears whole or not at all; a leftover
 * `out`.partial of an interrupted export (it holds our marker) is
 * removed first. `out` may be missing or an empty directory. A non-empty
 * `out` is accepted only when it is a finished export of the same corpus
 * with the same options (its synthfm_export.json is byte-equal to the one
 * this call would write): then nothing is written and st->up_to_date = 1.
 *
 * Errors: SF_EINVAL (bad options; the message names the option),
 * SF_EEXIST (`out` is a file, or a non-empty directory that is not this
 * export; `out`.partial not ours), SF_ECORRUPT (incomplete corpus, a
 * file whose hash or size differs from the manifest; named), SF_EFORMAT,
 * SF_EIO (named path), SF_EDB, SF_ENOMEM, SF_ECANCEL. On any error `out`
 * is left as it was and `out`.partial is removed.
 */
int sf_export(const char *corpus_dir, const char *out, const sf_export_opts *o,
              sf_export_stats *st, sf_err *err);

/* "nnunet" / "imagefolder" (NULL for others); parse returns -1 if
 * unknown. */
const char *sf_export_format_name(int format);
int sf_export_format_parse(const char *s);
/* "binary" / "instances"; parse returns -1 if unknown. */
const char *sf_export_labels_name(int labels);
int sf_export_labels_parse(const char *s);

#ifdef __cplusplus
}
#endif
#endif /* SF_EXPORT_H */
