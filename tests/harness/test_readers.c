/*
 * test_readers.c - the volume readers (readers.h): facts about the real
 * files in $SF_SHARED/realdata (default ../shared, relative to the
 * repository root; those tests skip with a message when it is absent)
 * taken from their PROVENANCE.md files, orientation and left/right after
 * canonicalisation, the HC18 outline fill against a third-party filled
 * copy, MetaImage / TIFF / NIfTI round trips of files written here, and
 * corrupt, truncated and hostile inputs, which must give a clean error
 * naming the file. Every reader in the table gets the NULL-safety,
 * determinism and fuzz-smoke checks.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <nifti/nifti1.h>
#include <nifti/nifti2.h>
#include <tiffio.h>

#include "../fixtures.h"
#include "../tmpdir.h"
#include "hx.h"
#include "readers_int.h"

/* ------------------------------------------------------------ helpers */

/* realdata/<rel> from tests/fixtures/ or $SF_SHARED (fixtures.h), or
 * skip the test. */
static char *rpath(const char *rel) {
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ & 3], r[1100];
    snprintf(r, sizeof r, "realdata/%s", rel);
    if (!sf_test_fixture(r, b, sizeof buf[0]))
        cr_skip_test("%s: " SF_TEST_FIXTURE_ABSENT, r);
    return b;
}

static hx_volume *must_read(const char *path) {
    hx_volume *v = NULL;
    sf_err e;
    memset(&e, 0, sizeof e);
    int rc = hx_volume_read(path, &v, &e);
    cr_assert_eq(rc, SF_OK, "%s: rc %d: %s", path, rc, e.msg);
    cr_assert(v && v->data);
    return v;
}

static void must_canon(hx_volume *v) {
    sf_err e;
    int rc = hx_volume_canonical(v, &e);
    cr_assert_eq(rc, SF_OK, "canonical %s: %s", v->path, e.msg);
}

static size_t nvox(const hx_volume *v) {
    return (size_t)v->nx * v->ny * v->nz;
}

static size_t count_eq(const hx_volume *v, float label) {
    size_t c = 0;
    for (size_t i = 0; i < nvox(v); i++)
        c += v->data[i] == label;
    return c;
}

static void minmax(const hx_volume *v, float *lo, float *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < nvox(v); i++) {
        if (v->data[i] < *lo) *lo = v->data[i];
        if (v->data[i] > *hi) *hi = v->data[i];
    }
}

/* Centroid (voxel index units) of the voxels equal to label. */
static void centroid(const hx_volume *v, float label, double c[3]) {
    double s[3] = {0, 0, 0};
    size_t n = 0;
    for (int k = 0; k < v->nz; k++)
        for (int j = 0; j < v->ny; j++)
            for (int i = 0; i < v->nx; i++)
                if (v->data[((size_t)k * v->ny + j) * v->nx + i] == label) {
                    s[0] += i;
                    s[1] += j;
                    s[2] += k;
                    n++;
                }
    cr_assert(n > 0, "label %g absent in %s", label, v->path);
    for (int a = 0; a < 3; a++)
        c[a] = s[a] / (double)n;
}

/* A fresh temporary directory for one test; removed by sf_test_rmtree. */
static char *tmpdir(void) {
    static char d[64];
    cr_assert(sf_test_mkdtemp(d, sizeof d, "readers"), "mkdtemp: %s",
              strerror(errno));
    return d;
}

static void write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    cr_assert(b);
    *n = fread(b, 1, (size_t)sz, f);
    fclose(f);
    return b;
}

/* Expect a clean failure: rc, and the file named in the message. */
static void expect_fail(const char *path, int want_rc, const char *needle) {
    hx_volume *v = NULL;
    sf_err e;
    memset(&e, 0, sizeof e);
    int rc = hx_volume_read(path, &v, &e);
    cr_expect_eq(rc, want_rc, "%s: rc %d (want %d): %s", path, rc, want_rc,
                 e.msg);
    cr_expect_null(v);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    cr_expect(strstr(e.msg, base) != NULL, "error does not name %s: %s", base,
              e.msg);
    if (needle)
        cr_expect(strstr(e.msg, needle) != NULL, "'%s' not in: %s", needle,
                  e.msg);
    hx_volume_free(v);
}

/* Test-only deterministic generator (xorshift64*). */
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}

/* ------------------------------------------------ NIfTI, real files */

Test(readers_real, nifti_ct) {
    hx_volume *v = must_read(rpath("totalsegmentator/example_ct.nii.gz"));
    cr_expect_eq(v->nx, 122);
    cr_expect_eq(v->ny, 101);
    cr_expect_eq(v->nz, 112);
    for (int a = 0; a < 3; a++)
        cr_expect_float_eq(v->spacing_mm[a], 3.0, 1e-5);
    float lo, hi;
    minmax(v, &lo, &hi);
    cr_expect_eq(lo, -1207.0f);
    cr_expect_eq(hi, 3382.0f);
    cr_expect_str_eq(v->format, "nifti");
    cr_expect(v->oriented);
    /* Positive-diagonal RAS sform: i runs to the right, j anterior. */
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "RAS");
    cr_expect_float_eq(v->ijk_to_lps[0][0], -3.0, 1e-5);
    cr_expect_float_eq(v->ijk_to_lps[1][1], -3.0, 1e-5);
    cr_expect_float_eq(v->ijk_to_lps[2][2], 3.0, 1e-5);
    hx_volume_free(v);
}

Test(readers_real, nifti_ct_sm_is_a_crop) {
    hx_volume *ct = must_read(rpath("totalsegmentator/example_ct.nii.gz"));
    hx_volume *sm = must_read(rpath("totalsegmentator/example_ct_sm.nii.gz"));
    cr_expect_eq(sm->nx, 122);
    cr_expect_eq(sm->ny, 101);
    cr_expect_eq(sm->nz, 30);
    for (int a = 0; a < 3; a++)
        cr_expect_float_eq(sm->spacing_mm[a], 3.0, 1e-5);
    /* int16 on disk: the voxels are slices 82..111 of example_ct. */
    size_t plane = (size_t)122 * 101;
    cr_expect(
        memcmp(sm->data, ct->data + 82 * plane, nvox(sm) * sizeof(float)) == 0);
    hx_volume_free(ct);
    hx_volume_free(sm);
}

Test(readers_real, nifti_mr) {
    hx_volume *v = must_read(rpath("totalsegmentator/example_mr_sm.nii.gz"));
    cr_expect_eq(v->nx, 117);
    cr_expect_eq(v->ny, 91);
    cr_expect_eq(v->nz, 20);
    float lo, hi;
    minmax(v, &lo, &hi);
    /* PROVENANCE.md says "intensities 0..833"; the int16 data (scl_slope
     * 1, inter 0) really hold 2777 voxels below 0, down to -47. */
    cr_expect_eq(hi, 833.0f);
    cr_expect_eq(lo, -47.0f);
    size_t neg = 0;
    for (size_t i = 0; i < nvox(v); i++)
        neg += v->data[i] < 0;
    cr_expect_eq(neg, 2777);
    /* sform diag (-3, -3, 3) in RAS = (3, 3, 3) in LPS: already LPS+. */
    cr_expect_float_eq(v->ijk_to_lps[0][0], 3.0, 1e-5);
    cr_expect_float_eq(v->ijk_to_lps[1][1], 3.0, 1e-5);
    cr_expect_float_eq(v->ijk_to_lps[2][2], 3.0, 1e-5);
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "LPS");
    /* Canonical is a no-op here. */
    float first = v->data[0];
    must_canon(v);
    cr_expect_eq(v->data[0], first);
    cr_expect_eq(v->nx, 117);
    hx_volume_free(v);
}

static const struct {
    float label;
    size_t n;
} seg_ct[] = {{1, 9452},  {2, 3947}, {3, 3676}, {4, 1333},
              {5, 38634}, {7, 644},  {52, 997}, {22, 0}},
  seg_mr[] = {{1, 1941},  {2, 1721}, {3, 1442}, {4, 1121},
              {5, 18480}, {7, 1176}, {23, 672}, {17, 0}};

Test(readers_real, seg_voxel_counts) {
    hx_volume *v = must_read(rpath("totalsegmentator/example_seg.nii.gz"));
    cr_expect_eq(v->nx, 122);
    cr_expect_eq(v->ny, 101);
    cr_expect_eq(v->nz, 30);
    for (size_t i = 0; i < sizeof seg_ct / sizeof *seg_ct; i++)
        cr_expect_eq(count_eq(v, seg_ct[i].label), seg_ct[i].n,
                     "example_seg label %g: %zu voxels, want %zu",
                     seg_ct[i].label, count_eq(v, seg_ct[i].label),
                     seg_ct[i].n);
    hx_volume_free(v);
    v = must_read(rpath("totalsegmentator/example_seg_mr.nii.gz"));
    cr_expect_eq(v->nx, 117);
    cr_expect_eq(v->nz, 20);
    for (size_t i = 0; i < sizeof seg_mr / sizeof *seg_mr; i++)
        cr_expect_eq(count_eq(v, seg_mr[i].label), seg_mr[i].n,
                     "example_seg_mr label %g", seg_mr[i].label);
    hx_volume_free(v);
}

Test(readers_real, seg_fast_per_organ) {
    static const struct {
        const char *organ;
        size_t n;
    } fast[] = {{"aorta", 1174},       {"gallbladder", 1349},
                {"kidney_left", 3676}, {"kidney_right", 3996},
                {"liver", 39350},      {"pancreas", 548},
                {"spleen", 9630},      {"prostate", 0}};
    for (size_t i = 0; i < sizeof fast / sizeof *fast; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "totalsegmentator/example_seg_fast/%s.nii.gz",
                 fast[i].organ);
        hx_volume *v = must_read(rpath(rel));
        cr_expect_eq(v->nx * v->ny * v->nz, 122 * 101 * 30);
        size_t ones = count_eq(v, 1), zeros = count_eq(v, 0);
        cr_expect_eq(ones, fast[i].n, "%s: %zu", fast[i].organ, ones);
        cr_expect_eq(ones + zeros, nvox(v), "%s is not binary", fast[i].organ);
        hx_volume_free(v);
    }
}

/* ------------------------------------------------------- left / right */

/* In canonical LPS+ voxels, i grows towards the patient's left. */
static void expect_left_right(hx_volume *seg, float left, float right,
                              const char *what) {
    must_canon(seg);
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(seg, ax), "LPS");
    double cl[3], cr[3], wl[3], wr[3];
    centroid(seg, left, cl);
    centroid(seg, right, cr);
    cr_expect_gt(cl[0], cr[0] + 10, "%s: left centroid i %.1f, right %.1f",
                 what, cl[0], cr[0]);
    hx_volume_to_world(seg, cl[0], cl[1], cl[2], wl);
    hx_volume_to_world(seg, cr[0], cr[1], cr[2], wr);
    cr_expect_gt(wl[0], wr[0] + 30, "%s: left x %.1f mm, right x %.1f mm", what,
                 wl[0], wr[0]);
    cr_log_info("%s: kidney_left centroid LPS x %.1f mm (i %.1f), "
                "kidney_right %.1f mm (i %.1f)",
                what, wl[0], cl[0], wr[0], cr[0]);
}

