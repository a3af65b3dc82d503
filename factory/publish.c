/*
 * publish.c - the derived files of a corpus directory, made from its
 * manifest alone (nothing is regenerated):
 *
 *   SHA256SUMS      coreutils format, images/ and labels/ files, path order
 *   samples.csv     one row per sample (what croissant.json's record set reads)
 *   croissant.json  MLCommons Croissant 1.0 metadata (JSON-LD)
 *   README.md       dataset card with the corpus' real figures
 *   preview.png     contact sheet of the first samples, label outlines drawn
 *
 * Each file is written through a temporary name and renamed, so a reader
 * never sees half of one. Determinism: every byte is a function of the
 * manifest and the sample files, except the created_at text in README.md
 * and croissant.json, so a merged corpus publishes the same SHA256SUMS,
 * samples.csv and preview.png as a single run. (The preview's captions are
 * drawn by cairo with the installed "DejaVu Sans Mono" or its fontconfig
 * substitute: the same manifest gives the same bytes on one machine, and
 * another font set may move caption pixels.)
 */
#include "sf_int.h"
#include "sf_plot.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

/* Write a text buffer as DIR/NAME, atomically. */
static int put_text(const char *dir, const char *name, const sf_buf *b,
                    sf_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (b->oom) return sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
    return sf_write_atomic(path, b->s ? b->s : "", b->len, 0, err);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n): the smallest value with at
 * least p% of the values at or below it. Integer arithmetic throughout. */
static long percentile(const long *v, size_t n, int p) {
    if (n == 0) return 0;
    size_t rank = ((size_t)p * n + 99) / 100;
    return v[rank ? rank - 1 : 0];
}

/* The contact sheet preview.png (write_preview; the card describes it). */
enum {
    PV_TILE = 256,   /* px, thumbnail side */
    PV_GAP = 8,      /* px between tiles and at the borders */
    PV_CAPTION = 20, /* px, caption band under each tile */
    PV_HEADER = 28,  /* px, title band at the top */
    PV_COLS = 4,
    PV_MAX = 16,
    PV_OUTLINES = 12 /* the largest instances outlined per tile: a boundary
                      * sample's hundreds of outlines would hide the image */
};

/* ----------------------------------------------------------- statistics */

typedef struct stats {
    uint64_t n, n_shape, n_boundary;
    uint64_t n_instances;   /* sum over samples */
    int inst_min, inst_max; /* instances per sample */
    /* the same per module: [0] shape, [1] boundary (min/max valid when
     * the module has samples) */
    uint64_t mod_instances[2];
    int mod_min[2], mod_max[2];
    long area_p5, area_p50, area_p95; /* px, over all instances */
    size_t n_areas;
    uint64_t image_bytes, label_bytes;
    int nx_min, nx_max, ny_min, ny_max;
} stats;

static int collect_stats(const sf_corpus *c, stats *s, sf_err *err) {
    int rc = SF_OK;
    long *areas = NULL;
    sf_instance *in = NULL;
    memset(s, 0, sizeof *s);
    s->n = sf_corpus_count(c);
    for (uint64_t i = 0; i < s->n; i++) {
        sf_corpus_sample sm;
        if ((rc = sf_corpus_sample_at(c, i, &sm, err))) goto out;
        s->n_shape += sm.module == SF_MODE_SHAPE;
        s->n_boundary += sm.module != SF_MODE_SHAPE;
        s->n_instances += (uint64_t)sm.n_instances;
        if (i == 0 || sm.n_instances < s->inst_min)
            s->inst_min = sm.n_instances;
        if (i == 0 || sm.n_instances > s->inst_max)
            s->inst_max = sm.n_instances;
        int m = sm.module != SF_MODE_SHAPE;
        uint64_t n_mod = m ? s->n_boundary : s->n_shape; /* counted above */
        s->mod_instances[m] += (uint64_t)sm.n_instances;
        if (n_mod == 1 || sm.n_instances < s->mod_min[m])
            s->mod_min[m] = sm.n_instances;
        if (n_mod == 1 || sm.n_instances > s->mod_max[m])
            s->mod_max[m] = sm.n_instances;
        if (i == 0 || sm.nx < s->nx_min) s->nx_min = sm.nx;
        if (i == 0 || sm.nx > s->nx_max) s->nx_max = sm.nx;
        if (i == 0 || sm.ny < s->ny_min) s->ny_min = sm.ny;
        if (i == 0 || sm.ny > s->ny_max) s->ny_max = sm.ny;
        s->image_bytes += sm.image_bytes;
        s->label_bytes += sm.label_bytes;
    }
    /* Instance areas from the instances table (n_instances bounds each
     * sample's rows, so the total bounds the array). */
    areas = malloc(((size_t)s->n_instances + 1) * sizeof *areas);
    if (!areas) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < s->n; i++) {
        int k = 0;
        if ((rc = sf_corpus_instances(c, i, &in, &k, err))) goto out;
        for (int j = 0; j < k && s->n_areas < s->n_instances; j++)
            areas[s->n_areas++] = in[j].area;
        free(in);
        in = NULL;
    }
    qsort(areas, s->n_areas, sizeof *areas, cmp_long);
    s->area_p5 = percentile(areas, s->n_areas, 5);
    s->area_p50 = percentile(areas, s->n_areas, 50);
    s->area_p95 = percentile(areas, s->n_areas, 95);
out:
    free(in);
    free(areas);
    return rc;
}

/* ----------------------------------------------------------- SHA256SUMS */

typedef struct sum_entry {
    char path[64];
    char hash[65];
} sum_entry;

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const sum_entry *)a)->path, ((const sum_entry *)b)->path);
}

/* `<sha256>  <path>` lines for every images/ then labels/ file. Index order
 * is already path order when all names have one width (always so for names
 * from sf_sample_name); otherwise the lines are sorted. */
static int build_sums(const sf_corpus *c, sf_buf *b, sf_err *err) {
    uint64_t n = sf_corpus_count(c);
    sum_entry *e = NULL;
    char prev[64] = "";
    int sorted = 1, rc = SF_OK;
    for (int k = 0; k < 2 && sorted; k++)
        for (uint64_t i = 0; i < n && sorted; i++) {
            sf_corpus_sample s;
            if ((rc = sf_corpus_sample_at(c, i, &s, err))) return rc;
            const char *p = k ? s.label_path : s.image_path;
            if ((k || i) && strcmp(prev, p) >= 0) sorted = 0;
            snprintf(prev, sizeof prev, "%s", p);
        }
    if (sorted) {
        for (int k = 0; k < 2; k++)
            for (uint64_t i = 0; i < n; i++) {
                sf_corpus_sample s;
                sf_corpus_sample_at(c, i, &s, NULL);
                sf_buf_printf(b, "%s  %s\n",
                              k ? s.label_sha256 : s.image_sha256,
                              k ? s.label_path : s.image_path);
            }
        return SF_OK;
    }
    e = calloc(2 * (size_t)n + 1, sizeof *e);
    if (!e) return sf_err_set(err, SF_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        sf_corpus_sample s;
        sf_corpus_sample_at(c, i, &s, NULL);
        snprintf(e[2 * i].path, sizeof e->path, "%s", s.image_path);
        snprintf(e[2 * i].hash, sizeof e->hash, "%s", s.image_sha256);
        snprintf(e[2 * i + 1].path, sizeof e->path, "%s", s.label_path);
        snprintf(e[2 * i + 1].hash, sizeof e->hash, "%s", s.label_sha256);
    }
    qsort(e, 2 * (size_t)n, sizeof *e, cmp_entry);
    for (size_t i = 0; i < 2 * (size_t)n; i++)
        sf_buf_printf(b, "%s  %s\n", e[i].hash, e[i].path);
    free(e);
    return SF_OK;
}

