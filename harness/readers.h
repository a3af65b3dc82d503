/*
 * readers.h - volume readers of libhx: NIfTI-1/2, DICOM series, MetaImage,
 * PNG (with the HC18 outline helper) and TIFF, behind one vtable table
 * (STYLE.md: SQLite's vfs x-methods + libvips' suffs/is_a).
 *
 * Conventions as in sf.h: fallible calls return SF_OK (0) or a negative
 * SF_E* code and fill a caller-owned sf_err (NULL allowed); results come
 * back through T **out and belong to the caller; every _free / _close
 * accepts NULL; nothing here prints. Every error about an input file names
 * that file: err->where holds the path and err->msg starts with it.
 *
 * Geometry. A volume is nx * ny * nz float voxels, x fastest:
 *     data[((size_t)k * ny + j) * nx + i]
 * Its position in the patient is the 4x4 affine ijk_to_lps, which maps the
 * voxel index (i, j, k, 1) to millimetres in the DICOM patient system LPS+:
 * +x towards the patient's Left, +y Posterior, +z Superior (DICOM, ITK and
 * MetaImage use it directly). NIfTI's world is RAS+ (+x Right, +y
 * Anterior); its affine is converted on reading by negating the x and y
 * rows. Formats with no patient geometry (PNG, TIFF) get
 * diag(spacing_mm, 1) and oriented = 0.
 *
 * Canonical orientation (hx_volume_canonical) is LPS+ voxel axes: i runs
 * towards the patient's left, j towards posterior, k towards superior.
 * An axial slice k, drawn with row j = 0 at the top and column i = 0 at
 * the left, is then in the radiological view (anterior at the top, the
 * patient's left on the viewer's right), as a DICOM axial series is
 * stored. Only flips and axis permutations are used, never resampling.
 *
 * Limits (checked from the header, before any large allocation): each
 * side <= HX_VOL_MAX_SIDE, nx * ny * nz <= HX_VOL_MAX_VOXELS, header text
 * and NIfTI extensions <= HX_VOL_MAX_HEADER_BYTES, the data a file claims
 * must fit in the file (or, compressed, within HX_VOL_MAX_INFLATE_RATIO
 * times its compressed size: deflate cannot do better than ~1032:1).
 * Violations give SF_ERANGE; corrupt or truncated files SF_EFORMAT; a
 * feature we do not read (4-D NIfTI, colour TIFF, ...) SF_EUNSUPPORTED;
 * an unreadable path SF_EIO.
 *
 * Threading: readers are reentrant (no shared mutable state of ours).
 * nifticlib's message level and GDCM's trace streams are process-wide;
 * the readers switch both off once (pthread_once) so nothing is printed.
 */
#ifndef HX_READERS_H
#define HX_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HX_VOL_MAX_SIDE          4096
#define HX_VOL_MAX_VOXELS        ((uint64_t)1 << 31)
#define HX_VOL_MAX_HEADER_BYTES  (1u << 20)
#define HX_VOL_MAX_INFLATE_RATIO 1100u
#define HX_VOL_PATH_MAX          4096
/* Bytes of a file that the sniffers see (gzip files: of the inflated
 * stream). */
#define HX_SNIFF_BYTES 544

typedef struct hx_volume {
    int nx, ny, nz;             /* voxels along i, j, k; each >= 1 */
    float *data;                /* (nz, ny, nx), owned; NULL in a header */
    double spacing_mm[3];       /* voxel size along i, j, k: the norms of the
                                   affine's first three columns */
    double ijk_to_lps[4][4];    /* index (i, j, k, 1) -> LPS+ mm; row 3 is
                                   (0, 0, 0, 1) */
    int oriented;               /* 1: the file gave a patient geometry */
    const char *format;         /* reader name ("nifti", ...), static */
    char path[HX_VOL_PATH_MAX]; /* the file or directory read */
    int n_skipped;              /* DICOM series: files left out ... */
    char skipped[512];          /* ... and why ("name: reason; ...",
                                   truncated with "..."), else "" */
} hx_volume;

/* ------------------------------------------------------------- readers */

/*
 * One format. sniff(head, n) gets the first n <= HX_SNIFF_BYTES bytes of
 * a file (of the inflated stream for gzip files) and returns 1 when they
 * are this format. open parses and checks the header: it fills the
 * geometry of *hdr (dims, spacing, affine, oriented; data stays NULL) and
 * keeps what read_volume needs in *state. read_volume decodes the data
 * into a new volume *out (geometry as hdr). close releases the state
 * (NULL allowed). sniff may be NULL for formats known only by suffix.
 */
typedef struct hx_reader_ops {
    const char *name;            /* "nifti", "dicom", "metaimage", ... */
    const char *const *suffixes; /* lower-case, NULL-terminated */
    int (*sniff)(const uint8_t *head, size_t n);
    int (*open)(const char *path, hx_volume *hdr, void **state, sf_err *err);
    int (*read_volume)(void *state, const hx_volume *hdr, hx_volume **out,
                       sf_err *err);
    void (*close)(void *state);
} hx_reader_ops;

