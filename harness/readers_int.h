/*
 * readers_int.h - what the reader files (rd_*.c, rd_dicom.cpp, volume.c)
 * share: error and limit helpers, geometry, element conversion and the
 * GDCM shim. Private to libhx (readers.h is the public API); the unit
 * tests of the readers see it too.
 */
#ifndef HX_READERS_INT_H
#define HX_READERS_INT_H

#include "readers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Set err to `code` with where = path and msg = "path: <fmt...>". */
int hx__rd_err(sf_err *err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Check dims against the limits (SF_ERANGE naming path otherwise). */
int hx__rd_check_dims(const char *path, int64_t nx, int64_t ny, int64_t nz,
                      sf_err *err);
/* A volume with hdr's geometry and a data block of nx*ny*nz floats. */
int hx__rd_volume_alloc(const hx_volume *hdr, hx_volume **out, sf_err *err);
/* Fill hdr's affine as diag(sx, sy, sz) with origin 0 (and spacing). */
void hx__rd_affine_diag(hx_volume *hdr, double sx, double sy, double sz);
/* spacing_mm from the affine's column norms. */
void hx__rd_spacing_from_affine(hx_volume *hdr);
/* Element conversion to float: `type` one of enum hx__rd_type, n values,
 * src in its own byte order (swap: 1 = reverse each value's bytes). */
enum hx__rd_type {
    HX_RD_U8 = 0,
    HX_RD_I8,
    HX_RD_U16,
    HX_RD_I16,
    HX_RD_U32,
    HX_RD_I32,
    HX_RD_U64,
    HX_RD_I64,
    HX_RD_F32,
    HX_RD_F64
};
size_t hx__rd_type_size(int type);
void hx__rd_to_float(const void *src, int type, int swap, size_t n, float *dst);

/* The GDCM shim (rd_dicom.cpp), called by rd_dicom_series.c only after its own
 * structural check of the file (every element length fits in the file),
 * since GDCM allocates whatever a length field says. */
typedef struct hx__dcm_meta {
    int rows, cols, frames, samples;
    int bits_allocated, bits_stored, high_bit, pixel_rep;
    int has_ipp, has_iop, has_spacing;
    double ipp[3];           /* ImagePositionPatient, LPS mm */
    double iop[6];           /* ImageOrientationPatient: row, column */
    double pixel_spacing[2]; /* between rows, between columns (mm) */
    double slope, intercept; /* RescaleSlope / Intercept (1, 0) */
    int instance;            /* InstanceNumber, or -1 */
    char series_uid[72];
    char sop_class[72];
    char photometric[24];
} hx__dcm_meta;
/* Read the header of one file (not its pixel data). Returns 1 with *m
 * filled, 0 when the file holds no image (why says what it is), or a
 * negative SF_E* code with err set (GDCM could not parse it). */
int hx__dcm_read_meta(const char *path, hx__dcm_meta *m, char *why, size_t nwhy,
                      sf_err *err);
/* Decode the pixel data of one single-frame file into buf, exactly nbytes
 * = rows * cols * bits_allocated / 8 (row-major, column fastest, native
 * byte order). *pixel_rep / *bits_stored get the decoded format's (a
 * JPEG 2000 stream can change them). SF_OK or SF_EFORMAT naming path. */
int hx__dcm_decode(const char *path, const hx__dcm_meta *m, void *buf,
                   size_t nbytes, int *pixel_rep, int *bits_stored,
                   sf_err *err);

#ifdef __cplusplus
}
#endif
#endif /* HX_READERS_INT_H */
