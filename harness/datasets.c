/*
 * datasets.c - the dataset adapters of `synthfm eval`: one table entry
 * per dataset (name, folder, modality, preprocessing, structures and
 * label values, a `list` function that knows the dataset's own folder
 * layout, data/README.md), and the generic case loader (image + labels
 * -> canonical axial slices, 8-bit image and per-voxel structure bits).
 *
 * Label facts (issue 6; each checked against the dataset's documentation
 * as far as it is public, see data/README.md):
 *   AMOS       1 spleen, 2 right kidney, 3 left kidney, 4 gallbladder,
 *              6 liver, 8 aorta, 10 pancreas, 15 prostate/uterus;
 *              case ids <= 500 CT, > 500 MR
 *   CHAOS      CT: liver 255 (0/255 PNGs); MR grey values liver 63
 *              (55..70), right kidney 126 (110..135), left kidney 189
 *              (175..200), spleen 252 (240..255), one PNG per DICOM file
 *   TotalSeg   one binary NIfTI per structure under segmentations/
 *   CAMUS      1 LV cavity (endocardium), 2 myocardium, 3 left atrium
 *   HC18       ellipse outline, filled (hx_hc18_fill_outline)
 *   FH-PS-AOP  1 pubic symphysis, 2 fetal head
 *   ALFI       128 interphase, 255 mitotic
 */
#include "eval.h"
#include "readers_int.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------- helpers */

static char *xstrdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s) return NULL;
    memcpy(s, a, na);
    size_t k = na;
    if (na && a[na - 1] != '/') s[k++] = '/';
    memcpy(s + k, b, nb + 1);
    return s;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in dir (no dot files), sorted; want_dir: 1 dirs, 0 files. */
static int list_names(const char *dir, int want_dir, char ***out, size_t *n,
                      sf_err *err) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return sf_err_set(err, SF_EIO, "%s: cannot open folder: %s", dir,
                          strerror(errno));
    char **v = NULL;
    size_t k = 0, cap = 0;
    int rc = SF_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = join(dir, e->d_name);
        if (!p) {
            rc = SF_ENOMEM;
            break;
        }
        int ok = want_dir ? sf_path_is_dir(p) : sf_path_is_file(p);
        free(p);
        if (!ok) continue;
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                rc = SF_ENOMEM;
                break;
            }
            v = nv;
        }
        if (!(v[k] = xstrdup(e->d_name))) {
            rc = SF_ENOMEM;
            break;
        }
        k++;
    }
    closedir(d);
    if (rc != SF_OK) {
        for (size_t i = 0; i < k; i++)
            free(v[i]);
        free(v);
        return sf_err_set(err, rc, "out of memory listing %s", dir);
    }
    if (k > 1) qsort(v, k, sizeof *v, cmp_str);
    *out = v;
    *n = k;
    return SF_OK;
}

static void free_names(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void case_clear(hx_case *c) {
    free(c->id);
    free(c->image);
    free(c->labels);
    if (c->struct_files)
        for (int s = 0; s < c->n_structures; s++)
            free(c->struct_files[s]);
    free(c->struct_files);
    memset(c, 0, sizeof *c);
}

void hx_case_list_free(hx_case_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++)
        case_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Append a case; takes id/image/labels (heap strings, may be NULL). */
static hx_case *push_case(hx_case_list *l, const hx_dataset_ops *ds, char *id,
                          char *image, char *labels, int kind) {
    hx_case *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv || !id || !image) {
        if (nv) l->v = nv;
        free(id);
        free(image);
        free(labels);
        return NULL;
    }
    l->v = nv;
    hx_case *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    c->id = id;
    c->image = image;
    c->labels = labels;
    c->label_kind = kind;
    c->n_structures = ds->n_structures;
    memcpy(c->st, ds->structures, (size_t)ds->n_structures * sizeof *c->st);
    return c;
}

static int oom(sf_err *err) {
    return sf_err_set(err, SF_ENOMEM, "out of memory listing cases");
}

static int need_dir(const char *p, const char *what, sf_err *err) {
    if (sf_path_is_dir(p)) return SF_OK;
    return sf_err_set(err, SF_EIO,
                      "%s: %s folder not found (see "
                      "data/README.md for the layout)",
                      p, what);
}

/* ---------------------------------------------------------- structures */

#define ST(n, v)                                                               \
    { n, v, v }
static const hx_structure st_amos[] = {
    ST("spleen", 1),      ST("right_kidney", 2), ST("left_kidney", 3),
    ST("gallbladder", 4), ST("liver", 6),        ST("aorta", 8),
    ST("pancreas", 10),   ST("prostate", 15)};
