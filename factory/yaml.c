/*
 * yaml.c - the YAML kit (sf_yaml.h): one loader with positioned errors and
 * the one-document rule, duplicate keys, near-name suggestions.
 */
#include "sf_yaml.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int sf_yaml_load(sf_yaml *y, const char *name, const char *text, size_t n,
                 sf_err *err) {
    yaml_parser_t parser;
    y->name = name;
    y->err = err;
    y->loaded = 0;
    if (!yaml_parser_initialize(&parser))
        return sf_err_set(err, SF_ENOMEM, "%s: YAML parser init failed", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    int rc = SF_OK;
    if (!yaml_parser_load(&parser, &y->doc)) {
        const yaml_mark_t *m =
            parser.problem ? &parser.problem_mark : &parser.context_mark;
        rc = sf_err_at(err, SF_ECONFIG, name, (int)m->line + 1,
                       (int)m->column + 1, "malformed YAML: %s%s%s",
                       parser.problem ? parser.problem : "syntax error",
                       parser.context ? " " : "",
                       parser.context ? parser.context : "");
        goto out;
    }
    y->loaded = 1;
    /* A second document in the stream is a mistake worth reporting. */
    yaml_document_t doc2;
    if (yaml_parser_load(&parser, &doc2)) {
        yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
        if (r2)
            rc = sf_err_at(err, SF_ECONFIG, name, (int)r2->start_mark.line + 1,
                           (int)r2->start_mark.column + 1,
                           "only one YAML document is allowed");
        yaml_document_delete(&doc2);
    }
out:
    yaml_parser_delete(&parser);
    return rc;
}

void sf_yaml_free(sf_yaml *y) {
    if (!y || !y->loaded) return;
    yaml_document_delete(&y->doc);
    y->loaded = 0;
}

yaml_node_t *sf_yaml_root(sf_yaml *y) {
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

yaml_node_t *sf_yaml_node(const sf_yaml *y, int id) {
    return y->loaded ? yaml_document_get_node((yaml_document_t *)&y->doc, id)
                     : NULL;
}

const char *sf_yaml_scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

int sf_yaml_error(const sf_yaml *y, const yaml_node_t *n, const char *fmt,
                  ...) {
    char msg[sizeof((sf_err *)0)->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sf_err_at(y->err, SF_ECONFIG, y->name,
                     n ? (int)n->start_mark.line + 1 : 0,
                     n ? (int)n->start_mark.column + 1 : 0, "%s", msg);
}

const yaml_node_t *sf_yaml_duplicate(const sf_yaml *y, const yaml_node_t *map) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = sf_yaml_node(y, p->key);
        const char *key = sf_yaml_scalar(k);
        if (!key) continue;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *k0 = sf_yaml_scalar(sf_yaml_node(y, q->key));
            if (k0 && !strcmp(k0, key)) return k;
        }
    }
    return NULL;
}

size_t sf_yaml_edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b), row[256];
    if (na >= 255 || nb >= 255) return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

const char *sf_yaml_closest(const char *name, const char *const *known,
                            size_t n) {
    size_t best_d = SIZE_MAX, limit = strlen(name) / 3;
    const char *best = NULL;
    if (limit > 2) limit = 2;
    for (size_t i = 0; i < n; i++) {
        size_t d = sf_yaml_edit_distance(name, known[i]);
        if (d < best_d) best_d = d, best = known[i];
    }
    return best_d <= limit ? best : NULL;
}

const char *sf_yaml_hint(const char *name, const char *const *known, size_t n,
                         char *buf, size_t cap) {
    const char *near = sf_yaml_closest(name, known, n);
    if (near)
        snprintf(buf, cap, "; did you mean '%s'?", near);
    else if (cap)
        buf[0] = '\0';
    return buf;
}