/* ---------------------------------------------------------- samples.csv */

/* name: the files' base name (images/NAME.png, labels/NAME.png), the key
 * croissant.json joins the image and label file sets on. */
static const char csv_header[] =
    "sample_index,module,image,label,n_instances,image_sha256,label_sha256,"
    "width,height,name\n";

/* NAME of images/NAME.png. */
static void base_name(const char *path, char *buf, size_t n) {
    const char *p = strrchr(path, '/');
    snprintf(buf, n, "%s", p ? p + 1 : path);
    char *dot = strrchr(buf, '.');
    if (dot) *dot = '\0';
}

static void build_csv(const sf_corpus *c, sf_buf *b) {
    sf_buf_puts(b, csv_header);
    for (uint64_t i = 0; i < sf_corpus_count(c); i++) {
        sf_corpus_sample s;
        sf_corpus_sample_at(c, i, &s, NULL);
        /* Paths are images/DIGITS.png (checked at open): no quoting needed. */
        char name[64];
        base_name(s.image_path, name, sizeof name);
        sf_buf_printf(b, "%llu,%s,%s,%s,%d,%s,%s,%d,%d,%s\n",
                      (unsigned long long)s.index, sf_mode_name(s.module),
                      s.image_path, s.label_path, s.n_instances, s.image_sha256,
                      s.label_sha256, s.nx, s.ny, name);
    }
}

/* ------------------------------------------------------------ citation */

static const char bibtex[] =
    "@article{sengupta2025synthfm,\n"
    "  title   = {SynthFM: Training Modality-agnostic Foundation Models for "
    "Medical Image Segmentation without Real Medical Data},\n"
    "  author  = {Sengupta, Sourya and Chakrabarty, Satrajit and Ravi, "
    "Keerthi Sravan and Avinash, Gopal and Soni, Ravi},\n"
    "  journal = {arXiv preprint arXiv:2504.08177},\n"
    "  year    = {2025}\n"
    "}\n";

static const char license_id[] = "CC0-1.0";
static const char license_url[] = "https://spdx.org/licenses/CC0-1.0.html";

/* Dataset name: the identity a person reads (seed, count, shard). */
void sf__dataset_name(const sf_corpus_info *in, char *buf, size_t n) {
    if (in->shard_count > 1)
        snprintf(buf, n, "synthfm-seed%llu-n%llu-shard%dof%d",
                 (unsigned long long)in->master_seed,
                 (unsigned long long)in->sample_count, in->shard_index,
                 in->shard_count);
    else
        snprintf(buf, n, "synthfm-seed%llu-n%llu",
                 (unsigned long long)in->master_seed,
                 (unsigned long long)in->sample_count);
}

static void describe(sf_buf *b, const sf_corpus_info *in, const stats *s) {
    sf_buf_printf(
        b,
        "Synthetic, medical-like 2D images with instance label maps, made by "
        "the SynthFM data generator (%s) for training promptable "
        "segmentation models (SAM-style) without real medical data. Each "
        "sample comes from one of two modules: the shape-aware module draws "
        "smooth random Bezier shapes with controlled contrast on a blank or "
        "phantom canvas; the boundary-aware module draws adjacent, partly "
        "eroded structures (SynthMorph-style label maps) with subtle "
        "boundaries. Noise (gaussian, poisson, perlin, speckle, rician) and "
        "blur mimic CT, MRI and ultrasound texture. This directory holds %llu "
        "samples (%llu shape, %llu boundary) of %dx%d px with %llu instances "
        "in all, master seed %llu. Method: Sengupta et al., \"SynthFM: "
        "Training Modality-agnostic Foundation Models for Medical Image "
        "Segmentation without Real Medical Data\", arXiv:2504.08177, 2025.",
        in->generator, (unsigned long long)s->n, (unsigned long long)s->n_shape,
        (unsigned long long)s->n_boundary, s->nx_max, s->ny_max,
        (unsigned long long)s->n_instances,
        (unsigned long long)in->master_seed);
}

/* ------------------------------------------------------- croissant.json */

/* A small pretty-printing JSON writer: keys and strings go through
 * sf_json_str (escaping), nesting is tracked for commas and indents. */
typedef struct jw {
    sf_buf *b;
    int depth;
    int first[16];
} jw;

static void jw_sep(jw *w, const char *key) {
    if (w->depth > 0) {
        if (!w->first[w->depth]) sf_buf_puts(w->b, ",");
        sf_buf_puts(w->b, "\n");
        for (int i = 0; i < w->depth; i++)
            sf_buf_puts(w->b, "  ");
        w->first[w->depth] = 0;
    }
    if (key) {
        sf_json_str(w->b, key);
        sf_buf_puts(w->b, ": ");
    }
}

static void jw_open(jw *w, const char *key, const char *brace) {
    jw_sep(w, key);
    sf_buf_puts(w->b, brace);
    if (w->depth < 15) w->depth++;
    w->first[w->depth] = 1;
}

static void jw_close(jw *w, const char *brace) {
    int empty = w->first[w->depth];
    if (w->depth > 0) w->depth--;
    if (!empty) {
        sf_buf_puts(w->b, "\n");
        for (int i = 0; i < w->depth; i++)
            sf_buf_puts(w->b, "  ");
    }
    sf_buf_puts(w->b, brace);
}

static void jw_str(jw *w, const char *key, const char *v) {
    jw_sep(w, key);
    sf_json_str(w->b, v);
}

static void jw_raw(jw *w, const char *key, const char *literal) {
    jw_sep(w, key);
    sf_buf_puts(w->b, literal);
}

/* {"@id": id} as the value of key. */
static void jw_ref(jw *w, const char *key, const char *id) {
    jw_open(w, key, "{");
    jw_str(w, "@id", id);
    jw_close(w, "}");
}

/* The Croissant 1.0 JSON-LD context, as mlcroissant writes it for 1.0
 * datasets (mlcommons/croissant datasets/1.0/, e.g. huggingface-mnist). */
static void croissant_context(jw *w) {
    static const char *const plain[][2] = {
        {"@language", "en"},
        {"@vocab", "https://schema.org/"},
        {"citeAs", "cr:citeAs"},
        {"column", "cr:column"},
        {"conformsTo", "dct:conformsTo"},
        {"cr", "http://mlcommons.org/croissant/"},
        {"rai", "http://mlcommons.org/croissant/RAI/"},
        {NULL, "data"},
        {NULL, "dataType"},
        {"dct", "http://purl.org/dc/terms/"},
        {NULL, "examples"},
        {"extract", "cr:extract"},
        {"field", "cr:field"},
        {"fileProperty", "cr:fileProperty"},
        {"fileObject", "cr:fileObject"},
        {"fileSet", "cr:fileSet"},
        {"format", "cr:format"},
        {"includes", "cr:includes"},
        {"isLiveDataset", "cr:isLiveDataset"},
        {"jsonPath", "cr:jsonPath"},
        {"key", "cr:key"},
        {"md5", "cr:md5"},
        {"parentField", "cr:parentField"},
        {"path", "cr:path"},
        {"recordSet", "cr:recordSet"},
        {"references", "cr:references"},
        {"regex", "cr:regex"},
        {"repeated", "cr:repeated"},
        {"replace", "cr:replace"},
        {"sc", "https://schema.org/"},
        {"separator", "cr:separator"},
        {"source", "cr:source"},
        {"subField", "cr:subField"},
        {"transform", "cr:transform"},
    };
    jw_open(w, "@context", "{");
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        if (plain[i][0]) {
            jw_str(w, plain[i][0], plain[i][1]);
            continue;
        }
        /* typed terms: data and examples are JSON literals, dataType
         * values are vocabulary terms */
        const char *term = plain[i][1];
        char id[32];
        snprintf(id, sizeof id, "cr:%s", term);
        jw_open(w, term, "{");
        jw_str(w, "@id", id);
        jw_str(w, "@type", strcmp(term, "dataType") ? "@json" : "@vocab");
        jw_close(w, "}");
    }
    jw_close(w, "}");
}