static const hx_structure st_chaos_ct[] = {{"liver", 128, 255}};
static const hx_structure st_chaos_mr[] = {{"liver", 55, 70},
                                           {"right_kidney", 110, 135},
                                           {"left_kidney", 175, 200},
                                           {"spleen", 240, 255}};
/* TotalSegmentator: binary files; value 1. File names in ts_files. */
static const hx_structure st_ts[] = {
    ST("aorta", 1),        ST("gallbladder", 1), ST("left_kidney", 1),
    ST("right_kidney", 1), ST("liver", 1),       ST("pancreas", 1),
    ST("prostate", 1),     ST("spleen", 1)};
static const char *const ts_files[] = {
    "aorta", "gallbladder", "kidney_left", "kidney_right",
    "liver", "pancreas",    "prostate",    "spleen"};
/* TotalSegmentator's multi-label output (`--ml`, one file
 * <case>/segmentations.nii.gz): class ids of its `total` (CT) and
 * `total_mr` (MR) tasks (totalsegmentator/map_to_binary.py). */
static const hx_structure st_ts_ml_ct[] = {
    ST("aorta", 52),       ST("gallbladder", 4), ST("left_kidney", 3),
    ST("right_kidney", 2), ST("liver", 5),       ST("pancreas", 7),
    ST("prostate", 22),    ST("spleen", 1)};
static const hx_structure st_ts_ml_mr[] = {
    ST("aorta", 23),       ST("gallbladder", 4), ST("left_kidney", 3),
    ST("right_kidney", 2), ST("liver", 5),       ST("pancreas", 7),
    ST("prostate", 17),    ST("spleen", 1)};
static const hx_structure st_camus[] = {ST("lv_endocardium", 1),
                                        ST("left_atrium", 3)};
static const hx_structure st_hc18[] = {ST("fetal_head", 1)};
static const hx_structure st_fhps[] = {ST("pubic_symphysis", 1),
                                       ST("fetal_head", 2)};
static const hx_structure st_alfi[] = {ST("interphase", 128),
                                       ST("mitosis", 255)};
#undef ST
#define NST(a) ((int)(sizeof a / sizeof a[0]))

/* ------------------------------------------------------------ listers */

/* TotalSegmentator V2: <case>/<image_name>, <case>/segmentations/X.nii.gz */
static int list_ts(const hx_dataset_ops *ds, const char *root,
                   const char *image_name, hx_case_list *l, sf_err *err) {
    char **names;
    size_t n;
    int rc = list_names(root, 1, &names, &n, err);
    if (rc != SF_OK) return rc;
    for (size_t i = 0; i < n && rc == SF_OK; i++) {
        char *cdir = join(root, names[i]);
        if (!cdir) {
            rc = oom(err);
            break;
        }
        char *img = join(cdir, image_name);
        if (!img || !sf_path_is_file(img)) {
            free(img);
            free(cdir);
            continue; /* not a case folder */
        }
        hx_case *c =
            push_case(l, ds, xstrdup(names[i]), img, NULL, HX_LABELS_PER_FILE);
        if (!c || !(c->struct_files =
                        calloc(HX_MAX_STRUCTURES, sizeof *c->struct_files))) {
            free(cdir);
            rc = oom(err);
            break;
        }
        int n_found = 0;
        for (int s = 0; s < NST(st_ts); s++) {
            char rel[128];
            snprintf(rel, sizeof rel, "segmentations/%s.nii.gz", ts_files[s]);
            char *p = join(cdir, rel);
            if (p && sf_path_is_file(p))
                c->struct_files[s] = p, n_found++;
            else
                free(p);
        }
        /* No per-structure file: the multi-label file, if there is one. */
        char *ml = n_found ? NULL : join(cdir, "segmentations.nii.gz");
        if (ml && sf_path_is_file(ml)) {
            int mr = !strcmp(image_name, "mri.nii.gz");
            free(c->struct_files);
            c->struct_files = NULL;
            c->labels = ml;
            c->label_kind = HX_LABELS_MAP;
            c->n_structures = mr ? NST(st_ts_ml_mr) : NST(st_ts_ml_ct);
            memcpy(c->st, mr ? st_ts_ml_mr : st_ts_ml_ct,
                   (size_t)c->n_structures * sizeof *c->st);
        } else {
            free(ml);
        }
        free(cdir);
    }
    free_names(names, n);
    return rc;
}

static int list_ts_ct(const hx_dataset_ops *ds, const char *root,
                      hx_case_list *l, sf_err *err) {
    return list_ts(ds, root, "ct.nii.gz", l, err);
}

static int list_ts_mr(const hx_dataset_ops *ds, const char *root,
                      hx_case_list *l, sf_err *err) {
    return list_ts(ds, root, "mri.nii.gz", l, err);
}

