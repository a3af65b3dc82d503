/*
 * config.c - the factory config: YAML (libyaml document API, which keeps
 * line/column marks) validated against one schema table. Unknown keys,
 * wrong types, out-of-range values and malformed YAML are errors naming
 * file:line:column and the dotted key.
 */
#include "sf_int.h"
#include "sf_yaml.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- schema table */

enum kind { K_INT, K_NUM, K_PROB, K_IRANGE, K_RANGE, K_ENUM, K_NUMLIST };

typedef struct key_spec {
    const char *path; /* dotted */
    int kind;
    size_t off;               /* into sf_config */
    double min, max;          /* bounds for every number of the value */
    const char *const *names; /* K_ENUM: NULL-terminated */
    size_t count_off;         /* K_NUMLIST: offset of the int count */
} key_spec;

static const char *const mode_names[] = {"both", "shape", "boundary", NULL};
static const char *const contrast_names[] = {"alternating", "linear", NULL};

#define OFF(f)    offsetof(sf_config, f)
#define NM(id, f) OFF(noise.model[id].f)

/* The one list of keys. Order here is the order of the canonical YAML. */
static const key_spec keys[] = {
    {"image_size", K_INT, OFF(image_size), 32, 8192, NULL, 0},
    {"mode", K_ENUM, OFF(mode), 0, 0, mode_names, 0},
    {"mix_shape", K_PROB, OFF(mix_shape), 0, 1, NULL, 0},
    {"min_instance_area", K_INT, OFF(min_instance_area), 1, 1e6, NULL, 0},
    {"shape.n_shapes", K_IRANGE, OFF(shape.n_shapes), 1, 60, NULL, 0},
    {"shape.n_control_points", K_IRANGE, OFF(shape.n_control_points), 3, 64,
     NULL, 0},
    {"shape.radius", K_RANGE, OFF(shape.radius), 0.005, 0.5, NULL, 0},
    {"shape.radius_jitter", K_RANGE, OFF(shape.radius_jitter), 0.05, 3, NULL,
     0},
    {"shape.smoothness", K_RANGE, OFF(shape.smoothness), 0, 1, NULL, 0},
    {"shape.phantom_probability", K_PROB, OFF(shape.phantom_probability), 0, 1,
     NULL, 0},
    {"shape.phantom_radius", K_RANGE, OFF(shape.phantom_radius), 0.05, 0.5,
     NULL, 0},
    {"shape.phantom_aspect", K_RANGE, OFF(shape.phantom_aspect), 0.1, 1, NULL,
     0},
    {"shape.texture_probability", K_PROB, OFF(shape.texture_probability), 0, 1,
     NULL, 0},
    {"contrast.function", K_ENUM, OFF(contrast.function), 0, 0, contrast_names,
     0},
    {"contrast.background", K_RANGE, OFF(contrast.background), 0, 1, NULL, 0},
    {"contrast.delta", K_RANGE, OFF(contrast.delta), 0, 1, NULL, 0},
    {"contrast.min_contrast", K_NUM, OFF(contrast.min_contrast), 0, 0.2, NULL,
     0},
    {"boundary.n_labels", K_IRANGE, OFF(boundary.n_labels), 2, 64, NULL, 0},
    {"boundary.label_scales", K_NUMLIST, OFF(boundary.label_scales), 1e-4, 1,
     NULL, OFF(boundary.n_label_scales)},
    {"boundary.label_sigma", K_RANGE, OFF(boundary.label_sigma), 0, 100, NULL,
     0},
    {"boundary.warp_scales", K_NUMLIST, OFF(boundary.warp_scales), 1e-4, 1,
     NULL, OFF(boundary.n_warp_scales)},
    {"boundary.warp_sigma_px", K_RANGE, OFF(boundary.warp_sigma_px), 0, 256,
     NULL, 0},
    {"boundary.erode_fraction", K_RANGE, OFF(boundary.erode_fraction), 0, 1,
     NULL, 0},
    {"boundary.erode_iterations", K_IRANGE, OFF(boundary.erode_iterations), 0,
     64, NULL, 0},
    {"boundary.canvas_low", K_RANGE, OFF(boundary.canvas_low), 0, 1, NULL, 0},
    {"boundary.canvas_width", K_RANGE, OFF(boundary.canvas_width), 0, 1, NULL,
     0},
    {"boundary.outlier_fraction", K_RANGE, OFF(boundary.outlier_fraction), 0, 1,
     NULL, 0},
    {"boundary.background_shift", K_RANGE, OFF(boundary.background_shift), 0, 1,
     NULL, 0},
    {"noise.shapes_probability", K_PROB, OFF(noise.shapes_probability), 0, 1,
     NULL, 0},
    {"noise.gaussian.probability", K_PROB, NM(SF_NOISE_GAUSSIAN, probability),
     0, 1, NULL, 0},
    {"noise.gaussian.sigma", K_RANGE, NM(SF_NOISE_GAUSSIAN, sigma), 0, 1, NULL,
     0},
    {"noise.poisson.probability", K_PROB, NM(SF_NOISE_POISSON, probability), 0,
     1, NULL, 0},
    {"noise.poisson.photons", K_RANGE, NM(SF_NOISE_POISSON, photons), 1, 1e6,
     NULL, 0},
    {"noise.perlin.probability", K_PROB, NM(SF_NOISE_PERLIN, probability), 0, 1,
     NULL, 0},
    {"noise.perlin.amplitude", K_RANGE, NM(SF_NOISE_PERLIN, amplitude), 0, 1,
     NULL, 0},
    {"noise.perlin.octaves", K_IRANGE, NM(SF_NOISE_PERLIN, octaves), 1, 10,
     NULL, 0},
    {"noise.perlin.cells", K_RANGE, NM(SF_NOISE_PERLIN, cells), 1, 512, NULL,
     0},
    {"noise.perlin.persistence", K_RANGE, NM(SF_NOISE_PERLIN, persistence), 0,
     1, NULL, 0},
    {"noise.speckle.probability", K_PROB, NM(SF_NOISE_SPECKLE, probability), 0,
     1, NULL, 0},
    {"noise.speckle.sigma", K_RANGE, NM(SF_NOISE_SPECKLE, sigma), 0, 2, NULL,
     0},
    {"noise.rician.probability", K_PROB, NM(SF_NOISE_RICIAN, probability), 0, 1,
     NULL, 0},
    {"noise.rician.sigma", K_RANGE, NM(SF_NOISE_RICIAN, sigma), 0, 1, NULL, 0},
    {"blur.probability", K_PROB, OFF(blur.probability), 0, 1, NULL, 0},
    {"blur.sigma", K_RANGE, OFF(blur.sigma), 0, 64, NULL, 0},
    {"png_level", K_INT, OFF(png_level), 0, 9, NULL, 0},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

const char *sf_mode_name(int mode) {
    return mode >= 0 && mode < 3 ? mode_names[mode] : "?";
}

int sf_mode_parse(const char *s) {
    for (int i = 0; mode_names[i]; i++)
        if (!strcmp(s, mode_names[i])) return i;
    return -1;
}

/* ----------------------------------------------------------- YAML walking */

typedef struct walk {
    sf_yaml *y;
    sf_config *cfg;
} walk;

static int bad(walk *w, const yaml_node_t *n, const char *path, const char *fmt,
               const char *got) {
    char what[300];
    snprintf(what, sizeof what, fmt, got ? got : "");
    return sf_yaml_error(w->y, n, "key '%s': %s", path, what);
}

static const char *node_text(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_SCALAR_NODE: return (const char *)n->data.scalar.value;
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static int scalar_number(const yaml_node_t *n, double *v) {
    if (n->type != YAML_SCALAR_NODE) return -1;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return -1;
    const char *s = (const char *)n->data.scalar.value;
    if (!*s) return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !isfinite(d)) return -1;
    /* reject hex and inf/nan spellings strtod accepts */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p)) return -1;
    *v = d;
    return 0;
}

