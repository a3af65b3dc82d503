/*
 * rd_mha.c - MetaImage (ITK's MetaIO): ".mha" (header + data in one
 * file) and ".mhd" (header; data in a file next to it), our own strict
 * header parser.
 *
 * Header: "Key = Value" lines up to and including ElementDataFile, at most
 * HX_VOL_MAX_HEADER_BYTES, each line at most 4096 bytes. Keys are case
 * sensitive, as MetaIO writes them; a key given twice, a line that is not
 * "Key = Value", or a bad value of a key we use is an error (SF_EFORMAT,
 * naming file and line). Keys we do not use (Comment, AnatomicalOrientation,
 * CenterOfRotation, ElementMin, ...) are ignored.
 *   ObjectType      Image (if present)
 *   NDims           2 or 3 (2-D images get nz = 1, oriented = 0)
 *   DimSize         NDims integers in 1..HX_VOL_MAX_SIDE
 *   ElementType     MET_UCHAR, MET_CHAR, MET_USHORT, MET_SHORT, MET_UINT,
 *                   MET_INT, MET_FLOAT, MET_DOUBLE (others unsupported)
 *   ElementSpacing  NDims positive numbers (else ElementSize; default 1)
 *   Offset          NDims numbers (aliases Position, Origin; default 0)
 *   TransformMatrix NDims^2 numbers; row a is the LPS direction of voxel
 *                   axis a, as ITK writes it (alias Rotation, Orientation)
 *   BinaryData      True; BinaryDataByteOrderMSB / ElementByteOrderMSB
 *   CompressedData  True: the data is one zlib (or gzip) stream;
 *                   CompressedDataSize its length (else: to end of file)
 *   ElementNumberOfChannels  1; HeaderSize (external data) n >= 0 or -1
 *   ElementDataFile LOCAL, or a plain file name in the header's directory:
 *                   absolute paths, directories, "..", symbolic links,
 *                   LIST and %d patterns are refused.
 * Data: exactly DimSize x element size bytes (uncompressed: the file
 * holds exactly that after the header / HeaderSize; compressed: it must
 * inflate to exactly that, and the compressed size must allow it at
 * HX_VOL_MAX_INFLATE_RATIO before anything is allocated).
 */
#include "readers_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LINE_MAX_BYTES 4096

static const char *const suffixes[] = {".mha", ".mhd", NULL};

static int sniff(const uint8_t *h, size_t n) {
    static const char *const first[] = {"ObjectType", "NDims", NULL};
    for (const char *const *k = first; *k; k++) {
        size_t m = strlen(*k);
        if (n < m + 1 || memcmp(h, *k, m) != 0) continue;
        size_t i = m;
        while (i < n && (h[i] == ' ' || h[i] == '\t'))
            i++;
        if (i < n && h[i] == '=') return 1;
    }
    return 0;
}

static const struct {
    const char *name;
    int type;
} element_types[] = {
    {"MET_UCHAR", HX_RD_U8},   {"MET_CHAR", HX_RD_I8},
    {"MET_USHORT", HX_RD_U16}, {"MET_SHORT", HX_RD_I16},
    {"MET_UINT", HX_RD_U32},   {"MET_INT", HX_RD_I32},
    {"MET_FLOAT", HX_RD_F32},  {"MET_DOUBLE", HX_RD_F64},
};

/* Keys we use, with their index in the parsed values. */
enum {
    K_OBJECTTYPE,
    K_NDIMS,
    K_DIMSIZE,
    K_ELEMENTTYPE,
    K_SPACING,
    K_SIZE,
    K_OFFSET,
    K_POSITION,
    K_ORIGIN,
    K_TRANSFORM,
    K_ROTATION,
    K_ORIENTATION,
    K_BINARY,
    K_MSB,
    K_ELEM_MSB,
    K_COMPRESSED,
    K_CSIZE,
    K_CHANNELS,
    K_HEADERSIZE,
    K_DATAFILE,
    K_COUNT
};
static const char *const key_names[K_COUNT] = {
    "ObjectType",
    "NDims",
    "DimSize",
    "ElementType",
    "ElementSpacing",
    "ElementSize",
    "Offset",
    "Position",
    "Origin",
    "TransformMatrix",
    "Rotation",
    "Orientation",
    "BinaryData",
    "BinaryDataByteOrderMSB",
    "ElementByteOrderMSB",
    "CompressedData",
    "CompressedDataSize",
    "ElementNumberOfChannels",
    "HeaderSize",
    "ElementDataFile",
};

