/*
 * report_cfg.c - the report config (reports/report.yaml) and the small
 * containers the report code shares (string lists, interning).
 */
#include "report_int.h"
#include "sf_yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ containers */

int hx__strs_push(hx__strs *s, const char *v) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        char **nv = realloc(s->v, (size_t)cap * sizeof *nv);
        if (!nv) return SF_ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(v ? v : ""))) return SF_ENOMEM;
    s->n++;
    return SF_OK;
}

int hx__strs_find(const hx__strs *s, const char *v) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], v)) return i;
    return -1;
}

void hx__strs_clear(hx__strs *s) {
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static uint64_t str_hash(const char *s) { /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int hx__intern_find(const hx__intern *t, const char *s) {
    if (!t->n_slot) return -1;
    for (size_t i = str_hash(s) & (t->n_slot - 1);;
         i = (i + 1) & (t->n_slot - 1)) {
        int id = t->slot[i];
        if (id < 0) return -1;
        if (!strcmp(t->s.v[id], s)) return id;
    }
}

int hx__intern_id(hx__intern *t, const char *s) {
    int id = hx__intern_find(t, s);
    if (id >= 0) return id;
    if ((size_t)(t->s.n + 1) * 2 > t->n_slot) { /* grow, load <= 1/2 */
        size_t n = t->n_slot ? 2 * t->n_slot : 64;
        int *ns = malloc(n * sizeof *ns);
        if (!ns) return SF_ENOMEM;
        for (size_t i = 0; i < n; i++)
            ns[i] = -1;
        for (int k = 0; k < t->s.n; k++) {
            size_t i = str_hash(t->s.v[k]) & (n - 1);
            while (ns[i] >= 0)
                i = (i + 1) & (n - 1);
            ns[i] = k;
        }
        free(t->slot);
        t->slot = ns;
        t->n_slot = n;
    }
    if (hx__strs_push(&t->s, s)) return SF_ENOMEM;
    id = t->s.n - 1;
    size_t i = str_hash(s) & (t->n_slot - 1);
    while (t->slot[i] >= 0)
        i = (i + 1) & (t->n_slot - 1);
    t->slot[i] = id;
    return id;
}

void hx__intern_free(hx__intern *t) {
    hx__strs_clear(&t->s);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

const char *hx__cfg_map(const hx__strs *keys, const hx__strs *vals,
                        const char *key) {
    int i = hx__strs_find(keys, key);
    return i < 0 ? NULL : vals->v[i];
}

/* ---------------------------------------------------------------- config */

static const char default_text[] =
    "# reports/report.yaml - what `synthfm report` (and `make report`) puts "
    "in\n"
    "# Tables 1-3. Method and structure names are those of the results "
    "database\n"
    "# (the `method` column of schemas/results.sql's runs table, the "
    "`structure`\n"
    "# column of its slices table). The built-in default of `synthfm report` "
    "is\n"
    "# this file (harness/report_cfg.c; a test keeps the two equal).\n"
    "\n"
    "# The methods whose significance is tested: each against the best and "
    "the\n"
    "# next-best *other* method of a table row (paired t-test on per-slice "
    "Dice,\n"
    "# pairs matched by dataset, case, slice, structure and setting).\n"
    "ours: [SynthFM, SynthFM-tiny]\n"
    "\n"
    "# Prompt settings \"P,N\" (positive, negative clicks) in column order; a\n"
    "# setting found in the database but not here is appended.\n"
    "settings: [\"1,0\", \"3,0\", \"1,1\", \"3,3\"]\n"
    "\n"
    "# Modalities of Table 1 in row order (others found are appended; the\n"
    "# Table 3 dataset and 'microscopy' are never in Table 1).\n"
    "modalities: [CT, MR, US, synthetic]\n"
    "\n"
    "# DB method name -> the paper's method key (reports/paper/README.md) for\n"
    "# the side-by-side columns. A method without an entry has no paper "
    "column.\n"
    "paper_methods:\n"
    "  UnSAM: unsam\n"
    "  SAM: sam\n"
    "  SAM 2: sam2\n"
    "  SynthFM: synthfm\n"
    "  SynthFM-tiny: synthfm\n"
    "  MedSAM: medsam\n"
    "\n"
    "# DB structure name -> the name used in the tables (the paper's). Names\n"
    "# not listed are used as they are.\n"
    "structures:\n"
    "  left_kidney: kidney_left\n"
    "  right_kidney: kidney_right\n"
    "  kidney_l: kidney_left\n"
    "  kidney_r: kidney_right\n"
    "  gall_bladder: gallbladder\n"
    "  lv_endo: lv_endocardium\n"
    "  lv_endocardium: lv_endocardium\n"
    "  left_ventricle: lv_endocardium\n"
    "\n"
    "# Modalities whose structures are pooled into one table row (modality ->\n"
    "# row name): the synthetic OOD split's structures are per-image "
    "instances\n"
    "# ('instance_3' of one image has nothing to do with another's), so they\n"
    "# form one row. Slices stay paired exactly: the instance joins the case "
    "key.\n"
    "pooled:\n"
    "  synthetic: instances\n"
    "\n"
    "table1:\n"
    "  # Column order; methods found in the database but not listed follow,\n"
    "  # by name.\n"
    "  methods: [UnSAM, SAM, SAM 2, SynthFM]\n"
    "\n"
    "table2:\n"
    "  # The ablation (paper Table 2): which DB method is which generator\n"
    "  # variant. Each variant takes the first listed method that has scores;\n"
    "  # the table's legend names it. Values: mean over the modality's\n"
    "  # structures of the per-structure mean Dice.\n"
    "  settings: [\"1,0\", \"3,0\"]\n"
    "  shape: [SynthFM-shape]\n"
    "  boundary: [SynthFM-boundary]\n"
    "  both: [SynthFM, SynthFM-tiny]\n"
    "\n"
    "table3:\n"
    "  # ALFI (microscopy): interphase / mitosis, MedSAM vs SynthFM.\n"
    "  dataset: alfi\n"
    "  methods: [MedSAM, SynthFM]\n"
    "\n"
    "# Datasets whose presence under the data root (data/<name>/) the report\n"
    "# lists (the names of synthfm eval --dataset).\n"
    "datasets: [amos-ct, amos-mr, chaos-ct, chaos-mr, totalseg-ct, "
    "totalseg-mr,\n"
    "           camus, hc18, fh-ps-aop, alfi]\n";

const char *hx_report_cfg_default_text(void) {
    return default_text;
}

void hx_report_cfg_free(hx_report_cfg *c) {
    if (!c) return;
    hx__strs *all[] = {
        &c->ours,       &c->settings,    &c->modalities, &c->datasets,
        &c->pm_db,      &c->pm_paper,    &c->st_db,      &c->st_name,
        &c->t1_methods, &c->t2_settings, &c->t3_methods, &c->variant[0],
        &c->variant[1], &c->variant[2],  &c->pool_mod,   &c->pool_name};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        hx__strs_clear(all[i]);
    free(c->t3_dataset);
    free(c);
}

typedef struct walk {
    sf_yaml *y;
} walk;

static int bad(walk *w, const yaml_node_t *n, const char *key,
               const char *what) {
    return sf_yaml_error(w->y, n, "%s: %s", key, what);
}

/* A mapping's duplicate key (sf_yaml_duplicate) as an error, or SF_OK. */
static int no_duplicate(walk *w, const yaml_node_t *map, const char *where) {
    const yaml_node_t *d = sf_yaml_duplicate(w->y, map);
    char key[160];
    if (!d) return SF_OK;
    if (where)
        snprintf(key, sizeof key, "%s.%s", where, sf_yaml_scalar(d));
    else
        snprintf(key, sizeof key, "%s", sf_yaml_scalar(d));
    return bad(w, d, key, "duplicate key");
}

/* "KEY: unknown key", with the closest of known[0..n) when it is a typo. */
static int unknown(walk *w, const yaml_node_t *kn, const char *key,
                   const char *name, const char *const *known, size_t n) {
    char hint[300], what[400];
    snprintf(what, sizeof what, "unknown key%s",
             sf_yaml_hint(name, known, n, hint, sizeof hint));
    return bad(w, kn, key, what);
}

/* A sequence of scalars (or one scalar) into s, replacing what was there. */
static int get_list(walk *w, const yaml_node_t *n, const char *key,
                    hx__strs *s) {
    hx__strs_clear(s);
    if (sf_yaml_scalar(n)) return hx__strs_push(s, sf_yaml_scalar(n));
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(w, n, key, "expected a list of names");
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = sf_yaml_node(w->y, *it);
        if (!sf_yaml_scalar(e))
            return bad(w, e ? e : n, key, "expected a name");
        if (!*sf_yaml_scalar(e)) return bad(w, e, key, "empty name");
        if (hx__strs_find(s, sf_yaml_scalar(e)) >= 0)
            return bad(w, e, key, "name listed twice");
        if (hx__strs_push(s, sf_yaml_scalar(e))) return SF_ENOMEM;
    }
    return SF_OK;
}

/* A mapping of scalar -> scalar. */
static int get_map(walk *w, const yaml_node_t *n, const char *key, hx__strs *ks,
                   hx__strs *vs) {
    hx__strs_clear(ks);
    hx__strs_clear(vs);
    if (n->type != YAML_MAPPING_NODE)
        return bad(w, n, key, "expected a mapping of name: name");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = sf_yaml_node(w->y, p->key);
        yaml_node_t *vn = sf_yaml_node(w->y, p->value);
        if (!sf_yaml_scalar(kn) || !sf_yaml_scalar(vn) || !*sf_yaml_scalar(vn))
            return bad(w, vn ? vn : n, key, "expected name: name");
        if (hx__strs_find(ks, sf_yaml_scalar(kn)) >= 0)
            return bad(w, kn, key, "name listed twice");
        if (hx__strs_push(ks, sf_yaml_scalar(kn)) ||
            hx__strs_push(vs, sf_yaml_scalar(vn)))
            return SF_ENOMEM;
    }
    return SF_OK;
}

/* Settings must read "P,N". */
static int check_settings(walk *w, const yaml_node_t *n, const char *key,
                          const hx__strs *s) {
    for (int i = 0; i < s->n; i++) {
        int p, q, k = 0;
        if (sscanf(s->v[i], "%d,%d%n", &p, &q, &k) != 2 || s->v[i][k] ||
            p < 0 || q < 0)
            return bad(w, n, key, "a setting is \"P,N\" (e.g. \"3,0\")");
    }
    return SF_OK;
}

static int walk_sub(walk *w, const yaml_node_t *map, const char *table,
                    hx_report_cfg *c) {
    char key[128];
    static const char *const t1[] = {"methods"};
    static const char *const t2[] = {"settings", "shape", "boundary", "both"};
    static const char *const t3[] = {"methods", "dataset"};
    const char *const *known = table[5] == '1' ? t1 : table[5] == '2' ? t2 : t3;
    size_t n_known = table[5] == '1' ? 1 : table[5] == '2' ? 4 : 2;
    if (map->type != YAML_MAPPING_NODE)
        return bad(w, map, table, "expected a mapping");
    int rc0 = no_duplicate(w, map, table);
    if (rc0) return rc0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = sf_yaml_node(w->y, p->key);
        yaml_node_t *vn = sf_yaml_node(w->y, p->value);
        const char *k = sf_yaml_scalar(kn);
        int rc;
        snprintf(key, sizeof key, "%s.%s", table, k ? k : "?");
        if (!k) return bad(w, kn, table, "expected a key");
        if (!strcmp(table, "table1") && !strcmp(k, "methods"))
            rc = get_list(w, vn, key, &c->t1_methods);
        else if (!strcmp(table, "table2") && !strcmp(k, "settings")) {
            if (!(rc = get_list(w, vn, key, &c->t2_settings)))
                rc = check_settings(w, vn, key, &c->t2_settings);
        } else if (!strcmp(table, "table2") && !strcmp(k, "shape"))
            rc = get_list(w, vn, key, &c->variant[0]);
        else if (!strcmp(table, "table2") && !strcmp(k, "boundary"))
            rc = get_list(w, vn, key, &c->variant[1]);
        else if (!strcmp(table, "table2") && !strcmp(k, "both"))
            rc = get_list(w, vn, key, &c->variant[2]);
        else if (!strcmp(table, "table3") && !strcmp(k, "methods"))
            rc = get_list(w, vn, key, &c->t3_methods);
        else if (!strcmp(table, "table3") && !strcmp(k, "dataset")) {
            if (!sf_yaml_scalar(vn) || !*sf_yaml_scalar(vn))
                return bad(w, vn, key, "expected a dataset name");
            free(c->t3_dataset);
            if (!(c->t3_dataset = strdup(sf_yaml_scalar(vn)))) return SF_ENOMEM;
            rc = SF_OK;
        } else
            return unknown(w, kn, key, k, known, n_known);
        if (rc) return rc;
    }
    return SF_OK;
}

