/*
 * golden_io.h - readers for the golden reference files of the metrics
 * tests (../shared/golden/metrics/): NPY 1.0 arrays and CSV rows. Test
 * code only (static functions, Criterion asserts on malformed files).
 */
#ifndef SF_TESTS_GOLDEN_IO_H
#define SF_TESTS_GOLDEN_IO_H

#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fixtures.h"

/* Path of a file under golden/metrics/ (tests/fixtures/ or $SF_SHARED:
 * fixtures.h). */
static void golden_path(char *buf, size_t n, const char *rel) {
    char r[600];
    snprintf(r, sizeof r, "golden/metrics/%s", rel);
    sf_test_fixture(r, buf, n);
}

/* Skips the calling test when golden/metrics/ is absent. */
static void golden_require(void) {
    char p[1024];
    if (!sf_test_fixture("golden/metrics/README.md", p, sizeof p))
        cr_skip_test("golden/metrics/: " SF_TEST_FIXTURE_ABSENT);
}

/* An NPY array: dtype one of "|u1" "<i4" "<i8" "<f8", C order. */
typedef struct npy {
    char descr[8];
    int ndim;
    size_t shape[4];
    size_t count;
    void *data;
} npy;

static void npy_free(npy *a) {
    if (a) free(a->data);
}

/* Reads golden/metrics/<rel>; asserts on anything unexpected. */
static npy npy_load(const char *rel) {
    char path[1024];
    golden_path(path, sizeof path, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    unsigned char pre[10];
    cr_assert_eq(fread(pre, 1, 10, f), 10u, "%s: short", path);
    cr_assert(!memcmp(pre, "\x93NUMPY", 6) && pre[6] == 1, "%s: not NPY 1",
              path);
    size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
    char *h = calloc(hl + 1, 1);
    cr_assert_not_null(h);
    cr_assert_eq(fread(h, 1, hl, f), hl);
    npy a;
    memset(&a, 0, sizeof a);
    char *d = strstr(h, "'descr': '");
    cr_assert_not_null(d, "%s: no descr", path);
    d += 10;
    size_t k = 0;
    while (d[k] && d[k] != '\'' && k < 7) {
        a.descr[k] = d[k];
        k++;
    }
    cr_assert(strstr(h, "'fortran_order': False"), "%s: not C order", path);
    char *s = strstr(h, "'shape': (");
    cr_assert_not_null(s);
    s += 10;
    a.count = 1;
    while (*s && *s != ')') {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) {
            s++;
            continue;
        }
        cr_assert(a.ndim < 4);
        a.shape[a.ndim++] = (size_t)v;
        a.count *= (size_t)v;
        s = end;
    }
    free(h);
    size_t es = !strcmp(a.descr, "|u1")   ? 1
                : !strcmp(a.descr, "<i4") ? 4
                : !strcmp(a.descr, "<i8") ? 8
                : !strcmp(a.descr, "<f8") ? 8
                                          : 0;
    cr_assert(es, "%s: dtype %s", path, a.descr);
    a.data = malloc(a.count * es + 1);
    cr_assert_not_null(a.data);
    cr_assert_eq(fread(a.data, es, a.count, f), a.count, "%s: short data",
                 path);
    fclose(f);
    return a;
}

/* Split a CSV line in place (no quoting in these files); returns the
 * number of fields. */
static int csv_split(char *line, char **f, int k) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    int m = 0;
    char *s = line;
    while (m < k) {
        f[m++] = s;
        char *c = strchr(s, ',');
        if (!c) break;
        *c = '\0';
        s = c + 1;
    }
    return m;
}

/* strtod of a whole field ("nan", "inf" included); NAN for "". */
static double csv_num(const char *s) {
    if (!*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    cr_assert(end != s && *end == '\0', "bad number \"%s\"", s);
    return v;
}

/* Relative difference with the golden conventions: 0 when both are NaN
 * or the same infinity, +inf when only one is; absolute when ref is 0. */
static double golden_rel(double x, double ref) {
    if (isnan(ref) || isnan(x)) return isnan(ref) && isnan(x) ? 0 : INFINITY;
    if (isinf(ref) || isinf(x)) return x == ref ? 0 : INFINITY;
    double diff = fabs(x - ref);
    return ref != 0.0 ? diff / fabs(ref) : diff;
}

#endif