/* Field head: @type, @id RS/NAME, name, description, dataType. */
static void field_open(jw *w, const char *rs, const char *name,
                       const char *type, const char *desc) {
    char id[96];
    snprintf(id, sizeof id, "%s/%s", rs, name);
    jw_open(w, NULL, "{");
    jw_str(w, "@type", "cr:Field");
    jw_str(w, "@id", id);
    jw_str(w, "name", name);
    jw_str(w, "description", desc);
    jw_str(w, "dataType", type);
}

/* A field of the "samples" record set read from a samples.csv column;
 * with `references` (a field id) it is a join key (spec: Joins). */
static void csv_field_ref(jw *w, const char *name, const char *type,
                          const char *column, const char *references,
                          const char *desc) {
    field_open(w, "samples", name, type, desc);
    jw_open(w, "source", "{");
    jw_ref(w, "fileObject", "samples.csv");
    jw_open(w, "extract", "{");
    jw_str(w, "column", column);
    jw_close(w, "}");
    jw_close(w, "}");
    if (references) jw_ref(w, "references", references);
    jw_close(w, "}");
}

static void csv_field(jw *w, const char *name, const char *type,
                      const char *column, const char *desc) {
    csv_field_ref(w, name, type, column, NULL, desc);
}

/* A field of the "samples" record set taken from another record set's
 * field through a join ({"@id": field}). */
static void joined_field(jw *w, const char *name, const char *type,
                         const char *from, const char *desc) {
    field_open(w, "samples", name, type, desc);
    jw_ref(w, "source", from);
    jw_close(w, "}");
}

/* A record set with one record per file of a file set: the file's base
 * name (key: what samples.csv's name column holds) and its pixels. */
static void file_record_set(jw *w, const char *rs, const char *fileset,
                            const char *desc, const char *content_desc) {
    char key[96];
    snprintf(key, sizeof key, "%s/name", rs);
    jw_open(w, NULL, "{");
    jw_str(w, "@type", "cr:RecordSet");
    jw_str(w, "@id", rs);
    jw_str(w, "name", rs);
    jw_str(w, "description", desc);
    jw_ref(w, "key", key);
    jw_open(w, "field", "[");
    field_open(w, rs, "name", "sc:Text",
               "Base name of the file (NAME of NAME.png): the join key.");
    jw_open(w, "source", "{");
    jw_ref(w, "fileSet", fileset);
    jw_open(w, "extract", "{");
    jw_str(w, "fileProperty", "filename");
    jw_close(w, "}");
    jw_open(w, "transform", "{");
    jw_str(w, "regex", "^([0-9]+)\\.png$");
    jw_close(w, "}");
    jw_close(w, "}");
    jw_close(w, "}");
    field_open(w, rs, "content", "sc:ImageObject", content_desc);
    jw_open(w, "source", "{");
    jw_ref(w, "fileSet", fileset);
    jw_open(w, "extract", "{");
    jw_str(w, "fileProperty", "content");
    jw_close(w, "}");
    jw_close(w, "}");
    jw_close(w, "}");
    jw_close(w, "]");
    jw_close(w, "}");
}

/* Responsible-AI properties (Croissant RAI 1.0 vocabulary, rai:), the ones
 * the NeurIPS datasets track asks for and what else applies to a
 * synthetic corpus. rai:hasSyntheticData is newer than RAI 1.0. */
static void croissant_rai(jw *w, const sf_corpus_info *in, const stats *s) {
    char t[1024];
    snprintf(t, sizeof t,
             "No data was collected. Every sample is computed by the SynthFM "
             "generator (%s) as a pure function of the master seed (%llu), "
             "the sample index and the resolved config (config.yaml): random "
             "Bezier shapes or SynthMorph-style label maps, their "
             "intensities, noise and blur. synthfm verify --regenerate "
             "re-creates samples from the seeds in manifest.sqlite and "
             "compares bytes.",
             in->generator, (unsigned long long)in->master_seed);
    jw_str(w, "rai:dataCollection", t);
    jw_open(w, "rai:dataCollectionType", "[");
    jw_str(w, NULL,
           "Others: synthetic data, procedurally generated by "
           "software; no real-world source");
    jw_close(w, "]");
    jw_str(w, "rai:dataCollectionRawData",
           "None: no medical images, scans, patients or people were used; "
           "the only input is the generator's parameter ranges "
           "(config.yaml).");
    jw_str(w, "rai:dataPreprocessingProtocol",
           "Objects smaller than min_instance_area px are removed from the "
           "image and the label map alike; instance ids are renumbered "
           "1..K; images are quantised to 8 bits.");
    jw_str(w, "rai:dataAnnotationProtocol",
           "No human annotation. The generator draws each object and writes "
           "its exact pixel mask (16-bit instance ids, 0 = background) with "
           "the image, so labels are exact by construction and carry no "
           "annotator disagreement.");
    jw_str(w, "rai:annotationsPerItem",
           "0 human labels; one generated label map per image.");
    snprintf(t, sizeof t, "The SynthFM generator (%s) that made the images.",
             in->generator);
    jw_open(w, "rai:machineAnnotationTools", "[");
    jw_str(w, NULL, t);
    jw_close(w, "]");
    jw_open(w, "rai:dataUseCases", "[");
    jw_str(w, NULL,
           "Training and validating promptable (SAM-style) "
           "segmentation models without real medical data "
           "(SynthFM, arXiv:2504.08177).");
    jw_str(w, NULL,
           "Studying how generator parameters (shapes, contrast, "
           "noise, blur) affect segmentation models.");
    jw_str(w, NULL,
           "Not for: measuring clinical performance, diagnosis, or "
           "any claim about real patients; evaluate on real, "
           "labelled medical data for that.");
    jw_close(w, "]");
    jw_open(w, "rai:dataLimitations", "[");
    jw_str(w, NULL,
           "The images only imitate the texture and contrast of "
           "CT, MRI and ultrasound: there is no anatomy, no "
           "physical scale (pixel spacing is undefined) and no "
           "acquisition physics beyond the noise models in "
           "README.md.");
    jw_str(w, NULL,
           "A model trained on this data alone must be validated "
           "on real data before any use; good results here are "
           "not evidence of clinical usefulness.");
    jw_str(w, NULL,
           "Label ids are instance ids within one image (1..K), "
           "not semantic classes shared across images.");
    jw_close(w, "]");
    snprintf(t, sizeof t,
             "The distribution of shapes, contrasts, noise and blur is set "
             "by the parameter ranges of config.yaml (chosen by the method's "
             "authors, not measured from any population), so images and "
             "objects follow those ranges: here %llu shape-module and %llu "
             "boundary-module samples, %d to %d instances per image. No "
             "people are represented, so there is no demographic bias to "
             "measure.",
             (unsigned long long)s->n_shape, (unsigned long long)s->n_boundary,
             s->inst_min, s->inst_max);
    jw_str(w, "rai:dataBiases", t);
    jw_str(w, "rai:personalSensitiveInformation",
           "None: the corpus is synthetic; it holds no patient data, no "
           "health data and no data about any person.");
    jw_str(w, "rai:dataSocialImpact",
           "Synthetic training data can lessen the need to share patient "
           "data to train segmentation models. The risk is over-trust: a "
           "model trained on synthetic images can fail on real scans "
           "without warning, and results on this data are not clinical "
           "evidence.");
    jw_str(w, "rai:dataReleaseMaintenancePlan",
           "Static (isLiveDataset false) and reproducible: the same files "
           "come back from config.yaml and the master seed with the "
           "generator version in manifest.sqlite; a change of config or "
           "generator makes a new corpus, never an edit of this one.");
    jw_raw(w, "rai:hasSyntheticData", "true");
}

