/*
 * export.c - a finished corpus in another tool's layout (sf_export.h):
 * nnU-Net v2 raw datasets and Hugging Face ImageFolder directories.
 *
 * What we follow, and where it is written down:
 *  - nnU-Net v2, documentation/dataset_format.md: imagesTr/<case>_XXXX
 *    <file_ending> per channel, labelsTr/<case><file_ending>, dataset.json
 *    with channel_names ("0" -> name; the name picks the normalisation:
 *    anything but "CT", "noNorm", "rescale_0_1", "rgb_to_0_1" is z-score),
 *    labels (name -> int, "background": 0, values consecutive from 0),
 *    numTraining (the number of cases) and file_ending. Its checker
 *    (nnunetv2/experiment_planning/verify_dataset_integrity.py) also
 *    wants equal shape, spacing and affine between a case's image and
 *    label. 2-D data as NIfTI: one slice with spacing 999 across it, as
 *    nnU-Net's own 2-D converters write it; its planner then makes only
 *    the 2d configuration (the median shape has 1 slice).
 *  - Hugging Face datasets, ImageFolder: a split folder (train/) with
 *    metadata.jsonl; the `file_name` column names the image, and any
 *    `<name>_file_name` column becomes another image column `<name>`
 *    (datasets' folder_based_builder.py), so label_file_name gives a
 *    `label` image column; paths are relative to the metadata file.
 *
 * The work per sample (hash check, decode, encode, write) runs in
 * parallel, one sample per task; every output file depends on its sample
 * alone and the index files are written in index order afterwards, so
 * the bytes do not depend on the thread count.
 */
#include "sf_export.h"
#include "sf_int.h"

#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER_NAME    "synthfm_export.json"
#define PARTIAL_MARK   ".synthfm-export-partial"
#define NNUNET_CHANNEL "zscore"
#define NNUNET_ENDING  ".nii.gz"

/* ---------------------------------------------------------------- names */

const char *sf_export_format_name(int format) {
    switch (format) {
    case SF_EXPORT_NNUNET: return "nnunet";
    case SF_EXPORT_IMAGEFOLDER: return "imagefolder";
    default: return NULL;
    }
}

int sf_export_format_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "nnunet")) return SF_EXPORT_NNUNET;
    if (!strcmp(s, "imagefolder")) return SF_EXPORT_IMAGEFOLDER;
    return -1;
}

const char *sf_export_labels_name(int labels) {
    switch (labels) {
    case SF_EXPORT_LABELS_BINARY: return "binary";
    case SF_EXPORT_LABELS_INSTANCES: return "instances";
    default: return NULL;
    }
}

int sf_export_labels_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "binary")) return SF_EXPORT_LABELS_BINARY;
    if (!strcmp(s, "instances")) return SF_EXPORT_LABELS_INSTANCES;
    return -1;
}

/* ------------------------------------------------------------- file ops */

/* 1 when dir has no entry but . and .. */
static int dir_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    return empty;
}

/* rm -rf of a tree we made (never follows symbolic links). */
static int rm_tree(const char *path, sf_err *err) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? SF_OK
                               : sf_err_set(err, SF_EIO, "%s: %m", path);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return sf_err_set(err, SF_EIO, "%s: cannot open: %m", path);
        struct dirent *e;
        int rc = SF_OK;
        char sub[4200];
        while (rc == SF_OK && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rc = rm_tree(sub, err);
        }
        closedir(d);
        if (rc) return rc;
        if (rmdir(path) != 0)
            return sf_err_set(err, SF_EIO, "%s: cannot remove: %m", path);
        return SF_OK;
    }
    if (unlink(path) != 0)
        return sf_err_set(err, SF_EIO, "%s: cannot remove: %m", path);
    return SF_OK;
}

/* Whole file into memory (NUL-terminated); *n its length. */
static int slurp(const char *path, uint8_t **out, size_t *n, sf_err *err) {
    int rc = SF_OK;
    uint8_t *b = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sf_err_set(err, SF_EIO, "%s: cannot open: %m", path);
    if (fseek(f, 0, SEEK_END) != 0) goto io;
    long len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) goto io;
    b = malloc((size_t)len + 1);
    if (!b) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (fread(b, 1, (size_t)len, f) != (size_t)len) goto io;
    b[len] = 0;
    *out = b;
    *n = (size_t)len;
    b = NULL;
    goto out;
