/*
 * cmd_ttest.c - `synthfm ttest FILE.csv`: the paired Student's t-test of a
 * CSV of "a,b" pairs, for checking a pair of methods by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "sf_cli.h"
#include "hx.h"

#define USAGE "usage: synthfm ttest FILE.csv\n"

static void usage(FILE *f) {
    fputs(USAGE
          "\n"
          "Paired Student's t-test (two-sided) of the pairs in FILE.csv, one\n"
          "\"a,b\" per line (d = a - b). An optional header line, blank lines\n"
          "and lines starting with '#' are skipped. FILE '-' reads stdin\n"
          "('-- FILE' for a file whose name starts with '-').\n"
          "\n"
          "Prints one line on stdout:\n"
          "  t=T df=DF p=P n=N                 (T, P with 17 significant "
          "digits)\n"
          "  t=T df=DF p=P n=N status=S        zero variance: S = zero_var\n"
          "                                    (t=+-inf p=0) or "
          "zero_var_zero_mean\n"
          "                                    (every pair tied: t=0 p=1)\n"
          "  n=N status=too_few                fewer than 2 pairs\n"
          "\n"
          "Exit status: 0 ok (degenerate cases included), 1 file not "
          "readable,\n"
          "2 usage error or a malformed line (FILE:LINE: ... on stderr).\n",
          f);
}

int hx_cmd_ttest(int argc, char **argv) {
    if (sf_cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *path = NULL;
    int opts = 1; /* "--" ends the options: a FILE may start with '-' */
    for (int i = 1; i < argc; i++) {
        if (opts && !strcmp(argv[i], "--")) {
            opts = 0;
            continue;
        }
        if (opts && argv[i][0] == '-' && argv[i][1] != '\0')
            return sf_cli_unknown_option("ttest", USAGE, argv[i], NULL, USAGE);
        if (path)
            return sf_cli_usage_error(
                "ttest", USAGE, "one FILE only, got another: '%s'", argv[i]);
        path = argv[i];
    }
    if (!path) return sf_cli_usage_error("ttest", USAGE, "missing FILE");
    hx_init();

    int is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "synthfm ttest: cannot open '%s': %s\n", path,
                strerror(errno));
        return 1;
    }
    sf_err err;
    sf_err_clear(&err);
    hx_pairs *pairs = NULL;
    int rc = hx_pairs_read(f, is_stdin ? "(stdin)" : path, &pairs, &err);
    if (!is_stdin) fclose(f);
    char msg[1200];
    if (rc != SF_OK) {
        fprintf(stderr, "%s\n", sf_err_text(&err, msg, sizeof msg));
        return rc == SF_EFORMAT ? 2 : 1;
    }
    hx_ttest r;
    rc = hx_ttest_paired(pairs->a, pairs->b, pairs->n, &r, &err);
    hx_pairs_free(pairs);
    if (rc != SF_OK) {
        fprintf(stderr, "synthfm ttest: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return 1;
    }
    char line[256];
    printf("%s\n", hx_ttest_format(&r, 17, line, sizeof line));
    return fflush(stdout) == 0 ? 0 : 1;
}