/* AMOS: images{Tr,Va}/amos_NNNN.nii.gz + labels{Tr,Va}/same name. */
static int list_amos(const hx_dataset_ops *ds, const char *root,
                     hx_case_list *l, sf_err *err, int want_mr) {
    static const char *const pairs[][2] = {{"imagesTr", "labelsTr"},
                                           {"imagesVa", "labelsVa"}};
    int found = 0, rc = SF_OK;
    for (int p = 0; p < 2 && rc == SF_OK; p++) {
        char *idir = join(root, pairs[p][0]), *ldir = join(root, pairs[p][1]);
        if (!idir || !ldir) {
            free(idir);
            free(ldir);
            return oom(err);
        }
        if (!sf_path_is_dir(idir) || !sf_path_is_dir(ldir)) {
            free(idir);
            free(ldir);
            continue;
        }
        found = 1;
        char **names;
        size_t n;
        rc = list_names(idir, 0, &names, &n, err);
        for (size_t i = 0; i < n && rc == SF_OK; i++) {
            unsigned num;
            if (sscanf(names[i], "amos_%u.nii.gz", &num) != 1 ||
                !ends_with(names[i], ".nii.gz"))
                continue;
            if ((num > 500) != want_mr) continue;
            char *lab = join(ldir, names[i]);
            if (!lab || !sf_path_is_file(lab)) {
                free(lab);
                continue; /* no ground truth: not evaluable */
            }
            char id[64];
            snprintf(id, sizeof id, "amos_%04u", num);
            if (!push_case(l, ds, xstrdup(id), join(idir, names[i]), lab,
                           HX_LABELS_MAP))
                rc = oom(err);
        }
        free_names(names, n);
        free(idir);
        free(ldir);
    }
    if (rc == SF_OK && !found)
        return sf_err_set(err, SF_EIO,
                          "%s: no imagesTr/labelsTr or imagesVa/labelsVa "
                          "folders (AMOS layout, data/README.md)",
                          root);
    return rc;
}

static int list_amos_ct(const hx_dataset_ops *ds, const char *root,
                        hx_case_list *l, sf_err *err) {
    return list_amos(ds, root, l, err, 0);
}

static int list_amos_mr(const hx_dataset_ops *ds, const char *root,
                        hx_case_list *l, sf_err *err) {
    return list_amos(ds, root, l, err, 1);
}

/* CHAOS: Train_Sets/CT/<id>/{DICOM_anon,Ground} and
 * Train_Sets/MR/<id>/T2SPIR/{DICOM_anon,Ground}. */
static int list_chaos(const hx_dataset_ops *ds, const char *root,
                      hx_case_list *l, sf_err *err, int mr) {
    char *base = join(root, mr ? "Train_Sets/MR" : "Train_Sets/CT");
    if (!base) return oom(err);
    int rc =
        need_dir(base, mr ? "CHAOS Train_Sets/MR" : "CHAOS Train_Sets/CT", err);
    char **names = NULL;
    size_t n = 0;
    if (rc == SF_OK) rc = list_names(base, 1, &names, &n, err);
    for (size_t i = 0; i < n && rc == SF_OK; i++) {
        char rel_img[256], rel_gt[256];
        snprintf(rel_img, sizeof rel_img, "%s/%sDICOM_anon", names[i],
                 mr ? "T2SPIR/" : "");
        snprintf(rel_gt, sizeof rel_gt, "%s/%sGround", names[i],
                 mr ? "T2SPIR/" : "");
        char *img = join(base, rel_img), *gt = join(base, rel_gt);
        if (!img || !gt || !sf_path_is_dir(img) || !sf_path_is_dir(gt)) {
            free(img);
            free(gt);
            continue;
        }
        if (!push_case(l, ds, xstrdup(names[i]), img, gt, HX_LABELS_PNG_STACK))
            rc = oom(err);
    }
    free_names(names, n);
    free(base);
    return rc;
}

static int list_chaos_ct(const hx_dataset_ops *ds, const char *root,
                         hx_case_list *l, sf_err *err) {
    return list_chaos(ds, root, l, err, 0);
}

static int list_chaos_mr(const hx_dataset_ops *ds, const char *root,
                         hx_case_list *l, sf_err *err) {
    return list_chaos(ds, root, l, err, 1);
}

/* CAMUS: [database_nifti/]patientNNNN/patientNNNN_{2CH,4CH}_{ED,ES}
 * {.nii.gz,.mhd} + the same with _gt. */