io:
    rc = sf_err_set(err, SF_EIO, "%s: read failed: %m", path);
out:
    free(b);
    fclose(f);
    return rc;
}

/* A corpus file's bytes, checked against the manifest's size and hash. */
static int read_checked(const char *dir, const char *rel, uint64_t bytes,
                        const char *sha, uint8_t **out, size_t *n,
                        sf_err *err) {
    char path[4200], hex[65];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (lstat(path, &st) != 0)
        return sf_err_set(err, SF_EIO, "%s: missing: %m", path);
    if (!S_ISREG(st.st_mode))
        return sf_err_set(err, SF_ECORRUPT, "%s: not a regular file", path);
    int rc = slurp(path, out, n, err);
    if (rc) return rc;
    if (*n != bytes || sf_sha256_hex(*out, *n, hex) || strcmp(hex, sha)) {
        free(*out);
        *out = NULL;
        return sf_err_set(err, SF_ECORRUPT,
                          "%s: differs from the manifest (size or SHA-256); "
                          "run synthfm verify",
                          path);
    }
    return SF_OK;
}

/* read_checked without keeping the bytes. */
static int check_file(const char *dir, const char *rel, uint64_t bytes,
                      const char *sha, sf_err *err) {
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = read_checked(dir, rel, bytes, sha, &b, &n, err);
    free(b);
    return rc;
}

static int put_file(const char *dir, const char *rel, const void *data,
                    size_t n, sf_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return sf__write_file(path, data, n, err);
}

static int put_buf(const char *dir, const char *rel, const sf_buf *b,
                   sf_err *err) {
    if (b->oom)
        return sf_err_set(err, SF_ENOMEM, "%s/%s: out of memory", dir, rel);
    return put_file(dir, rel, b->s ? b->s : "", b->len, err);
}

/* -------------------------------------------------------------- context */

typedef struct job {
    const sf_corpus *c;
    const char *corpus_dir;
    const char *stage;
    int format, labels;
    int cap;       /* nnunet instances: ids above become cap */
    int n_classes; /* foreground classes declared */
    int gzip_level;
} job;

/* The sample's base name: images/NAME.png (checked at open). */
static void sample_base(const sf_corpus_sample *s, char *buf, size_t n) {
    const char *p = strrchr(s->image_path, '/');
    snprintf(buf, n, "%s", p ? p + 1 : s->image_path);
    char *dot = strrchr(buf, '.');
    if (dot) *dot = '\0';
}

/* ------------------------------------------------------- one sample */

static int export_nnunet_sample(const job *j, uint64_t pos,
                                const sf_corpus_sample *s, uint64_t *bytes,
                                int *clamped, sf_err *err) {
    int rc, nx = 0, ny = 0;
    uint8_t *img = NULL, *lab8 = NULL, *nii = NULL;
    uint16_t *lab = NULL;
    size_t n_nii = 0;
    char base[64], rel[128], desc[80];
    const double sp[3] = {SF_EXPORT_SPACING_XY_MM, SF_EXPORT_SPACING_XY_MM,
                          SF_EXPORT_SPACING_Z_MM};
    if ((rc = check_file(j->corpus_dir, s->image_path, s->image_bytes,
                         s->image_sha256, err)) ||
        (rc = check_file(j->corpus_dir, s->label_path, s->label_bytes,
                         s->label_sha256, err)) ||
        (rc = sf_corpus_load(j->c, pos, &img, &lab, &nx, &ny, err)))
        goto out;
    sample_base(s, base, sizeof base);
    snprintf(desc, sizeof desc, "synthfm %s sample %llu (synthetic)",
             SF_VERSION, (unsigned long long)s->index);

    if ((rc = sf_nifti_encode_2d(img, nx, ny, SF_NIFTI_UINT8, sp, desc,
                                 j->gzip_level, &nii, &n_nii, err)))
        goto out;
    snprintf(rel, sizeof rel, "imagesTr/synthfm_%s_0000" NNUNET_ENDING, base);
    if ((rc = put_file(j->stage, rel, nii, n_nii, err))) goto out;
    *bytes += n_nii;
    free(nii);
    nii = NULL;

    size_t n = (size_t)nx * (size_t)ny;
    int type = SF_NIFTI_UINT8;
    const void *px = NULL;
    if (j->labels == SF_EXPORT_LABELS_BINARY || j->cap <= 255) {
        lab8 = malloc(n);
        if (!lab8) {
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            uint16_t v = lab[i];
            if (j->labels == SF_EXPORT_LABELS_BINARY) {
                lab8[i] = v != 0;
            } else {
                if (v > j->cap) {
                    v = (uint16_t)j->cap;
                    *clamped = 1;
                }
                lab8[i] = (uint8_t)v;
            }
        }
        px = lab8;
    } else {
        for (size_t i = 0; i < n; i++)
            if (lab[i] > j->cap) {
                lab[i] = (uint16_t)j->cap;
                *clamped = 1;
            }
        px = lab;
        type = SF_NIFTI_UINT16;
    }
    if ((rc = sf_nifti_encode_2d(px, nx, ny, type, sp, desc, j->gzip_level,
                                 &nii, &n_nii, err)))
        goto out;
    snprintf(rel, sizeof rel, "labelsTr/synthfm_%s" NNUNET_ENDING, base);
    if ((rc = put_file(j->stage, rel, nii, n_nii, err))) goto out;
    *bytes += n_nii;
out:
    free(img);
    free(lab);
    free(lab8);
    free(nii);
    return rc;
}