static void build_croissant(const sf_corpus_info *in, const stats *s,
                            const char *csv_sha, size_t csv_bytes, sf_buf *b) {
    jw w = {b, 0, {1}};
    char name[160], size[48];
    sf_buf desc = {0};
    describe(&desc, in, s);
    sf_buf_puts(&desc, " File locations (url, contentUrl, includes) are "
                       "relative to the directory that holds this "
                       "croissant.json.");
    sf__dataset_name(in, name, sizeof name);

    jw_open(&w, NULL, "{");
    croissant_context(&w);
    jw_str(&w, "@type", "sc:Dataset");
    jw_open(&w, "conformsTo", "[");
    jw_str(&w, NULL, "http://mlcommons.org/croissant/1.0");
    jw_str(&w, NULL, "http://mlcommons.org/croissant/RAI/1.0");
    jw_close(&w, "]");
    jw_str(&w, "name", name);
    jw_str(&w, "description", desc.oom || !desc.s ? "" : desc.s);
    jw_str(&w, "license", license_url);
    /* No web page of its own: the dataset card next to this file. Every
     * url, contentUrl and includes here is relative to the directory that
     * holds croissant.json (the JSON-LD base is the document's own URL;
     * description says so too). */
    jw_str(&w, "url", "README.md");
    jw_str(&w, "version", SF_VERSION);
    jw_str(&w, "citeAs", bibtex);
    jw_open(&w, "creator", "{");
    jw_str(&w, "@type", "sc:Organization");
    jw_str(&w, "name", in->generator);
    jw_str(&w, "description",
           "The generator that made these samples; set the publisher "
           "before release.");
    jw_close(&w, "}");
    jw_str(&w, "datePublished", in->created_at);
    jw_str(&w, "dateCreated", in->created_at);
    jw_open(&w, "keywords", "[");
    jw_str(&w, NULL, "synthetic data");
    jw_str(&w, NULL, "medical image segmentation");
    jw_str(&w, NULL, "promptable segmentation");
    jw_str(&w, NULL, "instance segmentation");
    jw_str(&w, NULL, "SynthFM");
    jw_close(&w, "]");
    jw_raw(&w, "isLiveDataset", "false");
    croissant_rai(&w, in, s);

    jw_open(&w, "distribution", "[");
    jw_open(&w, NULL, "{");
    jw_str(&w, "@type", "cr:FileObject");
    jw_str(&w, "@id", "samples.csv");
    jw_str(&w, "name", "samples.csv");
    jw_str(&w, "description",
           "One row per sample: index, module, image and label paths, "
           "instance count, file hashes, size, and the files' base name "
           "(the join key of the samples record set).");
    jw_str(&w, "contentUrl", "samples.csv");
    snprintf(size, sizeof size, "%zu B", csv_bytes);
    jw_str(&w, "contentSize", size);
    jw_str(&w, "encodingFormat", "text/csv");
    jw_str(&w, "sha256", csv_sha);
    jw_close(&w, "}");
    jw_open(&w, NULL, "{");
    jw_str(&w, "@type", "cr:FileObject");
    jw_str(&w, "@id", "manifest.sqlite");
    jw_str(&w, "name", "manifest.sqlite");
    jw_str(&w, "description",
           "SQLite manifest (tables corpus, samples, instances: per-sample "
           "seeds, drawn parameters, instance areas, boxes, centroids and "
           "interior points). No sha256: resuming or merging rewrites its "
           "pages (journal mode, change counter) without changing its rows.");
    jw_str(&w, "contentUrl", "manifest.sqlite");
    jw_str(&w, "encodingFormat", "application/vnd.sqlite3");
    jw_close(&w, "}");
    jw_open(&w, NULL, "{");
    jw_str(&w, "@type", "cr:FileSet");
    jw_str(&w, "@id", "images");
    jw_str(&w, "name", "images");
    jw_str(&w, "description", "8-bit grayscale images, one per sample.");
    jw_str(&w, "encodingFormat", "image/png");
    jw_str(&w, "includes", "images/*.png");
    jw_close(&w, "}");
    jw_open(&w, NULL, "{");
    jw_str(&w, "@type", "cr:FileSet");
    jw_str(&w, "@id", "labels");
    jw_str(&w, "name", "labels");
    jw_str(&w, "description",
           "16-bit instance label maps, same names as the images: "
           "0 = background, 1..n_instances = one id per instance.");
    jw_str(&w, "encodingFormat", "image/png");
    jw_str(&w, "includes", "labels/*.png");
    jw_close(&w, "}");
    jw_close(&w, "]");

    /* Record sets: one per file set (base name + pixels), and "samples"
     * (one per row of samples.csv) that joins both through its name
     * column (spec 1.0, Joins: a field with `references` to the key of
     * another record set, and fields whose source is a field of it), so
     * a loader pairs each image with its row and label map. */
    jw_open(&w, "recordSet", "[");
    file_record_set(&w, "image_files", "images",
                    "One record per image file: its base name and pixels.",
                    "The 8-bit grayscale image.");
    file_record_set(&w, "label_files", "labels",
                    "One record per label map file: its base name and "
                    "pixels.",
                    "The 16-bit instance label map (0 = background).");
    jw_open(&w, NULL, "{");
    jw_str(&w, "@type", "cr:RecordSet");
    jw_str(&w, "@id", "samples");
    jw_str(&w, "name", "samples");
    jw_str(&w, "description",
           "One record per sample: the image, its instance label map and "
           "the manifest's figures for it.");
    jw_ref(&w, "key", "samples/sample_index");
    jw_open(&w, "field", "[");
    csv_field(&w, "sample_index", "sc:Integer", "sample_index",
              "0-based index of the sample in the corpus.");
    csv_field(&w, "module", "sc:Text", "module",
              "Generator module: shape or boundary.");
    csv_field(&w, "image_path", "sc:Text", "image",
              "Relative path of the image file.");
    csv_field(&w, "label_path", "sc:Text", "label",
              "Relative path of the label map file.");
    csv_field(&w, "n_instances", "sc:Integer", "n_instances",
              "Number of instances (label ids 1..n) in the label map.");
    csv_field(&w, "image_sha256", "sc:Text", "image_sha256",
              "SHA-256 of the image file.");
    csv_field(&w, "label_sha256", "sc:Text", "label_sha256",
              "SHA-256 of the label map file.");
    csv_field(&w, "width", "sc:Integer", "width", "Image width, px.");
    csv_field(&w, "height", "sc:Integer", "height", "Image height, px.");
    csv_field_ref(&w, "image_name", "sc:Text", "name", "image_files/name",
                  "Base name of the image file: joins image_files.");
    csv_field_ref(&w, "label_name", "sc:Text", "name", "label_files/name",
                  "Base name of the label map file: joins label_files.");
    joined_field(&w, "image", "sc:ImageObject", "image_files/content",
                 "The 8-bit grayscale image.");
    joined_field(&w, "label_map", "sc:ImageObject", "label_files/content",
                 "The 16-bit instance label map (0 = background).");
    jw_close(&w, "]");
    jw_close(&w, "}");
    jw_close(&w, "]");
    jw_close(&w, "}");
    sf_buf_puts(b, "\n");
    if (desc.oom) b->oom = 1;
    sf_buf_release(&desc);
}