Test(readers_real, left_right_ct) {
    /* The CT (RAS sform) needs flips in i and j to become LPS+. */
    hx_volume *ct = must_read(rpath("totalsegmentator/example_ct_sm.nii.gz"));
    hx_volume *seg = must_read(rpath("totalsegmentator/example_seg.nii.gz"));
    expect_left_right(seg, 3, 2, "example_seg");
    /* Spleen (left) and liver (right) agree. */
    double cs[3], cl[3];
    centroid(seg, 1, cs);
    centroid(seg, 5, cl);
    cr_expect_gt(cs[0], cl[0]);
    /* The CT, made canonical the same way, puts kidney tissue under the
     * kidney labels: HU of soft tissue. */
    must_canon(ct);
    cr_assert_eq(ct->nx, seg->nx);
    double sum = 0;
    size_t n = 0, soft = 0;
    for (size_t i = 0; i < nvox(seg); i++)
        if (seg->data[i] == 3) {
            sum += ct->data[i];
            soft += ct->data[i] >= -100 && ct->data[i] <= 300;
            n++;
        }
    cr_expect_eq(n, 3676);
    cr_expect_gt((double)soft / n, 0.9, "kidney_left on soft tissue: %.3f",
                 (double)soft / n);
    cr_log_info("example_seg kidney_left: %.1f%% of voxels in -100..300 HU, "
                "mean %.1f HU",
                100.0 * soft / n, sum / n);
    hx_volume_free(ct);
    hx_volume_free(seg);
    /* v1 per-organ masks on the full CT (float64 files). */
    hx_volume *kl = must_read(rpath("totalsegmentator/v1_example_seg/"
                                    "kidney_left.nii.gz"));
    hx_volume *kr = must_read(rpath("totalsegmentator/v1_example_seg/"
                                    "kidney_right.nii.gz"));
    must_canon(kl);
    must_canon(kr);
    double a[3], b[3];
    centroid(kl, 1, a);
    centroid(kr, 1, b);
    cr_expect_gt(a[0], b[0] + 10, "v1 kidney_left i %.1f, right %.1f", a[0],
                 b[0]);
    hx_volume_free(kl);
    hx_volume_free(kr);
}

Test(readers_real, left_right_mr) {
    hx_volume *seg = must_read(rpath("totalsegmentator/example_seg_mr.nii.gz"));
    expect_left_right(seg, 3, 2, "example_seg_mr");
    hx_volume_free(seg);
}

/* -------------------------------------------------------------- DICOM */

Test(readers_real, dicom_series) {
    const char *dir = rpath("totalsegmentator/example_ct_dicom");
    hx_volume *v = must_read(dir);
    cr_expect_str_eq(v->format, "dicom");
    cr_expect_eq(v->nx, 512);
    cr_expect_eq(v->ny, 512);
    cr_expect_eq(v->nz, 20);
    cr_expect_eq(v->n_skipped, 0);
    cr_expect_eq(v->spacing_mm[0], 0.9765625);
    cr_expect_eq(v->spacing_mm[1], 0.9765625);
    cr_expect_float_eq(v->spacing_mm[2], 2.0, 1e-9);
    /* Sorted along the normal (+z, superior): the first slice is the
     * lowest position, IPP z -804.5, the last -766.5. */
    cr_expect_float_eq(v->ijk_to_lps[2][3], -804.5, 1e-9);
    double w[3];
    hx_volume_to_world(v, 0, 0, 19, w);
    cr_expect_float_eq(w[2], -766.5, 1e-9);
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "LPS");
    /* HU after RescaleSlope 1 / Intercept -1024 on 16-bit unsigned. */
    float lo, hi;
    minmax(v, &lo, &hi);
    cr_expect(lo >= -1024 && hi <= 3072 && hi > 1000, "HU %g..%g", lo, hi);
    size_t air = 0, soft = 0;
    for (size_t i = 0; i < nvox(v); i++) {
        air += v->data[i] < -900;
        soft += v->data[i] >= -100 && v->data[i] <= 300;
    }
    cr_expect(air > nvox(v) / 10 && soft > nvox(v) / 10,
              "air %zu soft %zu of %zu", air, soft, nvox(v));
    cr_log_info("DICOM series: HU %g..%g, %zu air, %zu soft-tissue voxels", lo,
                hi, air, soft);

    /* Slice order: by position, instance numbers 267..286 in step, and
     * each slice equals that file read on its own. */
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *de;
    int n = 0, inst[32];
    double z[32];
    char files[32][1200];
    while ((de = readdir(d)) && n < 32) {
        if (de->d_name[0] == '.') continue;
        snprintf(files[n], sizeof files[n], "%s/%s", dir, de->d_name);
        hx__dcm_meta m;
        char why[128];
        sf_err e;
        cr_assert_eq(hx__dcm_read_meta(files[n], &m, why, sizeof why, &e), 1,
                     "%s", e.msg);
        cr_assert(m.has_ipp);
        inst[n] = m.instance;
        z[n] = m.ipp[2];
        n++;
    }
    closedir(d);
    cr_assert_eq(n, 20);
    int lowest = 0, highest = 0, imin = 1 << 30, imax = -1;
    for (int i = 0; i < n; i++) {
        if (z[i] < z[lowest]) lowest = i;
        if (z[i] > z[highest]) highest = i;
        if (inst[i] < imin) imin = inst[i];
        if (inst[i] > imax) imax = inst[i];
    }
    cr_expect_eq(imin, 267);
    cr_expect_eq(imax, 286);
    /* Instance number runs against z: 286 is the lowest slice. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (z[i] < z[j]) cr_expect_gt(inst[i], inst[j]);
    cr_expect_float_eq(z[lowest], -804.5, 1e-9);
    cr_expect_float_eq(z[highest], -766.5, 1e-9);
    size_t plane = (size_t)512 * 512;
    hx_volume *s0 = must_read(files[lowest]);
    hx_volume *s19 = must_read(files[highest]);
    cr_expect_eq(s0->nz, 1);
    cr_expect(memcmp(s0->data, v->data, plane * sizeof(float)) == 0);
    cr_expect(memcmp(s19->data, v->data + 19 * plane, plane * sizeof(float)) ==
              0);
    hx_volume_free(s0);
    hx_volume_free(s19);
    hx_volume_free(v);
}

Test(readers_real, dicom_matches_seg_grid) {
    hx_volume *d = must_read(rpath("totalsegmentator/example_ct_dicom"));
    hx_volume *s =
        must_read(rpath("totalsegmentator/example_seg_dicom.nii.gz"));
    cr_assert_eq(s->nx, 512);
    cr_assert_eq(s->ny, 512);
    cr_assert_eq(s->nz, 20);
    char ax[4];
    /* dcm2niix stored the rows bottom-up: sform diag (-0.98, 0.98, 2). */
    cr_expect_str_eq(hx_volume_axcodes(s, ax), "LAS");
    /* Compared as stored, the grids disagree (j flipped). */
    size_t nl = 0, soft = 0;
    for (size_t i = 0; i < nvox(s); i++)
        if (s->data[i] == 5) {
            nl++;
            soft += d->data[i] >= -100 && d->data[i] <= 300;
        }
    double raw_frac = (double)soft / nl;
    must_canon(d);
    must_canon(s);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            cr_expect_float_eq(d->ijk_to_lps[r][c], s->ijk_to_lps[r][c], 1e-3,
                               "affine [%d][%d]: %g vs %g", r, c,
                               d->ijk_to_lps[r][c], s->ijk_to_lps[r][c]);
    /* Liver (label 5) lies on soft tissue once both are canonical. */
    double sum = 0;
    nl = soft = 0;
    for (size_t i = 0; i < nvox(s); i++)
        if (s->data[i] == 5) {
            nl++;
            soft += d->data[i] >= -100 && d->data[i] <= 300;
            sum += d->data[i];
        }
    double frac = (double)soft / nl;
    cr_expect_gt(nl, 100000);
    cr_expect_gt(frac, 0.98, "liver on soft tissue: %.4f", frac);
    cr_expect_lt(raw_frac, 0.9, "not canonical: %.4f", raw_frac);
    cr_expect(sum / nl > 40 && sum / nl < 200, "liver mean HU %.1f", sum / nl);
    cr_log_info("example_seg_dicom liver (%zu voxels): %.2f%% in -100..300 "
                "HU (mean %.1f) after canonicalisation, %.2f%% as stored",
                nl, 100 * frac, sum / nl, 100 * raw_frac);
    /* Spleen is on the patient's left of the liver. */
    double cs[3], cl[3];
    centroid(s, 1, cs);
    centroid(s, 5, cl);
    cr_expect_gt(cs[0], cl[0]);
    hx_volume_free(d);
    hx_volume_free(s);
}

/* Copy the 20 real slices into a new directory (optionally leaving one
 * out) and return it. */
