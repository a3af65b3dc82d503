/*
 * split.c - fixed evaluation splits, schemas/splits/<dataset>.yaml: the
 * cases, the structures and their label values, the slice rule and the
 * SHA-256 of every source file (schemas/splits/README.md). Read with
 * libyaml's document API; errors carry file:line:col and the key.
 */
#include "eval.h"
#include "sf_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void hx_split_free(hx_split *s) {
    if (!s) return;
    free(s->name);
    free(s->dataset);
    free(s->description);
    for (int i = 0; i < s->n_cases; i++) {
        free(s->cases[i].id);
        for (int j = 0; j < s->cases[i].n_files; j++)
            free(s->cases[i].files[j].path);
        free(s->cases[i].files);
    }
    free(s->cases);
    free(s);
}

static int yerr(sf_yaml *y, const yaml_node_t *n, const char *key,
                const char *what) {
    return sf_yaml_error(y, n, "%s: %s", key, what);
}

static int parse_int(sf_yaml *y, const yaml_node_t *n, const char *key, long lo,
                     long hi, long *out) {
    const char *s = sf_yaml_scalar(n);
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        char what[96];
        snprintf(what, sizeof what, "expected an integer in %ld..%ld", lo, hi);
        return yerr(y, n, key, what);
    }
    *out = v;
    return SF_OK;
}

static int parse_structures(sf_yaml *y, yaml_node_t *n, hx_split *s) {
    if (n->type != YAML_MAPPING_NODE)
        return yerr(y, n, "structures", "expected a mapping name: value");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = sf_yaml_node(y, p->key),
                    *v = sf_yaml_node(y, p->value);
        const char *name = sf_yaml_scalar(k);
        if (!name || !*name || strlen(name) >= sizeof s->st[0].name)
            return yerr(y, k, "structures", "expected a structure name");
        if (s->n_structures == HX_MAX_STRUCTURES)
            return yerr(y, k, "structures", "too many structures");
        for (int i = 0; i < s->n_structures; i++)
            if (!strcmp(s->st[i].name, name))
                return yerr(y, k, "structures", "duplicate structure");
        hx_structure *st = &s->st[s->n_structures++];
        snprintf(st->name, sizeof st->name, "%s", name);
        long lo, hi;
        char key[96];
        snprintf(key, sizeof key, "structures.%s", name);
        if (v->type == YAML_SEQUENCE_NODE &&
            v->data.sequence.items.top - v->data.sequence.items.start == 2) {
            int rc =
                parse_int(y, sf_yaml_node(y, v->data.sequence.items.start[0]),
                          key, 0, 65535, &lo);
            if (rc == SF_OK)
                rc = parse_int(y,
                               sf_yaml_node(y, v->data.sequence.items.start[1]),
                               key, lo, 65535, &hi);
            if (rc != SF_OK) return rc;
        } else {
            int rc = parse_int(y, v, key, 0, 65535, &lo);
            if (rc != SF_OK) return rc;
            hi = lo;
        }
        st->lo = (int)lo;
        st->hi = (int)hi;
    }
    return SF_OK;
}

static int parse_case(sf_yaml *y, yaml_node_t *n, hx_split_case *c) {
    if (n->type != YAML_MAPPING_NODE)
        return yerr(y, n, "cases", "expected a mapping {id, files}");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = sf_yaml_node(y, p->key),
                    *v = sf_yaml_node(y, p->value);
        const char *key = sf_yaml_scalar(k);
        if (key && (!strcmp(key, "id")      ? c->id != NULL
                    : !strcmp(key, "files") ? c->files != NULL
                                            : 0))
            return yerr(y, k, key, "duplicate key in a case");
        if (key && !strcmp(key, "id") && sf_yaml_scalar(v)) {
            if (!(c->id = xstrdup(sf_yaml_scalar(v))))
                return sf_err_set(y->err, SF_ENOMEM, "split");
        } else if (key && !strcmp(key, "files") &&
                   v->type == YAML_MAPPING_NODE) {
            const yaml_node_t *dup = sf_yaml_duplicate(y, v);
            if (dup) return yerr(y, dup, "cases.files", "duplicate key");
            long m = v->data.mapping.pairs.top - v->data.mapping.pairs.start;
            c->files = calloc((size_t)m + 1, sizeof *c->files);
            if (!c->files) return sf_err_set(y->err, SF_ENOMEM, "split");
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                 q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *fk = sf_yaml_node(y, q->key),
                            *fv = sf_yaml_node(y, q->value);
                const char *fp = sf_yaml_scalar(fk), *h = sf_yaml_scalar(fv);
                if (!fp || !*fp || fp[0] == '/' || strstr(fp, ".."))
                    return yerr(y, fk, "cases.files",
                                "expected a relative path below the data "
                                "root");
                if (!h || strlen(h) != 64 ||
                    strspn(h, "0123456789abcdef") != 64)
                    return yerr(y, fv, "cases.files",
                                "expected 64 lower-case hex digits (SHA-256)");
                hx_split_file *f = &c->files[c->n_files++];
                if (!(f->path = xstrdup(fp)))
                    return sf_err_set(y->err, SF_ENOMEM, "split");
                memcpy(f->sha256, h, 65);
            }
        } else {
            return yerr(y, k, key ? key : "cases",
                        "unknown key in a case (expected id, files)");
        }
    }
    if (!c->id) return yerr(y, n, "cases", "a case without id");
    if (!c->n_files) return yerr(y, n, "cases", "a case without files");
    return SF_OK;
}