/* ------------------------------------------------------------ README.md */

static void human_bytes(uint64_t n, char *buf, size_t len) {
    if (n >= (1ull << 30))
        snprintf(buf, len, "%.2f GiB", (double)n / (double)(1ull << 30));
    else if (n >= (1ull << 20))
        snprintf(buf, len, "%.2f MiB", (double)n / (double)(1ull << 20));
    else
        snprintf(buf, len, "%.1f KiB", (double)n / 1024.0);
}

static void row_range(sf_buf *b, const char *what, sf_range r,
                      const char *unit) {
    sf_buf_printf(b, "| %s | %g – %g%s |\n", what, r.lo, r.hi, unit);
}

static void row_irange(sf_buf *b, const char *what, sf_irange r) {
    sf_buf_printf(b, "| %s | %d – %d |\n", what, r.lo, r.hi);
}

static void readme_params(sf_buf *b, const sf_config *k) {
    const sf_noise_cfg *nz = k->noise.model;
    sf_buf_puts(b, "| Parameter | Range |\n|---|---|\n");
    sf_buf_printf(b, "| Modules | `%s`", sf_mode_name(k->mode));
    if (k->mode == SF_MODE_BOTH)
        sf_buf_printf(b, ", P(shape) = %g", k->mix_shape);
    sf_buf_puts(b, " |\n");
    row_irange(b, "Shapes per image (shape module)", k->shape.n_shapes);
    row_irange(b, "Bezier control points per shape", k->shape.n_control_points);
    row_range(b, "Shape mean radius", k->shape.radius, " × image size");
    sf_buf_printf(b, "| Phantom canvas probability | %g |\n",
                  k->shape.phantom_probability);
    sf_buf_printf(b, "| Contrast step δ (min. contrast) | %g – %g (%g) |\n",
                  k->contrast.delta.lo, k->contrast.delta.hi,
                  k->contrast.min_contrast);
    row_irange(b,
               "Boundary label fields (boundary module; not instances: see "
               "Contents)",
               k->boundary.n_labels);
    row_irange(b, "Boundary erosion steps", k->boundary.erode_iterations);
    sf_buf_printf(b, "| Noise: gaussian | p = %g, σ %g – %g |\n",
                  nz[SF_NOISE_GAUSSIAN].probability,
                  nz[SF_NOISE_GAUSSIAN].sigma.lo,
                  nz[SF_NOISE_GAUSSIAN].sigma.hi);
    sf_buf_printf(b, "| Noise: poisson | p = %g, photons %g – %g |\n",
                  nz[SF_NOISE_POISSON].probability,
                  nz[SF_NOISE_POISSON].photons.lo,
                  nz[SF_NOISE_POISSON].photons.hi);
    sf_buf_printf(
        b, "| Noise: perlin | p = %g, amplitude %g – %g, octaves %d – %d |\n",
        nz[SF_NOISE_PERLIN].probability, nz[SF_NOISE_PERLIN].amplitude.lo,
        nz[SF_NOISE_PERLIN].amplitude.hi, nz[SF_NOISE_PERLIN].octaves.lo,
        nz[SF_NOISE_PERLIN].octaves.hi);
    sf_buf_printf(b, "| Noise: speckle | p = %g, σ %g – %g |\n",
                  nz[SF_NOISE_SPECKLE].probability,
                  nz[SF_NOISE_SPECKLE].sigma.lo, nz[SF_NOISE_SPECKLE].sigma.hi);
    sf_buf_printf(b, "| Noise: rician | p = %g, σ %g – %g |\n",
                  nz[SF_NOISE_RICIAN].probability, nz[SF_NOISE_RICIAN].sigma.lo,
                  nz[SF_NOISE_RICIAN].sigma.hi);
    sf_buf_printf(b, "| Noise per object instead of whole image | p = %g |\n",
                  k->noise.shapes_probability);
    sf_buf_printf(b,
                  "| Blur | p = %g, σ %g – %g px (at 1024 px, scaled with "
                  "image size) |\n",
                  k->blur.probability, k->blur.sigma.lo, k->blur.sigma.hi);
    sf_buf_printf(b, "| Smallest instance kept | %d px |\n",
                  k->min_instance_area);
}

