/*
 * cli.c - small helpers shared by the subcommand files: --help detection
 * and a once-a-second progress line (rate, ETA) on a terminal.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sf_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

void sf_cli_progress_init(sf_cli_progress *p, const char *what) {
    p->what = what;
    p->t0 = p->last = now_s();
    p->tty = isatty(2);
}

int sf_cli_progress_cb(void *ctx, size_t done, size_t total) {
    sf_cli_progress *p = ctx;
    if (!p->tty) return 0;
    double t = now_s();
    if (t - p->last < 1.0 && done < total) return 0;
    p->last = t;
    double el = t - p->t0, rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = total ? (int)(width * (double)done / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu %s  %.1f/s  ETA %02d:%02d ", bar, done, total,
            p->what, rate, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
    return 0;
}

void sf_cli_progress_end(sf_cli_progress *p) {
    if (p->tty) fprintf(stderr, "\r\033[K");
}