int hx_split_load(const char *path, hx_split **out, sf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return sf_err_set(err, SF_EIO, "%s: cannot open split: %s", path,
                          strerror(errno));
    hx_split *s = calloc(1, sizeof *s);
    char *text = NULL;
    size_t len = 0;
    int rc = SF_ENOMEM;
    sf_yaml y = {0};
    if (!s) goto out;
    {
        size_t cap = 1 << 16, k;
        text = malloc(cap);
        while (text && (k = fread(text + len, 1, cap - len, f)) > 0) {
            len += k;
            if (len == cap) {
                char *t = realloc(text, cap *= 2);
                if (!t) {
                    free(text);
                    text = NULL;
                }
                text = t;
            }
        }
        if (!text) goto out;
    }
    sf_sha256_hex(text, len, s->sha256);
    s->min_pixels = HX_MIN_PIXELS_DEFAULT;
    if ((rc = sf_yaml_load(&y, path, text, len, err)) != SF_OK) goto out;
    yaml_node_t *root = sf_yaml_root(&y);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = yerr(&y, root, "(top)", "expected a mapping");
        goto out;
    }
    /* any key twice is an error (a second `cases:` list used to replace
     * the first's array while its count went on) */
    const yaml_node_t *dup = sf_yaml_duplicate(&y, root);
    if (dup) {
        rc = yerr(&y, dup, sf_yaml_scalar(dup), "duplicate key");
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = sf_yaml_node(&y, p->key),
                    *v = sf_yaml_node(&y, p->value);
        const char *key = sf_yaml_scalar(k);
        rc = SF_OK;
        if (!key) {
            rc = yerr(&y, k, "(top)", "expected a key");
        } else if (!strcmp(key, "split") || !strcmp(key, "dataset") ||
                   !strcmp(key, "description")) {
            char **dst = key[0] == 's'                    ? &s->name
                         : key[0] == 'd' && key[1] == 'a' ? &s->dataset
                                                          : &s->description;
            if (*dst)
                rc = yerr(&y, k, key, "duplicate key");
            else if (!sf_yaml_scalar(v))
                rc = yerr(&y, v, key, "expected a string");
            else if (!(*dst = xstrdup(sf_yaml_scalar(v))))
                rc = SF_ENOMEM;
        } else if (!strcmp(key, "template")) {
            const char *t = sf_yaml_scalar(v);
            if (!t || (strcmp(t, "true") && strcmp(t, "false")))
                rc = yerr(&y, v, key, "expected true or false");
            else
                s->template_only = !strcmp(t, "true");
        } else if (!strcmp(key, "slice_rule")) {
            const yaml_node_t *d2 = sf_yaml_duplicate(&y, v);
            if (v->type != YAML_MAPPING_NODE) {
                rc = yerr(&y, v, key, "expected {axis, min_pixels}");
            } else if (d2) {
                rc = yerr(&y, d2, "slice_rule", "duplicate key");
            } else {
                for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                     q < v->data.mapping.pairs.top && rc == SF_OK; q++) {
                    yaml_node_t *qk = sf_yaml_node(&y, q->key),
                                *qv = sf_yaml_node(&y, q->value);
                    const char *kk = sf_yaml_scalar(qk);
                    long mp;
                    if (kk && !strcmp(kk, "min_pixels")) {
                        rc = parse_int(&y, qv, "slice_rule.min_pixels", 1,
                                       1 << 30, &mp);
                        s->min_pixels = (int)mp;
                    } else if (kk && !strcmp(kk, "axis")) {
                        if (!sf_yaml_scalar(qv) ||
                            strcmp(sf_yaml_scalar(qv), "axial"))
                            rc = yerr(&y, qv, "slice_rule.axis",
                                      "only 'axial' is supported");
                    } else {
                        rc = yerr(&y, qk, "slice_rule",
                                  "unknown key (expected axis, min_pixels)");
                    }
                }
            }
        } else if (!strcmp(key, "structures")) {
            rc = parse_structures(&y, v, s);
        } else if (!strcmp(key, "cases")) {
            if (v->type != YAML_SEQUENCE_NODE) {
                rc = yerr(&y, v, key, "expected a list of cases");
            } else {
                long m =
                    v->data.sequence.items.top - v->data.sequence.items.start;
                s->cases = calloc((size_t)m + 1, sizeof *s->cases);
                if (!s->cases) rc = SF_ENOMEM;
                for (long i = 0; i < m && rc == SF_OK; i++) {
                    rc = parse_case(
                        &y, sf_yaml_node(&y, v->data.sequence.items.start[i]),
                        &s->cases[s->n_cases]);
                    s->n_cases++;
                }
            }
        } else {
            static const char *const known[] = {
                "split",      "dataset",    "description", "template",
                "slice_rule", "structures", "cases"};
            char hint[300], what[512];
            snprintf(what, sizeof what,
                     "unknown key (expected split, dataset, description, "
                     "template, slice_rule, structures, cases)%s",
                     sf_yaml_hint(key, known, 7, hint, sizeof hint));
            rc = yerr(&y, k, key, what);
        }
        if (rc == SF_ENOMEM) sf_err_set(err, rc, "%s: out of memory", path);
        if (rc != SF_OK) goto out;
    }
    if (!s->name || !s->dataset) {
        rc = yerr(&y, root, "split/dataset", "both keys are required");
        goto out;
    }
    if (!hx_dataset_by_name(s->dataset)) {
        rc = yerr(&y, root, "dataset", "unknown dataset");
        goto out;
    }
    if (!s->template_only && s->n_cases == 0) {
        rc = yerr(&y, root, "cases", "no cases (and not a template)");
        goto out;
    }
    *out = s;
    s = NULL;
    rc = SF_OK;