static int export_folder_sample(const job *j, uint64_t pos,
                                const sf_corpus_sample *s, uint64_t *bytes,
                                sf_err *err) {
    int rc, nx = 0, ny = 0;
    uint8_t *b = NULL, *img = NULL, *mask = NULL, *png = NULL;
    uint16_t *lab = NULL;
    size_t n = 0, n_png = 0;
    char base[64], rel[128];
    sample_base(s, base, sizeof base);
    /* The image: the corpus file itself. */
    if ((rc = read_checked(j->corpus_dir, s->image_path, s->image_bytes,
                           s->image_sha256, &b, &n, err)))
        goto out;
    snprintf(rel, sizeof rel, "train/images/%s.png", base);
    if ((rc = put_file(j->stage, rel, b, n, err))) goto out;
    *bytes += n;
    free(b);
    b = NULL;
    snprintf(rel, sizeof rel, "train/labels/%s.png", base);
    if (j->labels == SF_EXPORT_LABELS_INSTANCES) {
        if ((rc = read_checked(j->corpus_dir, s->label_path, s->label_bytes,
                               s->label_sha256, &b, &n, err)))
            goto out;
        if ((rc = put_file(j->stage, rel, b, n, err))) goto out;
        *bytes += n;
        goto out;
    }
    /* Binary: an 8-bit 0/1 mask (decoded and range-checked first). */
    if ((rc = check_file(j->corpus_dir, s->label_path, s->label_bytes,
                         s->label_sha256, err)) ||
        (rc = sf_corpus_load(j->c, pos, &img, &lab, &nx, &ny, err)))
        goto out;
    size_t np = (size_t)nx * (size_t)ny;
    mask = malloc(np);
    if (!mask) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < np; i++)
        mask[i] = lab[i] != 0;
    if ((rc = sf__png_encode(mask, nx, ny, 8, 1, 6, &png, &n_png, err)))
        goto out;
    if ((rc = put_file(j->stage, rel, png, n_png, err))) goto out;
    *bytes += n_png;
out:
    free(b);
    free(img);
    free(lab);
    free(mask);
    free(png);
    return rc;
}

/* -------------------------------------------------------- index files */

static void json_kv_str(sf_buf *b, const char *indent, const char *k,
                        const char *v, int comma) {
    sf_buf_puts(b, indent);
    sf_json_str(b, k);
    sf_buf_puts(b, ": ");
    sf_json_str(b, v);
    sf_buf_puts(b, comma ? ",\n" : "\n");
}

/* Label class names: nnU-Net wants name -> value, values consecutive. */
static void instance_label_name(const job *j, int v, int max_k, char *buf,
                                size_t n) {
    if (v == j->n_classes && max_k > j->cap)
        snprintf(buf, n, "instance_%d_and_above", v);
    else
        snprintf(buf, n, "instance_%d", v);
}