static int list_camus(const hx_dataset_ops *ds, const char *root,
                      hx_case_list *l, sf_err *err) {
    char *sub = join(root, "database_nifti");
    if (!sub) return oom(err);
    const char *base = sf_path_is_dir(sub) ? sub : root;
    char **names;
    size_t n;
    int rc = list_names(base, 1, &names, &n, err);
    static const char *const views[] = {"2CH_ED", "2CH_ES", "4CH_ED", "4CH_ES"};
    static const char *const sufs[] = {".nii.gz", ".mhd"};
    for (size_t i = 0; i < n && rc == SF_OK; i++) {
        if (strncmp(names[i], "patient", 7)) continue;
        for (int v = 0; v < 4 && rc == SF_OK; v++)
            for (int s = 0; s < 2; s++) {
                char ri[256], rg[256];
                snprintf(ri, sizeof ri, "%s/%s_%s%s", names[i], names[i],
                         views[v], sufs[s]);
                snprintf(rg, sizeof rg, "%s/%s_%s_gt%s", names[i], names[i],
                         views[v], sufs[s]);
                char *img = join(base, ri), *gt = join(base, rg);
                if (!img || !gt || !sf_path_is_file(img) ||
                    !sf_path_is_file(gt)) {
                    free(img);
                    free(gt);
                    continue;
                }
                char id[128];
                snprintf(id, sizeof id, "%s_%s", names[i], views[v]);
                if (!push_case(l, ds, xstrdup(id), img, gt, HX_LABELS_MAP))
                    rc = oom(err);
                break;
            }
    }
    free_names(names, n);
    free(sub);
    return rc;
}

/* HC18: training_set/NNN_HC.png + NNN_HC_Annotation.png, or images/ +
 * annotations/ (the layout of ../shared/realdata/hc18). */
static int list_hc18(const hx_dataset_ops *ds, const char *root,
                     hx_case_list *l, sf_err *err) {
    char *ts = join(root, "training_set"), *im = join(root, "images"),
         *an = join(root, "annotations");
    int rc = SF_OK;
    const char *idir = NULL, *adir = NULL;
    if (!ts || !im || !an)
        rc = oom(err);
    else if (sf_path_is_dir(ts))
        idir = adir = ts;
    else if (sf_path_is_dir(im) && sf_path_is_dir(an))
        idir = im, adir = an;
    else
        rc = sf_err_set(err, SF_EIO,
                        "%s: neither training_set/ nor images/ + "
                        "annotations/ (HC18 layout, data/README.md)",
                        root);
    char **names = NULL;
    size_t n = 0;
    if (rc == SF_OK) rc = list_names(idir, 0, &names, &n, err);
    for (size_t i = 0; i < n && rc == SF_OK; i++) {
        if (!ends_with(names[i], "HC.png")) continue;
        char ann[256];
        size_t k = strlen(names[i]) - 4;
        snprintf(ann, sizeof ann, "%.*s_Annotation.png", (int)k, names[i]);
        char *img = join(idir, names[i]), *gt = join(adir, ann);
        if (!img || !gt || !sf_path_is_file(gt)) {
            free(img);
            free(gt);
            continue;
        }
        char id[128];
        snprintf(id, sizeof id, "%.*s", (int)k, names[i]);
        if (!push_case(l, ds, xstrdup(id), img, gt, HX_LABELS_HC18))
            rc = oom(err);
    }
    free_names(names, n);
    free(ts);
    free(im);
    free(an);
    return rc;
}

/* Pairs of same-stem files in two folders (FH-PS-AOP, ALFI). */
static int list_pairs(const hx_dataset_ops *ds, const char *root,
                      const char *isub, const char *lsub,
                      const char *const *isufs, const char *lsuf,
                      hx_case_list *l, sf_err *err) {
    char *idir = join(root, isub), *ldir = join(root, lsub);
    int rc = (!idir || !ldir) ? oom(err) : SF_OK;
    if (rc == SF_OK) rc = need_dir(idir, isub, err);
    if (rc == SF_OK) rc = need_dir(ldir, lsub, err);
    char **names = NULL;
    size_t n = 0;
    if (rc == SF_OK) rc = list_names(idir, 0, &names, &n, err);
    for (size_t i = 0; i < n && rc == SF_OK; i++) {
        const char *suf = NULL;
        for (int s = 0; isufs[s]; s++)
            if (ends_with(names[i], isufs[s])) suf = isufs[s];
        if (!suf) continue;
        size_t k = strlen(names[i]) - strlen(suf);
        char lab[512];
        snprintf(lab, sizeof lab, "%.*s%s", (int)k, names[i], lsuf);
        char *img = join(idir, names[i]), *gt = join(ldir, lab);
        if (!img || !gt || !sf_path_is_file(gt)) {
            free(img);
            free(gt);
            continue;
        }
        char id[256];
        snprintf(id, sizeof id, "%.*s", (int)k, names[i]);
        if (!push_case(l, ds, xstrdup(id), img, gt, HX_LABELS_MAP))
            rc = oom(err);
    }
    free_names(names, n);
    free(idir);
    free(ldir);
    return rc;
}

