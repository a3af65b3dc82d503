/*
 * cli.c - the command-line kit (sf_cli.h) shared by the subcommand files
 * of the three libraries: --help detection, usage errors, number parsing
 * and a once-a-second progress line (rate, ETA) on a terminal. Linked
 * into the binary only, never into libsf.
 */
#include "sf_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sf.h"

int sf_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

int sf_cli_usage_error(const char *cmd, const char *synopsis, const char *fmt,
                       ...) {
    fprintf(stderr, "synthfm %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (synopsis)
        fprintf(stderr, "\n%s(synthfm %s --help for more)\n", synopsis, cmd);
    else
        fprintf(stderr, "\n(see synthfm %s --help)\n", cmd);
    return 2;
}

size_t sf_cli_edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return na > nb ? na : nb; /* not a slip */
    size_t d[64][64];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            size_t m = sub < del ? sub : del;
            m = m < ins ? m : ins;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    return d[na][nb];
}

const char *sf_cli_nearest(const char *s, const char *const *names, size_t n) {
    const char *best = NULL;
    size_t best_d = (size_t)-1, len = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !strcmp(names[i], s)) continue;
        size_t d = sf_cli_edit_distance(s, names[i]);
        if (d < best_d) best_d = d, best = names[i];
    }
    size_t limit = len >= 6 ? 2 : 1;
    return best && best_d <= limit && best_d < len ? best : NULL;
}

/* The "--word" tokens of text, the dashes dropped, into names (at most
 * cap; each a copy in pool): how many. */
static size_t help_options(const char *text, char pool[][40], size_t cap) {
    size_t n = 0;
    for (const char *p = text; p && (p = strstr(p, "--")) && n < cap; p += 2) {
        if (p > text && p[-1] != ' ' && p[-1] != '[' && p[-1] != '\n' &&
            p[-1] != '(' && p[-1] != '|' && p[-1] != ',')
            continue;
        size_t k = 0;
        const char *q = p + 2;
        while ((*q == '-' || (*q >= 'a' && *q <= 'z') ||
                (*q >= '0' && *q <= '9')) &&
               k < 39)
            pool[n][k++] = *q++;
        pool[n][k] = '\0';
        if (k > 1) n++;
    }
    return n;
}

int sf_cli_unknown_option(const char *cmd, const char *synopsis,
                          const char *arg, const struct option *opts,
                          const char *help) {
    enum { CAP = 160 };
    char pool[CAP][40];
    const char *names[CAP];
    size_t n = 0;
    for (const struct option *o = opts; o && o->name && n < CAP; o++)
        names[n++] = o->name;
    size_t nh = help_options(help, pool, CAP - n);
    for (size_t i = 0; i < nh; i++)
        names[n++] = pool[i];
    /* "--cuont=5" is compared as "cuont" */
    char word[64];
    const char *w = arg ? arg : "";
    while (*w == '-')
        w++;
    size_t k = strcspn(w, "=");
    if (k >= sizeof word) k = sizeof word - 1;
    memcpy(word, w, k);
    word[k] = '\0';
    const char *near =
        arg && arg[0] == '-' && k ? sf_cli_nearest(word, names, n) : NULL;
    if (near)
        return sf_cli_usage_error(cmd, synopsis,
                                  "unknown option '%s' (did you mean --%s?)",
                                  arg, near);
    return sf_cli_usage_error(
        cmd, synopsis, "unknown or incomplete option '%s'", arg ? arg : "");
}

int sf_cli_parse_u64(const char *s, uint64_t *v) {
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') return -1;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno) return -1;
    *v = x;
    return 0;
}

void sf_cli_progress_init(sf_cli_progress *p, const char *what) {
    p->what = what;
    p->t0 = p->last = sf_clock_s();
    p->tty = isatty(2);
}

int sf_cli_progress_cb(void *ctx, size_t done, size_t total) {
    sf_cli_progress *p = ctx;
    if (!p->tty) return 0;
    double t = sf_clock_s();
    if (t - p->last < 1.0 && done < total) return 0;
    p->last = t;
    double el = t - p->t0, rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = total ? (int)(width * (double)done / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu %s  %.1f/s  ETA %02d:%02d ", bar, done,
            total, p->what, rate, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
    return 0;
}

void sf_cli_progress_end(sf_cli_progress *p) {
    if (p->tty) fprintf(stderr, "\r\033[K");
}