typedef struct mha_state {
    char data_path[HX_VOL_PATH_MAX]; /* the file holding the data */
    int local;                       /* data in the header file */
    uint64_t data_offset;            /* LOCAL: bytes of header */
    int64_t header_size;             /* external: HeaderSize (0, -1, n) */
    int type;                        /* enum hx__rd_type */
    int msb;                         /* big-endian data */
    int compressed;
    int64_t compressed_size; /* -1: to the end of the file */
} mha_state;

typedef struct parsed {
    char val[K_COUNT][LINE_MAX_BYTES];
    int line[K_COUNT]; /* 0: absent */
} parsed;

/* Parse exactly `n` numbers from s (doubles, finite). */
static int parse_numbers(const char *s, int n, double *out) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *e;
        errno = 0;
        double x = strtod(p, &e);
        if (e == p || errno == ERANGE || !isfinite(x)) return 0;
        out[i] = x;
        p = e;
        if (i + 1 < n && *p != ' ' && *p != '\t') return 0;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0';
}

/* Exactly `n` integers in [lo, hi]. */
static int parse_ints(const char *s, int n, long long lo, long long hi,
                      long long *out) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!isdigit((unsigned char)*p) && *p != '-' && *p != '+') return 0;
        char *e;
        errno = 0;
        long long x = strtoll(p, &e, 10);
        if (e == p || errno == ERANGE || x < lo || x > hi) return 0;
        if (*e && *e != ' ' && *e != '\t') return 0;
        out[i] = x;
        p = e;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0';
}

/* -1 if not a boolean. */
static int parse_bool(const char *s) {
    if (!strcmp(s, "True") || !strcmp(s, "true") || !strcmp(s, "1")) return 1;
    if (!strcmp(s, "False") || !strcmp(s, "false") || !strcmp(s, "0")) return 0;
    return -1;
}

/* Split the header into the keys we use. *hdr_bytes gets the offset just
 * past the ElementDataFile line. */