static int list_fhps(const hx_dataset_ops *ds, const char *root,
                     hx_case_list *l, sf_err *err) {
    static const char *const sufs[] = {".mha", NULL};
    return list_pairs(ds, root, "image_mha", "label_mha", sufs, ".mha", l, err);
}

static int list_alfi(const hx_dataset_ops *ds, const char *root,
                     hx_case_list *l, sf_err *err) {
    static const char *const sufs[] = {".png", ".tif", ".tiff", NULL};
    return list_pairs(ds, root, "images", "masks", sufs, ".png", l, err);
}

/* synthetic-ood: a corpus; structures = instances (per case). */
static int list_ood(const hx_dataset_ops *ds, const char *root, hx_case_list *l,
                    sf_err *err) {
    sf_corpus *c = NULL;
    int rc = sf_corpus_open(root, &c, err);
    if (rc != SF_OK) return rc;
    uint64_t n = sf_corpus_count(c);
    for (uint64_t i = 0; i < n && rc == SF_OK; i++) {
        sf_corpus_sample s;
        if ((rc = sf_corpus_sample_at(c, i, &s, err)) != SF_OK) break;
        char id[32];
        snprintf(id, sizeof id, "%06llu", (unsigned long long)s.index);
        hx_case *k = push_case(l, ds, xstrdup(id), join(root, s.image_path),
                               join(root, s.label_path), HX_LABELS_CORPUS);
        if (!k) {
            rc = oom(err);
            break;
        }
        k->corpus_pos = i;
        k->n_structures = s.n_instances < HX_MAX_STRUCTURES ? s.n_instances
                                                            : HX_MAX_STRUCTURES;
        for (int j = 0; j < k->n_structures; j++) {
            snprintf(k->st[j].name, sizeof k->st[j].name, "instance_%d", j + 1);
            k->st[j].lo = k->st[j].hi = j + 1;
        }
    }
    sf_corpus_close(c);
    return rc;
}

/* -------------------------------------------------------------- table */

#define DS(name, folder, mod, prep, sum, st, fn)                               \
    static const hx_dataset_ops ds_##fn = {name, folder, mod,     prep,        \
                                           sum,  st,     NST(st), fn}
DS("totalseg-ct", "totalseg-ct", "CT", HX_MODALITY_CT,
   "TotalSegmentator V2 CT: <case>/ct.nii.gz + segmentations/", st_ts,
   list_ts_ct);
DS("totalseg-mr", "totalseg-mr", "MR", HX_MODALITY_MR,
   "TotalSegmentator MRI: <case>/mri.nii.gz + segmentations/", st_ts,
   list_ts_mr);
DS("amos-ct", "amos", "CT", HX_MODALITY_CT,
   "AMOS 2022 CT (ids <= 500): images/labels Tr, Va", st_amos, list_amos_ct);
DS("amos-mr", "amos", "MR", HX_MODALITY_MR,
   "AMOS 2022 MR (ids > 500): images/labels Tr, Va", st_amos, list_amos_mr);
DS("chaos-ct", "chaos", "CT", HX_MODALITY_CT,
   "CHAOS CT: Train_Sets/CT/<id>/DICOM_anon + Ground", st_chaos_ct,
   list_chaos_ct);
DS("chaos-mr", "chaos", "MR", HX_MODALITY_MR,
   "CHAOS MR T2-SPIR: Train_Sets/MR/<id>/T2SPIR/DICOM_anon + Ground",
   st_chaos_mr, list_chaos_mr);
DS("camus", "camus", "US", HX_MODALITY_US,
   "CAMUS echocardiography: patientNNNN/patientNNNN_{2,4}CH_{ED,ES}", st_camus,
   list_camus);
DS("hc18", "hc18", "US", HX_MODALITY_US,
   "HC18 fetal head: training_set/NNN_HC.png + _Annotation.png", st_hc18,
   list_hc18);
DS("fh-ps-aop", "fh-ps-aop", "US", HX_MODALITY_US,
   "FH-PS-AOP (PSFHS): image_mha/ + label_mha/", st_fhps, list_fhps);
DS("alfi", "alfi", "microscopy", HX_MODALITY_MR,
   "ALFI DIC microscopy: images/ + masks/ (128 interphase, 255 mitosis)",
   st_alfi, list_alfi);