extern const hx_reader_ops hx_reader_nifti;
extern const hx_reader_ops hx_reader_dicom;
extern const hx_reader_ops hx_reader_metaimage;
extern const hx_reader_ops hx_reader_png;
extern const hx_reader_ops hx_reader_tiff;

/* The readers, NULL-terminated, in sniffing order. Static storage. */
const hx_reader_ops *const *hx_readers(void);

/* The reader called `name`, or NULL. */
const hx_reader_ops *hx_reader_by_name(const char *name);

/*
 * Pick the reader for `path`: a directory is a DICOM series; otherwise the
 * first reader whose sniff accepts the file's first bytes (content wins
 * over the name), else the first whose suffix matches (case-insensitive;
 * e.g. a MetaImage ".mhd" header). Errors: SF_EIO (cannot open or read),
 * SF_EUNSUPPORTED (no reader knows it; err names the file).
 */
int hx_reader_find(const char *path, const hx_reader_ops **out, sf_err *err);

/* An open file: the header is read and checked, the data not yet. */
typedef struct hx_reader hx_reader;

/* Open `path` with the reader hx_reader_find picks (or `ops` with
 * hx_reader_open_with). Errors as the reader's open; *out is the
 * caller's (hx_reader_close). */
int hx_reader_open(const char *path, hx_reader **out, sf_err *err);
int hx_reader_open_with(const hx_reader_ops *ops, const char *path,
                        hx_reader **out, sf_err *err);
/* The header (geometry, data NULL). Borrowed until hx_reader_close. */
const hx_volume *hx_reader_header(const hx_reader *r);
const hx_reader_ops *hx_reader_get_ops(const hx_reader *r);
/* Decode the data: *out is a new volume the caller frees. */
int hx_reader_read(hx_reader *r, hx_volume **out, sf_err *err);
void hx_reader_close(hx_reader *r);

/*
 * Read the volume at `path` (a file, or a directory holding one DICOM
 * series): hx_reader_open + hx_reader_read + hx_reader_close. The volume
 * is as stored (not canonical). *out belongs to the caller.
 * DICOM directories: files that are not DICOM (or hold no image) are
 * skipped and listed in n_skipped / skipped; a corrupt or truncated DICOM
 * file, a second series, two slices at one position or uneven spacing (a
 * missing slice) fail the whole read, naming the file (rd_dicom_series.c).
 */
int hx_volume_read(const char *path, hx_volume **out, sf_err *err);
void hx_volume_free(hx_volume *v);

/* ---------------------------------------------------------- geometry */

/*
 * Reorient v in place to LPS+ voxel axes (see the top of this file): for
 * each voxel axis the world axis it runs most nearly along (the
 * permutation maximising the sum of |direction cosines|), then a flip
 * where it runs the negative way. Data, dims, spacing and the affine
 * change together, so every voxel keeps its world position. Volumes with
 * oriented = 0 are left alone. Errors: SF_EINVAL (NULL, no data),
 * SF_EFORMAT (a singular affine), SF_ENOMEM (v unchanged).
 */
int hx_volume_canonical(hx_volume *v, sf_err *err);

/*
 * The direction each voxel axis runs towards, as three letters from
 * "LRPAIS" plus NUL (e.g. "LPS" for a canonical volume, "RAS" for a
 * positive-diagonal NIfTI sform), by the dominant world axis of each
 * affine column. Returns buf.
 */
const char *hx_volume_axcodes(const hx_volume *v, char buf[4]);

/* World LPS position (mm) of voxel (i, j, k) (fractional allowed). */
void hx_volume_to_world(const hx_volume *v, double i, double j, double k,
                        double xyz[3]);

/* ----------------------------------------------------------------- HC18 */

/*
 * Fill an HC18 head-circumference annotation (a thin ellipse OUTLINE:
 * outline[y * nx + x] > 127 on the curve) into a region mask: 1 on the
 * curve and inside it, 0 outside. The outside is flood-filled from the
 * image border through 4-connected non-curve pixels; whatever it does not
 * reach is inside (so an 8-connected 1-px curve is a wall). If that
 * leaves nothing enclosed (a gap in the curve), the curve is first closed
 * by a square dilation of radius 1, then 2, 3, and the dilation's outer
 * band is given back to the outside afterwards. *gap_radius (may be NULL)
 * gets the radius used (0 = the curve was closed). Errors: SF_EINVAL,
 * SF_EFORMAT (no closed curve even at radius 3; err says so), SF_ENOMEM.
 */
int hx_hc18_fill_outline(const uint8_t *outline, int nx, int ny, uint8_t *mask,
                         int *gap_radius, sf_err *err);

/* Read an HC18 "_Annotation.png" (8-bit outline) and fill it as above:
 * *mask (ny * nx bytes, 0/1) belongs to the caller (free). */
int hx_hc18_read_annotation(const char *path, uint8_t **mask, int *nx, int *ny,
                            int *gap_radius, sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_READERS_H */
