/*
 * sf_yaml.h - the YAML kit every config reader of synthfm uses (factory
 * config, evaluation splits, report config, model configs, training
 * configs): libyaml's document API (which keeps line/column marks) behind
 * one loader with the house's rules, and the helpers the readers share.
 *
 *   - errors are SF_ECONFIG positioned "file:line:col" (1-based) in
 *     sf_err.where;
 *   - a malformed stream is "malformed YAML: <libyaml's problem>";
 *   - a stream holds one document: a second one is an error at its start;
 *   - a key given twice in a mapping is an error (sf_yaml_duplicate);
 *   - an unknown key is reported with the closest known name when it looks
 *     like a typo (sf_yaml_closest).
 * Each reader keeps its own schema and wording; the kit owns the parsing.
 * Public (libsf), C and C++ (extern "C").
 */
#ifndef SF_YAML_H
#define SF_YAML_H

#include <stddef.h>
#include <yaml.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One loaded document. Zero-initialise ({0}) before sf_yaml_load; free
 * with sf_yaml_free whatever sf_yaml_load returned. */
typedef struct sf_yaml {
    const char *name; /* file name used in positions (borrowed) */
    sf_err *err;      /* where errors go (borrowed, NULL allowed) */
    yaml_document_t doc;
    int loaded;
} sf_yaml;

/*
 * Parse the document in text[0..n) (name: for positions). SF_OK with the
 * document loaded (an empty stream loads an empty document: root NULL);
 * SF_ECONFIG for malformed YAML or a second document; SF_ENOMEM.
 */
int sf_yaml_load(sf_yaml *y, const char *name, const char *text, size_t n,
                 sf_err *err);
void sf_yaml_free(sf_yaml *y);

/* The root node (NULL for an empty document), node `id` of the document
 * (NULL when out of range), or a node's text (NULL unless a scalar). */
yaml_node_t *sf_yaml_root(sf_yaml *y);
yaml_node_t *sf_yaml_node(const sf_yaml *y, int id);
const char *sf_yaml_scalar(const yaml_node_t *n);

/* SF_ECONFIG at node n's start (no position when n is NULL), printf-style
 * message; returns SF_ECONFIG. */
int sf_yaml_error(const sf_yaml *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The key node of the first key that repeats an earlier scalar key of the
 * mapping `map`, or NULL (also for a node that is not a mapping). */
const yaml_node_t *sf_yaml_duplicate(const sf_yaml *y, const yaml_node_t *map);

/* Edit distance (insert, delete, substitute) between two names; SIZE_MAX
 * for names of 255 characters or more. */
size_t sf_yaml_edit_distance(const char *a, const char *b);

/* The name of known[0..n) closest to `name` when it is close enough to be
 * a typo (at most 2 edits, and fewer than a third of name's length), else
 * NULL. Ties go to the first. */
const char *sf_yaml_closest(const char *name, const char *const *known,
                            size_t n);

/* "; did you mean 'X'?" into buf (cap bytes) for X = sf_yaml_closest(name,
 * known, n), or "" when there is none; returns buf. For unknown-key
 * messages. */
const char *sf_yaml_hint(const char *name, const char *const *known, size_t n,
                         char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* SF_YAML_H */
