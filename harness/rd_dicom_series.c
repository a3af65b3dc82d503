/*
 * rd_dicom_series.c - DICOM: a directory holding one series of single-frame
 * slices (or one single-frame file), decoded by GDCM through the shim in
 * rd_dicom.cpp (JPEG 2000 lossless included).
 *
 * Files of a directory (regular files, by name order; at most
 * MAX_DIR_ENTRIES entries):
 *  - a file that is not DICOM (no "DICM" preamble and no plausible first
 *    element), an empty file, or a DICOM object without an image (a
 *    DICOMDIR, a structured report) is SKIPPED and recorded in the
 *    volume's n_skipped / skipped ("name: reason; ...");
 *  - a DICOM file that is corrupt or truncated (an element longer than
 *    what is left of the file, a header GDCM cannot parse, pixel data that
 *    do not decode) is an ERROR naming the file: silently dropping a slice
 *    would leave a hole in the volume.
 * Before GDCM sees a file we walk its elements (nested sequences and
 * encapsulated fragments included) and check that every length fits in
 * the file: GDCM allocates whatever a length field says.
 *
 * The series: one SeriesInstanceUID, the same Rows/Columns/bit layout and
 * ImageOrientationPatient on every slice, slices ordered by the position
 * along the slice normal (row x column cosines) -- not by InstanceNumber
 * or file name -- no two at one position, and evenly spaced (a gap, i.e. a
 * missing slice, is an error). Geometry comes straight from the LPS
 * attributes: i along the row cosines (step PixelSpacing[1]), j along the
 * column cosines (PixelSpacing[0]), k the mean step between the first and
 * last slice positions. Values: bits above BitsStored are masked (signed
 * data sign-extended), then RescaleSlope * v + RescaleIntercept per slice.
 * Unsupported (SF_EUNSUPPORTED): multi-frame files, colour, explicit big
 * endian and deflated transfer syntaxes, BitsAllocated other than 8/16/32.
 */
#include "readers_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DIR_ENTRIES 65536
#define MAX_FILE_BYTES  ((uint64_t)1 << 30)
#define MAX_DEPTH       32

static const char *const suffixes[] = {".dcm", ".dicom", NULL};

static int sniff(const uint8_t *h, size_t n) {
    return n >= 132 && memcmp(h + 128, "DICM", 4) == 0;
}

/* ------------------------------------------------ structural check */

typedef struct walk {
    const uint8_t *b;
    size_t n;
    int explicit_vr;  /* of the data set (after the meta group) */
    int meta;         /* 1 while in the file meta group */
    char ts[72];      /* TransferSyntaxUID ("" without a meta group) */
    int has_pixels;   /* (7fe0,0010) at the top level */
    int64_t pixel_vl; /* its defined length, or -1 (encapsulated) */
    const char *path;
    sf_err *err;
} walk;

static uint16_t le16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* The value representations of PS3.5 (GDCM asserts on others in places). */
static int is_vr(const uint8_t *p) {
    static const char v[] = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSS"
                            "STSVTMUCUIULUNURUSUTUV";
    for (size_t i = 0; i + 1 < sizeof v; i += 2)
        if (p[0] == v[i] && p[1] == v[i + 1]) return 1;
    return 0;
}

/* VRs with a reserved 2 bytes and a 32-bit length (explicit VR). */
static int long_vr(const uint8_t *p) {
    static const char *const v[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                    "SV", "UC", "UN", "UR", "UT", "UV", NULL};
    for (const char *const *s = v; *s; s++)
        if (p[0] == (*s)[0] && p[1] == (*s)[1]) return 1;
    return 0;
}

/* Transfer syntaxes we read: 0 native (explicit VR), 1 native implicit,
 * 2 encapsulated (JPEG, JPEG-LS, JPEG 2000, RLE); -1 otherwise. */