static int scan_header(const char *path, const char *buf, size_t n, parsed *ps,
                       uint64_t *hdr_bytes, sf_err *err) {
    size_t pos = 0;
    int lineno = 0;
    while (pos < n) {
        lineno++;
        const char *ln = buf + pos;
        const char *nl = memchr(ln, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - ln) : n - pos;
        if (len > LINE_MAX_BYTES - 1)
            return hx__rd_err(err, SF_EFORMAT, path,
                              "line %d longer than %d bytes", lineno,
                              LINE_MAX_BYTES - 1);
        if (!nl)
            return hx__rd_err(err, SF_EFORMAT, path,
                              "header ends at line %d without "
                              "ElementDataFile",
                              lineno);
        pos += len + 1;
        char line[LINE_MAX_BYTES];
        memcpy(line, ln, len);
        line[len] = '\0';
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        size_t a = 0;
        while (line[a] == ' ' || line[a] == '\t')
            a++;
        if (line[a] == '\0') continue;
        char *eq = strchr(line + a, '=');
        if (!eq)
            return hx__rd_err(err, SF_EFORMAT, path,
                              "line %d is not 'Key = Value'", lineno);
        char *ke = eq;
        while (ke > line + a && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = '\0';
        const char *key = line + a;
        if (!*key)
            return hx__rd_err(err, SF_EFORMAT, path, "line %d: empty key",
                              lineno);
        for (const char *c = key; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_')
                return hx__rd_err(err, SF_EFORMAT, path,
                                  "line %d: bad key '%.64s'", lineno, key);
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        int k;
        for (k = 0; k < K_COUNT; k++)
            if (!strcmp(key, key_names[k])) break;
        if (k == K_COUNT) continue; /* a key we do not use */
        if (ps->line[k])
            return hx__rd_err(err, SF_EFORMAT, path,
                              "line %d: %s given twice (first at line %d)",
                              lineno, key, ps->line[k]);
        ps->line[k] = lineno;
        memcpy(ps->val[k], v, vl + 1);
        if (k == K_DATAFILE) {
            *hdr_bytes = pos;
            return SF_OK;
        }
    }
    return hx__rd_err(err, SF_EFORMAT, path,
                      "no ElementDataFile within the first %zu bytes", n);
}

/* Read up to `cap` bytes of the start of the file. */
static int read_head(const char *path, char **buf, size_t *n, sf_err *err) {
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return hx__rd_err(err, SF_EIO, path, "cannot open: %s",
                          strerror(errno));
    char *b = malloc(HX_VOL_MAX_HEADER_BYTES);
    if (!b) {
        fclose(f);
        return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    }
    size_t k = fread(b, 1, HX_VOL_MAX_HEADER_BYTES, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return hx__rd_err(err, SF_EIO, path, "read error");
    }
    *buf = b;
    *n = k;
    return SF_OK;
}

#define BAD(k, what)                                                           \
    hx__rd_err(err, SF_EFORMAT, path, "line %d: bad %s '%.80s' (%s)",          \
               ps->line[k], key_names[k], ps->val[k], what)

/* Long by design (~205 lines): one pass over a MetaImage header (a fuzzed
 * surface) with every check next to the key it concerns, in file order. */
static int open_mha(const char *path, hx_volume *hdr, void **state,
                    sf_err *err) {
    *state = NULL;
    char *buf = NULL;
    size_t n = 0;
    parsed *ps = calloc(1, sizeof *ps);
    mha_state *s = calloc(1, sizeof *s);
    int rc = SF_ENOMEM;
    if (!ps || !s) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        goto out;
    }
    uint64_t hdr_bytes = 0;
    if ((rc = read_head(path, &buf, &n, err)) != SF_OK ||
        (rc = scan_header(path, buf, n, ps, &hdr_bytes, err)) != SF_OK)
        goto out;
    rc = SF_EFORMAT;
    if (ps->line[K_OBJECTTYPE] && strcmp(ps->val[K_OBJECTTYPE], "Image")) {
        rc = BAD(K_OBJECTTYPE, "only Image is read");
        goto out;
    }
    static const int required[] = {K_NDIMS, K_DIMSIZE, K_ELEMENTTYPE};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!ps->line[required[i]]) {
            rc = hx__rd_err(err, SF_EFORMAT, path, "no %s in the header",
                            key_names[required[i]]);
            goto out;
        }
    long long nd;
    if (!parse_ints(ps->val[K_NDIMS], 1, 1, 16, &nd)) {
        rc = BAD(K_NDIMS, "an integer");
        goto out;
    }
    if (nd != 2 && nd != 3) {
        rc = hx__rd_err(err, SF_EUNSUPPORTED, path,
                        "NDims = %lld: only 2-D and 3-D images are read", nd);
        goto out;
    }
    int N = (int)nd;
    long long dim[3] = {1, 1, 1};
    if (!parse_ints(ps->val[K_DIMSIZE], N, 1, INT64_MAX / 16, dim)) {
        rc = BAD(K_DIMSIZE, "NDims positive integers");
        goto out;
    }
    if ((rc = hx__rd_check_dims(path, dim[0], dim[1], dim[2], err)) != SF_OK)
        goto out;
    rc = SF_EFORMAT;
    s->type = -1;
    for (size_t i = 0; i < sizeof element_types / sizeof *element_types; i++)
        if (!strcmp(ps->val[K_ELEMENTTYPE], element_types[i].name))
            s->type = element_types[i].type;
    if (s->type < 0) {
        rc = hx__rd_err(err, SF_EUNSUPPORTED, path,
                        "line %d: ElementType '%.64s' not supported",
                        ps->line[K_ELEMENTTYPE], ps->val[K_ELEMENTTYPE]);
        goto out;
    }
    if (ps->line[K_CHANNELS]) {
        long long c;
        if (!parse_ints(ps->val[K_CHANNELS], 1, 1, 1 << 20, &c)) {
            rc = BAD(K_CHANNELS, "a positive integer");
            goto out;
        }
        if (c != 1) {
            rc = hx__rd_err(err, SF_EUNSUPPORTED, path,
                            "%lld channels per element: only scalar images "
                            "are read",
                            c);
            goto out;
        }
    }
    if (ps->line[K_BINARY] && parse_bool(ps->val[K_BINARY]) != 1) {
        rc = parse_bool(ps->val[K_BINARY]) == 0
                 ? hx__rd_err(err, SF_EUNSUPPORTED, path,
                              "BinaryData = False (ASCII data) not supported")
                 : BAD(K_BINARY, "True/False");
        goto out;
    }
    for (int k = K_MSB; k <= K_ELEM_MSB; k++)
        if (ps->line[k]) {
            int b = parse_bool(ps->val[k]);
            if (b < 0) {
                rc = BAD(k, "True/False");
                goto out;
            }
            if (k == K_MSB || !ps->line[K_MSB]) s->msb = b;
        }
    if (ps->line[K_COMPRESSED]) {
        s->compressed = parse_bool(ps->val[K_COMPRESSED]);
        if (s->compressed < 0) {
            rc = BAD(K_COMPRESSED, "True/False");
            goto out;
        }
    }
    s->compressed_size = -1;
    if (ps->line[K_CSIZE]) {
        long long c;
        if (!parse_ints(ps->val[K_CSIZE], 1, 0, INT64_MAX, &c)) {
            rc = BAD(K_CSIZE, "a byte count");
            goto out;
        }
        s->compressed_size = c;
    }
    if (ps->line[K_HEADERSIZE]) {
        long long h;
        if (!parse_ints(ps->val[K_HEADERSIZE], 1, -1, INT64_MAX, &h)) {
            rc = BAD(K_HEADERSIZE, "-1 or a byte count");
            goto out;
        }
        s->header_size = h;
    }
    /* Geometry. */
    double sp[3] = {1, 1, 1}, org[3] = {0, 0, 0};
    double tm[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, t[9];
    int ks = ps->line[K_SPACING] ? K_SPACING : ps->line[K_SIZE] ? K_SIZE : -1;
    if (ks >= 0) {
        if (!parse_numbers(ps->val[ks], N, sp)) {
            rc = BAD(ks, "NDims numbers");
            goto out;
        }
        for (int i = 0; i < N; i++)
            if (!(sp[i] > 0)) {
                rc = BAD(ks, "spacing must be > 0");
                goto out;
            }
    }
    static const int offs[] = {K_OFFSET, K_POSITION, K_ORIGIN};
    static const int tms[] = {K_TRANSFORM, K_ROTATION, K_ORIENTATION};
    for (int i = 0; i < 3; i++)
        if (ps->line[offs[i]]) {
            if (!parse_numbers(ps->val[offs[i]], N, org)) {
                rc = BAD(offs[i], "NDims numbers");
                goto out;
            }
            break;
        }
    for (int i = 0; i < 3; i++)
        if (ps->line[tms[i]]) {
            if (!parse_numbers(ps->val[tms[i]], N * N, t)) {
                rc = BAD(tms[i], "NDims x NDims numbers");
                goto out;
            }
            for (int a = 0; a < N; a++)
                for (int w = 0; w < N; w++)
                    tm[a * 3 + w] = t[a * N + w];
            break;
        }
    hdr->nx = (int)dim[0];
    hdr->ny = (int)dim[1];
    hdr->nz = (int)dim[2];
    memset(hdr->ijk_to_lps, 0, sizeof hdr->ijk_to_lps);
    for (int a = 0; a < 3; a++) {
        for (int w = 0; w < 3; w++)
            hdr->ijk_to_lps[w][a] = tm[a * 3 + w] * sp[a];
        hdr->ijk_to_lps[a][3] = org[a];
    }
    hdr->ijk_to_lps[3][3] = 1;
    hx__rd_spacing_from_affine(hdr);
    for (int a = 0; a < 3; a++)
        if (!(hdr->spacing_mm[a] > 0)) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "TransformMatrix has a zero axis");
            goto out;
        }
    hdr->oriented = N == 3;
    /* Where the data is. */
    const char *df = ps->val[K_DATAFILE];
    if (!strcmp(df, "LOCAL")) {
        s->local = 1;
        s->data_offset = hdr_bytes;
        strcpy(s->data_path, path);
    } else if (!strncmp(df, "LIST", 4) || strchr(df, '%')) {
        rc = hx__rd_err(err, SF_EUNSUPPORTED, path,
                        "ElementDataFile '%.80s': file lists and patterns "
                        "are not supported",
                        df);
        goto out;
    } else if (!*df || strchr(df, '/') || strchr(df, '\\') ||
               !strcmp(df, ".") || !strcmp(df, "..")) {
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "ElementDataFile '%.200s' refused: it must be LOCAL "
                        "or a plain file name next to the header (no "
                        "directories, absolute paths or ..)",
                        df);
        goto out;
    } else {
        const char *slash = strrchr(path, '/');
        size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
        if (dl + strlen(df) >= sizeof s->data_path) {
            rc = hx__rd_err(err, SF_EINVAL, path, "data path too long");
            goto out;
        }
        memcpy(s->data_path, path, dl);
        strcpy(s->data_path + dl, df);
    }
    if (s->local && s->header_size)
        s->header_size = 0; /* HeaderSize applies to external data only */
    *state = s;
    s = NULL;
    rc = SF_OK;