static int get_number(walk *w, const yaml_node_t *n, const key_spec *k,
                      int integer, double *v) {
    if (scalar_number(n, v))
        return bad(w, n, k->path,
                   integer ? "expected an integer, got '%s'"
                           : "expected a number, got '%s'",
                   node_text(n));
    if (integer && *v != floor(*v))
        return bad(w, n, k->path, "expected an integer, got '%s'",
                   node_text(n));
    if (*v < k->min || *v > k->max) {
        char msg[200];
        snprintf(msg, sizeof msg, "value %%s is out of range [%g, %g]", k->min,
                 k->max);
        return bad(w, n, k->path, msg, node_text(n));
    }
    return SF_OK;
}

static int get_pair(walk *w, const yaml_node_t *n, const key_spec *k,
                    int integer, double out[2]) {
    const char *want = integer
                           ? "expected a list of two integers [lo, hi], got %s"
                           : "expected a list of two numbers [lo, hi], got %s";
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(w, n, k->path, want, node_text(n));
    yaml_node_item_t *it = n->data.sequence.items.start;
    if (n->data.sequence.items.top - it != 2) {
        char got[64];
        snprintf(got, sizeof got, "a list of %d",
                 (int)(n->data.sequence.items.top - it));
        return bad(w, n, k->path, want, got);
    }
    for (int i = 0; i < 2; i++) {
        yaml_node_t *e = sf_yaml_node(w->y, it[i]);
        int rc = get_number(w, e, k, integer, &out[i]);
        if (rc) return rc;
    }
    if (out[0] > out[1])
        return bad(w, n, k->path, "range [lo, hi] has lo > hi%s", "");
    return SF_OK;
}