static const hx_structure st_none[1] = {{"", 0, 0}};
static const hx_dataset_ops ds_list_ood = {
    "synthetic-ood",
    "synthetic-ood",
    "synthetic",
    -1,
    "built-in synthetic OOD split (factory, schemas/factory/ood.yaml)",
    st_none,
    0,
    list_ood};
#undef DS

static const hx_dataset_ops *const ds_table[] = {
    &ds_list_ts_ct,    &ds_list_ts_mr,    &ds_list_amos_ct, &ds_list_amos_mr,
    &ds_list_chaos_ct, &ds_list_chaos_mr, &ds_list_camus,   &ds_list_hc18,
    &ds_list_fhps,     &ds_list_alfi,     &ds_list_ood,     NULL};

const hx_dataset_ops *const *hx_datasets(void) {
    return ds_table;
}

const hx_dataset_ops *hx_dataset_by_name(const char *name) {
    for (int i = 0; name && ds_table[i]; i++)
        if (!strcmp(ds_table[i]->name, name)) return ds_table[i];
    return NULL;
}

int hx_dataset_list(const hx_dataset_ops *ds, const char *root,
                    hx_case_list *out, sf_err *err) {
    memset(out, 0, sizeof *out);
    if (!ds || !root) return sf_err_set(err, SF_EINVAL, "no dataset/root");
    if (!sf_path_is_dir(root))
        return sf_err_set(err, SF_EIO,
                          "%s: data root not found (dataset %s; see "
                          "data/README.md)",
                          root, ds->name);
    snprintf(out->root, sizeof out->root, "%s", root);
    int rc = ds->list(ds, root, out, err);
    if (rc != SF_OK) hx_case_list_free(out);
    return rc;
}

/* -------------------------------------------------------------- sha256 */

int hx_sha256_path(const char *path, char hex[65], sf_err *err) {
    if (!sf_path_is_dir(path)) return sf_sha256_file(path, hex, err);
    char **names;
    size_t n;
    int rc = list_names(path, 0, &names, &n, err);
    if (rc != SF_OK) return rc;
    size_t cap = n * 80 + 1, len = 0;
    char *txt = malloc(cap);
    if (!txt) rc = sf_err_set(err, SF_ENOMEM, "sha256 of %s", path);
    for (size_t i = 0; i < n && rc == SF_OK; i++) {
        char *p = join(path, names[i]), h[65];
        if (!p) {
            rc = sf_err_set(err, SF_ENOMEM, "sha256 of %s", path);
            break;
        }
        rc = sf_sha256_file(p, h, err);
        free(p);
        if (rc != SF_OK) break;
        size_t need = strlen(names[i]) + 67;
        if (len + need + 1 > cap) {
            cap = 2 * (len + need + 1);
            char *t = realloc(txt, cap);
            if (!t) {
                rc = sf_err_set(err, SF_ENOMEM, "sha256 of %s", path);
                break;
            }
            txt = t;
        }
        len += (size_t)sprintf(txt + len, "%s %s\n", names[i], h);
    }
    if (rc == SF_OK && sf_sha256_hex(txt, len, hex) != SF_OK)
        rc = sf_err_set(err, SF_ENOMEM, "sha256 of %s", path);
    free(txt);
    free_names(names, n);
    return rc;
}

/* -------------------------------------------------------------- loader */

void hx_case_data_free(hx_case_data *d) {
    if (!d) return;
    free(d->image);
    free(d->bits);
    free(d);
}

long hx_case_mask(const hx_case_data *d, int z, int s, uint8_t *mask) {
    size_t n = (size_t)d->nx * d->ny;
    const uint32_t *b = d->bits + (size_t)z * n, bit = 1u << s;
    long k = 0;
    for (size_t i = 0; i < n; i++) {
        mask[i] = (b[i] & bit) != 0;
        k += mask[i];
    }
    return k;
}

/* Read a volume and bring it to canonical orientation (3-D only: a 2-D
 * image is used as stored). */
static int read_canon(const char *path, hx_volume **out, sf_err *err) {
    int rc = hx_volume_read(path, out, err);
    if (rc == SF_OK && (*out)->nz > 1 && (*out)->oriented &&
        (rc = hx_volume_canonical(*out, err)) != SF_OK) {
        hx_volume_free(*out);
        *out = NULL;
    }
    return rc;
}

static int same_grid(const hx_volume *a, const hx_volume *b, sf_err *err) {
    if (a->nx == b->nx && a->ny == b->ny && a->nz == b->nz) return SF_OK;
    return sf_err_set(err, SF_EFORMAT,
                      "%s: label grid %dx%dx%d does not match the image "
                      "%s (%dx%dx%d)",
                      b->path, b->nx, b->ny, b->nz, a->path, a->nx, a->ny,
                      a->nz);
}