static int walk_root(walk *w, const yaml_node_t *root, hx_report_cfg *c) {
    static const char *const known[] = {
        "ours",       "settings", "modalities", "datasets", "paper_methods",
        "structures", "pooled",   "table1",     "table2",   "table3"};
    if (root->type != YAML_MAPPING_NODE)
        return bad(w, root, "(top)", "expected a mapping");
    int rc0 = no_duplicate(w, root, NULL);
    if (rc0) return rc0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = sf_yaml_node(w->y, p->key);
        yaml_node_t *vn = sf_yaml_node(w->y, p->value);
        const char *k = sf_yaml_scalar(kn);
        int rc;
        if (!k) return bad(w, kn, "(top)", "expected a key");
        if (!strcmp(k, "ours"))
            rc = get_list(w, vn, k, &c->ours);
        else if (!strcmp(k, "settings")) {
            if (!(rc = get_list(w, vn, k, &c->settings)))
                rc = check_settings(w, vn, k, &c->settings);
        } else if (!strcmp(k, "modalities"))
            rc = get_list(w, vn, k, &c->modalities);
        else if (!strcmp(k, "datasets"))
            rc = get_list(w, vn, k, &c->datasets);
        else if (!strcmp(k, "paper_methods"))
            rc = get_map(w, vn, k, &c->pm_db, &c->pm_paper);
        else if (!strcmp(k, "structures"))
            rc = get_map(w, vn, k, &c->st_db, &c->st_name);
        else if (!strcmp(k, "pooled"))
            rc = get_map(w, vn, k, &c->pool_mod, &c->pool_name);
        else if (!strcmp(k, "table1") || !strcmp(k, "table2") ||
                 !strcmp(k, "table3"))
            rc = walk_sub(w, vn, k, c);
        else
            return unknown(w, kn, k, k, known, 10);
        if (rc) return rc;
    }
    return SF_OK;
}