static int set_value(walk *w, const yaml_node_t *n, const key_spec *k) {
    char *base = (char *)w->cfg + k->off;
    double v, pr[2];
    int rc = SF_OK;
    switch (k->kind) {
    case K_INT:
        if (!(rc = get_number(w, n, k, 1, &v))) *(int *)base = (int)v;
        break;
    case K_NUM:
    case K_PROB:
        if (!(rc = get_number(w, n, k, 0, &v))) *(double *)base = v;
        break;
    case K_IRANGE:
        if (!(rc = get_pair(w, n, k, 1, pr))) {
            ((sf_irange *)base)->lo = (int)pr[0];
            ((sf_irange *)base)->hi = (int)pr[1];
        }
        break;
    case K_RANGE:
        if (!(rc = get_pair(w, n, k, 0, pr))) {
            ((sf_range *)base)->lo = pr[0];
            ((sf_range *)base)->hi = pr[1];
        }
        break;
    case K_ENUM: {
        if (n->type == YAML_SCALAR_NODE) {
            const char *s = (const char *)n->data.scalar.value;
            for (int i = 0; k->names[i]; i++)
                if (!strcmp(s, k->names[i])) {
                    *(int *)base = i;
                    return SF_OK;
                }
        }
        char msg[200] = "expected one of";
        for (int i = 0; k->names[i]; i++) {
            strncat(msg, i ? " | " : " ", sizeof msg - strlen(msg) - 1);
            strncat(msg, k->names[i], sizeof msg - strlen(msg) - 1);
        }
        strncat(msg, ", got '%s'", sizeof msg - strlen(msg) - 1);
        rc = bad(w, n, k->path, msg, node_text(n));
        break;
    }
    case K_NUMLIST: {
        if (n->type != YAML_SEQUENCE_NODE)
            return bad(w, n, k->path,
                       "expected a list of 1 to 4 numbers, got %s",
                       node_text(n));
        yaml_node_item_t *it = n->data.sequence.items.start;
        int cnt = (int)(n->data.sequence.items.top - it);
        if (cnt < 1 || cnt > 4)
            return bad(w, n, k->path, "expected a list of 1 to 4 numbers%s",
                       "");
        double *dst = (double *)base;
        for (int i = 0; i < 4; i++)
            dst[i] = 0;
        for (int i = 0; i < cnt; i++) {
            yaml_node_t *e = sf_yaml_node(w->y, it[i]);
            if ((rc = get_number(w, e, k, 0, &dst[i]))) return rc;
        }
        *(int *)((char *)w->cfg + k->count_off) = cnt;
        break;
    }
    }
    return rc;
}

/* Does any key live under `prefix.`? */
static int is_section(const char *prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strncmp(keys[i].path, prefix, n) && keys[i].path[n] == '.')
            return 1;
    return 0;
}

/* The known key or section closest to a misspelt one, at the same depth,
 * if close enough to be a typo (sf_yaml_closest): written into out, else
 * 0. */
static int closest_key(const char *path, char *out, size_t cap) {
    int depth = 0;
    for (const char *c = path; *c; c++)
        depth += *c == '.';
    char cut[N_KEYS][256];
    const char *cand[N_KEYS];
    for (size_t i = 0; i < N_KEYS; i++) {
        snprintf(cut[i], sizeof cut[i], "%s", keys[i].path);
        int dots = 0; /* cut the key path to the depth of the unknown one */
        for (char *c = cut[i]; *c; c++)
            if (*c == '.' && dots++ == depth) {
                *c = 0;
                break;
            }
        cand[i] = cut[i];
    }
    const char *near = sf_yaml_closest(path, cand, N_KEYS);
    if (near) snprintf(out, cap, "%s", near);
    return near != NULL;
}