static int ts_kind(const char *ts) {
    static const char *const encaps[] = {
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",    NULL};
    if (!strcmp(ts, "1.2.840.10008.1.2.1")) return 0;
    if (!strcmp(ts, "1.2.840.10008.1.2")) return 1;
    for (const char *const *e = encaps; *e; e++)
        if (!strcmp(ts, *e)) return 2;
    return -1;
}

static int corrupt(walk *w, size_t pos, const char *what) {
    return hx__rd_err(w->err, SF_EFORMAT, w->path,
                      "corrupt or truncated DICOM: %s at byte %zu", what, pos);
}

static int walk_items(walk *w, size_t *pos, size_t end, int undefined,
                      int fragments, int depth);

/* The file meta group has ended at p: check it, set the data set's VR
 * encoding from its transfer syntax. */
static int end_meta(walk *w, size_t p, size_t end) {
    w->meta = 0;
    if (end - p < 8) return corrupt(w, p, "no data set after the meta group");
    if (!w->ts[0]) return corrupt(w, p, "no TransferSyntaxUID");
    int k = ts_kind(w->ts);
    if (k < 0)
        return hx__rd_err(w->err, SF_EUNSUPPORTED, w->path,
                          "transfer syntax '%.64s' not supported (native "
                          "little endian, JPEG, JPEG-LS, JPEG 2000 or RLE "
                          "only)",
                          w->ts);
    w->explicit_vr = k != 1;
    return SF_OK;
}

/* Elements in [*pos, end); with `undefined`, until an item delimiter. */
static int walk_dataset(walk *w, size_t *pos, size_t end, int undefined,
                        int depth) {
    if (depth > MAX_DEPTH) return corrupt(w, *pos, "nesting too deep");
    while (*pos < end) {
        size_t p = *pos;
        if (end - p < 8) return corrupt(w, p, "truncated element header");
        uint16_t g = le16(w->b + p), e = le16(w->b + p + 2);
        if (g == 0xfffe) {
            if (e == 0xe00d && undefined) {
                *pos = p + 8;
                return SF_OK;
            }
            return corrupt(w, p, "unexpected item tag");
        }
        if (w->meta && (g != 0x0002 || depth > 0)) {
            int rc = end_meta(w, p, end);
            if (rc != SF_OK) return rc;
        }
        if (g == 0x0002 && !w->meta)
            return corrupt(w, p, "a (0002,xxxx) element inside the data set");
        int expl = w->meta ? 1 : w->explicit_vr;
        uint32_t vl;
        size_t hl;
        int sq = 0, un = 0;
        if (expl) {
            if (!is_vr(w->b + p + 4)) return corrupt(w, p, "bad VR");
            if (long_vr(w->b + p + 4)) {
                if (end - p < 12)
                    return corrupt(w, p, "truncated element header");
                vl = le32(w->b + p + 8);
                hl = 12;
            } else {
                vl = le16(w->b + p + 6);
                hl = 8;
            }
            sq = w->b[p + 4] == 'S' && w->b[p + 5] == 'Q';
            un = w->b[p + 4] == 'U' && w->b[p + 5] == 'N';
        } else {
            vl = le32(w->b + p + 4);
            hl = 8;
        }
        if (w->meta && (sq || vl == 0xffffffffu))
            return corrupt(w, p,
                           "a sequence or undefined length in the "
                           "meta group");
        p += hl;
        int pixels = g == 0x7fe0 && e == 0x0010;
        if (pixels && depth == 0) {
            w->has_pixels = 1;
            w->pixel_vl = vl == 0xffffffffu ? -1 : (int64_t)vl;
        }
        if (vl == 0xffffffffu) {
            /* Undefined length: a sequence, or encapsulated pixel data;
             * an explicit UN of undefined length holds implicit-VR items
             * (CP-246). */
            int saved = w->explicit_vr;
            if (un) w->explicit_vr = 0;
            *pos = p;
            int rc = walk_items(w, pos, end, 1, pixels, depth + 1);
            w->explicit_vr = saved;
            if (rc != SF_OK) return rc;
            continue;
        }
        if (vl > end - p) {
            char what[96];
            snprintf(what, sizeof what,
                     "element (%04x,%04x) length %u exceeds the %zu bytes "
                     "left",
                     g, e, vl, end - p);
            return corrupt(w, p - hl, what);
        }
        /* An implicit-VR value that starts with an item tag is a
         * sequence: GDCM parses it as one, so check its items too. */
        if (!expl && vl >= 8 && le16(w->b + p) == 0xfffe &&
            le16(w->b + p + 2) == 0xe000)
            sq = 1;
        if (sq) {
            size_t q = p;
            int rc = walk_items(w, &q, p + vl, 0, 0, depth + 1);
            if (rc != SF_OK) return rc;
        }
        if (w->meta && e == 0x0010) {
            size_t k = vl < sizeof w->ts - 1 ? vl : sizeof w->ts - 1;
            memcpy(w->ts, w->b + p, k);
            w->ts[k] = '\0';
            while (k && (w->ts[k - 1] == ' ' || w->ts[k - 1] == '\0'))
                w->ts[--k] = '\0';
        }
        *pos = p + vl;
    }
    if (w->meta && depth == 0) return end_meta(w, *pos, end);
    if (undefined) return corrupt(w, *pos, "missing item delimiter");
    return SF_OK;
}

/* Items of a sequence (or fragments of encapsulated pixel data). */
static int walk_items(walk *w, size_t *pos, size_t end, int undefined,
                      int fragments, int depth) {
    if (depth > MAX_DEPTH) return corrupt(w, *pos, "nesting too deep");
    while (*pos < end) {
        size_t p = *pos;
        if (end - p < 8) return corrupt(w, p, "truncated item header");
        uint16_t g = le16(w->b + p), e = le16(w->b + p + 2);
        uint32_t vl = le32(w->b + p + 4);
        p += 8;
        if (g == 0xfffe && e == 0xe0dd) {
            *pos = p;
            if (undefined) return SF_OK;
            return corrupt(w, p - 8, "unexpected sequence delimiter");
        }
        if (g != 0xfffe || e != 0xe000) return corrupt(w, p - 8, "bad item");
        if (vl == 0xffffffffu) {
            if (fragments) return corrupt(w, p - 8, "undefined fragment");
            *pos = p;
            int rc = walk_dataset(w, pos, end, 1, depth + 1);
            if (rc != SF_OK) return rc;
            continue;
        }
        if (vl > end - p) {
            char what[80];
            snprintf(what, sizeof what,
                     "item length %u exceeds the %zu bytes left", vl, end - p);
            return corrupt(w, p - 8, what);
        }
        if (!fragments) {
            size_t q = p;
            int rc = walk_dataset(w, &q, p + vl, 0, depth + 1);
            if (rc != SF_OK) return rc;
        }
        *pos = p + vl;
    }
    if (undefined) return corrupt(w, *pos, "missing sequence delimiter");
    return SF_OK;
}

/* 1: a structurally sound DICOM file; 0: not DICOM (why); < 0: error.
 * *pixel_vl: the native pixel data's length, -1 if encapsulated or none;
 * *has_pixels: pixel data at the top level.
 *
 * Stricter than DICOM readers usually are, because Debian's GDCM is built
 * with assertions on and aborts the process on some malformed headers
 * (found by the fuzz smoke): a file with the "DICM" preamble must start
 * its meta group with (0002,0000) UL, the meta group must be explicit VR
 * without sequences or undefined lengths, name a transfer syntax we read
 * and be followed by a data set; explicit VRs must be valid; native
 * pixel data must have a defined length and encapsulated data must be
 * encapsulated. A file without the preamble must start with a group 0008
 * element (GDCM then guesses explicit or implicit VR as we do). */
static int check_file(const char *path, uint64_t size, int *has_pixels,
                      int64_t *pixel_vl, char *why, size_t nwhy, sf_err *err) {
    *has_pixels = 0;
    *pixel_vl = -1;
    if (size == 0) {
        snprintf(why, nwhy, "empty file");
        return 0;
    }
    if (size > MAX_FILE_BYTES)
        return hx__rd_err(err, SF_ERANGE, path,
                          "%llu bytes: larger than the %llu a slice may be",
                          (unsigned long long)size,
                          (unsigned long long)MAX_FILE_BYTES);
    uint8_t *b = malloc(size);
    if (!b) return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(b, 1, size, f) : 0;
    if (f) fclose(f);
    int rc;
    walk w = {b, got, -1, 0, "", 0, -1, path, err};
    size_t pos = 0;
    if (got != size) {
        rc = hx__rd_err(err, SF_EIO, path, "read error");
        goto out;
    }
    if (got >= 132 && memcmp(b + 128, "DICM", 4) == 0) {
        pos = 132;
        if (got < 144 || le16(b + 132) != 0x0002 || le16(b + 134) != 0 ||
            memcmp(b + 136, "UL", 2) != 0) {
            rc = corrupt(&w, 132,
                         "the file meta group does not start with "
                         "(0002,0000) UL");
            goto out;
        }
        w.meta = 1;
    } else {
        uint16_t g = got >= 8 ? le16(b) : 0;
        if (g == 0x0002) {
            rc = hx__rd_err(err, SF_EUNSUPPORTED, path,
                            "DICOM meta group without the 128-byte preamble "
                            "and DICM prefix: not supported");
            goto out;
        }
        if (g != 0x0008) {
            snprintf(why, nwhy, "not a DICOM file");
            rc = 0;
            goto out;
        }
        w.explicit_vr = is_vr(b + 4) ? 1 : 0; /* GDCM guesses the same */
    }
    rc = walk_dataset(&w, &pos, got, 0, 0);
    if (rc != SF_OK) goto out;
    int kind = w.ts[0] ? ts_kind(w.ts) : w.explicit_vr ? 0 : 1;
    if (w.has_pixels && (kind == 2) != (w.pixel_vl < 0)) {
        rc = corrupt(&w, 0,
                     kind == 2 ? "native pixel data under an encapsulated "
                                 "transfer syntax"
                               : "encapsulated pixel data under a native "
                                 "transfer syntax");
        goto out;
    }
    rc = 1;
    *has_pixels = w.has_pixels;
    *pixel_vl = w.pixel_vl;
out:
    free(b);
    return rc;
}

/* ----------------------------------------------------------- the series */

typedef struct slice {
    char *path;
    hx__dcm_meta m;
    double d; /* position along the slice normal (mm) */
} slice;

typedef struct dcm_state {
    slice *s;
    int n;
} dcm_state;

static void close_dicom(void *state) {
    dcm_state *st = state;
    if (!st) return;
    for (int i = 0; i < st->n; i++)
        free(st->s[i].path);
    free(st->s);
    free(st);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_slices(const void *a, const void *b) {
    const slice *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d;
}

static const char *base(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void note_skip(hx_volume *hdr, const char *name, const char *why) {
    hdr->n_skipped++;
    size_t used = strlen(hdr->skipped), cap = sizeof hdr->skipped;
    if (used + 4 >= cap) return;
    int k = snprintf(hdr->skipped + used, cap - used, "%s%s: %s",
                     used ? "; " : "", name, why);
    if (k < 0 || (size_t)k >= cap - used) strcpy(hdr->skipped + cap - 4, "...");
}

/* The regular files of a directory, sorted; or the file itself. */
static int list_files(const char *path, char ***out, int *n, sf_err *err) {
    *out = NULL;
    *n = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return hx__rd_err(err, SF_EIO, path, "cannot open: %s",
                          strerror(errno));
    char **v = NULL;
    int k = 0, cap = 0, rc = SF_OK;
    if (!S_ISDIR(st.st_mode)) {
        v = malloc(sizeof *v);
        if (!v || !(v[0] = strdup(path))) {
            free(v);
            return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        }
        *out = v;
        *n = 1;
        return SF_OK;
    }
    DIR *d = opendir(path);
    if (!d)
        return hx__rd_err(err, SF_EIO, path, "cannot list: %s",
                          strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (k >= MAX_DIR_ENTRIES) {
            rc = hx__rd_err(err, SF_ERANGE, path,
                            "more than %d entries in the directory",
                            MAX_DIR_ENTRIES);
            goto out;
        }
        size_t len = strlen(path) + 1 + strlen(de->d_name) + 1;
        char *full = malloc(len);
        if (!full) {
            rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
            goto out;
        }
        snprintf(full, len, "%s/%s", path, de->d_name);
        struct stat fs;
        if (stat(full, &fs) != 0 || !S_ISREG(fs.st_mode)) {
            free(full); /* subdirectories and specials: not ours */
            continue;
        }
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                free(full);
                rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
                goto out;
            }
            v = nv;
        }
        v[k++] = full;
    }
    if (k > 1) qsort(v, (size_t)k, sizeof *v, cmp_names);
out:
    closedir(d);
    if (rc != SF_OK) {
        for (int i = 0; i < k; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return SF_OK;
}

/* Per-slice checks of a header. */
static int check_meta(const char *path, const hx__dcm_meta *m, sf_err *err) {
    if (m->samples != 1)
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "%d samples per pixel (colour): only grey images",
                          m->samples);
    if (m->frames > 1)
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "multi-frame file (%d frames) not supported",
                          m->frames);
    int rc = hx__rd_check_dims(path, m->cols, m->rows, 1, err);
    if (rc != SF_OK) return rc;
    int ba = m->bits_allocated;
    if (ba != 8 && ba != 16 && ba != 32)
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "BitsAllocated %d not supported", ba);
    if (m->bits_stored < 1 || m->bits_stored > ba ||
        m->high_bit != m->bits_stored - 1 || m->pixel_rep > 1)
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "bit layout stored %d / high bit %d / "
                          "representation %d not supported",
                          m->bits_stored, m->high_bit, m->pixel_rep);
    if (m->has_spacing && !(m->pixel_spacing[0] > 0 && m->pixel_spacing[1] > 0))
        return hx__rd_err(err, SF_EFORMAT, path, "PixelSpacing not > 0");
    if (m->has_iop) {
        const double *r = m->iop, *c = m->iop + 3;
        double rr = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        double cc = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
        double rc2 = r[0] * c[0] + r[1] * c[1] + r[2] * c[2];
        if (fabs(rr - 1) > 1e-2 || fabs(cc - 1) > 1e-2 || fabs(rc2) > 1e-2)
            return hx__rd_err(err, SF_EFORMAT, path,
                              "ImageOrientationPatient is not two "
                              "orthogonal unit vectors");
    }
    if (!isfinite(m->slope) || m->slope == 0 || !isfinite(m->intercept))
        return hx__rd_err(err, SF_EFORMAT, path, "bad RescaleSlope/Intercept");
    return SF_OK;
}

