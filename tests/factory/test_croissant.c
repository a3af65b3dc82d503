/* croissant.json against the Croissant 1.0 specification (mlcommons/
 * croissant docs/croissant-spec.md) and its RAI vocabulary (docs/
 * croissant-rai-spec.md): the required dataset properties, the
 * distribution's FileObject / FileSet ids and what they point at on disk,
 * record sets whose fields' sources and references resolve to declared
 * ids, dataType values, the join of the image and label file sets to the
 * per-sample rows (checked on the real files), and the RAI fields. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_dom.h"
#include "sf_int.h"

static char base[64];

static void setup(void) {
    snprintf(base, sizeof base, "/tmp/sf_croissant_XXXXXX");
    cr_assert(mkdtemp(base));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(croissant, .init = setup, .fini = teardown);

enum { COUNT = 7 };

static void make_corpus(const char *dir) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    c.image_size = 96;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = 5;
    o.count = COUNT;
    o.shard_count = 1;
    o.threads = 2;
    sf_generate_stats st;
    sf_corpus_result res;
    cr_assert_eq(sf_corpus_generate(&c, &o, &st, &res, &e), SF_OK, "%s", e.msg);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = '\0';
    if (n) *n = (size_t)len;
    return b;
}

/* ------------------------------------------------------- id registry */

typedef struct ids {
    char *id[256];
    char kind[256][16]; /* FileObject, FileSet, RecordSet, Field */
    int n;
} ids;

static void ids_add(ids *t, const char *id, const char *kind) {
    cr_assert(id && *id, "a %s without @id", kind);
    for (int i = 0; i < t->n; i++)
        cr_expect(strcmp(t->id[i], id), "@id \"%s\" declared twice", id);
    cr_assert(t->n < 256);
    t->id[t->n] = strdup(id);
    snprintf(t->kind[t->n], sizeof t->kind[0], "%s", kind);
    t->n++;
}

static const char *ids_kind(const ids *t, const char *id) {
    for (int i = 0; id && i < t->n; i++)
        if (!strcmp(t->id[i], id)) return t->kind[i];
    return NULL;
}

static void ids_free(ids *t) {
    for (int i = 0; i < t->n; i++)
        free(t->id[i]);
}

/* A term the document uses must be defined by its @context. */
static void expect_term(const jv *ctx, const char *term, const char *iri) {
    const jv *d = jv_get(ctx, term);
    cr_assert(d, "@context does not define \"%s\"", term);
    const char *got = d->type == JV_STR ? d->str : jv_str(d, "@id");
    cr_expect(got && !strcmp(got, iri), "@context: %s -> %s, want %s", term,
              got ? got : "(none)", iri);
}

static int is_str_nonempty(const jv *v) {
    return v && v->type == JV_STR && v->str[0];
}

/* A DataSource: {"@id": field} (a join) or {fileObject|fileSet, extract,
 * transform?}; checks the ids and what they refer to. */