static void build_dataset_json(const job *j, const sf_corpus_info *in,
                               uint64_t n_cases, int max_k, sf_buf *b) {
    char name[160], desc[1024], lname[64];
    sf__dataset_name(in, name, sizeof name);
    sf_buf_puts(b, "{\n  \"channel_names\": {\n");
    json_kv_str(b, "    ", "0", NNUNET_CHANNEL, 0);
    sf_buf_puts(b, "  },\n  \"labels\": {\n    \"background\": 0");
    if (j->labels == SF_EXPORT_LABELS_BINARY) {
        sf_buf_puts(b, ",\n    \"foreground\": 1");
    } else {
        for (int v = 1; v <= j->n_classes; v++) {
            instance_label_name(j, v, max_k, lname, sizeof lname);
            sf_buf_puts(b, ",\n    ");
            sf_json_str(b, lname);
            sf_buf_printf(b, ": %d", v);
        }
    }
    sf_buf_printf(b, "\n  },\n  \"numTraining\": %llu,\n",
                  (unsigned long long)n_cases);
    json_kv_str(b, "  ", "file_ending", NNUNET_ENDING, 1);
    json_kv_str(b, "  ", "name", name, 1);
    snprintf(desc, sizeof desc,
             "Synthetic medical-like 2-D images (no patient data) made by "
             "%s, exported as 2-D NIfTI (one slice, spacing 1 x 1 x 999 "
             "mm). Labels: %s (see README.md).",
             in->generator,
             j->labels == SF_EXPORT_LABELS_BINARY
                 ? "binary, 1 = any instance"
                 : "instance ids of each image (not classes shared across "
                   "images)");
    json_kv_str(b, "  ", "description", desc, 1);
    json_kv_str(b, "  ", "reference",
                "Sengupta et al., SynthFM, arXiv:2504.08177 (2025)", 1);
    json_kv_str(b, "  ", "licence", "CC0-1.0", 1);
    json_kv_str(b, "  ", "release", SF_VERSION, 1);
    json_kv_str(b, "  ", "synthfm_labels", sf_export_labels_name(j->labels), 0);
    sf_buf_puts(b, "}\n");
}

static void build_metadata_jsonl(const sf_corpus *c, sf_buf *b) {
    char base[64];
    for (uint64_t i = 0; i < sf_corpus_count(c); i++) {
        sf_corpus_sample s;
        sf_corpus_sample_at(c, i, &s, NULL);
        sample_base(&s, base, sizeof base);
        sf_buf_printf(b,
                      "{\"file_name\": \"images/%s.png\", "
                      "\"label_file_name\": \"labels/%s.png\", "
                      "\"sample_index\": %llu, \"module\": \"%s\", "
                      "\"n_instances\": %d, \"width\": %d, \"height\": %d}\n",
                      base, base, (unsigned long long)s.index,
                      sf_mode_name(s.module), s.n_instances, s.nx, s.ny);
    }
}

/* synthfm_export.json: what makes this export this export (no time, no
 * absolute path), so a rerun can tell its own finished output. */
static void build_marker(const job *j, const sf_corpus_info *in,
                         const char *identity, uint64_t n, sf_buf *b) {
    char name[160];
    sf__dataset_name(in, name, sizeof name);
    sf_buf_puts(b, "{\n  \"synthfm_export\": 1,\n");
    json_kv_str(b, "  ", "exporter", "synthfm " SF_VERSION, 1);
    json_kv_str(b, "  ", "format", sf_export_format_name(j->format), 1);
    json_kv_str(b, "  ", "labels", sf_export_labels_name(j->labels), 1);
    if (j->format == SF_EXPORT_NNUNET) {
        sf_buf_printf(b, "  \"max_label\": %d,\n  \"classes\": %d,\n", j->cap,
                      j->n_classes);
        sf_buf_printf(b, "  \"gzip_level\": %d,\n", j->gzip_level);
    }
    sf_buf_puts(b, "  \"corpus\": {\n");
    json_kv_str(b, "    ", "name", name, 1);
    json_kv_str(b, "    ", "generator", in->generator, 1);
    json_kv_str(b, "    ", "identity_sha256", identity, 1);
    json_kv_str(b, "    ", "config_sha256", in->config_sha256, 1);
    sf_buf_printf(b,
                  "    \"samples\": %llu,\n    \"first_index\": %llu,\n"
                  "    \"end_index\": %llu\n  }\n}\n",
                  (unsigned long long)n, (unsigned long long)in->first,
                  (unsigned long long)in->end);
}