static char *copy_series(int leave_out) {
    const char *src = rpath("totalsegmentator/example_ct_dicom");
    char *dir = tmpdir();
    DIR *d = opendir(src);
    cr_assert(d);
    struct dirent *de;
    char *names[32];
    int n = 0;
    while ((de = readdir(d)) && n < 32)
        if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
    closedir(d);
    /* Sort so that "leave_out" is a stable middle file. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (int i = 0; i < n; i++) {
        if (i != leave_out) {
            char a[1200], b[1200];
            snprintf(a, sizeof a, "%s/%s", src, names[i]);
            snprintf(b, sizeof b, "%s/%s", dir, names[i]);
            size_t len;
            uint8_t *buf = slurp(a, &len);
            write_file(b, buf, len);
            free(buf);
        }
        free(names[i]);
    }
    return dir;
}

Test(readers_real, dicom_garbage_file_is_skipped) {
    char *dir = copy_series(-1);
    char p[1200];
    snprintf(p, sizeof p, "%s/junk.txt", dir);
    const char *junk = "this is not a DICOM file\n";
    write_file(p, junk, strlen(junk));
    snprintf(p, sizeof p, "%s/empty", dir);
    write_file(p, "", 0);
    hx_volume *v = must_read(dir);
    cr_expect_eq(v->nz, 20);
    cr_expect_eq(v->n_skipped, 2);
    cr_expect(strstr(v->skipped, "junk.txt: not a DICOM file") != NULL, "%s",
              v->skipped);
    cr_expect(strstr(v->skipped, "empty: empty file") != NULL, "%s",
              v->skipped);
    hx_volume_free(v);
    sf_test_rmtree(dir);
}

Test(readers_real, dicom_truncated_or_gap_is_an_error) {
    char *dir = copy_series(-1);
    /* Truncate the first file (by name) to half: an error naming it. */
    DIR *d = opendir(dir);
    struct dirent *de;
    char first[256] = "";
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' &&
            (!first[0] || strcmp(de->d_name, first) < 0))
            snprintf(first, sizeof first, "%s", de->d_name);
    closedir(d);
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, first);
    size_t len;
    uint8_t *buf = slurp(p, &len);
    write_file(p, buf, len / 2);
    hx_volume *v = NULL;
    sf_err e;
    memset(&e, 0, sizeof e);
    cr_expect_eq(hx_volume_read(dir, &v, &e), SF_EFORMAT, "%s", e.msg);
    cr_expect_null(v);
    cr_expect(strstr(e.msg, first) != NULL, "does not name %s: %s", first,
              e.msg);
    cr_log_info("truncated slice: %s", e.msg);
    /* Garbage inside the pixel data of a whole-length file: decode fails
     * or gives values; never a crash. */
    memset(buf + len - 4000, 0xA5, 3000);
    write_file(p, buf, len);
    if (hx_volume_read(dir, &v, &e) == SF_OK) hx_volume_free(v);
    free(buf);
    sf_test_rmtree(dir);
    /* A missing middle slice: uneven spacing. */
    dir = copy_series(10);
    v = NULL;
    cr_expect_eq(hx_volume_read(dir, &v, &e), SF_EFORMAT);
    cr_expect(strstr(e.msg, "uneven slice spacing") != NULL, "%s", e.msg);
    sf_test_rmtree(dir);
    /* An empty directory. */
    dir = tmpdir();
    cr_expect_eq(hx_volume_read(dir, &v, &e), SF_EFORMAT);
    cr_expect(strstr(e.msg, "no DICOM image") != NULL, "%s", e.msg);
    sf_test_rmtree(dir);
}

/* ------------------------------------------------ DICOM, synthetic */

/* A growing byte buffer for hand-made DICOM files. */
typedef struct dbuf {
    uint8_t b[8192];
    size_t n;
} dbuf;

static void put(dbuf *d, const void *p, size_t n) {
    cr_assert(d->n + n <= sizeof d->b);
    memcpy(d->b + d->n, p, n);
    d->n += n;
}

static void put16(dbuf *d, uint16_t v) {
    put(d, &v, 2); /* little endian host */
}

static void put32(dbuf *d, uint32_t v) {
    put(d, &v, 4);
}

static uint32_t le32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* One element: explicit VR (expl) or implicit; value padded to even. */
static void el(dbuf *d, int expl, uint16_t g, uint16_t e, const char *vr,
               const void *val, uint32_t n) {
    uint32_t padded = n + (n & 1);
    put16(d, g);
    put16(d, e);
    if (expl) {
        put(d, vr, 2);
        if (!strcmp(vr, "OB") || !strcmp(vr, "OW") || !strcmp(vr, "UN")) {
            put16(d, 0);
            put32(d, padded);
        } else {
            put16(d, (uint16_t)padded);
        }
    } else {
        put32(d, padded);
    }
    put(d, val, n);
    if (n & 1) put(d, !strcmp(vr, "UI") || !strcmp(vr, "OB") ? "\0" : " ", 1);
}

static void el_s(dbuf *d, int expl, uint16_t g, uint16_t e, const char *vr,
                 const char *v) {
    el(d, expl, g, e, vr, v, (uint32_t)strlen(v));
}

static void el_us(dbuf *d, int expl, uint16_t g, uint16_t e, uint16_t v) {
    el(d, expl, g, e, "US", &v, 2);
}

/* A single-frame CT slice, cols x rows 16-bit, native pixel data.
 * expl: explicit or implicit VR little endian. pixel_bytes < 0: the whole
 * image; else that many bytes of pixel data (a short element). */
static size_t make_dicom(uint8_t *out, int expl, const char *series,
                         int instance, const char *ipp, const char *iop,
                         int cols, int rows, int bits_stored, int signed_px,
                         const char *slope, const char *intercept,
                         const uint16_t *px, int pixel_bytes) {
    dbuf *d = calloc(1, sizeof *d);
    memset(d->b, 0, 128);
    d->n = 128;
    put(d, "DICM", 4);
    const char *ts = expl ? "1.2.840.10008.1.2.1" : "1.2.840.10008.1.2";
    dbuf *meta = calloc(1, sizeof *meta);
    el(meta, 1, 0x0002, 0x0001, "OB", "\0\1", 2);
    el_s(meta, 1, 0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.2");
    el_s(meta, 1, 0x0002, 0x0003, "UI", "1.2.3.4.5.6.7");
    el_s(meta, 1, 0x0002, 0x0010, "UI", ts);
    uint32_t glen = (uint32_t)meta->n;
    el(d, 1, 0x0002, 0x0000, "UL", &glen, 4);
    put(d, meta->b, meta->n);
    free(meta);
    char num[32];
    el_s(d, expl, 0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.2");
    el_s(d, expl, 0x0008, 0x0060, "CS", "CT");
    el_s(d, expl, 0x0020, 0x000e, "UI", series);
    snprintf(num, sizeof num, "%d", instance);
    el_s(d, expl, 0x0020, 0x0013, "IS", num);
    el_s(d, expl, 0x0020, 0x0032, "DS", ipp);
    el_s(d, expl, 0x0020, 0x0037, "DS", iop);
    el_us(d, expl, 0x0028, 0x0002, 1);
    el_s(d, expl, 0x0028, 0x0004, "CS", "MONOCHROME2");
    el_us(d, expl, 0x0028, 0x0010, (uint16_t)rows);
    el_us(d, expl, 0x0028, 0x0011, (uint16_t)cols);
    el_s(d, expl, 0x0028, 0x0030, "DS", "0.5\\0.75");
    el_us(d, expl, 0x0028, 0x0100, 16);
    el_us(d, expl, 0x0028, 0x0101, (uint16_t)bits_stored);
    el_us(d, expl, 0x0028, 0x0102, (uint16_t)(bits_stored - 1));
    el_us(d, expl, 0x0028, 0x0103, (uint16_t)signed_px);
    el_s(d, expl, 0x0028, 0x1052, "DS", intercept);
    el_s(d, expl, 0x0028, 0x1053, "DS", slope);
    uint32_t nb =
        pixel_bytes < 0 ? (uint32_t)(cols * rows * 2) : (uint32_t)pixel_bytes;
    el(d, expl, 0x7fe0, 0x0010, "OW", px, nb);
    size_t n = d->n;
    memcpy(out, d->b, n);
    free(d);
    return n;
}

Test(readers, dicom_native_series) {
    /* Three 8x6 slices, 12 bits signed with junk in the top 4 bits,
     * slope 2, intercept -10; file names and instance numbers shuffled,
     * positions 15, 10, 12.5 mm along +z. Both VR encodings. */
    for (int expl = 0; expl < 2; expl++) {
        char *dir = tmpdir();
        static const double z[3] = {15, 10, 12.5};
        static const int inst[3] = {2, 9, 5};
        uint16_t px[3][48];
        uint8_t file[8192];
        for (int f = 0; f < 3; f++) {
            for (int i = 0; i < 48; i++) {
                int v = (i * 97 + f * 500) % 4096 - 2048; /* -2048..2047 */
                px[f][i] = (uint16_t)((v & 0xfff) | 0xa000);
            }
            char ipp[64], p[256];
            snprintf(ipp, sizeof ipp, "-20\\30\\%g", z[f]);
            size_t n = make_dicom(file, expl, "1.2.3.99", inst[f], ipp,
                                  "1\\0\\0\\0\\1\\0", 8, 6, 12, 1, "2", "-10",
                                  px[f], -1);
            snprintf(p, sizeof p, "%s/f%d", dir, f);
            write_file(p, file, n);
        }
        hx_volume *v = must_read(dir);
        cr_expect(v->nx == 8 && v->ny == 6 && v->nz == 3);
        cr_expect_float_eq(v->spacing_mm[0], 0.75, 1e-12); /* columns */
        cr_expect_float_eq(v->spacing_mm[1], 0.5, 1e-12);  /* rows */
        cr_expect_float_eq(v->spacing_mm[2], 2.5, 1e-12);
        cr_expect_float_eq(v->ijk_to_lps[2][3], 10, 1e-12);
        cr_expect_float_eq(v->ijk_to_lps[0][3], -20, 1e-12);
        /* Slice k holds file order 1 (z 10), 2 (z 12.5), 0 (z 15). */
        static const int order[3] = {1, 2, 0};
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 48; i++) {
                int f = order[k];
                int raw = (i * 97 + f * 500) % 4096 - 2048;
                cr_assert_eq(v->data[k * 48 + i], 2.0f * raw - 10,
                             "expl %d slice %d px %d: %g", expl, k, i,
                             v->data[k * 48 + i]);
            }
        hx_volume_free(v);
        sf_test_rmtree(dir);
    }
}

Test(readers, dicom_native_geometry_and_errors) {
    char *dir = tmpdir();
    uint16_t px[48];
    for (int i = 0; i < 48; i++)
        px[i] = (uint16_t)(i * 1000);
    uint8_t file[8192];
    char p[256], ipp[64];
    /* Rows along +y, columns along +x: the normal is -z, so slices are
     * ordered by decreasing z; axes "PLI", canonical "LPS". */
    for (int f = 0; f < 4; f++) {
        snprintf(ipp, sizeof ipp, "0\\0\\%d", 3 * f);
        size_t n = make_dicom(file, 1, "7.7", f + 1, ipp, "0\\1\\0\\1\\0\\0", 8,
                              6, 16, 0, "1", "0", px, -1);
        snprintf(p, sizeof p, "%s/s%d.dcm", dir, f);
        write_file(p, file, n);
    }
    hx_volume *v = must_read(dir);
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "PLI");
    cr_expect_float_eq(v->ijk_to_lps[2][3], 9, 1e-12);
    cr_expect_float_eq(v->ijk_to_lps[2][2], -3, 1e-12);
    for (int i = 0; i < 48; i++)
        cr_expect_eq(v->data[i], (float)(i * 1000));
    must_canon(v);
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "LPS");
    cr_expect(v->nx == 6 && v->ny == 8 && v->nz == 4);
    hx_volume_free(v);
    /* A fifth file of another series: refused, both named. */
    size_t n = make_dicom(file, 1, "8.8", 9, "0\\0\\12", "0\\1\\0\\1\\0\\0", 8,
                          6, 16, 0, "1", "0", px, -1);
    snprintf(p, sizeof p, "%s/other.dcm", dir);
    write_file(p, file, n);
    expect_fail(dir, SF_EFORMAT, "more than one series");
    unlink(p);
    /* Two slices at one position. */
    n = make_dicom(file, 1, "7.7", 9, "0\\0\\3", "0\\1\\0\\1\\0\\0", 8, 6, 16,
                   0, "1", "0", px, -1);
    snprintf(p, sizeof p, "%s/dup.dcm", dir);
    write_file(p, file, n);
    expect_fail(dir, SF_EFORMAT, "same position");
    unlink(p);
    /* Pixel data shorter than the image, consistently encoded. */
    n = make_dicom(file, 1, "7.7", 9, "0\\0\\12", "0\\1\\0\\1\\0\\0", 8, 6, 16,
                   0, "1", "0", px, 10);
    snprintf(p, sizeof p, "%s/short.dcm", dir);
    write_file(p, file, n);
    expect_fail(dir, SF_EFORMAT, "short.dcm");
    /* The same file cut: an element longer than the file. */
    n = make_dicom(file, 1, "7.7", 9, "0\\0\\12", "0\\1\\0\\1\\0\\0", 8, 6, 16,
                   0, "1", "0", px, -1);
    write_file(p, file, n - 20);
    expect_fail(dir, SF_EFORMAT, "exceeds");
    unlink(p);
    /* Rows beyond the limit (header says 5000). */
    n = make_dicom(file, 1, "7.7", 9, "0\\0\\12", "0\\1\\0\\1\\0\\0", 8, 6, 16,
                   0, "1", "0", px, -1);
    /* Patch Rows (0028,0010) US: find the tag bytes. */
    for (size_t i = 132; i + 10 < n; i++)
        if (file[i] == 0x28 && file[i + 1] == 0 && file[i + 2] == 0x10 &&
            file[i + 3] == 0 && file[i + 4] == 'U') {
            uint16_t big = 5000;
            memcpy(file + i + 8, &big, 2);
        }
    snprintf(p, sizeof p, "%s/big.dcm", dir);
    write_file(p, file, n);
    expect_fail(dir, SF_ERANGE, "big.dcm");
    unlink(p);
    sf_test_rmtree(dir);
}