int hx_report_cfg_parse(const char *name, const char *text, size_t n,
                        hx_report_cfg **out, sf_err *err) {
    int rc = SF_OK;
    sf_yaml y = {0};
    hx_report_cfg *c = NULL;
    if (!text || !out) return sf_err_set(err, SF_EINVAL, "report config: NULL");
    if ((rc = sf_yaml_load(&y, name, text, n, err))) goto out;
    if (!(c = calloc(1, sizeof *c))) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    yaml_node_t *root = sf_yaml_root(&y);
    walk w = {&y};
    if (root && (rc = walk_root(&w, root, c))) {
        if (rc == SF_ENOMEM) sf_err_set(err, rc, "%s: out of memory", name);
        goto out;
    }
    if (!c->t3_dataset && !(c->t3_dataset = strdup("alfi"))) {
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    *out = c;
    c = NULL;
out:
    hx_report_cfg_free(c);
    sf_yaml_free(&y);
    return rc;
}

int hx_report_cfg_load(const char *path, hx_report_cfg **out, sf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sf_err_set(err, SF_EIO, "%s: %s", path, strerror(errno));
    sf_buf b = {0};
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        sf_buf_printf(&b, "%.*s", (int)k, chunk);
    int rd = ferror(f);
    fclose(f);
    int rc;
    if (rd)
        rc = sf_err_set(err, SF_EIO, "%s: read error", path);
    else if (b.oom)
        rc = sf_err_set(err, SF_ENOMEM, "%s: out of memory", path);
    else
        rc = hx_report_cfg_parse(path, b.s ? b.s : "", b.len, out, err);
    sf_buf_release(&b);
    return rc;
}