static void build_readme(const sf_corpus_info *in, const stats *s,
                         const sf_config *k, const char *yaml, int n_preview,
                         sf_buf *b) {
    char name[160], hb[32], hl[32], shard[160];
    sf__dataset_name(in, name, sizeof name);
    human_bytes(s->image_bytes, hb, sizeof hb);
    human_bytes(s->label_bytes, hl, sizeof hl);
    if (in->shard_count > 1)
        snprintf(shard, sizeof shard,
                 "shard %d of %d (0-based): samples [%llu, %llu)",
                 in->shard_index, in->shard_count,
                 (unsigned long long)in->first, (unsigned long long)in->end);
    else
        snprintf(shard, sizeof shard,
                 "whole corpus (shard 0/1): samples [%llu, %llu)",
                 (unsigned long long)in->first, (unsigned long long)in->end);

    sf_buf_printf(b, "# SynthFM synthetic corpus `%s`\n\n", name);
    describe(b, in, s);
    sf_buf_puts(b, "\n\n");
    sf_buf_printf(b,
                  "![Contact sheet of the first %d samples](preview.png)\n\n"
                  "`preview.png` shows the first %d samples of this directory: "
                  "each image downscaled to 256 px, with the outlines of the "
                  "%d largest instances of its label map (all of them when it "
                  "has fewer), each in its own colour, and the sample index, "
                  "module and instance count below it (\"%d largest\" where "
                  "not every instance is outlined: boundary samples have "
                  "hundreds).\n\n",
                  n_preview, n_preview, PV_OUTLINES, PV_OUTLINES);

    sf_buf_puts(b, "## Contents\n\n| Figure | Value |\n|---|---:|\n");
    sf_buf_printf(b, "| Samples in this directory | %llu |\n",
                  (unsigned long long)s->n);
    sf_buf_printf(b, "| … shape module | %llu |\n",
                  (unsigned long long)s->n_shape);
    sf_buf_printf(b, "| … boundary module | %llu |\n",
                  (unsigned long long)s->n_boundary);
    sf_buf_printf(b, "| Instances (labelled objects) | %llu |\n",
                  (unsigned long long)s->n_instances);
    sf_buf_printf(
        b, "| Instances per sample: mean / min / max | %.2f / %d / %d |\n",
        s->n ? (double)s->n_instances / (double)s->n : 0.0, s->inst_min,
        s->inst_max);
    static const char *const mod_name[2] = {"shape", "boundary"};
    const uint64_t mod_n[2] = {s->n_shape, s->n_boundary};
    for (int m = 0; m < 2; m++)
        if (mod_n[m])
            sf_buf_printf(b,
                          "| … per %s sample: mean / min / max | %.2f / %d / "
                          "%d |\n",
                          mod_name[m],
                          (double)s->mod_instances[m] / (double)mod_n[m],
                          s->mod_min[m], s->mod_max[m]);
    sf_buf_printf(
        b, "| Instance area, percentile 5 / 50 / 95 | %ld / %ld / %ld px |\n",
        s->area_p5, s->area_p50, s->area_p95);
    if (s->nx_min == s->nx_max && s->ny_min == s->ny_max)
        sf_buf_printf(b, "| Image size | %d × %d px |\n", s->nx_max, s->ny_max);
    else
        sf_buf_printf(b, "| Image size | %d – %d × %d – %d px |\n", s->nx_min,
                      s->nx_max, s->ny_min, s->ny_max);
    sf_buf_printf(b, "| Images on disk | %llu bytes (%s) |\n",
                  (unsigned long long)s->image_bytes, hb);
    sf_buf_printf(b, "| Label maps on disk | %llu bytes (%s) |\n\n",
                  (unsigned long long)s->label_bytes, hl);

    sf_buf_puts(b, "## How it was made\n\n| Item | Value |\n|---|---|\n");
    sf_buf_printf(b, "| Generator | `%s` |\n", in->generator);
    sf_buf_printf(b, "| Git commit | `%s` |\n", in->git_commit);
    sf_buf_printf(b, "| RNG version | %d |\n", in->rng_version);
    sf_buf_printf(b, "| Master seed | %llu |\n",
                  (unsigned long long)in->master_seed);
    sf_buf_printf(b, "| Samples in the corpus (`--count`) | %llu |\n",
                  (unsigned long long)in->sample_count);
    sf_buf_printf(b, "| Shard | %s |\n", shard);
    sf_buf_printf(b, "| Config SHA-256 | `%s` |\n", in->config_sha256);
    sf_buf_printf(b, "| Created (UTC) | %s |\n\n", in->created_at);

    sf_buf_puts(b, "## Parameter ranges\n\nRanges are drawn uniformly per "
                   "sample (integers inclusive); p is the chance that a "
                   "step is in a sample's plan.\n\n");
    readme_params(b, k);
    if (s->n_boundary)
        sf_buf_printf(
            b,
            "\nWhy a boundary sample holds hundreds of instances (%d to %d "
            "here) from %d to %d label fields: the fields give a SynthMorph "
            "label map, some of its regions are eroded to open background "
            "rims between neighbours, and every 4-connected piece of "
            "foreground of at least %d px is an instance of its own, so "
            "each field's region breaks into many instances.\n",
            s->mod_min[1], s->mod_max[1], k->boundary.n_labels.lo,
            k->boundary.n_labels.hi, k->min_instance_area);
    sf_buf_puts(b, "\nThe full resolved config (also `config.yaml` in this "
                   "directory):\n\n```yaml\n");
    sf_buf_puts(b, yaml);
    if (!*yaml || yaml[strlen(yaml) - 1] != '\n') sf_buf_puts(b, "\n");
    sf_buf_puts(b, "```\n\n");

    sf_buf_puts(b, "## How to regenerate\n\nEvery sample is a pure function "
                   "of (config, master seed, sample index). From this "
                   "directory, with `synthfm` (the generator version above) "
                   "on the PATH (`make install PREFIX=...` in the synthfm "
                   "source tree puts it in `PREFIX/bin`) and `DIR` a new, "
                   "empty directory outside it:\n\n```sh\n");
    sf_buf_printf(b,
                  "synthfm generate --config config.yaml --out DIR --count "
                  "%llu --seed %llu",
                  (unsigned long long)in->sample_count,
                  (unsigned long long)in->master_seed);
    if (in->shard_count > 1)
        sf_buf_printf(b, " --shard %d/%d", in->shard_index, in->shard_count);
    sf_buf_puts(b, "\nsynthfm verify DIR --regenerate 8\n"
                   "cmp SHA256SUMS DIR/SHA256SUMS\n```\n\n"
                   "`synthfm verify . --regenerate 8` checks this copy: every "
                   "file against the manifest and `SHA256SUMS`, and 8 "
                   "samples re-made from their seeds, byte for byte. "
                   "`sha256sum -c SHA256SUMS` checks the files alone.\n\n");

    sf_buf_puts(
        b, "## Files\n\n"
           "| Path | Content |\n|---|---|\n"
           "| `images/NNNNNN.png` | 8-bit grayscale image of sample NNNNNN |\n"
           "| `labels/NNNNNN.png` | 16-bit instance label map of the same "
           "sample: 0 = background, 1..n = instance ids |\n"
           "| `manifest.sqlite` | SQLite manifest: `corpus` (generator, "
           "git commit, config, seed, shard, creation time), `samples` "
           "(per-sample seed, module, paths, SHA-256, bytes, drawn "
           "parameters as JSON), `instances` (label id, area, bounding "
           "box, centroid, an interior point) |\n"
           "| `config.yaml` | the resolved config |\n"
           "| `samples.csv` | one row per sample (module, paths, instance "
           "count, hashes, size) |\n"
           "| `SHA256SUMS` | SHA-256 of every image and label map "
           "(`sha256sum -c`) |\n"
           "| `croissant.json` | MLCommons Croissant 1.0 metadata |\n"
           "| `preview.png` | contact sheet of the first samples |\n"
           "| `README.md` | this card |\n\n");

    sf_buf_printf(
        b,
        "## License\n\n"
        "License: %s (synthetic data, no real patient data; change if "
        "you publish under other terms).\n\n",
        license_id);
    sf_buf_puts(b, "## Citation\n\nIf you use this data, cite the method:\n\n"
                   "Sengupta, Chakrabarty, Ravi, Avinash, Soni, \"SynthFM: "
                   "Training Modality-agnostic Foundation Models for Medical "
                   "Image Segmentation without Real Medical Data\", "
                   "arXiv:2504.08177, 2025.\n\n```bibtex\n");
    sf_buf_puts(b, bibtex);
    sf_buf_puts(b, "```\n");
}

/* ----------------------------------------------------------- preview.png */

/* Per-axis box-filter weights for resampling n source pixels to t output
 * pixels: output pixel o covers source [o*n/t, (o+1)*n/t); in units of
 * 1/t source pixel the overlap of source pixel s is an integer. */
typedef struct axis_w {
    int lo;  /* first source pixel */
    int cnt; /* number of source pixels */
    int *w;  /* weights, sum = n */
} axis_w;