/* Inputs that made Debian's GDCM (built with assertions) abort the
 * process before rd_dicom_series.c checked for them; found by the fuzz
 * smoke. Each must now be a clean error. */
Test(readers, dicom_gdcm_assert_regressions) {
    char *dir = tmpdir();
    uint16_t px[48];
    for (int i = 0; i < 48; i++)
        px[i] = (uint16_t)(i * 1000);
    uint8_t file[8192], bad[8192];
    size_t n = make_dicom(file, 1, "7.7", 1, "0\\0\\0", "1\\0\\0\\0\\1\\0", 8,
                          6, 12, 1, "1", "-1024", px, -1);
    char p[256];
    snprintf(p, sizeof p, "%s/r.dcm", dir);
    static const struct {
        size_t at;  /* byte to change */
        uint8_t to; /* new value */
        const char *want;
    } cases[] = {
        {162, 'X', "bad VR"},          /* (0002,0002) "UI" -> "XI" */
        {163, 'J', "bad VR"},          /* "UI" -> "UJ" */
        {132, 0x84, "(0002,0000) UL"}, /* meta group tag destroyed */
        {136, 'O', "(0002,0000) UL"},  /* its VR */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        memcpy(bad, file, n);
        bad[cases[c].at] = cases[c].to;
        write_file(p, bad, n);
        expect_fail(p, SF_EFORMAT, cases[c].want);
    }
    /* The file cut right after the meta group, and an unknown transfer
     * syntax. */
    size_t meta_end = 132 + 12 + le32_at(file + 140);
    write_file(p, file, meta_end);
    expect_fail(p, SF_EFORMAT, "no data set after the meta group");
    memcpy(bad, file, n);
    uint8_t *ts = NULL;
    for (size_t i = 0; i + 19 <= n && !ts; i++)
        if (!memcmp(bad + i, "1.2.840.10008.1.2.1", 19)) ts = bad + i;
    cr_assert(ts);
    ts[18] = '7';
    write_file(p, bad, n);
    expect_fail(p, SF_EUNSUPPORTED, "transfer syntax");
    sf_test_rmtree(dir);
}

/* --------------------------------------------------------------- HC18 */

static const char *const hc18[] = {
    "000_HC", "001_HC", "002_HC", "010_2HC", "014_3HC", "050_HC", "100_HC",
    "200_HC", "300_HC", "400_HC", "500_HC",  "600_HC",  "700_HC", "805_HC"};

static double hc18_dice(const char *name, const uint8_t *mask, int nx, int ny) {
    char rel[256];
    snprintf(rel, sizeof rel,
             "hc18/annotations_filled_riley/%s_Annotation_"
             "filled.png",
             name);
    uint8_t *ref = NULL;
    int rx, ry;
    sf_err e;
    cr_assert_eq(sf_png_read_gray8(rpath(rel), &ref, &rx, &ry, &e), SF_OK, "%s",
                 e.msg);
    cr_assert(rx == nx && ry == ny);
    double d = hx_dice(mask, ref, (size_t)nx * ny, NULL);
    free(ref);
    return d;
}

Test(readers_real, hc18_fill_vs_third_party) {
    char line[1024] = "";
    for (size_t i = 0; i < sizeof hc18 / sizeof *hc18; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "hc18/annotations/%s_Annotation.png",
                 hc18[i]);
        uint8_t *m = NULL;
        int nx, ny, r = -1;
        sf_err e;
        cr_assert_eq(hx_hc18_read_annotation(rpath(rel), &m, &nx, &ny, &r, &e),
                     SF_OK, "%s", e.msg);
        cr_expect_eq(r, 0, "%s: the outline was not closed", hc18[i]);
        double d = hc18_dice(hc18[i], m, nx, ny);
        cr_expect_gt(d, 0.98, "%s: Dice %.5f", hc18[i], d);
        size_t k = strlen(line);
        snprintf(line + k, sizeof line - k, " %s %.4f", hc18[i], d);
        free(m);
    }
    cr_log_info("HC18 filled outline vs annotations_filled_riley, Dice:%s",
                line);
}

Test(readers_real, hc18_gap_in_outline) {
    /* Cut a 3-px gap into a real outline: the fill must close it. */
    uint8_t *o = NULL, *m;
    int nx, ny, r = -1;
    sf_err e;
    cr_assert_eq(sf_png_read_gray8(rpath("hc18/annotations/"
                                         "100_HC_Annotation.png"),
                                   &o, &nx, &ny, &e),
                 SF_OK);
    /* The outlines are 2-3 px thick: cut a 3-px wide band through the
     * top of the curve (the middle of its topmost run). */
    size_t n = (size_t)nx * ny, at = 0;
    for (size_t i = 0; i < n && !at; i++)
        if (o[i] > 127) at = i;
    int cy = (int)(at / nx), x0 = (int)(at % nx), x1 = x0;
    while (x1 + 1 < nx && o[(size_t)cy * nx + x1 + 1] > 127)
        x1++;
    int cx = (x0 + x1) / 2;
    for (int y = cy; y < cy + 12 && y < ny; y++)
        for (int x = cx - 1; x <= cx + 1; x++)
            o[(size_t)y * nx + x] = 0;
    m = malloc(n);
    cr_assert_eq(hx_hc18_fill_outline(o, nx, ny, m, &r, &e), SF_OK, "%s",
                 e.msg);
    cr_expect_geq(r, 1, "the gap was not noticed");
    double d = hc18_dice("100_HC", m, nx, ny);
    cr_expect_gt(d, 0.98, "Dice with a gap %.5f", d);
    cr_log_info("HC18 100_HC with a 3-px gap: closed at radius %d, Dice %.5f",
                r, d);
    /* No curve at all, and a curve that encloses nothing. */
    memset(o, 0, n);
    cr_expect_eq(hx_hc18_fill_outline(o, nx, ny, m, &r, &e), SF_EFORMAT);
    for (int x = 0; x < nx; x++)
        o[(size_t)(ny / 2) * nx + x] = 255;
    cr_expect_eq(hx_hc18_fill_outline(o, nx, ny, m, &r, &e), SF_EFORMAT);
    free(o);
    free(m);
}

Test(readers_real, png_image) {
    hx_volume *v = must_read(rpath("hc18/images/500_HC.png"));
    cr_expect_str_eq(v->format, "png");
    cr_expect_eq(v->nx, 788);
    cr_expect_eq(v->ny, 545);
    cr_expect_eq(v->nz, 1);
    cr_expect_eq(v->oriented, 0);
    float lo, hi;
    minmax(v, &lo, &hi);
    cr_expect(lo >= 0 && hi <= 255 && hi > 100);
    hx_volume_free(v);
}

/* ------------------------------------------------------- NIfTI, synthetic */

/* A NIfTI-1 single file: int16 (nx, ny, nz) ramp, scl 2x - 5, sform. */
static size_t make_nifti1(uint8_t *b, int nx, int ny, int nz, int dim4) {
    nifti_1_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 348;
    h.dim[0] = dim4 > 1 ? 4 : 3;
    h.dim[1] = (short)nx;
    h.dim[2] = (short)ny;
    h.dim[3] = (short)nz;
    h.dim[4] = (short)dim4;
    for (int i = 5; i < 8; i++)
        h.dim[i] = 1;
    h.datatype = DT_INT16;
    h.bitpix = 16;
    h.pixdim[0] = 1;
    h.pixdim[1] = 0.5f;
    h.pixdim[2] = 0.75f;
    h.pixdim[3] = 2.0f;
    h.vox_offset = 352;
    h.scl_slope = 2;
    h.scl_inter = -5;
    h.sform_code = 1;
    /* i -> -x (RAS), j -> +z, k -> +y: a permuted, flipped grid. */
    float srow[3][4] = {
        {-0.5f, 0, 0, 10}, {0, 0, 2.0f, -20}, {0, 0.75f, 0, 30}};
    memcpy(h.srow_x, srow[0], sizeof h.srow_x);
    memcpy(h.srow_y, srow[1], sizeof h.srow_y);
    memcpy(h.srow_z, srow[2], sizeof h.srow_z);
    memcpy(h.magic, "n+1", 4);
    memcpy(b, &h, sizeof h);
    memset(b + 348, 0, 4);
    int16_t *d = (int16_t *)(void *)(b + 352);
    for (int i = 0; i < nx * ny * nz * dim4; i++)
        d[i] = (int16_t)(i % 1000 - 300);
    return 352 + (size_t)nx * ny * nz * dim4 * 2;
}