static void check_source(const jv *src, const ids *t, const char *field,
                         const char *csv_header) {
    cr_assert(src && src->type == JV_OBJ, "%s: source is not an object", field);
    const char *ref = jv_ref(src);
    if (ref) {
        cr_expect(ids_kind(t, ref) && !strcmp(ids_kind(t, ref), "Field"),
                  "%s: source {\"@id\": \"%s\"} is not a declared field", field,
                  ref);
        cr_expect(strncmp(ref, field, strcspn(field, "/") + 1),
                  "%s: a join source must be another record set's field",
                  field);
        return;
    }
    const char *fo = jv_ref(jv_get(src, "fileObject"));
    const char *fs = jv_ref(jv_get(src, "fileSet"));
    cr_assert((fo != NULL) + (fs != NULL) == 1,
              "%s: source needs exactly one of fileObject / fileSet", field);
    const char *kind = ids_kind(t, fo ? fo : fs);
    cr_expect(kind && !strcmp(kind, fo ? "FileObject" : "FileSet"),
              "%s: source %s \"%s\" is not a declared %s", field,
              fo ? "fileObject" : "fileSet", fo ? fo : fs,
              fo ? "FileObject" : "FileSet");
    const jv *ex = jv_get(src, "extract");
    cr_assert(ex && ex->type == JV_OBJ && ex->n == 1, "%s: extract", field);
    const char *col = jv_str(ex, "column"), *fp = jv_str(ex, "fileProperty");
    if (col) {
        /* A CSV column of samples.csv (its header line). */
        char want[80];
        snprintf(want, sizeof want, ",%s,", col);
        char hdr[512];
        snprintf(hdr, sizeof hdr, ",%.*s,", (int)strcspn(csv_header, "\n"),
                 csv_header);
        cr_expect(fo && strstr(hdr, want),
                  "%s: column \"%s\" not in samples.csv", field, col);
    } else {
        cr_assert(fp, "%s: extract needs column or fileProperty", field);
        const char *ok[] = {"fullpath", "filename", "content", "lines",
                            "lineNumbers"};
        int found = 0;
        for (int i = 0; i < 5; i++)
            found |= !strcmp(fp, ok[i]);
        cr_expect(found, "%s: fileProperty \"%s\" is not one of the spec's",
                  field, fp);
    }
    const jv *tr = jv_get(src, "transform");
    if (tr) {
        const char *re = jv_str(tr, "regex");
        cr_assert(re, "%s: transform without regex", field);
        regex_t rx;
        cr_expect_eq(regcomp(&rx, re, REG_EXTENDED), 0, "%s: regex \"%s\"",
                     field, re);
        regfree(&rx);
    }
}

/* The first capture group of `re` on `s` into buf, 0 if no match. */
static int regex_capture(const char *re, const char *s, char *buf, size_t n) {
    regex_t rx;
    regmatch_t m[2];
    if (regcomp(&rx, re, REG_EXTENDED)) return 0;
    int ok = regexec(&rx, s, 2, m, 0) == 0 && m[1].rm_so >= 0;
    if (ok)
        snprintf(buf, n, "%.*s", (int)(m[1].rm_eo - m[1].rm_so),
                 s + m[1].rm_so);
    regfree(&rx);
    return ok;
}