static int axis_weights(int n, int t, axis_w *a, int **pool) {
    int *w = malloc((size_t)t * (size_t)(n / t + 2) * sizeof *w);
    if (!w) return SF_ENOMEM;
    *pool = w;
    int per = n / t + 2;
    for (int o = 0; o < t; o++) {
        long a0 = (long)o * n, a1 = (long)(o + 1) * n; /* in 1/t units */
        int s0 = (int)(a0 / t), s1 = (int)((a1 - 1) / t);
        a[o].lo = s0;
        a[o].cnt = s1 - s0 + 1;
        a[o].w = w + (size_t)o * (size_t)per;
        for (int sx = s0; sx <= s1; sx++) {
            long b0 = (long)sx * t, b1 = (long)(sx + 1) * t;
            long lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
            a[o].w[sx - s0] = (int)(hi - lo);
        }
    }
    return SF_OK;
}

/* Integer HSV(h, 1, 1) -> RGB: saturated colours. */
static void hue_rgb(int h, uint8_t rgb[3]) {
    int f = (h % 60) * 255 / 60;
    uint8_t up = (uint8_t)f, dn = (uint8_t)(255 - f);
    switch ((h / 60) % 6) {
    case 0: rgb[0] = 255, rgb[1] = up, rgb[2] = 0; break;
    case 1: rgb[0] = dn, rgb[1] = 255, rgb[2] = 0; break;
    case 2: rgb[0] = 0, rgb[1] = 255, rgb[2] = up; break;
    case 3: rgb[0] = 0, rgb[1] = dn, rgb[2] = 255; break;
    case 4: rgb[0] = up, rgb[1] = 0, rgb[2] = 255; break;
    default: rgb[0] = 255, rgb[1] = 0, rgb[2] = dn; break;
    }
}

/* Instance l's outline colour: hues a golden angle apart, so neighbouring
 * ids differ clearly. */
static void label_rgb(unsigned l, uint8_t rgb[3]) {
    hue_rgb((int)((l * 137u + 200u) % 360u), rgb);
}

static void put_px(uint8_t *surf, int stride, int x, int y,
                   const uint8_t rgb[3]) {
    uint32_t v = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
    memcpy(surf + (size_t)y * (size_t)stride + 4 * (size_t)x, &v, 4);
}

typedef struct id_area {
    long area;
    uint16_t id;
} id_area;

/* Larger area first; equal areas by id (a total order: same picks). */
static int cmp_id_area(const void *a, const void *b) {
    const id_area *x = a, *y = b;
    if (x->area != y->area) return x->area > y->area ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* keep[id] = 1 for the PV_OUTLINES largest instances of lab (all when
 * there are fewer); keep has 65536 entries. Returns how many. */
static int pick_outlined(const uint16_t *lab, size_t npx, uint8_t *keep) {
    long *area = calloc(65536, sizeof *area);
    id_area *v = NULL;
    int n = 0, k = -1;
    if (!area) return -1;
    for (size_t i = 0; i < npx; i++)
        area[lab[i]]++;
    for (int id = 1; id < 65536; id++)
        n += area[id] > 0;
    if ((v = malloc(((size_t)n + 1) * sizeof *v))) {
        n = 0;
        for (int id = 1; id < 65536; id++)
            if (area[id] > 0) v[n++] = (id_area){area[id], (uint16_t)id};
        qsort(v, (size_t)n, sizeof *v, cmp_id_area);
        k = n < PV_OUTLINES ? n : PV_OUTLINES;
        for (int i = 0; i < k; i++)
            keep[v[i].id] = 1;
    }
    free(v);
    free(area);
    return k;
}

/* Draw sample `pos` (image nx x ny) into the tile at (x0, y0): box-filtered
 * gray image scaled so its longer side is PV_TILE, then the outlines of the
 * PV_OUTLINES largest instances of a nearest-neighbour label map at the
 * same resolution (*n_outlined: how many). */
static int draw_tile(const uint8_t *img, const uint16_t *lab, int nx, int ny,
                     uint8_t *surf, int stride, int x0, int y0,
                     int *n_outlined) {
    int rc = SF_ENOMEM;
    uint8_t *keep = calloc(65536, 1);
    int tw = nx >= ny ? PV_TILE : (int)((long)PV_TILE * nx / ny);
    int th = ny >= nx ? PV_TILE : (int)((long)PV_TILE * ny / nx);
    if (tw < 1) tw = 1;
    if (th < 1) th = 1;
    x0 += (PV_TILE - tw) / 2;
    y0 += (PV_TILE - th) / 2;
    axis_w *ax = calloc((size_t)tw, sizeof *ax),
           *ay = calloc((size_t)th, sizeof *ay);
    int *px = NULL, *py = NULL;
    uint32_t *rows = malloc((size_t)ny * (size_t)tw * sizeof *rows);
    uint16_t *tl = malloc((size_t)tw * (size_t)th * sizeof *tl);
    if (!keep || !ax || !ay || !rows || !tl) goto out;
    if ((*n_outlined = pick_outlined(lab, (size_t)nx * (size_t)ny, keep)) < 0)
        goto out;
    if (axis_weights(nx, tw, ax, &px) || axis_weights(ny, th, ay, &py))
        goto out;
    /* Horizontal pass: each source row to tw sums (<= 255 * nx). */
    for (int y = 0; y < ny; y++) {
        const uint8_t *src = img + (size_t)y * (size_t)nx;
        uint32_t *dst = rows + (size_t)y * (size_t)tw;
        for (int o = 0; o < tw; o++) {
            uint32_t acc = 0;
            for (int j = 0; j < ax[o].cnt; j++)
                acc += (uint32_t)src[ax[o].lo + j] * (uint32_t)ax[o].w[j];
            dst[o] = acc;
        }
    }
    /* Vertical pass: total weight nx * ny, rounded to nearest. */
    uint64_t total = (uint64_t)nx * (uint64_t)ny;
    for (int o = 0; o < th; o++)
        for (int x = 0; x < tw; x++) {
            uint64_t acc = 0;
            for (int j = 0; j < ay[o].cnt; j++)
                acc +=
                    (uint64_t)
                        rows[(size_t)(ay[o].lo + j) * (size_t)tw + (size_t)x] *
                    (uint64_t)ay[o].w[j];
            uint8_t g = (uint8_t)((acc + total / 2) / total);
            uint8_t rgb[3] = {g, g, g};
            put_px(surf, stride, x0 + x, y0 + o, rgb);
        }
    /* Labels: nearest neighbour at pixel centres, then every labelled
     * pixel with a 4-neighbour of another id is outline. */
    for (int y = 0; y < th; y++) {
        int sy = (int)(((2L * y + 1) * ny) / (2L * th));
        for (int x = 0; x < tw; x++) {
            int sx = (int)(((2L * x + 1) * nx) / (2L * tw));
            tl[(size_t)y * (size_t)tw + (size_t)x] =
                lab[(size_t)sy * (size_t)nx + (size_t)sx];
        }
    }
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            uint16_t l = tl[(size_t)y * (size_t)tw + (size_t)x];
            if (!l || !keep[l]) continue;
            int edge = (x > 0 && tl[(size_t)y * tw + x - 1] != l) ||
                       (x + 1 < tw && tl[(size_t)y * tw + x + 1] != l) ||
                       (y > 0 && tl[(size_t)(y - 1) * tw + x] != l) ||
                       (y + 1 < th && tl[(size_t)(y + 1) * tw + x] != l);
            if (!edge) continue;
            uint8_t rgb[3];
            label_rgb(l, rgb);
            put_px(surf, stride, x0 + x, y0 + y, rgb);
        }
    rc = SF_OK;
out:
    free(keep);
    free(ax);
    free(ay);
    free(px);
    free(py);
    free(rows);
    free(tl);
    return rc;
}