Test(readers, nifti1_scaling_and_geometry) {
    char *dir = tmpdir();
    uint8_t *b = calloc(1, 352 + 2 * 4 * 5 * 6);
    size_t n = make_nifti1(b, 4, 5, 6, 1);
    char p[256];
    snprintf(p, sizeof p, "%s/a.nii", dir);
    write_file(p, b, n);
    hx_volume *v = must_read(p);
    cr_expect_eq(v->nx, 4);
    cr_expect_eq(v->ny, 5);
    cr_expect_eq(v->nz, 6);
    for (int i = 0; i < 120; i++)
        cr_expect_eq(v->data[i], 2.0f * (i % 1000 - 300) - 5, "voxel %d", i);
    /* RAS -> LPS: rows x and y negated. */
    cr_expect_float_eq(v->ijk_to_lps[0][0], 0.5, 1e-6);
    cr_expect_float_eq(v->ijk_to_lps[1][2], -2.0, 1e-6);
    cr_expect_float_eq(v->ijk_to_lps[2][1], 0.75, 1e-6);
    cr_expect_float_eq(v->ijk_to_lps[0][3], -10, 1e-6);
    cr_expect_float_eq(v->ijk_to_lps[1][3], 20, 1e-6);
    cr_expect_float_eq(v->spacing_mm[1], 0.75, 1e-6);
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "LSA");
    /* Canonical: every voxel keeps its world position. */
    hx_volume *c = must_read(p);
    must_canon(c);
    cr_expect_str_eq(hx_volume_axcodes(c, ax), "LPS");
    cr_expect(c->nx == 4 && c->ny == 6 && c->nz == 5, "%d %d %d", c->nx, c->ny,
              c->nz);
    for (int k = 0; k < v->nz; k++)
        for (int j = 0; j < v->ny; j++)
            for (int i = 0; i < v->nx; i++) {
                double w[3], q[3];
                hx_volume_to_world(v, i, j, k, w);
                /* Invert c's diagonal-ish affine. */
                for (int a = 0; a < 3; a++)
                    q[a] = (w[a] - c->ijk_to_lps[a][3]) / c->ijk_to_lps[a][a];
                int ci = (int)lround(q[0]), cj = (int)lround(q[1]),
                    ck = (int)lround(q[2]);
                cr_assert(ci >= 0 && ci < c->nx && cj >= 0 && cj < c->ny &&
                          ck >= 0 && ck < c->nz);
                cr_assert_eq(c->data[((size_t)ck * c->ny + cj) * c->nx + ci],
                             v->data[((size_t)k * v->ny + j) * v->nx + i]);
            }
    hx_volume_free(v);
    hx_volume_free(c);
    free(b);
    sf_test_rmtree(dir);
}

Test(readers, nifti2_roundtrip) {
    char *dir = tmpdir();
    nifti_2_header h;
    memset(&h, 0, sizeof h);
    h.sizeof_hdr = 540;
    memcpy(h.magic, "n+2\0\r\n\032\n", 8);
    h.datatype = DT_FLOAT32;
    h.bitpix = 32;
    h.dim[0] = 3;
    h.dim[1] = 3;
    h.dim[2] = 2;
    h.dim[3] = 2;
    for (int i = 4; i < 8; i++)
        h.dim[i] = 1;
    for (int i = 0; i < 4; i++)
        h.pixdim[i] = 1.5;
    h.vox_offset = 544;
    h.sform_code = 2;
    h.srow_x[0] = -1.5;
    h.srow_y[1] = -1.5;
    h.srow_z[2] = 1.5;
    uint8_t b[544 + 12 * 4];
    memset(b, 0, sizeof b);
    memcpy(b, &h, sizeof h);
    float *d = (float *)(void *)(b + 544);
    for (int i = 0; i < 12; i++)
        d[i] = 0.25f * i - 1;
    char p[256];
    snprintf(p, sizeof p, "%s/b.nii", dir);
    write_file(p, b, sizeof b);
    hx_volume *v = must_read(p);
    cr_expect(v->nx == 3 && v->ny == 2 && v->nz == 2);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(v->data[i], 0.25f * i - 1);
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "LPS");
    hx_volume_free(v);
    /* gzip it: same volume. */
    char pz[256];
    snprintf(pz, sizeof pz, "%s/b.nii.gz", dir);
    gzFile g = gzopen(pz, "wb");
    gzwrite(g, b, sizeof b);
    gzclose(g);
    v = must_read(pz);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(v->data[i], 0.25f * i - 1);
    hx_volume_free(v);
    sf_test_rmtree(dir);
}

Test(readers, nifti_corrupt) {
    char *dir = tmpdir();
    char p[256];
    uint8_t *b = calloc(1, 352 + 2 * 4 * 5 * 6 * 2);
    size_t n = make_nifti1(b, 4, 5, 6, 1);
    /* Truncated data. */
    snprintf(p, sizeof p, "%s/trunc.nii", dir);
    write_file(p, b, n - 10);
    expect_fail(p, SF_EFORMAT, "truncated");
    /* Huge dimensions in a 352-byte file: refused before allocating. */
    nifti_1_header h;
    memcpy(&h, b, sizeof h);
    h.dim[1] = h.dim[2] = h.dim[3] = 4000;
    memcpy(b, &h, sizeof h);
    snprintf(p, sizeof p, "%s/huge.nii", dir);
    write_file(p, b, 352);
    expect_fail(p, SF_ERANGE, "exceed");
    h.dim[1] = h.dim[2] = h.dim[3] = 1000; /* 1e9 voxels: within limits */
    memcpy(b, &h, sizeof h);
    write_file(p, b, 352);
    expect_fail(p, SF_EFORMAT, "truncated");
    /* A gzip file claiming a gigabyte. */
    snprintf(p, sizeof p, "%s/huge.nii.gz", dir);
    gzFile g = gzopen(p, "wb");
    gzwrite(g, b, 352);
    gzclose(g);
    expect_fail(p, SF_EFORMAT, "compressed");
    /* 4-D. */
    n = make_nifti1(b, 4, 5, 6, 2);
    snprintf(p, sizeof p, "%s/four.nii", dir);
    write_file(p, b, n);
    expect_fail(p, SF_EUNSUPPORTED, "4-D");
    /* vox_offset far beyond the header limit. */
    n = make_nifti1(b, 4, 5, 6, 1);
    memcpy(&h, b, sizeof h);
    h.vox_offset = 1e9f;
    memcpy(b, &h, sizeof h);
    snprintf(p, sizeof p, "%s/voxoff.nii", dir);
    write_file(p, b, n);
    expect_fail(p, SF_ERANGE, "vox_offset");
    /* Complex datatype. */
    n = make_nifti1(b, 4, 5, 6, 1);
    memcpy(&h, b, sizeof h);
    h.datatype = DT_COMPLEX64;
    h.bitpix = 64;
    memcpy(b, &h, sizeof h);
    snprintf(p, sizeof p, "%s/complex.nii", dir);
    write_file(p, b, n);
    expect_fail(p, SF_EUNSUPPORTED, "datatype");
    /* Not NIfTI at all, by suffix. */
    snprintf(p, sizeof p, "%s/text.nii", dir);
    write_file(p, "hello", 5);
    expect_fail(p, SF_EFORMAT, NULL);
    free(b);
    sf_test_rmtree(dir);
}

Test(readers_real, nifti_truncated_gz) {
    size_t n;
    uint8_t *b = slurp(rpath("totalsegmentator/example_ct_sm.nii.gz"), &n);
    char *dir = tmpdir();
    char p[256];
    snprintf(p, sizeof p, "%s/cut.nii.gz", dir);
    size_t cuts[] = {n / 2, n - 8, 200, 30};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_file(p, b, cuts[i]);
        hx_volume *v = NULL;
        sf_err e;
        memset(&e, 0, sizeof e);
        int rc = hx_volume_read(p, &v, &e);
        cr_expect(rc == SF_EFORMAT, "cut at %zu: rc %d %s", cuts[i], rc, e.msg);
        cr_expect(strstr(e.msg, "cut.nii.gz") != NULL, "%s", e.msg);
        cr_expect_null(v);
        if (i == 0) cr_log_info("truncated .nii.gz: %s", e.msg);
    }
    /* A corrupt CRC: the voxels inflate fine, the trailer does not match. */
    b[n - 7] ^= 0x5a;
    write_file(p, b, n);
    expect_fail(p, SF_EFORMAT, "incorrect data check");
    free(b);
    sf_test_rmtree(dir);
}

/* ---------------------------------------------------------- MetaImage */

