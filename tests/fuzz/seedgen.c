/*
 * seedgen.c - writes small valid inputs for the fuzz targets into
 * OUT/<target>/ (run by tests/fuzz/smoke.sh; nothing is committed): a
 * checkpoint and its pickle, TIFFs, MetaImages (raw, compressed),
 * NIfTI-1/2 headers, PNGs and a three-sample corpus manifest.
 *
 *     seedgen OUT
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <zlib.h>

#include <nifti1.h>

#include "sam_int.h"
#include "sf.h"

static char out_dir[1024];

static void die(const char *what) {
    fprintf(stderr, "seedgen: %s\n", what);
    exit(1);
}

static const char *seed_path(const char *target, const char *name) {
    static char p[2048];
    snprintf(p, sizeof p, "%s/%s", out_dir, target);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", out_dir, target, name);
    return p;
}

static void put(const char *target, const char *name, const void *a, size_t na,
                const void *b, size_t nb) {
    FILE *f = fopen(seed_path(target, name), "wb");
    if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) ||
        fclose(f))
        die(name);
}

static void ckpt_seeds(void) {
    static float w[6] = {1, 2, 3, 4, 5, 6};
    static int64_t idx[2] = {7, 8};
    sam_ckpt *ck = calloc(1, sizeof *ck);
    int64_t shape[2] = {2, 3}, stride[2] = {3, 1}, s1[1] = {2}, st1[1] = {1};
    sf_err e = {0};
    if (!ck || sam__ckpt_add_storage(ck, "0", SAM_DT_F32, 6, w) < 0 ||
        sam__ckpt_add_storage(ck, "1", SAM_DT_I64, 2, idx) < 0 ||
        sam__ckpt_add_tensor(ck, "enc.weight", 0, 0, 2, shape, stride) < 0 ||
        sam__ckpt_add_tensor(ck, "enc.bias", 0, 4, 1, s1, st1) < 0 ||
        sam__ckpt_add_tensor(ck, "enc.index", 1, 0, 1, s1, st1) < 0)
        die("ckpt");
    ck->borrowed = 1;
    if (sam__ckpt_write(seed_path("ckpt", "tiny.pth"), ck, &e)) die(e.msg);
    uint8_t *pk = NULL;
    size_t n = 0;
    if (sam__pickle_write(ck, &pk, &n, &e)) die(e.msg);
    put("pickle", "data.pkl", pk, n, NULL, 0);
    free(pk);
    sam__ckpt_free(ck);
}

static void tiff_one(const char *name, int bits, int fmt, int pages) {
    TIFF *t = TIFFOpen(seed_path("tiff", name), "w");
    if (!t) die(name);
    for (int p = 0; p < pages; p++) {
        int nx = 5, ny = 4, bps = bits / 8;
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, nx);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, ny);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bits);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, fmt);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 2);
        TIFFSetField(t, TIFFTAG_COMPRESSION,
                     p % 2 ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE);
        TIFFSetField(t, TIFFTAG_XRESOLUTION, 10.0);
        TIFFSetField(t, TIFFTAG_YRESOLUTION, 10.0);
        TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
        if (pages > 1) {
            TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
            TIFFSetField(t, TIFFTAG_PAGENUMBER, p, pages);
        }
        uint8_t row[5 * 8];
        for (int y = 0; y < ny; y++) {
            for (int i = 0; i < nx * bps; i++)
                row[i] = (uint8_t)(y * 31 + i * 7 + p);
            if (fmt == SAMPLEFORMAT_IEEEFP)
                for (int i = 0; i < nx; i++) {
                    float f = (float)(y + i);
                    memcpy(row + 4 * i, &f, 4);
                }
            if (TIFFWriteScanline(t, row, y, 0) < 0) die(name);
        }
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
}

static void mha_seeds(void) {
    int16_t vox[4 * 3 * 2];
    for (int i = 0; i < 24; i++)
        vox[i] = (int16_t)(i * 100 - 1000);
    const char *h1 = "ObjectType = Image\nNDims = 3\nBinaryData = True\n"
                     "BinaryDataByteOrderMSB = False\nCompressedData = False\n"
                     "TransformMatrix = 1 0 0 0 1 0 0 0 1\n"
                     "Offset = -10 20.5 3\nCenterOfRotation = 0 0 0\n"
                     "AnatomicalOrientation = RAI\n"
                     "ElementSpacing = 0.5 0.75 2.5\nDimSize = 4 3 2\n"
                     "ElementType = MET_SHORT\nElementDataFile = LOCAL\n";
    put("mha", "raw.mha", h1, strlen(h1), vox, sizeof vox);
    uLongf zn = compressBound(sizeof vox);
    uint8_t z[256];
    if (compress2(z, &zn, (const Bytef *)vox, sizeof vox, 9) != Z_OK)
        die("zlib");
    char h2[1024];
    snprintf(h2, sizeof h2,
             "ObjectType = Image\nNDims = 3\nBinaryData = True\n"
             "BinaryDataByteOrderMSB = False\nCompressedData = True\n"
             "CompressedDataSize = %lu\nTransformMatrix = 0 1 0 1 0 0 0 0 1\n"
             "Offset = 0 0 0\nElementSpacing = 1 1 1\nDimSize = 4 3 2\n"
             "ElementType = MET_SHORT\nElementDataFile = LOCAL\n",
             (unsigned long)zn);
    put("mha", "zlib.mha", h2, strlen(h2), z, zn);
    const char *h3 = "ObjectType = Image\nNDims = 2\nBinaryData = True\n"
                     "BinaryDataByteOrderMSB = True\nDimSize = 8 8\n"
                     "ElementType = MET_FLOAT\nElementDataFile = in.raw\n";
    put("mha", "external.mha", h3, strlen(h3), NULL, 0);
    const char *h4 = "NDims = 3\nDimSize = 2 2 2\nElementNumberOfChannels = 1\n"
                     "ElementType = MET_UCHAR\nHeaderSize = -1\n"
                     "ElementDataFile = in.raw\n";
    put("mha", "headersize.mha", h4, strlen(h4), NULL, 0);
}

static void nifti_seeds(void) {
    nifti_1_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    h.dim[0] = 3;
    h.dim[1] = 4;
    h.dim[2] = 3;
    h.dim[3] = 2;
    h.dim[4] = h.dim[5] = h.dim[6] = h.dim[7] = 1;
    h.datatype = NIFTI_TYPE_INT16;
    h.bitpix = 16;
    h.pixdim[0] = 1;
    h.pixdim[1] = 0.8f;
    h.pixdim[2] = 0.8f;
    h.pixdim[3] = 3;
    h.vox_offset = 352;
    h.scl_slope = 1;
    h.qform_code = 1;
    h.sform_code = 1;
    h.quatern_b = 0;
    h.srow_x[0] = -0.8f;
    h.srow_y[1] = -0.8f;
    h.srow_z[2] = 3;
    h.srow_x[3] = 10;
    memcpy(h.magic, "n+1", 4);
    uint8_t buf[352 + 48];
    memset(buf, 0, sizeof buf);
    memcpy(buf, &h, 348);
    for (int i = 0; i < 24; i++) {
        int16_t v = (int16_t)(i - 5);
        memcpy(buf + 352 + 2 * i, &v, 2);
    }
    put("nifti", "int16.nii", buf, sizeof buf, NULL, 0);
    h.datatype = NIFTI_TYPE_FLOAT32;
    h.bitpix = 32;
    h.sform_code = 0;
    h.dim[3] = 1;
    h.dim[0] = 2;
    memcpy(buf, &h, 348);
    put("nifti", "float2d.nii", buf, 352 + 48, NULL, 0);
    gzFile g = gzopen(seed_path("nifti", "int16.nii.gz"), "wb");
    memcpy(buf, &h, 348);
    if (!g || gzwrite(g, buf, sizeof buf) != (int)sizeof buf || gzclose(g))
        die("gz");
}

static void png_seeds(void) {
    uint8_t g[12 * 10], rgb[12 * 10 * 3];
    uint16_t w[12 * 10];
    uint8_t ring[32 * 32];
    for (int i = 0; i < 120; i++) {
        g[i] = (uint8_t)(i * 2);
        w[i] = (uint16_t)(i * 500);
        rgb[3 * i] = g[i];
        rgb[3 * i + 1] = (uint8_t)(255 - g[i]);
        rgb[3 * i + 2] = 7;
    }
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            int d = (x - 16) * (x - 16) + (y - 15) * (y - 15) * 2;
            ring[y * 32 + x] = (d >= 90 && d <= 120) ? 255 : 0;
        }
    if (sf_png_write_gray8(seed_path("png", "gray8.png"), g, 12, 10, 6, NULL) ||
        sf_png_write_gray16(seed_path("png", "gray16.png"), w, 12, 10, 6,
                            NULL) ||
        sf_png_write_rgb8(seed_path("png", "rgb8.png"), rgb, 12, 10, 6, NULL) ||
        sf_png_write_gray8(seed_path("png", "ring_Annotation.png"), ring, 32,
                           32, 9, NULL))
        die("png");
}

static void corpus_seed(void) {
    sf_config c;
    sf_err e = {0};
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/corpus-src", out_dir);
    if (sf_config_default(&c, &e)) die(e.msg);
    c.image_size = 32;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = 1;
    o.count = 3;
    o.shard_count = 1;
    o.threads = 1;
    o.write_files = 1;
    sf_generate_stats st;
    sf_corpus_result r;
    if (sf_corpus_generate(&c, &o, &st, &r, &e)) {
        fprintf(stderr, "seedgen: corpus: %s %s\n", e.where, e.msg);
        exit(1);
    }
    char src[2300];
    snprintf(src, sizeof src, "%s/manifest.sqlite", dir);
    FILE *f = fopen(src, "rb");
    if (!f) die("manifest");
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    put("corpus", "manifest.sqlite", buf, n, NULL, 0);
}

int main(int argc, char **argv) {
    if (argc != 2) die("usage: seedgen OUT");
    snprintf(out_dir, sizeof out_dir, "%s", argv[1]);
    mkdir(out_dir, 0755);
    ckpt_seeds();
    tiff_one("u8.tif", 8, SAMPLEFORMAT_UINT, 1);
    tiff_one("u16_stack.tif", 16, SAMPLEFORMAT_UINT, 3);
    tiff_one("f32.tif", 32, SAMPLEFORMAT_IEEEFP, 1);
    tiff_one("i16.tif", 16, SAMPLEFORMAT_INT, 2);
    mha_seeds();
    nifti_seeds();
    png_seeds();
    corpus_seed();
    return 0;
}