/* Long by design (~170 lines): the series assembly pipeline (list the
 * files, read each header, keep one series, sort by position, check
 * spacing and orientation) whose steps share the file list and one
 * cleanup path. */
static int open_dicom(const char *path, hx_volume *hdr, void **state,
                      sf_err *err) {
    *state = NULL;
    char **files = NULL;
    int nf = 0, rc;
    dcm_state *st = calloc(1, sizeof *st);
    if (!st) return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    if ((rc = list_files(path, &files, &nf, err)) != SF_OK) goto out;
    st->s = calloc(nf ? (size_t)nf : 1, sizeof *st->s);
    if (!st->s) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        goto out;
    }
    for (int i = 0; i < nf; i++) {
        char why[160] = "";
        struct stat fs;
        int has_pixels = 0;
        int64_t pixel_vl = -1;
        if (stat(files[i], &fs) != 0) {
            rc = hx__rd_err(err, SF_EIO, files[i], "cannot stat");
            goto out;
        }
        rc = check_file(files[i], (uint64_t)fs.st_size, &has_pixels, &pixel_vl,
                        why, sizeof why, err);
        if (rc < 0) goto out;
        if (rc == 1 && !has_pixels) {
            snprintf(why, sizeof why, "DICOM without pixel data");
            rc = 0;
        }
        hx__dcm_meta m;
        if (rc == 1) rc = hx__dcm_read_meta(files[i], &m, why, sizeof why, err);
        if (rc < 0) goto out;
        if (rc == 0) {
            note_skip(hdr, base(files[i]), why);
            continue;
        }
        if ((rc = check_meta(files[i], &m, err)) != SF_OK) goto out;
        /* Native (uncompressed) pixel data must hold the whole image. */
        uint64_t need = (uint64_t)m.rows * m.cols * (m.bits_allocated / 8);
        if (pixel_vl >= 0 && (uint64_t)pixel_vl < need) {
            rc = hx__rd_err(err, SF_EFORMAT, files[i],
                            "pixel data of %lld bytes, %dx%d at %d bits "
                            "needs %llu (truncated)",
                            (long long)pixel_vl, m.cols, m.rows,
                            m.bits_allocated, (unsigned long long)need);
            goto out;
        }
        slice *s = &st->s[st->n++];
        s->path = files[i];
        files[i] = NULL;
        s->m = m;
    }
    rc = SF_OK;
    int n = st->n;
    if (n == 0) {
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "no DICOM image found (%d file(s) skipped%s%s)",
                        hdr->n_skipped, hdr->n_skipped ? ": " : "",
                        hdr->skipped);
        goto out;
    }
    if ((rc = hx__rd_check_dims(path, st->s[0].m.cols, st->s[0].m.rows, n,
                                err)) != SF_OK)
        goto out;
    const hx__dcm_meta *m0 = &st->s[0].m;
    int oriented = 1;
    for (int i = 0; i < n; i++) {
        const hx__dcm_meta *m = &st->s[i].m;
        const char *p = st->s[i].path;
        if (strcmp(m->series_uid, m0->series_uid)) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "more than one series (%s in %s, %s in %s): "
                            "give the directory of one series",
                            m0->series_uid, base(st->s[0].path), m->series_uid,
                            base(p));
            goto out;
        }
        if (m->rows != m0->rows || m->cols != m0->cols ||
            m->bits_allocated != m0->bits_allocated) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "%s is %dx%d (%d bits), %s is %dx%d (%d bits)",
                            base(p), m->cols, m->rows, m->bits_allocated,
                            base(st->s[0].path), m0->cols, m0->rows,
                            m0->bits_allocated);
            goto out;
        }
        if (!m->has_ipp || !m->has_iop)
            oriented = 0;
        else
            for (int c = 0; c < 6; c++)
                if (fabs(m->iop[c] - m0->iop[c]) > 1e-4) {
                    rc = hx__rd_err(err, SF_EFORMAT, path,
                                    "%s and %s differ in "
                                    "ImageOrientationPatient",
                                    base(p), base(st->s[0].path));
                    goto out;
                }
    }
    if (!oriented && n > 1) {
        rc = hx__rd_err(err, SF_EUNSUPPORTED, path,
                        "slices without ImagePositionPatient / "
                        "ImageOrientationPatient cannot be ordered");
        goto out;
    }
    double sr = m0->has_spacing ? m0->pixel_spacing[1] : 1.0; /* columns */
    double sc = m0->has_spacing ? m0->pixel_spacing[0] : 1.0; /* rows */
    if (!oriented) {
        hx__rd_affine_diag(hdr, sr, sc, 1.0);
    } else {
        const double *r = m0->iop, *c = m0->iop + 3;
        double nrm[3] = {r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2],
                         r[0] * c[1] - r[1] * c[0]};
        for (int i = 0; i < n; i++) {
            const double *q = st->s[i].m.ipp;
            st->s[i].d = q[0] * nrm[0] + q[1] * nrm[1] + q[2] * nrm[2];
        }
        qsort(st->s, (size_t)n, sizeof *st->s, cmp_slices);
        double kstep[3] = {nrm[0], nrm[1], nrm[2]};
        if (n > 1) {
            double span = st->s[n - 1].d - st->s[0].d, mean = span / (n - 1);
            for (int i = 0; i + 1 < n; i++)
                if (st->s[i + 1].d - st->s[i].d < 1e-3) {
                    rc = hx__rd_err(err, SF_EFORMAT, path,
                                    "%s and %s are at the same position "
                                    "(%.3f mm)",
                                    base(st->s[i].path),
                                    base(st->s[i + 1].path), st->s[i].d);
                    goto out;
                }
            for (int i = 0; i + 1 < n; i++) {
                double dd = st->s[i + 1].d - st->s[i].d;
                if (fabs(dd - mean) > 0.01 * mean + 0.01) {
                    rc = hx__rd_err(err, SF_EFORMAT, path,
                                    "uneven slice spacing: %.3f mm between "
                                    "%s and %s, %.3f mm on average (a "
                                    "missing slice?)",
                                    dd, base(st->s[i].path),
                                    base(st->s[i + 1].path), mean);
                    goto out;
                }
            }
            for (int w = 0; w < 3; w++)
                kstep[w] =
                    (st->s[n - 1].m.ipp[w] - st->s[0].m.ipp[w]) / (n - 1);
        }
        memset(hdr->ijk_to_lps, 0, sizeof hdr->ijk_to_lps);
        for (int w = 0; w < 3; w++) {
            hdr->ijk_to_lps[w][0] = r[w] * sr;
            hdr->ijk_to_lps[w][1] = c[w] * sc;
            hdr->ijk_to_lps[w][2] = kstep[w];
            hdr->ijk_to_lps[w][3] = st->s[0].m.ipp[w];
        }
        hdr->ijk_to_lps[3][3] = 1;
        hx__rd_spacing_from_affine(hdr);
    }
    hdr->oriented = oriented;
    hdr->nx = m0->cols;
    hdr->ny = m0->rows;
    hdr->nz = n;
    *state = st;
    st = NULL;