static void readme_common(sf_buf *b, const sf_corpus_info *in,
                          const char *identity, uint64_t n) {
    char name[160];
    sf__dataset_name(in, name, sizeof name);
    sf_buf_printf(b,
                  "Exported by `synthfm export` (synthfm %s) from the "
                  "SynthFM corpus `%s`: %llu samples [%llu, %llu) of a "
                  "corpus of %llu, master seed %llu, made by %s. Corpus "
                  "identity (SHA-256 over config, seed, count and every "
                  "file hash): `%s`; `synthfm_export.json` records it "
                  "with the export's options.\n\n",
                  SF_VERSION, name, (unsigned long long)n,
                  (unsigned long long)in->first, (unsigned long long)in->end,
                  (unsigned long long)in->sample_count,
                  (unsigned long long)in->master_seed, in->generator, identity);
    sf_buf_puts(b, "The images are synthetic (random shapes, noise and blur "
                   "made by a program): there is no patient data and no "
                   "personal data in them. Licence: CC0-1.0. Method: "
                   "Sengupta et al., \"SynthFM: Training Modality-agnostic "
                   "Foundation Models for Medical Image Segmentation "
                   "without Real Medical Data\", arXiv:2504.08177, 2025.\n\n");
}

static void build_readme_nnunet(const job *j, const sf_corpus_info *in,
                                const char *identity, uint64_t n, int max_k,
                                uint64_t n_clamped, sf_buf *b) {
    sf_buf_puts(b, "# nnU-Net v2 raw dataset from a SynthFM corpus\n\n");
    readme_common(b, in, identity, n);
    sf_buf_printf(
        b,
        "## Layout (nnU-Net v2 `documentation/dataset_format.md`)\n\n"
        "- `imagesTr/synthfm_NNNNNN_0000.nii.gz`: the image of sample "
        "NNNNNN, channel 0 (uint8, the corpus PNG's values)\n"
        "- `labelsTr/synthfm_NNNNNN.nii.gz`: its label map\n"
        "- `dataset.json`: `channel_names` {\"0\": \"%s\"} (z-score "
        "normalisation), `labels`, `numTraining` %llu, `file_ending` "
        "`.nii.gz`\n\n"
        "nnU-Net wants the folder named `DatasetXXX_Name` inside "
        "`$nnUNet_raw`, e.g.\n\n"
        "```sh\nmv OUT \"$nnUNet_raw/Dataset501_SynthFM\"\n"
        "nnUNetv2_plan_and_preprocess -d 501 --verify_dataset_integrity\n"
        "nnUNetv2_train 501 2d 0\n```\n\n"
        "## 2-D images as NIfTI\n\n"
        "Each image is a NIfTI-1 volume with one slice: dim (W, H, 1), "
        "pixdim 1 x 1 x 999 mm (nnU-Net's spacing for 2-D data, so its "
        "planner makes the `2d` configuration only), uint8 images, "
        "qform = sform = the affine diag(-1, -1, 999) in RAS+ (columns "
        "towards patient left, rows towards posterior, as SimpleITK "
        "writes an identity direction), identical in image and label. "
        "Slice 0 shows the PNG as it is (row 0 at the top).\n\n",
        NNUNET_CHANNEL, (unsigned long long)n);
    sf_buf_puts(b, "## Labels\n\n");
    if (j->labels == SF_EXPORT_LABELS_BINARY) {
        sf_buf_puts(
            b, "`--labels binary` (the default): the corpus label maps are "
               "instance maps (0 = background, 1..K per image, K varies); "
               "nnU-Net trains semantic segmentation, one class per value, "
               "so every instance becomes class 1 `foreground` and the "
               "background stays 0. Instance identity is not kept; the "
               "corpus' label PNGs have it.\n");
    } else {
        sf_buf_printf(
            b,
            "`--labels instances`: each label file holds the instance ids "
            "of its image (0 = background, 1..K). dataset.json declares "
            "one class per value 1..%d (the largest K of the corpus is "
            "%d, the cap `--max-label` is %d). Ids are per image: class 3 "
            "of one image has nothing to do with class 3 of another, so "
            "nnU-Net trained on this learns an ordering, not anatomy; use "
            "it for tools that read the nnU-Net layout and do instance "
            "work.",
            j->n_classes, max_k, j->cap);
        if (max_k > j->cap)
            sf_buf_printf(b,
                          " Ids above %d were written as %d "
                          "(`instance_%d_and_above`) in %llu images.",
                          j->cap, j->cap, j->cap,
                          (unsigned long long)n_clamped);
        sf_buf_puts(b, "\n");
    }
}