static void write_mha(const char *path, const char *header, const void *data,
                      size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(header, f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

Test(readers, metaimage_roundtrip) {
    char *dir = tmpdir();
    char p[256], hdr[1024];
    int16_t s16[5 * 4 * 3];
    for (int i = 0; i < 60; i++)
        s16[i] = (int16_t)(i * 37 - 1000);
    /* Plain .mha, 3-D, axis i along -x, j along +z, k along +y (LPS). */
    snprintf(p, sizeof p, "%s/plain.mha", dir);
    snprintf(hdr, sizeof hdr,
             "ObjectType = Image\nNDims = 3\nBinaryData = True\n"
             "BinaryDataByteOrderMSB = False\nCompressedData = False\n"
             "TransformMatrix = -1 0 0 0 0 1 0 1 0\n"
             "Offset = 1.5 -2 3\nCenterOfRotation = 0 0 0\n"
             "AnatomicalOrientation = RSP\nElementSpacing = 0.5 2 3\n"
             "DimSize = 5 4 3\nElementType = MET_SHORT\n"
             "ElementDataFile = LOCAL\n");
    write_mha(p, hdr, s16, sizeof s16);
    hx_volume *v = must_read(p);
    cr_expect_str_eq(v->format, "metaimage");
    cr_expect(v->nx == 5 && v->ny == 4 && v->nz == 3 && v->oriented);
    for (int i = 0; i < 60; i++)
        cr_expect_eq(v->data[i], s16[i]);
    cr_expect_float_eq(v->ijk_to_lps[0][0], -0.5, 1e-12);
    cr_expect_float_eq(v->ijk_to_lps[2][1], 2.0, 1e-12);
    cr_expect_float_eq(v->ijk_to_lps[1][2], 3.0, 1e-12);
    cr_expect_float_eq(v->ijk_to_lps[0][3], 1.5, 1e-12);
    char ax[4];
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "RSP");
    must_canon(v);
    cr_expect_str_eq(hx_volume_axcodes(v, ax), "LPS");
    cr_expect(v->nx == 5 && v->ny == 3 && v->nz == 4);
    /* Old (i, j, k) = (0, 0, 0) is at canonical (4, 0, 0). */
    cr_expect_eq(v->data[4], s16[0]);
    hx_volume_free(v);

    /* Compressed .mha, floats, with and without CompressedDataSize. */
    float f32[60];
    for (int i = 0; i < 60; i++)
        f32[i] = 0.125f * i - 3;
    uLongf cl = compressBound(sizeof f32);
    uint8_t *cz = malloc(cl);
    cr_assert_eq(compress2(cz, &cl, (const Bytef *)f32, sizeof f32, 9), Z_OK);
    for (int with_size = 0; with_size < 2; with_size++) {
        snprintf(p, sizeof p, "%s/z%d.mha", dir, with_size);
        char extra[64] = "";
        if (with_size)
            snprintf(extra, sizeof extra, "CompressedDataSize = %lu\n",
                     (unsigned long)cl);
        snprintf(hdr, sizeof hdr,
                 "ObjectType = Image\nNDims = 3\nDimSize = 3 4 5\n"
                 "ElementType = MET_FLOAT\nCompressedData = True\n%s"
                 "ElementDataFile = LOCAL\n",
                 extra);
        write_mha(p, hdr, cz, cl);
        v = must_read(p);
        cr_expect(v->nx == 3 && v->ny == 4 && v->nz == 5);
        cr_expect(memcmp(v->data, f32, sizeof f32) == 0);
        hx_volume_free(v);
    }
    /* .mhd + .raw, big-endian unsigned shorts, 2-D image. */
    uint16_t be[6 * 7];
    for (int i = 0; i < 42; i++) {
        uint16_t x = (uint16_t)(i * 1500);
        be[i] = (uint16_t)(x >> 8 | x << 8);
    }
    snprintf(p, sizeof p, "%s/img.raw", dir);
    write_file(p, be, sizeof be);
    snprintf(p, sizeof p, "%s/img.mhd", dir);
    snprintf(hdr, sizeof hdr,
             "ObjectType = Image\r\nNDims = 2\r\nDimSize = 6 7\r\n"
             "ElementSpacing = 0.1 0.2\r\nElementType = MET_USHORT\r\n"
             "BinaryDataByteOrderMSB = True\r\nElementDataFile = img.raw\r\n");
    write_mha(p, hdr, NULL, 0);
    v = must_read(p);
    cr_expect(v->nx == 6 && v->ny == 7 && v->nz == 1 && !v->oriented);
    for (int i = 0; i < 42; i++)
        cr_expect_eq(v->data[i], (float)(i * 1500));
    cr_expect_float_eq(v->spacing_mm[1], 0.2, 1e-12);
    hx_volume_free(v);
    /* Every element type. */
    static const char *const types[] = {"MET_UCHAR", "MET_CHAR",  "MET_USHORT",
                                        "MET_SHORT", "MET_UINT",  "MET_INT",
                                        "MET_FLOAT", "MET_DOUBLE"};
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 8};
    for (int t = 0; t < 8; t++) {
        uint8_t raw[8 * 8];
        for (int i = 0; i < 8; i++) {
            double val = i + 1;
            if (t == 6) {
                float x = (float)val;
                memcpy(raw + 4 * i, &x, 4);
            } else if (t == 7) {
                memcpy(raw + 8 * i, &val, 8);
            } else {
                uint32_t x = (uint32_t)val;
                memcpy(raw + sizes[t] * i, &x, sizes[t]);
            }
        }
        snprintf(p, sizeof p, "%s/t%d.mha", dir, t);
        snprintf(hdr, sizeof hdr,
                 "NDims = 3\nDimSize = 2 2 2\nElementType = %s\n"
                 "ElementDataFile = LOCAL\n",
                 types[t]);
        write_mha(p, hdr, raw, 8 * sizes[t]);
        v = must_read(p);
        for (int i = 0; i < 8; i++)
            cr_expect_eq(v->data[i], (float)(i + 1), "%s voxel %d", types[t],
                         i);
        hx_volume_free(v);
    }
    free(cz);
    sf_test_rmtree(dir);
}

Test(readers, metaimage_corrupt) {
    char *dir = tmpdir();
    char p[256], hdr[1024];
    uint8_t data[4096];
    memset(data, 7, sizeof data);
    const char *base = "ObjectType = Image\nNDims = 3\n";
#define MHA(name, body, nbytes)                                                \
    do {                                                                       \
        snprintf(p, sizeof p, "%s/%s", dir, name);                             \
        snprintf(hdr, sizeof hdr, "%s%s", base, body);                         \
        write_mha(p, hdr, data, nbytes);                                       \
    } while (0)
    MHA("trunc.mha",
        "DimSize = 8 8 8\nElementType = MET_SHORT\nElementDataFile = LOCAL\n",
        1000);
    expect_fail(p, SF_EFORMAT, "truncated");
    MHA("trailing.mha",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
        600);
    expect_fail(p, SF_EFORMAT, "trailing");
    MHA("big.mha",
        "DimSize = 100000 100000 100000\nElementType = MET_UCHAR\n"
        "ElementDataFile = LOCAL\n",
        16);
    expect_fail(p, SF_ERANGE, "exceed");
    MHA("overflow.mha",
        "DimSize = 99999999999999999999999 1 1\nElementType = MET_UCHAR\n"
        "ElementDataFile = LOCAL\n",
        16);
    expect_fail(p, SF_EFORMAT, "DimSize");
    MHA("toomany.mha",
        "DimSize = 2048 2048 1024\nElementType = MET_DOUBLE\n"
        "ElementDataFile = LOCAL\n",
        16);
    expect_fail(p, SF_ERANGE, "voxels");
    MHA("negdim.mha",
        "DimSize = 8 -8 8\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
        512);
    expect_fail(p, SF_EFORMAT, "DimSize");
    MHA("dims2.mha",
        "DimSize = 8 8\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
        512);
    expect_fail(p, SF_EFORMAT, "DimSize");
    MHA("type.mha",
        "DimSize = 8 8 8\nElementType = MET_BOGUS\nElementDataFile = LOCAL\n",
        512);
    expect_fail(p, SF_EUNSUPPORTED, "MET_BOGUS");
    MHA("garbage_z.mha",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\nCompressedData = True\n"
        "ElementDataFile = LOCAL\n",
        400);
    expect_fail(p, SF_EFORMAT, "compressed");
    /* A tiny compressed stream claiming 512 MiB: refused before
     * allocating. */
    MHA("bomb.mha",
        "DimSize = 1024 1024 512\nElementType = MET_UCHAR\n"
        "CompressedData = True\nElementDataFile = LOCAL\n",
        64);
    expect_fail(p, SF_EFORMAT, "cannot hold");
    /* A real zlib stream that inflates to more than DimSize says. */
    {
        uint8_t big[1000];
        memset(big, 3, sizeof big);
        uLongf cl = compressBound(sizeof big);
        uint8_t cz[2048];
        compress2(cz, &cl, big, sizeof big, 9);
        snprintf(p, sizeof p, "%s/long_z.mha", dir);
        snprintf(hdr, sizeof hdr,
                 "NDims = 3\nDimSize = 8 8 8\nElementType = MET_UCHAR\n"
                 "CompressedData = True\nElementDataFile = LOCAL\n");
        write_mha(p, hdr, cz, cl);
        expect_fail(p, SF_EFORMAT, "more than");
        /* ... and one cut short. */
        snprintf(p, sizeof p, "%s/short_z.mha", dir);
        write_mha(p, hdr, cz, cl / 2);
        expect_fail(p, SF_EFORMAT, NULL);
    }
    MHA("escape.mha",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\n"
        "ElementDataFile = ../x.raw\n",
        0);
    expect_fail(p, SF_EFORMAT, "../x.raw");
    MHA("abs.mhd",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\n"
        "ElementDataFile = /etc/passwd\n",
        0);
    expect_fail(p, SF_EFORMAT, "/etc/passwd");
    MHA("dotdot.mhd",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\nElementDataFile = ..\n", 0);
    expect_fail(p, SF_EFORMAT, "refused");
    /* A symbolic link as the data file. */
    snprintf(p, sizeof p, "%s/real.raw", dir);
    write_file(p, data, 512);
    char l[256];
    snprintf(l, sizeof l, "%s/link.raw", dir);
    cr_assert_eq(symlink("real.raw", l), 0);
    MHA("link.mhd",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\n"
        "ElementDataFile = link.raw\n",
        0);
    expect_fail(p, SF_EFORMAT, "symbolic link");
    MHA("missing.mhd",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\n"
        "ElementDataFile = nothere.raw\n",
        0);
    expect_fail(p, SF_EIO, "nothere.raw");
    MHA("list.mhd",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\nElementDataFile = LIST\n",
        0);
    expect_fail(p, SF_EUNSUPPORTED, "LIST");
    MHA("dup.mha",
        "DimSize = 8 8 8\nDimSize = 8 8 8\nElementType = MET_UCHAR\n"
        "ElementDataFile = LOCAL\n",
        512);
    expect_fail(p, SF_EFORMAT, "twice");
    MHA("nodata.mha", "DimSize = 8 8 8\nElementType = MET_UCHAR\n", 0);
    expect_fail(p, SF_EFORMAT, "ElementDataFile");
    MHA("noeq.mha",
        "DimSize 8 8 8\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
        512);
    expect_fail(p, SF_EFORMAT, "Key = Value");
    MHA("nd4.mha",
        "DimSize = 8 8 8\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
        512);
    snprintf(hdr, sizeof hdr,
             "NDims = 4\nDimSize = 2 2 2 2\n"
             "ElementType = MET_UCHAR\n"
             "ElementDataFile = LOCAL\n");
    write_mha(p, hdr, data, 16);
    expect_fail(p, SF_EUNSUPPORTED, "NDims");
    MHA("chan.mha",
        "DimSize = 8 8 8\nElementNumberOfChannels = 3\n"
        "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
        1536);
    expect_fail(p, SF_EUNSUPPORTED, "channels");
    MHA("spacing.mha",
        "DimSize = 8 8 8\nElementSpacing = 1 0 1\nElementType = MET_UCHAR\n"
        "ElementDataFile = LOCAL\n",
        512);
    expect_fail(p, SF_EFORMAT, "ElementSpacing");
    MHA("nan.mha",
        "DimSize = 8 8 8\nOffset = 1 nan 2\nElementType = MET_UCHAR\n"
        "ElementDataFile = LOCAL\n",
        512);
    expect_fail(p, SF_EFORMAT, "Offset");
    /* A header line longer than the limit, and no newline at all. */
    {
        size_t big = 10000;
        char *h = malloc(big + 64);
        memcpy(h, "NDims = 3\nComment = ", 20);
        memset(h + 20, 'x', big);
        strcpy(h + 20 + big, "\n");
        snprintf(p, sizeof p, "%s/longline.mha", dir);
        write_mha(p, h, NULL, 0);
        expect_fail(p, SF_EFORMAT, "longer than");
        snprintf(p, sizeof p, "%s/nonl.mha", dir);
        write_mha(p, "NDims = 3", NULL, 0);
        expect_fail(p, SF_EFORMAT, NULL);
        free(h);
    }
#undef MHA
    sf_test_rmtree(dir);
}

/* --------------------------------------------------------------- TIFF */

/* Write a greyscale TIFF of `pages` pages (value(x, y, page)). */
static void write_tiff(const char *path, int nx, int ny, int pages, int bps,
                       int fmt, int tiled, int compress, int spp) {
    TIFF *t = TIFFOpen(path, "w");
    cr_assert(t, "%s", path);
    size_t es = (size_t)bps / 8;
    uint8_t *row = malloc((size_t)nx * es * spp);
    for (int pg = 0; pg < pages; pg++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, nx);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, ny);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
        TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, fmt);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC,
                     spp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
        TIFFSetField(t, TIFFTAG_COMPRESSION,
                     compress ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE);
        if (pages > 1) {
            TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
            TIFFSetField(t, TIFFTAG_PAGENUMBER, pg, pages);
        }
        if (tiled) {
            TIFFSetField(t, TIFFTAG_TILEWIDTH, 16);
            TIFFSetField(t, TIFFTAG_TILELENGTH, 16);
            uint8_t *tile = malloc(16 * 16 * es);
            for (int ty = 0; ty < ny; ty += 16)
                for (int tx = 0; tx < nx; tx += 16) {
                    memset(tile, 0, 16 * 16 * es);
                    for (int y = 0; y < 16; y++)
                        for (int x = 0; x < 16; x++) {
                            if (tx + x >= nx || ty + y >= ny) continue;
                            uint32_t v =
                                (uint32_t)((tx + x) + 7 * (ty + y) + 1000 * pg);
                            memcpy(tile + (y * 16 + x) * es, &v, es);
                        }
                    TIFFWriteTile(t, tile, tx, ty, 0, 0);
                }
            free(tile);
        } else {
            TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 3);
            for (int y = 0; y < ny; y++) {
                for (int x = 0; x < nx * spp; x++) {
                    uint32_t v = (uint32_t)(x + 7 * y + 1000 * pg);
                    if (fmt == SAMPLEFORMAT_IEEEFP) {
                        float fv = (float)v * 0.5f;
                        memcpy(row + x * es, &fv, 4);
                    } else {
                        memcpy(row + x * es, &v, es);
                    }
                }
                TIFFWriteScanline(t, row, (uint32_t)y, 0);
            }
        }
        TIFFWriteDirectory(t);
    }
    free(row);
    TIFFClose(t);
}