static void set_bits_map(uint32_t *bits, const float *v, size_t n,
                         const hx_structure *st, int n_st) {
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] > 0.5f)) continue;
        long x = lrintf(v[i]);
        for (int s = 0; s < n_st; s++)
            if (x >= st[s].lo && x <= st[s].hi) bits[i] |= 1u << s;
    }
}

/* CHAOS: the PNG slices of `gt` (name order = DICOM file name order)
 * placed at the series' slice index of the same-rank DICOM file, in the
 * stored (not yet canonical) geometry of img. */
static int chaos_labels(const hx_case *c, const hx_volume *img, hx_volume **out,
                        sf_err *err) {
    char **dn = NULL, **pn = NULL;
    size_t nd = 0, np = 0, ni = 0;
    double *d = NULL;
    int *rank = NULL, rc;
    hx_volume *lab = NULL;
    if ((rc = list_names(c->image, 0, &dn, &nd, err)) != SF_OK) goto out;
    if ((rc = list_names(c->labels, 0, &pn, &np, err)) != SF_OK) goto out;
    d = calloc(nd + 1, sizeof *d);
    rank = calloc(nd + 1, sizeof *rank);
    if (!d || !rank) {
        rc = sf_err_set(err, SF_ENOMEM, "CHAOS labels");
        goto out;
    }
    for (size_t i = 0; i < nd; i++) {
        char *p = join(c->image, dn[i]), why[128];
        hx__dcm_meta m;
        int r = p ? hx__dcm_read_meta(p, &m, why, sizeof why, err) : SF_ENOMEM;
        free(p);
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == 0) continue;
        const double *a = m.iop, *b = m.iop + 3;
        double nr[3] = {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                        a[0] * b[1] - a[1] * b[0]};
        d[ni++] = m.ipp[0] * nr[0] + m.ipp[1] * nr[1] + m.ipp[2] * nr[2];
    }
    size_t npng = 0;
    for (size_t i = 0; i < np; i++)
        npng += ends_with(pn[i], ".png");
    if (ni != npng || (int)ni != img->nz) {
        rc = sf_err_set(err, SF_EFORMAT,
                        "%s: %zu PNG slices for %zu DICOM images (%d in the "
                        "series)",
                        c->labels, npng, ni, img->nz);
        goto out;
    }
    for (size_t i = 0; i < ni; i++) {
        int r = 0;
        for (size_t j = 0; j < ni; j++)
            r += d[j] < d[i] || (d[j] == d[i] && j < i);
        rank[i] = r;
    }
    if ((rc = hx__rd_volume_alloc(img, &lab, err)) != SF_OK) goto out;
    snprintf(lab->path, sizeof lab->path, "%s", c->labels);
    size_t k = 0, nxy = (size_t)img->nx * img->ny;
    for (size_t i = 0; i < np; i++) {
        if (!ends_with(pn[i], ".png")) continue;
        char *p = join(c->labels, pn[i]);
        uint8_t *px = NULL;
        int w = 0, h = 0;
        rc = p ? sf_png_read_gray8(p, &px, &w, &h, err) : SF_ENOMEM;
        if (rc == SF_OK && (w != img->nx || h != img->ny))
            rc = sf_err_set(err, SF_EFORMAT, "%s: %dx%d, the series is %dx%d",
                            p, w, h, img->nx, img->ny);
        free(p);
        if (rc != SF_OK) {
            free(px);
            goto out;
        }
        float *dst = lab->data + (size_t)rank[k++] * nxy;
        for (size_t q = 0; q < nxy; q++)
            dst[q] = px[q];
        free(px);
    }
    *out = lab;
    lab = NULL;
out:
    hx_volume_free(lab);
    free_names(dn, nd);
    free_names(pn, np);
    free(d);
    free(rank);
    return rc;
}

static int load_corpus_case(const hx_case_list *l, const hx_case *c,
                            hx_case_data *cd, sf_err *err) {
    sf_corpus *corp = NULL;
    uint8_t *img = NULL;
    uint16_t *lab = NULL;
    int nx, ny, rc = sf_corpus_open(l->root, &corp, err);
    if (rc == SF_OK)
        rc = sf_corpus_load(corp, c->corpus_pos, &img, &lab, &nx, &ny, err);
    sf_corpus_close(corp);
    if (rc != SF_OK) return rc;
    size_t n = (size_t)nx * ny;
    cd->nx = nx;
    cd->ny = ny;
    cd->nz = 1;
    cd->spacing_mm[0] = cd->spacing_mm[1] = cd->spacing_mm[2] = 1.0;
    cd->image = img;
    cd->bits = calloc(n, sizeof *cd->bits);
    if (!cd->bits) {
        free(lab);
        return sf_err_set(err, SF_ENOMEM, "case %s", c->id);
    }
    for (size_t i = 0; i < n; i++)
        if (lab[i] >= 1 && lab[i] <= c->n_structures)
            cd->bits[i] = 1u << (lab[i] - 1);
    free(lab);
    return SF_OK;
}