static void build_readme_folder(const job *j, const sf_corpus_info *in,
                                const char *identity, uint64_t n, sf_buf *b) {
    sf_buf_puts(b, "# SynthFM corpus as a Hugging Face ImageFolder\n\n");
    readme_common(b, in, identity, n);
    sf_buf_puts(
        b, "## Layout\n\n"
           "- `train/images/NNNNNN.png`: 8-bit grayscale images (the corpus "
           "files, byte for byte)\n"
           "- `train/labels/NNNNNN.png`: the label map of each image\n"
           "- `train/metadata.jsonl`: one line per sample, in index order: "
           "`file_name` (the image), `label_file_name` (its label map), "
           "`sample_index`, `module` (shape or boundary), `n_instances`, "
           "`width`, `height`\n\n"
           "```python\nfrom datasets import load_dataset\n"
           "ds = load_dataset(\"imagefolder\", data_dir=\"OUT\", "
           "split=\"train\")\n"
           "ds[0][\"image\"], ds[0][\"label\"], ds[0][\"n_instances\"]\n```\n\n"
           "`datasets` turns `file_name` into the `image` column and "
           "`label_file_name` into a `label` image column (a release that "
           "reads `*_file_name` columns; an older one keeps "
           "`label_file_name` as a path string, relative to "
           "`train/`).\n\n## Labels\n\n");
    if (j->labels == SF_EXPORT_LABELS_INSTANCES)
        sf_buf_puts(b, "`--labels instances` (the default): 16-bit instance "
                       "maps, 0 = background, 1..n_instances = one id per "
                       "instance (PIL mode I;16), as in the corpus.\n");
    else
        sf_buf_puts(b, "`--labels binary`: 8-bit masks, 1 wherever any "
                       "instance is, 0 elsewhere.\n");
}

/* ---------------------------------------------------------------- entry */