static float tiff_expect(int x, int y, int pg, int bps, int fmt) {
    uint32_t v = (uint32_t)(x + 7 * y + 1000 * pg);
    if (fmt == SAMPLEFORMAT_IEEEFP) return (float)v * 0.5f;
    return (float)(bps == 8 ? (uint8_t)v : (uint16_t)v);
}

Test(readers, tiff_roundtrip) {
    char *dir = tmpdir();
    char p[256];
    static const struct {
        int bps, fmt, tiled, compress, pages;
    } cases[] = {
        {8, SAMPLEFORMAT_UINT, 0, 0, 1},  {16, SAMPLEFORMAT_UINT, 0, 1, 3},
        {16, SAMPLEFORMAT_UINT, 1, 1, 2}, {32, SAMPLEFORMAT_IEEEFP, 0, 0, 2},
        {8, SAMPLEFORMAT_UINT, 1, 0, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        snprintf(p, sizeof p, "%s/t%zu.tif", dir, c);
        write_tiff(p, 37, 21, cases[c].pages, cases[c].bps, cases[c].fmt,
                   cases[c].tiled, cases[c].compress, 1);
        hx_volume *v = must_read(p);
        cr_expect_str_eq(v->format, "tiff");
        cr_expect(v->nx == 37 && v->ny == 21 && v->nz == cases[c].pages);
        for (int pg = 0; pg < v->nz; pg++)
            for (int y = 0; y < 21; y++)
                for (int x = 0; x < 37; x++) {
                    float want =
                        tiff_expect(x, y, pg, cases[c].bps, cases[c].fmt);
                    float got = v->data[((size_t)pg * 21 + y) * 37 + x];
                    if (got != want)
                        cr_assert_eq(got, want, "case %zu (%d,%d,%d)", c, x, y,
                                     pg);
                }
        hx_volume_free(v);
    }
    sf_test_rmtree(dir);
}

Test(readers, tiff_corrupt) {
    char *dir = tmpdir();
    char p[256];
    snprintf(p, sizeof p, "%s/full.tif", dir);
    write_tiff(p, 64, 48, 2, 16, SAMPLEFORMAT_UINT, 0, 1, 1);
    size_t n;
    uint8_t *b = slurp(p, &n);
    /* Truncated at several points: a clean error each time. */
    size_t cuts[] = {n / 2, n - 100, 200, 16, 8};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        snprintf(p, sizeof p, "%s/cut%zu.tif", dir, i);
        write_file(p, b, cuts[i]);
        hx_volume *v = NULL;
        sf_err e;
        memset(&e, 0, sizeof e);
        int rc = hx_volume_read(p, &v, &e);
        cr_expect(rc == SF_EFORMAT, "cut %zu: rc %d %s", cuts[i], rc, e.msg);
        cr_expect(strstr(e.msg, "cut") != NULL, "%s", e.msg);
        hx_volume_free(v);
    }
    free(b);
    /* Colour. */
    snprintf(p, sizeof p, "%s/rgb.tif", dir);
    write_tiff(p, 8, 8, 1, 8, SAMPLEFORMAT_UINT, 0, 0, 3);
    expect_fail(p, SF_EUNSUPPORTED, "greyscale");
    /* Pages of different sizes. */
    snprintf(p, sizeof p, "%s/mixed.tif", dir);
    TIFF *t = TIFFOpen(p, "w");
    for (int pg = 0; pg < 2; pg++) {
        int w = pg ? 9 : 8;
        uint8_t row[16] = {0};
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, 4);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
        for (int y = 0; y < 4; y++)
            TIFFWriteScanline(t, row, y, 0);
        TIFFWriteDirectory(t);
    }
    TIFFClose(t);
    expect_fail(p, SF_EFORMAT, "page 1");
    /* A width beyond the limit in a tiny file. */
    snprintf(p, sizeof p, "%s/wide.tif", dir);
    t = TIFFOpen(p, "w");
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 100000);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 1);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    uint8_t *wide = calloc(100000, 1);
    TIFFWriteScanline(t, wide, 0, 0);
    free(wide);
    TIFFClose(t);
    expect_fail(p, SF_ERANGE, "exceed");
    sf_test_rmtree(dir);
}

/* ------------------------------------------------------ PNG, synthetic */

Test(readers, png_16bit_and_corrupt) {
    char *dir = tmpdir();
    char p[256];
    uint16_t px[5 * 3];
    for (int i = 0; i < 15; i++)
        px[i] = (uint16_t)(i * 4000 + 7);
    snprintf(p, sizeof p, "%s/a.png", dir);
    sf_err e;
    cr_assert_eq(sf_png_write_gray16(p, px, 5, 3, 6, &e), SF_OK);
    hx_volume *v = must_read(p);
    for (int i = 0; i < 15; i++)
        cr_expect_eq(v->data[i], (float)px[i]);
    hx_volume_free(v);
    size_t n;
    uint8_t *b = slurp(p, &n);
    snprintf(p, sizeof p, "%s/cut.png", dir);
    write_file(p, b, n - 20);
    expect_fail(p, SF_EFORMAT, NULL);
    write_file(p, b, 20);
    expect_fail(p, SF_EFORMAT, NULL);
    /* IHDR claiming 5000 x 5000: refused before decoding. */
    b[16] = 0, b[17] = 0, b[18] = 0x13, b[19] = 0x88;
    b[20] = 0, b[21] = 0, b[22] = 0x13, b[23] = 0x88;
    write_file(p, b, n);
    expect_fail(p, SF_ERANGE, "exceed");
    free(b);
    sf_test_rmtree(dir);
}

/* ------------------------------------------------- canonical, synthetic */

Test(readers, canonical_every_permutation) {
    /* 3 x 4 x 5 volume, value = index; each axis permutation and flip
     * pattern: world positions are kept and the result is LPS+. */
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int pi = 0; pi < 6; pi++)
        for (int fl = 0; fl < 8; fl++) {
            hx_volume *v = calloc(1, sizeof *v);
            v->nx = 3;
            v->ny = 4;
            v->nz = 5;
            v->oriented = 1;
            v->data = malloc(60 * sizeof(float));
            for (int i = 0; i < 60; i++)
                v->data[i] = (float)i;
            for (int a = 0; a < 3; a++) {
                double s = (fl >> a & 1) ? -1.0 : 1.0;
                v->ijk_to_lps[perms[pi][a]][a] = s * (a + 1);
                /* A small obliquity: dominant axes still clear. */
                v->ijk_to_lps[(perms[pi][a] + 1) % 3][a] = 0.1;
            }
            v->ijk_to_lps[0][3] = 5;
            v->ijk_to_lps[1][3] = -7;
            v->ijk_to_lps[2][3] = 11;
            v->ijk_to_lps[3][3] = 1;
            hx_volume old = *v;
            float *od = malloc(60 * sizeof(float));
            memcpy(od, v->data, 60 * sizeof(float));
            must_canon(v);
            char ax[4];
            cr_expect_str_eq(hx_volume_axcodes(v, ax), "LPS", "perm %d flip %d",
                             pi, fl);
            for (int a = 0; a < 3; a++)
                cr_expect_gt(v->ijk_to_lps[a][a], 0);
            /* Every old voxel's world position holds its value. */
            for (int k = 0; k < 5; k++)
                for (int j = 0; j < 4; j++)
                    for (int i = 0; i < 3; i++) {
                        double w[3];
                        hx_volume_to_world(&old, i, j, k, w);
                        /* Solve the new affine (3x3) by Cramer's rule. */
                        double m[3][3], r[3];
                        for (int x = 0; x < 3; x++) {
                            for (int y = 0; y < 3; y++)
                                m[x][y] = v->ijk_to_lps[x][y];
                            r[x] = w[x] - v->ijk_to_lps[x][3];
                        }
                        double det =
                            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                            m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                            m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
                        int q[3];
                        for (int c = 0; c < 3; c++) {
                            double t[3][3];
                            memcpy(t, m, sizeof t);
                            for (int x = 0; x < 3; x++)
                                t[x][c] = r[x];
                            double d =
                                t[0][0] *
                                    (t[1][1] * t[2][2] - t[1][2] * t[2][1]) -
                                t[0][1] *
                                    (t[1][0] * t[2][2] - t[1][2] * t[2][0]) +
                                t[0][2] *
                                    (t[1][0] * t[2][1] - t[1][1] * t[2][0]);
                            q[c] = (int)lround(d / det);
                        }
                        cr_assert(q[0] >= 0 && q[0] < v->nx && q[1] >= 0 &&
                                  q[1] < v->ny && q[2] >= 0 && q[2] < v->nz);
                        cr_assert_eq(
                            v->data[((size_t)q[2] * v->ny + q[1]) * v->nx +
                                    q[0]],
                            od[(k * 4 + j) * 3 + i]);
                    }
            free(od);
            hx_volume_free(v);
        }
}