out:
    sf_yaml_free(&y);
    free(text);
    fclose(f);
    hx_split_free(s);
    return rc;
}

int hx_split_verify(const hx_split *s, const char *root,
                    void (*fn)(void *ctx, const char *problem), void *ctx,
                    int *n_bad, sf_err *err) {
    *n_bad = 0;
    size_t nr = strlen(root);
    for (int i = 0; i < s->n_cases; i++)
        for (int j = 0; j < s->cases[i].n_files; j++) {
            const hx_split_file *f = &s->cases[i].files[j];
            char *p = malloc(nr + strlen(f->path) + 2), msg[1024], h[65];
            if (!p) return sf_err_set(err, SF_ENOMEM, "split verify");
            sprintf(p, "%s/%s", root, f->path);
            struct stat st;
            sf_err e2;
            if (stat(p, &st) != 0) {
                snprintf(msg, sizeof msg, "%s: missing", p);
                (*n_bad)++;
                if (fn) fn(ctx, msg);
            } else if (hx_sha256_path(p, h, &e2) != SF_OK) {
                snprintf(msg, sizeof msg, "%s: unreadable (%s)", p, e2.msg);
                (*n_bad)++;
                if (fn) fn(ctx, msg);
            } else if (strcmp(h, f->sha256)) {
                snprintf(msg, sizeof msg,
                         "%s: changed (sha256 %s, the split says %s)", p, h,
                         f->sha256);
                (*n_bad)++;
                if (fn) fn(ctx, msg);
            }
            free(p);
        }
    return SF_OK;
}

/* ------------------------------------------------------------- writing */

static const char *rel_to(const char *root, const char *p) {
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (!strncmp(p, root, n) && p[n] == '/') return p + n + 1;
    return p;
}

static int put_path(FILE *f, const char *root, const char *p, sf_err *err) {
    /* A DICOM series folder gets one hash over its files (hx_sha256_path). */
    char h[65];
    int rc = hx_sha256_path(p, h, err);
    if (rc != SF_OK) return rc;
    fprintf(f, "      \"%s\": %s\n", rel_to(root, p), h);
    return SF_OK;
}

