/*
 * cli.c - the command-line kit (sf_cli.h) shared by the subcommand files
 * of the three libraries: --help detection, usage errors, number parsing
 * and a once-a-second progress line (rate, ETA) on a terminal. Linked
 * into the binary only, never into libsf.
 */
#include "sf_cli.h"

#include <errno.h>
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