out:
    for (int i = 0; i < nf; i++)
        free(files[i]);
    free(files);
    close_dicom(st);
    return rc;
}

static int read_dicom(void *state, const hx_volume *hdr, hx_volume **out,
                      sf_err *err) {
    const dcm_state *st = state;
    hx_volume *v = NULL;
    int rc = hx__rd_volume_alloc(hdr, &v, err);
    if (rc != SF_OK) return rc;
    size_t npx = (size_t)hdr->nx * hdr->ny;
    int ba = st->s[0].m.bits_allocated;
    size_t nbytes = npx * (size_t)(ba / 8);
    uint8_t *buf = malloc(nbytes);
    if (!buf) {
        rc = hx__rd_err(err, SF_ENOMEM, hdr->path, "out of memory");
        goto out;
    }
    for (int k = 0; k < st->n; k++) {
        const slice *s = &st->s[k];
        int rep = s->m.pixel_rep, bs = s->m.bits_stored;
        /* Check the file again: it may have changed since open, and GDCM
         * must only ever see files that passed the structural check. */
        struct stat fs;
        int has_pixels = 0;
        int64_t pixel_vl = -1;
        char why[160] = "";
        if (stat(s->path, &fs) != 0) {
            rc = hx__rd_err(err, SF_EIO, s->path, "cannot stat");
            goto out;
        }
        rc = check_file(s->path, (uint64_t)fs.st_size, &has_pixels, &pixel_vl,
                        why, sizeof why, err);
        if (rc == 0 || (rc == 1 && !has_pixels))
            rc = hx__rd_err(err, SF_EFORMAT, s->path,
                            "changed since the series was opened");
        if (rc < 0) goto out;
        rc = hx__dcm_decode(s->path, &s->m, buf, nbytes, &rep, &bs, err);
        if (rc != SF_OK) goto out;
        if (bs < 1 || bs > ba) bs = ba;
        float *dst = v->data + (size_t)k * npx;
        uint32_t mask = bs == 32 ? 0xffffffffu : (1u << bs) - 1;
        uint32_t sign = 1u << (bs - 1);
        double a = s->m.slope, b = s->m.intercept;
        for (size_t i = 0; i < npx; i++) {
            uint32_t u;
            if (ba == 8)
                u = buf[i];
            else if (ba == 16) {
                uint16_t x;
                memcpy(&x, buf + 2 * i, 2);
                u = x;
            } else
                memcpy(&u, buf + 4 * i, 4);
            u &= mask;
            double x =
                rep && (u & sign) ? (double)u - (double)mask - 1.0 : (double)u;
            dst[i] = (float)(a * x + b);
        }
    }
    *out = v;
    v = NULL;
out:
    free(buf);
    hx_volume_free(v);
    return rc;
}

const hx_reader_ops hx_reader_dicom = {
    "dicom", suffixes, sniff, open_dicom, read_dicom, close_dicom,
};