static int walk_mapping(walk *w, const yaml_node_t *map, const char *prefix) {
    const yaml_node_t *dup = sf_yaml_duplicate(w->y, map);
    if (dup) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "",
                 sf_yaml_scalar(dup));
        return bad(w, dup, path, "duplicate key%s", "");
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = sf_yaml_node(w->y, p->key);
        yaml_node_t *vn = sf_yaml_node(w->y, p->value);
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
            return sf_yaml_error(w->y, kn, "keys must be plain names");
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "",
                 (const char *)kn->data.scalar.value);
        size_t i;
        for (i = 0; i < N_KEYS; i++)
            if (!strcmp(keys[i].path, path)) break;
        if (i < N_KEYS) {
            int rc = set_value(w, vn, &keys[i]);
            if (rc) return rc;
        } else if (is_section(path)) {
            if (vn->type != YAML_MAPPING_NODE)
                return bad(w, vn, path, "expected a mapping (section), got %s",
                           node_text(vn));
            int rc = walk_mapping(w, vn, path);
            if (rc) return rc;
        } else {
            char near[256], hint[300] = "";
            if (closest_key(path, near, sizeof near))
                snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
            return bad(w, kn, path,
                       "unknown key%s (see schemas/factory/SCHEMA.md)", hint);
        }
    }
    return SF_OK;
}

static int parse_into(const char *name, const char *text, size_t n,
                      sf_config *cfg, sf_err *err) {
    sf_yaml y = {0};
    int rc = sf_yaml_load(&y, name, text, n, err);
    yaml_node_t *root = sf_yaml_root(&y);
    if (rc || !root) goto out; /* empty file: all defaults */
    if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)
        goto out;
    if (root->type != YAML_MAPPING_NODE) {
        rc = sf_yaml_error(&y, root,
                           "the config must be a mapping of keys, got %s",
                           node_text(root));
        goto out;
    }
    walk w = {&y, cfg};
    rc = walk_mapping(&w, root, "");
out:
    sf_yaml_free(&y);
    return rc;
}

int sf_config_validate(const sf_config *c, sf_err *err) {
    /* Visibility must be satisfiable: a shape's surround has at most
     * n_shapes + 1 other values, each excluding a band of 2*min_contrast. */
    double need = 2.0 * c->contrast.min_contrast * (c->shape.n_shapes.hi + 2);
    if (need >= 1.0)
        return sf_err_set(err, SF_ECONFIG,
                          "contrast.min_contrast %g is too large for up to %d "
                          "shapes: 2*min_contrast*(n_shapes.hi+2) must be < 1",
                          c->contrast.min_contrast, c->shape.n_shapes.hi);
    if (c->boundary.n_labels.hi > 65535 || c->shape.n_shapes.hi > 65535)
        return sf_err_set(err, SF_ECONFIG, "too many labels");
    if (c->boundary.background_shift.hi < c->contrast.min_contrast)
        return sf_err_set(
            err, SF_ECONFIG,
            "boundary.background_shift hi (%g) is below "
            "contrast.min_contrast (%g): boundaries would be invisible",
            c->boundary.background_shift.hi, c->contrast.min_contrast);
    return SF_OK;
}

int sf_config_parse(const char *name, const char *text, size_t n,
                    sf_config *out, sf_err *err) {
    sf_config c;
    int rc = sf_config_default(&c, err);
    if (rc) return rc;
    if ((rc = parse_into(name, text, n, &c, err))) return rc;
    if ((rc = sf_config_validate(&c, err))) {
        if (err && !err->where[0])
            snprintf(err->where, sizeof err->where, "%s", name);
        return rc;
    }
    *out = c;
    return SF_OK;
}

int sf_config_default(sf_config *out, sf_err *err) {
    sf_config c;
    memset(&c, 0, sizeof c);
    int rc = parse_into("<default config>", sf__default_yaml,
                        sf__default_yaml_len, &c, err);
    if (rc) return rc;
    *out = c;
    return SF_OK;
}

#define MAX_CONFIG_BYTES (1u << 20)