out:
    free(buf);
    free(ps);
    free(s);
    return rc;
}

/* Open the data file; refuses symbolic links. */
static FILE *open_data(const mha_state *s, const char *path, uint64_t *size,
                       sf_err *err) {
    int fd = open(s->data_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        hx__rd_err(err, errno == ELOOP ? SF_EFORMAT : SF_EIO, path,
                   "cannot open data file %s: %s", s->data_path,
                   errno == ELOOP ? "a symbolic link (refused)"
                                  : strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        hx__rd_err(err, SF_EIO, path, "data file %s is not a regular file",
                   s->data_path);
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        return NULL;
    }
    *size = (uint64_t)st.st_size;
    return f;
}

static int inflate_all(const char *path, const uint8_t *src, size_t n,
                       uint8_t *dst, size_t want, sf_err *err) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* zlib or gzip header */
        return hx__rd_err(err, SF_ENOMEM, path, "zlib init failed");
    int rc = SF_OK, zr;
    size_t in_done = 0, out_done = 0;
    uint8_t extra; /* room for one byte past the end: too long? */
    int in_extra = 0;
    for (;;) {
        /* Feed and drain in chunks of at most 1 GiB (uInt counts). */
        if (z.avail_in == 0 && in_done < n) {
            size_t k = n - in_done < (1u << 30) ? n - in_done : (1u << 30);
            z.next_in = (Bytef *)(uintptr_t)(src + in_done);
            z.avail_in = (uInt)k;
            in_done += k;
        }
        if (z.avail_out == 0) {
            if (in_extra) break; /* a byte past the end was produced */
            if (out_done < want) {
                size_t k =
                    want - out_done < (1u << 30) ? want - out_done : (1u << 30);
                z.next_out = dst + out_done;
                z.avail_out = (uInt)k;
                out_done += k;
            } else {
                z.next_out = &extra;
                z.avail_out = 1;
                in_extra = 1;
            }
        }
        zr = inflate(&z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) break;
        if (zr == Z_BUF_ERROR && z.avail_in == 0 && in_done == n) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "truncated compressed data (%lu of %zu bytes "
                            "inflated)",
                            (unsigned long)z.total_out, want);
            goto out;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc =
                hx__rd_err(err, SF_EFORMAT, path, "corrupt compressed data%s%s",
                           z.msg ? ": " : "", z.msg ? z.msg : "");
            goto out;
        }
    }
    if (z.total_out > want) {
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "compressed data inflates to more than the %zu "
                        "bytes DimSize and ElementType give",
                        want);
    } else if (z.total_out < want) {
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "compressed data inflates to %lu bytes, %zu "
                        "expected",
                        (unsigned long)z.total_out, want);
    }
