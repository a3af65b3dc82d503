/*
 * json_dom.h - a small RFC 8259 JSON reader for tests (header-only): the
 * document as a tree, so a test can check keys, values and references
 * (croissant.json, dataset.json, metadata.jsonl). Not for untrusted or
 * large input: recursion depth is capped at 64, and it allocates freely.
 */
#ifndef SF_TEST_JSON_DOM_H
#define SF_TEST_JSON_DOM_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum { JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

typedef struct jv {
    int type;
    int boolean;
    double num;
    char *str; /* JV_STR, UTF-8 */
    int n;     /* JV_ARR, JV_OBJ: items */
    struct jv **items;
    char **keys; /* JV_OBJ */
} jv;

static inline void jv_free(jv *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        jv_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

typedef struct jv_in {
    const char *p;
    int depth;
} jv_in;

static inline void jv_ws(jv_in *in) {
    while (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r')
        in->p++;
}

static inline jv *jv_value(jv_in *in);

static inline void jv_utf8(char **o, unsigned cp) {
    char *q = *o;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xC0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (char)(0xE0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = q;
}

/* A string at in->p (the opening quote); NULL on error. */
static inline char *jv_string(jv_in *in) {
    if (*in->p != '"') return NULL;
    const char *s = ++in->p;
    size_t cap = 1;
    for (const char *t = s; *t && *t != '"'; t++)
        cap += *t == '\\' ? 2 : 1;
    char *out = malloc(cap * 3 + 1), *o = out;
    if (!out) return NULL;
    while (*in->p != '"') {
        unsigned char ch = (unsigned char)*in->p;
        if (ch < 0x20) goto bad; /* includes NUL */
        if (ch != '\\') {
            *o++ = (char)ch;
            in->p++;
            continue;
        }
        in->p++;
        switch (*in->p) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 1; i <= 4; i++) {
                char h = in->p[i];
                if (!isxdigit((unsigned char)h)) goto bad;
                cp = cp * 16 +
                     (unsigned)(isdigit((unsigned char)h)
                                    ? h - '0'
                                    : (tolower((unsigned char)h) - 'a' + 10));
            }
            in->p += 4;
            jv_utf8(&o, cp);
            break;
        }
        default: goto bad;
        }
        in->p++;
    }
    in->p++;
    *o = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static inline jv *jv_new(int type) {
    jv *v = calloc(1, sizeof *v);
    if (v) v->type = type;
    return v;
}

static inline int jv_push(jv *v, char *key, jv *item) {
    jv **it = realloc(v->items, (size_t)(v->n + 1) * sizeof *it);
    if (!it) return 0;
    v->items = it;
    if (v->type == JV_OBJ) {
        char **k = realloc(v->keys, (size_t)(v->n + 1) * sizeof *k);
        if (!k) return 0;
        v->keys = k;
        v->keys[v->n] = key;
    }
    v->items[v->n++] = item;
    return 1;
}

static inline jv *jv_composite(jv_in *in, int type) {
    char close = type == JV_OBJ ? '}' : ']';
    if (++in->depth > 64) return NULL;
    jv *v = jv_new(type);
    if (!v) return NULL;
    in->p++;
    jv_ws(in);
    if (*in->p == close) {
        in->p++;
        in->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        jv_ws(in);
        if (type == JV_OBJ) {
            if (!(key = jv_string(in))) goto bad;
            jv_ws(in);
            if (*in->p++ != ':') {
                free(key);
                goto bad;
            }
        }
        jv *item = jv_value(in);
        if (!item || !jv_push(v, key, item)) {
            free(key);
            jv_free(item);
            goto bad;
        }
        jv_ws(in);
        if (*in->p == ',') {
            in->p++;
            continue;
        }
        if (*in->p++ != close) goto bad;
        in->depth--;
        return v;
    }
bad:
    jv_free(v);
    return NULL;
}

static inline jv *jv_value(jv_in *in) {
    jv_ws(in);
    jv *v = NULL;
    switch (*in->p) {
    case '{': return jv_composite(in, JV_OBJ);
    case '[': return jv_composite(in, JV_ARR);
    case '"': {
        char *s = jv_string(in);
        if (!s || !(v = jv_new(JV_STR))) {
            free(s);
            return NULL;
        }
        v->str = s;
        return v;
    }
    case 't':
    case 'f':
        if (!strncmp(in->p, "true", 4) || !strncmp(in->p, "false", 5)) {
            if (!(v = jv_new(JV_BOOL))) return NULL;
            v->boolean = *in->p == 't';
            in->p += v->boolean ? 4 : 5;
        }
        return v;
    case 'n':
        if (!strncmp(in->p, "null", 4)) {
            in->p += 4;
            return jv_new(JV_NULL);
        }
        return NULL;
    default: {
        /* RFC 8259 number grammar, then strtod for the value. */
        const char *s = in->p, *q = s;
        if (*q == '-') q++;
        if (*q == '0')
            q++;
        else if (isdigit((unsigned char)*q))
            while (isdigit((unsigned char)*q))
                q++;
        else
            return NULL;
        if (*q == '.') {
            if (!isdigit((unsigned char)*++q)) return NULL;
            while (isdigit((unsigned char)*q))
                q++;
        }
        if (*q == 'e' || *q == 'E') {
            q++;
            if (*q == '+' || *q == '-') q++;
            if (!isdigit((unsigned char)*q)) return NULL;
            while (isdigit((unsigned char)*q))
                q++;
        }
        if (!(v = jv_new(JV_NUM))) return NULL;
        v->num = strtod(s, NULL);
        in->p = q;
        return v;
    }
    }
}

/* The whole text as one value; NULL on a syntax error or trailing text. */
static inline jv *jv_parse(const char *text) {
    jv_in in = {text, 0};
    jv *v = jv_value(&in);
    if (!v) return NULL;
    jv_ws(&in);
    if (*in.p) {
        jv_free(v);
        return NULL;
    }
    return v;
}

/* Member `key` of an object (NULL if absent or v is not an object). */
static inline const jv *jv_get(const jv *v, const char *key) {
    if (!v || v->type != JV_OBJ) return NULL;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key)) return v->items[i];
    return NULL;
}

/* The string of member `key`, or NULL. */
static inline const char *jv_str(const jv *v, const char *key) {
    const jv *s = jv_get(v, key);
    return s && s->type == JV_STR ? s->str : NULL;
}

/* {"@id": X} -> X, else NULL. */
static inline const char *jv_ref(const jv *v) {
    return v && v->type == JV_OBJ && v->n == 1 ? jv_str(v, "@id") : NULL;
}

#endif