int sf_config_load(const char *path, sf_config *out, sf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sf_err_at(err, SF_EIO, path, 0, 0, "cannot open config: %m");
    char *buf = malloc(MAX_CONFIG_BYTES + 1);
    if (!buf) {
        fclose(f);
        return sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, MAX_CONFIG_BYTES + 1, f);
    int rc = SF_OK;
    if (ferror(f))
        rc = sf_err_at(err, SF_EIO, path, 0, 0, "read error");
    else if (n > MAX_CONFIG_BYTES)
        rc = sf_err_at(err, SF_ECONFIG, path, 0, 0,
                       "config larger than %u bytes", MAX_CONFIG_BYTES);
    else if (memchr(buf, '\0', n))
        rc =
            sf_err_at(err, SF_ECONFIG, path, 0, 0, "config contains NUL bytes");
    else
        rc = sf_config_parse(path, buf, n, out, err);
    fclose(f);
    free(buf);
    return rc;
}

/* ----------------------------------------------------------- canonical out */

/* Shortest text that reads back to the same double. */
static void put_num(sf_buf *b, double v) {
    char s[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v) break;
    }
    /* keep floats recognisable as numbers in YAML: 1 -> 1.0 */
    if (!strpbrk(s, ".eE")) strcat(s, ".0");
    sf_buf_puts(b, s);
}

int sf_config_to_yaml(const sf_config *c, char **out, sf_err *err) {
    sf_buf b = {0};
    char section[64] = "";
    sf_buf_puts(&b, "# synthfm factory config (resolved; every key)\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_spec *k = &keys[i];
        /* Emit nesting: print section headers when the prefix changes. */
        const char *leaf = strrchr(k->path, '.');
        char sec[64] = "";
        if (leaf) {
            size_t n = (size_t)(leaf - k->path);
            memcpy(sec, k->path, n);
            sec[n] = '\0';
            leaf++;
        } else {
            leaf = k->path;
        }
        if (strcmp(sec, section)) {
            /* open each level that differs */
            const char *p = sec;
            int depth = 0;
            char acc[64] = "";
            while (*p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                char part[64];
                memcpy(part, p, n);
                part[n] = '\0';
                if (*acc) strcat(acc, ".");
                strcat(acc, part);
                size_t al = strlen(acc);
                if (strncmp(section, acc, al) ||
                    (section[al] && section[al] != '.'))
                    sf_buf_printf(&b, "%*s%s:\n", 2 * depth, "", part);
                depth++;
                p += n;
                if (*p == '.') p++;
            }
            snprintf(section, sizeof section, "%s", sec);
        }
        /* Added after corpora were published: written only when set, so
         * an older config keeps its canonical text (and corpus identity). */
        if (k->off == OFF(shape.texture_probability) &&
            c->shape.texture_probability == 0.0)
            continue;
        int depth = 0;
        for (const char *p = k->path; *p; p++)
            depth += *p == '.';
        sf_buf_printf(&b, "%*s%s: ", 2 * depth, "", leaf);
        const char *base = (const char *)c + k->off;
        switch (k->kind) {
        case K_INT: sf_buf_printf(&b, "%d", *(const int *)base); break;
        case K_NUM:
        case K_PROB: put_num(&b, *(const double *)base); break;
        case K_IRANGE:
            sf_buf_printf(&b, "[%d, %d]", ((const sf_irange *)base)->lo,
                          ((const sf_irange *)base)->hi);
            break;
        case K_RANGE:
            sf_buf_puts(&b, "[");
            put_num(&b, ((const sf_range *)base)->lo);
            sf_buf_puts(&b, ", ");
            put_num(&b, ((const sf_range *)base)->hi);
            sf_buf_puts(&b, "]");
            break;
        case K_ENUM: sf_buf_puts(&b, k->names[*(const int *)base]); break;
        case K_NUMLIST: {
            int cnt = *(const int *)((const char *)c + k->count_off);
            sf_buf_puts(&b, "[");
            for (int j = 0; j < cnt; j++) {
                if (j) sf_buf_puts(&b, ", ");
                put_num(&b, ((const double *)base)[j]);
            }
            sf_buf_puts(&b, "]");
            break;
        }
        }
        sf_buf_puts(&b, "\n");
    }
    char *s = sf_buf_take(&b);
    if (!s) return sf_err_set(err, SF_ENOMEM, "out of memory");
    *out = s;
    return SF_OK;
}