/* ------------------------------------------------ the table, generically */

Test(readers, table_and_null_safety) {
    const hx_reader_ops *const *t = hx_readers();
    int n = 0;
    for (; t[n]; n++) {
        cr_expect(t[n]->name && t[n]->suffixes && t[n]->suffixes[0]);
        cr_expect(t[n]->open && t[n]->read_volume && t[n]->close);
        cr_expect_eq(hx_reader_by_name(t[n]->name), t[n]);
        if (t[n]->sniff) cr_expect_eq(t[n]->sniff((const uint8_t *)"", 0), 0);
        t[n]->close(NULL);
    }
    cr_expect_eq(n, 5);
    cr_expect_null(hx_reader_by_name("nope"));
    hx_volume_free(NULL);
    hx_reader_close(NULL);
    hx_volume *v = NULL;
    sf_err e;
    cr_expect_eq(hx_volume_read(NULL, &v, &e), SF_EINVAL);
    cr_expect_eq(hx_volume_read("x", NULL, NULL), SF_EINVAL);
    cr_expect_eq(hx_volume_read("/nonexistent/file.nii", &v, NULL), SF_EIO);
    cr_expect_eq(hx_volume_canonical(NULL, NULL), SF_EINVAL);
    cr_expect_null(hx_reader_header(NULL));
    cr_expect_eq(hx_reader_read(NULL, &v, NULL), SF_EINVAL);
    /* Unknown content with an unknown suffix. */
    char *dir = tmpdir();
    char p[256];
    snprintf(p, sizeof p, "%s/x.bin", dir);
    write_file(p, "abcdefgh", 8);
    expect_fail(p, SF_EUNSUPPORTED, NULL);
    sf_test_rmtree(dir);
}

/* Small valid files per reader, written here: variant 0 for every reader;
 * DICOM also variant 1, a real JPEG 2000 slice when ../shared is there.
 * Returns 0 when there is no such variant. */
static int make_sample(const hx_reader_ops *ops, int variant, const char *dir,
                       char *p, size_t np) {
    if (variant > 0 && strcmp(ops->name, "dicom")) return 0;
    if (!strcmp(ops->name, "dicom") && variant == 0) {
        uint16_t px[48];
        for (int i = 0; i < 48; i++)
            px[i] = (uint16_t)(i * 1000);
        uint8_t file[8192];
        size_t n = make_dicom(file, 1, "7.7", 1, "0\\0\\0", "1\\0\\0\\0\\1\\0",
                              8, 6, 12, 1, "1", "-1024", px, -1);
        snprintf(p, np, "%s/s.dcm", dir);
        write_file(p, file, n);
    } else if (!strcmp(ops->name, "nifti")) {
        uint8_t *b = calloc(1, 352 + 2 * 6 * 5 * 4);
        size_t n = make_nifti1(b, 6, 5, 4, 1);
        snprintf(p, np, "%s/s.nii", dir);
        write_file(p, b, n);
        free(b);
    } else if (!strcmp(ops->name, "metaimage")) {
        uint8_t d[6 * 5 * 4 * 2];
        for (size_t i = 0; i < sizeof d; i++)
            d[i] = (uint8_t)(i * 31);
        snprintf(p, np, "%s/s.mha", dir);
        write_mha(p,
                  "ObjectType = Image\nNDims = 3\nDimSize = 6 5 4\n"
                  "ElementSpacing = 1 1 2\nOffset = 0 0 0\n"
                  "TransformMatrix = 1 0 0 0 1 0 0 0 1\n"
                  "ElementType = MET_SHORT\nElementDataFile = LOCAL\n",
                  d, sizeof d);
    } else if (!strcmp(ops->name, "png")) {
        uint8_t px[12 * 9];
        for (size_t i = 0; i < sizeof px; i++)
            px[i] = (uint8_t)(i * 7);
        snprintf(p, np, "%s/s.png", dir);
        sf_err e;
        cr_assert_eq(sf_png_write_gray8(p, px, 12, 9, 6, &e), SF_OK);
    } else if (!strcmp(ops->name, "tiff")) {
        snprintf(p, np, "%s/s.tif", dir);
        write_tiff(p, 20, 17, 2, 16, SAMPLEFORMAT_UINT, 0, 1, 1);
    } else if (!strcmp(ops->name, "dicom") && variant == 1) {
        char src[1200];
        if (!sf_test_fixture(
                "realdata/totalsegmentator/example_ct_dicom/"
                "CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016583",
                src, sizeof src))
            return 0;
        size_t n;
        uint8_t *b = slurp(src, &n);
        snprintf(p, np, "%s/s_j2k.dcm", dir);
        write_file(p, b, n);
        free(b);
    } else {
        return 0;
    }
    return 1;
}

Test(readers, every_reader_deterministic) {
    char *dir = tmpdir();
    for (const hx_reader_ops *const *t = hx_readers(); *t; t++)
        for (int variant = 0; variant < 2; variant++) {
            char p[256];
            if (!make_sample(*t, variant, dir, p, sizeof p)) continue;
            const hx_reader_ops *found = NULL;
            sf_err e;
            cr_expect_eq(hx_reader_find(p, &found, &e), SF_OK);
            cr_expect_eq(found, *t, "%s picked for %s",
                         found ? found->name : "-", (*t)->name);
            hx_reader *r = NULL;
            cr_assert_eq(hx_reader_open(p, &r, &e), SF_OK, "%s", e.msg);
            const hx_volume *h = hx_reader_header(r);
            cr_expect_null(h->data);
            hx_volume *a = NULL, *b = NULL;
            cr_assert_eq(hx_reader_read(r, &a, &e), SF_OK, "%s", e.msg);
            cr_assert_eq(hx_reader_read(r, &b, &e), SF_OK, "%s", e.msg);
            cr_expect(a->nx == h->nx && a->ny == h->ny && a->nz == h->nz);
            cr_expect(memcmp(a->data, b->data, nvox(a) * sizeof(float)) == 0,
                      "%s: two reads differ", (*t)->name);
            hx_volume *c = must_read(p);
            cr_expect(memcmp(a->data, c->data, nvox(a) * sizeof(float)) == 0);
            hx_volume_free(a);
            hx_volume_free(b);
            hx_volume_free(c);
            hx_reader_close(r);
        }
    sf_test_rmtree(dir);
}

/* Fuzz smoke: truncations, random bytes and byte mutations of a valid
 * file, for every reader. Each must end in SF_OK (a sane volume) or a
 * clean error naming the file; under ASan/UBSan, never a crash. */
Test(readers, every_reader_fuzz_smoke, .timeout = 600) {
    char *dir = tmpdir();
    int n_ok = 0, n_err = 0;
    for (const hx_reader_ops *const *t = hx_readers(); *t; t++)
        for (int variant = 0; variant < 2; variant++) {
            char p[256], q[256];
            if (!make_sample(*t, variant, dir, p, sizeof p)) continue;
            size_t n;
            uint8_t *orig = slurp(p, &n), *b = malloc(n + 1024);
            const char *suf = strrchr(p, '.');
            snprintf(q, sizeof q, "%s/fuzz%s", dir, suf);
            /* JPEG 2000 decoding is slow: fewer rounds for the real slice. */
            int rounds = variant == 1 ? 60 : 400;
            for (int r = 0; r < rounds; r++) {
                size_t len = n;
                memcpy(b, orig, n);
                int kind = r % 4;
                if (kind == 0) {
                    len = (size_t)(rnd() % (n + 1)); /* truncation */
                } else if (kind == 1) {
                    /* Mutate 1..8 bytes, mostly in the header. */
                    int m = 1 + (int)(rnd() % 8);
                    size_t span = n < 1024 ? n : 1024;
                    for (int k = 0; k < m; k++) {
                        size_t at = rnd() % 2 ? rnd() % span : rnd() % n;
                        b[at] = (uint8_t)rnd();
                    }
                } else if (kind == 2) {
                    /* Interesting values over a 4-byte field. */
                    static const uint32_t iv[] = {
                        0, 1, 0x7fffffff, 0xffffffff, 0x80000000, 0xffff, 4097};
                    size_t span = n < 600 ? n : 600;
                    size_t at = rnd() % (span > 4 ? span - 4 : 1);
                    uint32_t v = iv[rnd() % 7];
                    if (at + 4 <= n) memcpy(b + at, &v, 4);
                } else {
                    len = (size_t)(rnd() % 700);
                    for (size_t k = 0; k < len; k++)
                        b[k] = (uint8_t)rnd();
                    if (len >= 8 && rnd() % 2) memcpy(b, orig, 8); /* magic */
                }
                write_file(q, b, len);
                hx_reader *rd = NULL;
                hx_volume *v = NULL;
                sf_err e;
                memset(&e, 0, sizeof e);
                int rc = hx_reader_open_with(*t, q, &rd, &e);
                if (rc == SF_OK) rc = hx_reader_read(rd, &v, &e);
                if (rc == SF_OK) {
                    cr_assert(v && v->nx >= 1 && v->ny >= 1 && v->nz >= 1 &&
                              (uint64_t)v->nx * v->ny * v->nz <=
                                  HX_VOL_MAX_VOXELS);
                    n_ok++;
                } else {
                    cr_assert(rc < 0 && v == NULL);
                    cr_assert(strstr(e.msg, "fuzz") != NULL,
                              "%s: error does not name the file: %s",
                              (*t)->name, e.msg);
                    n_err++;
                }
                hx_volume_free(v);
                hx_reader_close(rd);
            }
            free(orig);
            free(b);
        }
    cr_log_info("fuzz smoke: %d inputs read, %d refused cleanly", n_ok, n_err);
    sf_test_rmtree(dir);
}

/* A crafted JPEG 2000 DICOM (found by fuzz_dicom) makes GDCM's codec
 * crash: the decode runs in a child process, so reading it is an error
 * naming the file, and this process goes on. */
Test(readers, dicom_decoder_crash_is_an_error_not_a_crash) {
    const char *src = "tests/fuzz/regress/dicom/gdcm-jpeg2000-segv.dcm";
    FILE *f = fopen(src, "rb");
    cr_assert_not_null(f, "%s missing (run from the repository root)", src);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *dir = tmpdir(), p[1200];
    snprintf(p, sizeof p, "%s/slice.dcm", dir);
    write_file(p, buf, n);
    hx_volume *v = NULL;
    sf_err e;
    memset(&e, 0, sizeof e);
    int rc = hx_volume_read(dir, &v, &e);
    cr_assert_neq(rc, SF_OK, "the crafted file was accepted");
    cr_expect(strstr(e.msg, "slice.dcm") || strstr(e.where, "slice.dcm"),
              "%s | %s", e.where, e.msg);
    cr_log_info("expected refusal of a crafted file (this test): %s", e.msg);
    sf_test_rmtree(dir);
}