static int write_preview(const sf_corpus *c, const char *dir,
                         const sf_corpus_info *in, const stats *s, int n_show,
                         sf_err *err) {
    int rc = SF_OK;
    char path[4200], line[256];
    uint8_t *img = NULL, *rgb = NULL, *png = NULL;
    uint16_t *lab = NULL;
    size_t png_n = 0;
    cairo_surface_t *sf = NULL;
    cairo_t *cr = NULL;
    cairo_font_options_t *fo = NULL;
    snprintf(path, sizeof path, "%s/preview.png", dir);

    int cols = n_show < PV_COLS ? (n_show > 0 ? n_show : 1) : PV_COLS;
    int rows = (n_show + cols - 1) / cols;
    int W = PV_GAP + cols * (PV_TILE + PV_GAP);
    int H = PV_HEADER + rows * (PV_TILE + PV_CAPTION + PV_GAP);
    sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cr = cairo_create(sf);
    fo = cairo_font_options_create();
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS ||
        cairo_font_options_status(fo) != CAIRO_STATUS_SUCCESS) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: cairo: %s", path,
                        cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    /* Background, then the pixels written straight into the surface. */
    cairo_set_source_rgb(cr, 0.12, 0.12, 0.13);
    cairo_paint(cr);
    cairo_surface_flush(sf);
    uint8_t *data = cairo_image_surface_get_data(sf);
    int stride = cairo_image_surface_get_stride(sf);
    int n_outlined[PV_MAX];
    for (int t = 0; t < n_show; t++) {
        int nx, ny;
        if ((rc = sf_corpus_load(c, (uint64_t)t, &img, &lab, &nx, &ny, err))) {
            sf_err_wrap(err, "%s", path);
            goto out;
        }
        int x0 = PV_GAP + (t % cols) * (PV_TILE + PV_GAP);
        int y0 = PV_HEADER + (t / cols) * (PV_TILE + PV_CAPTION + PV_GAP);
        if ((rc = draw_tile(img, lab, nx, ny, data, stride, x0, y0,
                            &n_outlined[t]))) {
            rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        free(img);
        free(lab);
        img = NULL;
        lab = NULL;
    }
    cairo_surface_mark_dirty(sf);

    /* Text: fixed font, grayscale antialiasing, no hinting (the same
     * pixels at every size and run). */
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options(cr, fo);
    cairo_select_font_face(cr, "DejaVu Sans Mono", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_source_rgb(cr, 0.95, 0.95, 0.95);
    snprintf(
        line, sizeof line,
        "%s | seed %llu | %llu samples (%llu shape, %llu boundary) | first %d",
        in->generator, (unsigned long long)in->master_seed,
        (unsigned long long)s->n, (unsigned long long)s->n_shape,
        (unsigned long long)s->n_boundary, n_show);
    sf_plot_text(cr, PV_GAP, PV_HEADER - 9, 13, 0, line);
    cairo_select_font_face(cr, "DejaVu Sans Mono", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    for (int t = 0; t < n_show; t++) {
        sf_corpus_sample sm;
        if ((rc = sf_corpus_sample_at(c, (uint64_t)t, &sm, err))) goto out;
        int x0 = PV_GAP + (t % cols) * (PV_TILE + PV_GAP);
        int y0 = PV_HEADER + (t / cols) * (PV_TILE + PV_CAPTION + PV_GAP);
        if (n_outlined[t] < sm.n_instances)
            snprintf(line, sizeof line, "#%llu %s %d inst, %d largest",
                     (unsigned long long)sm.index, sf_mode_name(sm.module),
                     sm.n_instances, n_outlined[t]);
        else
            snprintf(line, sizeof line, "#%llu  %s  %d inst.",
                     (unsigned long long)sm.index, sf_mode_name(sm.module),
                     sm.n_instances);
        if (sm.module == SF_MODE_SHAPE)
            cairo_set_source_rgb(cr, 0.55, 0.85, 1.0);
        else
            cairo_set_source_rgb(cr, 1.0, 0.78, 0.45);
        sf_plot_text(cr, x0 + 2, y0 + PV_TILE + 14, 12, 0, line);
    }
    cairo_surface_flush(sf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: cairo: %s", path,
                        cairo_status_to_string(cairo_status(cr)));
        goto out;
    }
    /* RGB24 words (0x00RRGGBB, native order) to packed RGB bytes. */
    rgb = malloc((size_t)W * (size_t)H * 3);
    if (!rgb) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint32_t v;
            memcpy(&v, data + (size_t)y * (size_t)stride + 4 * (size_t)x, 4);
            uint8_t *o = rgb + 3 * ((size_t)y * (size_t)W + (size_t)x);
            o[0] = (uint8_t)(v >> 16);
            o[1] = (uint8_t)(v >> 8);
            o[2] = (uint8_t)v;
        }
    if ((rc = sf__png_encode(rgb, W, H, 8, 3, 6, &png, &png_n, err))) {
        sf_err_wrap(err, "%s", path);
        goto out;
    }
    rc = sf_write_atomic(path, png, png_n, 0, err);
out:
    free(img);
    free(lab);
    free(rgb);
    free(png);
    if (fo) cairo_font_options_destroy(fo);
    if (cr) cairo_destroy(cr);
    if (sf) cairo_surface_destroy(sf);
    return rc;
}

/* ---------------------------------------------------------------- entry */

int sf__corpus_publish(const char *dir, sf_err *err) {
    int rc;
    sf_corpus *c = NULL;
    sf_buf sums = {0}, csv = {0}, cro = {0}, card = {0};
    sf_config k;
    stats st;
    char csv_sha[65], where[4200];

    if ((rc = sf_corpus_open(dir, &c, err))) goto out;
    const sf_corpus_info *in = sf_corpus_get_info(c);
    const char *yaml = sf_corpus_config_yaml(c);
    snprintf(where, sizeof where, "%s/manifest.sqlite", dir);
    if ((rc = sf_config_parse(where, yaml, strlen(yaml), &k, err))) {
        sf_err_wrap(err, "%s: stored config", where);
        goto out;
    }
    if ((rc = collect_stats(c, &st, err))) goto out;

    if ((rc = build_sums(c, &sums, err))) goto out;
    if ((rc = put_text(dir, "SHA256SUMS", &sums, err))) goto out;

    build_csv(c, &csv);
    if (csv.oom || sf_sha256_hex(csv.s, csv.len, csv_sha)) {
        rc = sf_err_set(err, SF_ENOMEM, "%s/samples.csv: out of memory", dir);
        goto out;
    }
    if ((rc = put_text(dir, "samples.csv", &csv, err))) goto out;

    build_croissant(in, &st, csv_sha, csv.len, &cro);
    if ((rc = put_text(dir, "croissant.json", &cro, err))) goto out;

    int n_show = st.n < PV_MAX ? (int)st.n : PV_MAX;
    build_readme(in, &st, &k, yaml, n_show, &card);
    if ((rc = put_text(dir, "README.md", &card, err))) goto out;

    rc = write_preview(c, dir, in, &st, n_show, err);
out:
    sf_buf_release(&sums);
    sf_buf_release(&csv);
    sf_buf_release(&cro);
    sf_buf_release(&card);
    sf_corpus_close(c);
    return rc;
}