int sf_export(const char *corpus_dir, const char *out_arg,
              const sf_export_opts *o, sf_export_stats *st, sf_err *err) {
    int rc = SF_OK, staged = 0;
    sf_corpus *c = NULL;
    sf_buf marker = {0}, idx = {0}, readme = {0};
    uint8_t *old = NULL;
    char out[4096], stage[4200], path[4300], identity[65];
    sf_export_stats s0 = {0};
    double t0 = sf_clock_s();
    job j = {0};
    if (!st) st = &s0;
    memset(st, 0, sizeof *st);

    if (!corpus_dir || !out_arg || !o)
        return sf_err_set(err, SF_EINVAL, "export: NULL argument");
    if (!sf_export_format_name(o->format))
        return sf_err_set(err, SF_EINVAL, "export: unknown format %d",
                          o->format);
    j.format = o->format;
    j.labels = o->labels;
    if (j.labels == SF_EXPORT_LABELS_DEFAULT)
        j.labels = j.format == SF_EXPORT_NNUNET ? SF_EXPORT_LABELS_BINARY
                                                : SF_EXPORT_LABELS_INSTANCES;
    if (!sf_export_labels_name(j.labels))
        return sf_err_set(err, SF_EINVAL, "export: unknown labels mode %d",
                          o->labels);
    j.cap = o->max_label ? o->max_label : SF_EXPORT_MAX_LABEL_DEFAULT;
    if (j.cap < 1 || j.cap > SF_EXPORT_MAX_LABEL_LIMIT)
        return sf_err_set(err, SF_EINVAL, "export: max label %d not 1..%d",
                          o->max_label, SF_EXPORT_MAX_LABEL_LIMIT);
    j.gzip_level = o->gzip_level ? o->gzip_level : 1;
    if (j.gzip_level < 1 || j.gzip_level > 9)
        return sf_err_set(err, SF_EINVAL, "export: gzip level %d not 1..9",
                          o->gzip_level);
    /* OUT without trailing slashes: OUT.partial must be its sibling. */
    size_t ln = strlen(out_arg);
    while (ln > 1 && out_arg[ln - 1] == '/')
        ln--;
    if (ln == 0 || ln >= sizeof out)
        return sf_err_set(err, SF_EINVAL, "export: bad output path '%s'",
                          out_arg);
    memcpy(out, out_arg, ln);
    out[ln] = '\0';
    snprintf(stage, sizeof stage, "%s.partial", out);

    /* The corpus: complete, and what it holds. */
    if ((rc = sf_corpus_open(corpus_dir, &c, err))) goto out;
    const sf_corpus_info *in = sf_corpus_get_info(c);
    uint64_t n = sf_corpus_count(c);
    if (n != in->end - in->first || n == 0) {
        rc = sf_err_set(err, SF_ECORRUPT,
                        "%s is incomplete: %llu of %llu samples (finish it "
                        "with synthfm generate)",
                        corpus_dir, (unsigned long long)n,
                        (unsigned long long)(in->end - in->first));
        goto out;
    }
    int max_k = 0;
    for (uint64_t i = 0; i < n; i++) {
        sf_corpus_sample s;
        if ((rc = sf_corpus_sample_at(c, i, &s, err))) goto out;
        if (s.n_instances > max_k) max_k = s.n_instances;
    }
    j.n_classes = j.labels == SF_EXPORT_LABELS_BINARY ? 1
                  : max_k < 1                         ? 1
                  : max_k < j.cap                     ? max_k
                                                      : j.cap;
    if (j.format == SF_EXPORT_IMAGEFOLDER) j.cap = 0, j.n_classes = 0;
    if ((rc = sf_corpus_identity(c, identity, err))) goto out;
    build_marker(&j, in, identity, n, &marker);
    if (marker.oom) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }

    /* OUT: missing, empty, or this very export already. */
    struct stat sb;
    if (stat(out, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            rc = sf_err_set(err, SF_EEXIST, "%s exists and is not a directory",
                            out);
            goto out;
        }
        if (!dir_empty(out)) {
            size_t n_old = 0;
            snprintf(path, sizeof path, "%s/" MARKER_NAME, out);
            if (access(path, F_OK) == 0 &&
                slurp(path, &old, &n_old, NULL) == SF_OK &&
                n_old == marker.len && !memcmp(old, marker.s, n_old)) {
                st->up_to_date = 1;
                st->n_samples = n;
                st->n_classes = j.n_classes;
                st->max_instances = max_k;
                goto out;
            }
            rc = sf_err_set(err, SF_EEXIST,
                            "%s is not empty and is not a finished "
                            "--format %s --labels %s export of this corpus "
                            "(%s %s); remove it or choose a new directory",
                            out, sf_export_format_name(j.format),
                            sf_export_labels_name(j.labels), MARKER_NAME,
                            access(path, F_OK) == 0 ? "differs" : "missing");
            goto out;
        }
    }

    /* Staging: OUT.partial, ours alone. */
    if (lstat(stage, &sb) == 0) {
        snprintf(path, sizeof path, "%s/" PARTIAL_MARK, stage);
        if (!S_ISDIR(sb.st_mode) || access(path, F_OK) != 0) {
            rc = sf_err_set(err, SF_EEXIST,
                            "%s exists and is not an unfinished synthfm "
                            "export; remove it",
                            stage);
            goto out;
        }
        if ((rc = rm_tree(stage, err))) goto out;
    }
    if (mkdir(stage, 0777) != 0) {
        rc = sf_err_set(err, SF_EIO, "%s: cannot create directory: %m", stage);
        goto out;
    }
    staged = 1;
    if ((rc = put_file(stage, PARTIAL_MARK, "", 0, err))) goto out;
    const char *dirs_nnunet[] = {"imagesTr", "labelsTr", NULL};
    const char *dirs_folder[] = {"train", "train/images", "train/labels", NULL};
    const char *const *dirs =
        j.format == SF_EXPORT_NNUNET ? dirs_nnunet : dirs_folder;
    for (int d = 0; dirs[d]; d++) {
        snprintf(path, sizeof path, "%s/%s", stage, dirs[d]);
        if ((rc = sf_mkdir_p(path, err))) goto out;
    }
    j.c = c;
    j.corpus_dir = corpus_dir;
    j.stage = stage;

    /* The samples, in parallel; the first failure in index order wins. */
    int threads = o->threads > 0 ? o->threads : sf__ncores();
    uint64_t first_bad = UINT64_MAX, done = 0, bytes = 0, n_clamped = 0;
    int stop = 0, cancelled = 0;
    sf_err bad = {0};