Test(croissant, structure_against_the_1_0_spec) {
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/c", base);
    make_corpus(dir);
    snprintf(path, sizeof path, "%s/croissant.json", dir);
    char *text = slurp(path, NULL);
    jv *doc = jv_parse(text);
    cr_assert(doc && doc->type == JV_OBJ,
              "croissant.json does not parse as a JSON object");
    snprintf(path, sizeof path, "%s/samples.csv", dir);
    size_t csv_n;
    char *csv = slurp(path, &csv_n);

    /* Required: @context, @type sc:Dataset, conformsTo 1.0, name,
     * description, license, url, creator, datePublished. */
    const jv *ctx = jv_get(doc, "@context");
    cr_assert(ctx && ctx->type == JV_OBJ, "@context");
    expect_term(ctx, "@vocab", "https://schema.org/");
    expect_term(ctx, "sc", "https://schema.org/");
    expect_term(ctx, "cr", "http://mlcommons.org/croissant/");
    expect_term(ctx, "rai", "http://mlcommons.org/croissant/RAI/");
    expect_term(ctx, "dct", "http://purl.org/dc/terms/");
    expect_term(ctx, "conformsTo", "dct:conformsTo");
    const char *terms[] = {
        "citeAs",     "column",     "extract",  "field",         "fileProperty",
        "fileObject", "fileSet",    "includes", "isLiveDataset", "key",
        "recordSet",  "references", "regex",    "source",        "transform"};
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        char iri[64];
        snprintf(iri, sizeof iri, "cr:%s", terms[i]);
        expect_term(ctx, terms[i], iri);
    }
    const jv *dt = jv_get(ctx, "dataType");
    cr_expect(dt && jv_str(dt, "@type") &&
                  !strcmp(jv_str(dt, "@type"), "@vocab"),
              "dataType must be typed @vocab in @context");
    cr_expect_str_eq(jv_str(doc, "@type"), "sc:Dataset");
    const jv *ct = jv_get(doc, "conformsTo");
    int core = 0, rai = 0;
    for (int i = 0; ct && i < (ct->type == JV_ARR ? ct->n : 1); i++) {
        const jv *v = ct->type == JV_ARR ? ct->items[i] : ct;
        if (v->type != JV_STR) continue;
        core |= !strcmp(v->str, "http://mlcommons.org/croissant/1.0");
        rai |= !strcmp(v->str, "http://mlcommons.org/croissant/RAI/1.0");
    }
    cr_expect(core, "conformsTo lacks http://mlcommons.org/croissant/1.0");
    cr_expect(rai, "conformsTo lacks http://mlcommons.org/croissant/RAI/1.0");
    const char *required[] = {"name",          "description", "license", "url",
                              "datePublished", "citeAs",      "version"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        cr_expect(is_str_nonempty(jv_get(doc, required[i])),
                  "\"%s\" missing or empty", required[i]);
    const jv *cre = jv_get(doc, "creator");
    cr_expect(cre && cre->type == JV_OBJ &&
                  is_str_nonempty(jv_get(cre, "name")),
              "creator");
    cr_expect(strstr(jv_str(doc, "license"), "spdx.org/licenses/"),
              "license is an SPDX URL");
    cr_expect(strstr(jv_str(doc, "description"), "relative to the directory"),
              "description documents the relative URLs");
    const jv *live = jv_get(doc, "isLiveDataset");
    cr_expect(live && live->type == JV_BOOL && !live->boolean,
              "isLiveDataset false");

    /* RAI: the fields the NeurIPS datasets track asks for. */
    const char *rai_text[] = {"rai:dataCollection",
                              "rai:dataBiases",
                              "rai:personalSensitiveInformation",
                              "rai:dataSocialImpact",
                              "rai:dataAnnotationProtocol",
                              "rai:dataCollectionRawData",
                              "rai:dataReleaseMaintenancePlan",
                              "rai:dataPreprocessingProtocol"};
    for (size_t i = 0; i < sizeof rai_text / sizeof rai_text[0]; i++)
        cr_expect(is_str_nonempty(jv_get(doc, rai_text[i])),
                  "%s missing or empty", rai_text[i]);
    const char *rai_list[] = {"rai:dataUseCases", "rai:dataLimitations",
                              "rai:dataCollectionType",
                              "rai:machineAnnotationTools"};
    for (size_t i = 0; i < sizeof rai_list / sizeof rai_list[0]; i++) {
        const jv *v = jv_get(doc, rai_list[i]);
        cr_expect(v && v->type == JV_ARR && v->n >= 1 &&
                      is_str_nonempty(v->items[0]),
                  "%s: a non-empty list of texts", rai_list[i]);
    }
    cr_expect(strstr(jv_str(doc, "rai:personalSensitiveInformation"),
                     "no patient data"));
    const jv *syn = jv_get(doc, "rai:hasSyntheticData");
    cr_expect(syn && syn->type == JV_BOOL && syn->boolean,
              "rai:hasSyntheticData true");

    /* distribution: FileObject / FileSet with unique ids, pointing at
     * files that exist (relative to this directory). */
    ids t = {0};
    const jv *dist = jv_get(doc, "distribution");
    cr_assert(dist && dist->type == JV_ARR && dist->n > 0, "distribution");
    for (int i = 0; i < dist->n; i++) {
        const jv *d = dist->items[i];
        const char *type = jv_str(d, "@type"), *id = jv_str(d, "@id");
        cr_assert(type, "distribution[%d] without @type", i);
        cr_expect(is_str_nonempty(jv_get(d, "name")), "%s: name", id);
        cr_expect(is_str_nonempty(jv_get(d, "encodingFormat")),
                  "%s: encodingFormat", id);
        if (!strcmp(type, "cr:FileObject")) {
            ids_add(&t, id, "FileObject");
            const char *url = jv_str(d, "contentUrl");
            cr_assert(url, "%s: contentUrl", id);
            cr_expect(!strstr(url, "..") && url[0] != '/', "%s: contentUrl %s",
                      id, url);
            snprintf(path, sizeof path, "%s/%s", dir, url);
            size_t n;
            char *bytes = slurp(path, &n), hex[65];
            const char *sha = jv_str(d, "sha256");
            if (sha) {
                cr_assert_eq(sf_sha256_hex(bytes, n, hex), SF_OK);
                cr_expect_str_eq(sha, hex, "%s: sha256", id);
                char size[32];
                snprintf(size, sizeof size, "%zu B", n);
                cr_expect_str_eq(jv_str(d, "contentSize"), size,
                                 "%s: contentSize", id);
            }
            free(bytes);
        } else if (!strcmp(type, "cr:FileSet")) {
            ids_add(&t, id, "FileSet");
            const char *inc = jv_str(d, "includes");
            cr_assert(inc, "%s: includes", id);
            /* The glob matches exactly the corpus' files of that kind. */
            char sub[64];
            snprintf(sub, sizeof sub, "%.*s", (int)strcspn(inc, "/"), inc);
            snprintf(path, sizeof path, "%s/%s", dir, sub);
            DIR *dd = opendir(path);
            cr_assert(dd, "%s: includes %s: no directory %s", id, inc, sub);
            int hits = 0;
            struct dirent *e;
            while ((e = readdir(dd))) {
                char rel[128];
                snprintf(rel, sizeof rel, "%s/%s", sub, e->d_name);
                hits += fnmatch(inc, rel, FNM_PATHNAME) == 0;
            }
            closedir(dd);
            cr_expect_eq(hits, COUNT, "%s: includes %s matches %d files", id,
                         inc, hits);
        } else {
            cr_expect(0,
                      "distribution[%d]: @type %s is neither cr:FileObject nor "
                      "cr:FileSet",
                      i, type);
        }
    }

    /* recordSet: ids first (fields may reference later record sets). */
    const jv *rsets = jv_get(doc, "recordSet");
    cr_assert(rsets && rsets->type == JV_ARR && rsets->n > 0, "recordSet");
    for (int i = 0; i < rsets->n; i++) {
        const jv *rs = rsets->items[i];
        cr_expect_str_eq(jv_str(rs, "@type"), "cr:RecordSet");
        const char *rid = jv_str(rs, "@id");
        ids_add(&t, rid, "RecordSet");
        const jv *fields = jv_get(rs, "field");
        cr_assert(fields && fields->type == JV_ARR && fields->n > 0,
                  "%s: field", rid);
        for (int k = 0; k < fields->n; k++) {
            const char *fid = jv_str(fields->items[k], "@id");
            ids_add(&t, fid, "Field");
            char pre[96];
            snprintf(pre, sizeof pre, "%s/", rid);
            cr_expect(fid && !strncmp(fid, pre, strlen(pre)),
                      "field %s is not prefixed with its record set's id", fid);
        }
    }
    const char *types[] = {"sc:Integer", "sc:Text",    "sc:ImageObject",
                           "sc:Float",   "sc:Boolean", "sc:Date"};
    int joined_image = 0, joined_label = 0;
    for (int i = 0; i < rsets->n; i++) {
        const jv *rs = rsets->items[i];
        const char *rid = jv_str(rs, "@id");
        const char *key = jv_ref(jv_get(rs, "key"));
        cr_expect(key && ids_kind(&t, key) && !strncmp(key, rid, strlen(rid)),
                  "%s: key must be one of its own fields", rid);
        const jv *fields = jv_get(rs, "field");
        for (int k = 0; k < fields->n; k++) {
            const jv *f = fields->items[k];
            const char *fid = jv_str(f, "@id");
            cr_expect_str_eq(jv_str(f, "@type"), "cr:Field");
            cr_expect(is_str_nonempty(jv_get(f, "name")), "%s: name", fid);
            const char *type = jv_str(f, "dataType");
            int ok = 0;
            for (size_t y = 0; type && y < sizeof types / sizeof types[0]; y++)
                ok |= !strcmp(type, types[y]);
            cr_expect(ok, "%s: dataType %s", fid, type ? type : "(none)");
            check_source(jv_get(f, "source"), &t, fid, csv);
            const char *ref = jv_ref(jv_get(f, "references"));
            if (jv_get(f, "references")) {
                cr_expect(ref && ids_kind(&t, ref) &&
                              !strcmp(ids_kind(&t, ref), "Field"),
                          "%s: references %s is not a declared field", fid,
                          ref);
                /* A join key references the other record set's key. */
                for (int r = 0; ref && r < rsets->n; r++) {
                    const char *kk = jv_ref(jv_get(rsets->items[r], "key"));
                    if (kk && !strcmp(kk, ref)) {
                        joined_image |= !strcmp(ref, "image_files/name");
                        joined_label |= !strcmp(ref, "label_files/name");
                    }
                }
            }
        }
    }
    cr_expect(joined_image && joined_label,
              "the samples record set must join both file sets by their keys");

    /* The join on real data: the regex on each image / label file name
     * gives exactly the name column of samples.csv, row for row. */
    const char *re = NULL;
    for (int i = 0; i < rsets->n; i++)
        if (!strcmp(jv_str(rsets->items[i], "@id"), "image_files")) {
            const jv *f = jv_get(rsets->items[i], "field");
            for (int k = 0; k < f->n; k++)
                if (!strcmp(jv_str(f->items[k], "@id"), "image_files/name"))
                    re = jv_str(
                        jv_get(jv_get(f->items[k], "source"), "transform"),
                        "regex");
        }
    cr_assert(re, "image_files/name has no regex transform");
    int rows = 0;
    char *save = NULL;
    strtok_r(csv, "\n", &save); /* header */
    for (char *l = strtok_r(NULL, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save), rows++) {
        char *cols[16];
        int nc = 0;
        for (char *s2 = NULL, *c = strtok_r(l, ",", &s2); c && nc < 16;
             c = strtok_r(NULL, ",", &s2))
            cols[nc++] = c;
        cr_assert_eq(nc, 10, "samples.csv row with %d columns", nc);
        char got[64];
        const char *img = strrchr(cols[2], '/') + 1,
                   *lab = strrchr(cols[3], '/') + 1;
        cr_expect(regex_capture(re, img, got, sizeof got) &&
                      !strcmp(got, cols[9]),
                  "image %s does not join row name %s", img, cols[9]);
        cr_expect(regex_capture(re, lab, got, sizeof got) &&
                      !strcmp(got, cols[9]),
                  "label %s does not join row name %s", lab, cols[9]);
    }
    cr_expect_eq(rows, COUNT);

    ids_free(&t);
    jv_free(doc);
    free(csv);
    free(text);
}

Test(croissant, json_dom_sanity) {
    jv *v = jv_parse(
        "{\"a\": [1, -2.5e3, true, null, \"x\\n\\u00e9\"], \"b\": {}}");
    cr_assert(v);
    const jv *a = jv_get(v, "a");
    cr_assert(a && a->type == JV_ARR && a->n == 5);
    cr_expect_eq(a->items[1]->num, -2500.0);
    cr_expect_str_eq(a->items[4]->str, "x\n\xc3\xa9");
    jv_free(v);
    const char *bad[] = {"{\"a\": 1,}",   "{\"a\" 1}", "[1, 2",
                         "\"tab\there\"", "{} {}",     "01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jv *b = jv_parse(bad[i]);
        cr_expect(!b, "accepted %s", bad[i]);
        jv_free(b);
    }
}