out:
    inflateEnd(&z);
    return rc;
}

static int read_mha(void *state, const hx_volume *hdr, hx_volume **out,
                    sf_err *err) {
    const mha_state *s = state;
    const char *path = hdr->path;
    size_t nvox = (size_t)hdr->nx * hdr->ny * hdr->nz;
    size_t want = nvox * hx__rd_type_size(s->type);
    uint64_t fsize = 0;
    uint8_t *raw = NULL, *comp = NULL;
    hx_volume *v = NULL;
    int rc = SF_OK;
    FILE *f = open_data(s, path, &fsize, err);
    if (!f) return err ? err->code : SF_EIO;
    uint64_t off;
    if (s->local)
        off = s->data_offset;
    else if (s->header_size >= 0)
        off = (uint64_t)s->header_size;
    else
        off = fsize >= want ? fsize - want : 0; /* HeaderSize = -1 */
    uint64_t avail = fsize >= off ? fsize - off : 0;
    if (!s->compressed) {
        if (avail != want) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "%s: %llu bytes of data, %zu expected from "
                            "DimSize and ElementType (%s)",
                            s->local ? "header file" : s->data_path,
                            (unsigned long long)avail, want,
                            avail < want ? "truncated" : "trailing bytes");
            goto out;
        }
    } else {
        uint64_t cs =
            s->compressed_size >= 0 ? (uint64_t)s->compressed_size : avail;
        if (cs > avail) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "CompressedDataSize %llu but only %llu bytes "
                            "follow (truncated)",
                            (unsigned long long)cs, (unsigned long long)avail);
            goto out;
        }
        if (want / HX_VOL_MAX_INFLATE_RATIO > cs) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "%llu compressed bytes cannot hold the %zu bytes "
                            "DimSize claims (corrupt or truncated)",
                            (unsigned long long)cs, want);
            goto out;
        }
        avail = cs;
    }
    if (fseeko(f, (off_t)off, SEEK_SET) != 0) {
        rc = hx__rd_err(err, SF_EIO, path, "seek failed in %s", s->data_path);
        goto out;
    }
    if ((rc = hx__rd_volume_alloc(hdr, &v, err)) != SF_OK) goto out;
    raw = malloc(want);
    if (s->compressed) comp = malloc(avail ? avail : 1);
    if (!raw || (s->compressed && !comp)) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        goto out;
    }
    uint8_t *dst = s->compressed ? comp : raw;
    size_t nread = s->compressed ? (size_t)avail : want;
    if (fread(dst, 1, nread, f) != nread) {
        rc = hx__rd_err(err, SF_EIO, path, "read error in %s", s->data_path);
        goto out;
    }
    if (s->compressed &&
        (rc = inflate_all(path, comp, avail, raw, want, err)) != SF_OK)
        goto out;
    const uint16_t one = 1;
    int host_msb = *(const uint8_t *)&one == 0;
    hx__rd_to_float(raw, s->type, s->msb != host_msb, nvox, v->data);
    *out = v;
    v = NULL;
out:
    fclose(f);
    free(raw);
    free(comp);
    hx_volume_free(v);
    return rc;
}

static void close_mha(void *state) {
    free(state);
}

const hx_reader_ops hx_reader_metaimage = {
    "metaimage", suffixes, sniff, open_mha, read_mha, close_mha,
};