#pragma omp parallel for schedule(dynamic) num_threads(threads)
    for (uint64_t i = 0; i < n; i++) {
        int halt;
#pragma omp critical(sf_export_done)
        halt = stop;
        if (halt) continue;
        sf_err e = {0};
        sf_corpus_sample s;
        uint64_t b = 0;
        int clamped = 0, r = sf_corpus_sample_at(c, i, &s, &e);
        if (!r)
            r = j.format == SF_EXPORT_NNUNET
                    ? export_nnunet_sample(&j, i, &s, &b, &clamped, &e)
                    : export_folder_sample(&j, i, &s, &b, &e);
#pragma omp critical(sf_export_done)
        {
            if (r) {
                if (i < first_bad) {
                    first_bad = i;
                    bad = e;
                }
                stop = 1;
            } else {
                bytes += b;
                n_clamped += (uint64_t)clamped;
                done++;
                if (o->progress && !stop &&
                    o->progress(o->progress_ctx, (size_t)done, (size_t)n)) {
                    cancelled = 1;
                    stop = 1;
                }
            }
        }
    }
    if (first_bad != UINT64_MAX) {
        if (err) *err = bad;
        rc = bad.code ? bad.code : SF_EIO;
        goto out;
    }
    if (cancelled) {
        rc = sf_err_set(err, SF_ECANCEL, "export cancelled");
        goto out;
    }

    /* Index files, README, marker; then OUT appears in one rename. */
    if (j.format == SF_EXPORT_NNUNET) {
        build_dataset_json(&j, in, n, max_k, &idx);
        if ((rc = put_buf(stage, "dataset.json", &idx, err))) goto out;
        build_readme_nnunet(&j, in, identity, n, max_k, n_clamped, &readme);
    } else {
        build_metadata_jsonl(c, &idx);
        if ((rc = put_buf(stage, "train/metadata.jsonl", &idx, err))) goto out;
        build_readme_folder(&j, in, identity, n, &readme);
    }
    if ((rc = put_buf(stage, "README.md", &readme, err))) goto out;
    if ((rc = put_buf(stage, MARKER_NAME, &marker, err))) goto out;
    bytes += idx.len + readme.len + marker.len;
    snprintf(path, sizeof path, "%s/" PARTIAL_MARK, stage);
    if (unlink(path) != 0) {
        rc = sf_err_set(err, SF_EIO, "%s: cannot remove: %m", path);
        goto out;
    }
    if (stat(out, &sb) == 0 && rmdir(out) != 0) {
        rc = sf_err_set(err, SF_EEXIST, "%s: cannot replace: %m", out);
        goto out;
    }
    if (rename(stage, out) != 0) {
        rc = sf_err_set(err, SF_EIO, "%s -> %s: rename failed: %m", stage, out);
        goto out;
    }
    staged = 0;
    st->n_samples = n;
    st->bytes_written = bytes;
    st->n_classes = j.n_classes;
    st->max_instances = max_k;
    st->n_clamped = n_clamped;
out:
    if (staged) rm_tree(stage, NULL);
    st->seconds = sf_clock_s() - t0;
    free(old);
    sf_buf_release(&marker);
    sf_buf_release(&idx);
    sf_buf_release(&readme);
    sf_corpus_close(c);
    return rc;
}