int hx_case_load(const hx_dataset_ops *ds, const hx_case_list *l,
                 const hx_case *c, hx_case_data **out, sf_err *err) {
    hx_case_data *cd = calloc(1, sizeof *cd);
    hx_volume *img = NULL, *lab = NULL;
    int rc = SF_ENOMEM;
    if (!cd) goto out;
    cd->n_structures = c->n_structures;
    memcpy(cd->st, c->st, sizeof cd->st);
    if ((rc = hx_sha256_path(c->image, cd->source_sha256, err)) != SF_OK)
        goto out;
    if (c->label_kind == HX_LABELS_CORPUS) {
        if ((rc = load_corpus_case(l, c, cd, err)) != SF_OK) goto out;
        goto done;
    }
    if (c->label_kind == HX_LABELS_PNG_STACK) {
        /* Labels are placed in the stored geometry, then both are made
         * canonical together. */
        if ((rc = hx_volume_read(c->image, &img, err)) != SF_OK) goto out;
        if ((rc = chaos_labels(c, img, &lab, err)) != SF_OK) goto out;
        if (img->nz > 1 && img->oriented &&
            ((rc = hx_volume_canonical(img, err)) != SF_OK ||
             (rc = hx_volume_canonical(lab, err)) != SF_OK))
            goto out;
    } else if ((rc = read_canon(c->image, &img, err)) != SF_OK) {
        goto out;
    }
    size_t n = (size_t)img->nx * img->ny * img->nz;
    cd->nx = img->nx;
    cd->ny = img->ny;
    cd->nz = img->nz;
    memcpy(cd->spacing_mm, img->spacing_mm, sizeof cd->spacing_mm);
    cd->bits = calloc(n, sizeof *cd->bits);
    cd->image = malloc(n);
    if (!cd->bits || !cd->image) {
        rc = sf_err_set(err, SF_ENOMEM, "case %s: %zu voxels", c->id, n);
        goto out;
    }
    switch (c->label_kind) {
    case HX_LABELS_MAP:
        if ((rc = read_canon(c->labels, &lab, err)) != SF_OK ||
            (rc = same_grid(img, lab, err)) != SF_OK)
            goto out;
        set_bits_map(cd->bits, lab->data, n, c->st, c->n_structures);
        break;
    case HX_LABELS_PNG_STACK:
        set_bits_map(cd->bits, lab->data, n, c->st, c->n_structures);
        break;
    case HX_LABELS_PER_FILE:
        for (int s = 0; s < c->n_structures; s++) {
            if (!c->struct_files || !c->struct_files[s]) continue;
            hx_volume *m = NULL;
            if ((rc = read_canon(c->struct_files[s], &m, err)) != SF_OK ||
                (rc = same_grid(img, m, err)) != SF_OK) {
                hx_volume_free(m);
                goto out;
            }
            for (size_t i = 0; i < n; i++)
                if (m->data[i] > 0.5f) cd->bits[i] |= 1u << s;
            hx_volume_free(m);
        }
        break;
    case HX_LABELS_HC18: {
        uint8_t *mask = NULL;
        int w, h;
        if ((rc = hx_hc18_read_annotation(c->labels, &mask, &w, &h, NULL,
                                          err)) != SF_OK)
            goto out;
        if (w != img->nx || h != img->ny || img->nz != 1) {
            free(mask);
            rc = sf_err_set(err, SF_EFORMAT,
                            "%s: annotation %dx%d does not match the image "
                            "%s (%dx%dx%d)",
                            c->labels, w, h, c->image, img->nx, img->ny,
                            img->nz);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (mask[i]) cd->bits[i] = 1u;
        free(mask);
        break;
    }
    default:
        rc = sf_err_set(err, SF_EINVAL, "case %s: unknown label kind", c->id);
        goto out;
    }
    if (ds->prep >= 0) {
        hx_prep p;
        hx_prep_default(&p, ds->prep);
        rc = hx_preprocess_volume(img->data, img->nx, img->ny, img->nz, &p,
                                  cd->image, err);
        if (rc != SF_OK) {
            sf_err_wrap(err, "%s", c->image);
            goto out;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float v = img->data[i];
            cd->image[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrintf(v);
        }
    }
done:
    *out = cd;
    cd = NULL;
    rc = SF_OK;
out:
    hx_volume_free(img);
    hx_volume_free(lab);
    hx_case_data_free(cd);
    return rc;
}