int hx_split_write(const hx_dataset_ops *ds, const char *root, const char *name,
                   const char *description, int min_pixels,
                   const char *out_path, sf_err *err) {
    hx_case_list l;
    int rc = hx_dataset_list(ds, root, &l, err);
    if (rc != SF_OK) return rc;
    char tmp[HX_VOL_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        hx_case_list_free(&l);
        return sf_err_set(err, SF_EIO, "%s: cannot write: %s", tmp,
                          strerror(errno));
    }
    fprintf(f,
            "# Fixed evaluation split for `synthfm eval --split` (format: "
            "schemas/splits/README.md).\n"
            "# Made by `synthfm data split`; paths are relative to the data "
            "root.\n"
            "split: %s\ndataset: %s\ndescription: \"%s\"\ntemplate: false\n"
            "slice_rule:\n  axis: axial\n  min_pixels: %d\n",
            name, ds->name, description ? description : "", min_pixels);
    if (ds->n_structures) {
        fprintf(f, "structures:\n");
        for (int s = 0; s < ds->n_structures; s++) {
            const hx_structure *st = &ds->structures[s];
            if (st->lo == st->hi)
                fprintf(f, "  %s: %d\n", st->name, st->lo);
            else
                fprintf(f, "  %s: [%d, %d]\n", st->name, st->lo, st->hi);
        }
    }
    fprintf(f, "cases:\n");
    for (size_t i = 0; i < l.n && rc == SF_OK; i++) {
        const hx_case *c = &l.v[i];
        fprintf(f, "  - id: \"%s\"\n    files:\n", c->id);
        rc = put_path(f, root, c->image, err);
        if (rc == SF_OK && c->labels) rc = put_path(f, root, c->labels, err);
        for (int s = 0; rc == SF_OK && c->struct_files && s < c->n_structures;
             s++)
            if (c->struct_files[s])
                rc = put_path(f, root, c->struct_files[s], err);
    }
    if (fclose(f) != 0 && rc == SF_OK)
        rc = sf_err_set(err, SF_EIO, "%s: write failed", tmp);
    if (rc == SF_OK && rename(tmp, out_path) != 0)
        rc = sf_err_set(err, SF_EIO, "%s: rename failed: %s", out_path,
                        strerror(errno));
    if (rc != SF_OK) remove(tmp);
    hx_case_list_free(&l);
    return rc;
}

int hx_split_apply(const hx_split *s, hx_case_list *l, sf_err *err) {
    hx_case *nv = calloc((size_t)s->n_cases + 1, sizeof *nv);
    if (!nv) return sf_err_set(err, SF_ENOMEM, "split");
    unsigned char *used = calloc(l->n + 1, 1);
    if (!used) {
        free(nv);
        return sf_err_set(err, SF_ENOMEM, "split");
    }
    int rc = SF_OK;
    for (int i = 0; i < s->n_cases && rc == SF_OK; i++) {
        size_t j = 0;
        while (j < l->n && (used[j] || strcmp(l->v[j].id, s->cases[i].id)))
            j++;
        if (j == l->n) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "split %s: case %s not found under %s", s->name,
                            s->cases[i].id, l->root);
            break;
        }
        hx_case c = l->v[j];
        if (s->n_structures > 0) {
            hx_case d = c;
            char **sf = NULL;
            if (c.struct_files &&
                !(sf = calloc(HX_MAX_STRUCTURES, sizeof *sf))) {
                rc = sf_err_set(err, SF_ENOMEM, "split");
                break;
            }
            d.n_structures = s->n_structures;
            for (int k = 0; k < s->n_structures; k++) {
                d.st[k] = s->st[k];
                int found = -1;
                for (int m = 0; m < c.n_structures; m++)
                    if (!strcmp(c.st[m].name, s->st[k].name)) found = m;
                if (found < 0 && c.label_kind == HX_LABELS_PER_FILE) {
                    rc = sf_err_set(err, SF_ECONFIG,
                                    "split %s: structure %s is not one of "
                                    "dataset %s's",
                                    s->name, s->st[k].name, s->dataset);
                    break;
                }
                if (sf && found >= 0) {
                    sf[k] = c.struct_files[found];
                    c.struct_files[found] = NULL;
                }
            }
            if (c.struct_files) {
                for (int m = 0; m < c.n_structures; m++)
                    free(c.struct_files[m]);
                free(c.struct_files);
            }
            d.struct_files = sf;
            c = d;
            if (rc != SF_OK) {
                l->v[j] = c;
                break;
            }
        }
        nv[i] = c;
        used[j] = 1;
        memset(&l->v[j], 0, sizeof l->v[j]);
    }
    if (rc != SF_OK) {
        for (int i = 0; i < s->n_cases; i++) {
            hx_case tmp = nv[i];
            free(tmp.id);
            free(tmp.image);
            free(tmp.labels);
            if (tmp.struct_files)
                for (int m = 0; m < tmp.n_structures; m++)
                    free(tmp.struct_files[m]);
            free(tmp.struct_files);
        }
        free(nv);
        free(used);
        return rc;
    }
    size_t n_old = l->n;
    hx_case *old = l->v;
    l->v = nv;
    l->n = (size_t)s->n_cases;
    hx_case_list rest = {old, n_old, ""};
    hx_case_list_free(&rest);
    free(used);
    return SF_OK;
}
