/*
 * cmd_corpus.c - `synthfm verify` and `synthfm merge`.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf.h"
#include "sf_cli.h"

static const char verify_usage[] =
    "usage: synthfm verify DIR [--regenerate K] [--seed S]\n"
    "\n"
    "Check a corpus: every file against the manifest and SHA256SUMS, the\n"
    "manifest's integrity (counts, missing rows, orphans, extra files) and,\n"
    "with --regenerate K, re-create K samples picked at random (--seed) from\n"
    "their recorded seeds and compare bytes. Names every problem; exit 0\n"
    "only when everything holds, 1 when a problem was found, 2 on usage.\n";

static void print_problem(void *ctx, const char *p) {
    (void)ctx;
    printf("problem: %s\n", p);
}

int sf_cmd_verify(int argc, char **argv) {
    static const struct option opts[] = {
        {"regenerate", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    long regen = 0;
    unsigned long long seed = 0;
    char *end;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            errno = 0;
            regen = strtol(optarg, &end, 10);
            if (*end || errno || regen < 0 || regen > 1000000) {
                fprintf(
                    stderr,
                    "synthfm verify: --regenerate expects a count, got '%s'\n",
                    optarg);
                return 2;
            }
            break;
        case 's':
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (*end || errno) {
                fprintf(stderr,
                        "synthfm verify: --seed expects an integer, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'h': fputs(verify_usage, stdout); return 0;
        default:
            return sf_cli_unknown_option("verify", NULL, argv[optind - 1], opts,
                                         NULL);
        }
    }
    if (optind != argc - 1) {
        fputs(verify_usage, stderr);
        return 2;
    }
    const char *dir = argv[optind];
    sf_err err = {0};
    long n = 0;
    char msg[1200];
    int rc =
        sf_corpus_verify(dir, (int)regen, seed, print_problem, NULL, &n, &err);
    if (rc) {
        fprintf(stderr, "synthfm verify: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return 1;
    }
    if (n) {
        fprintf(stderr, "synthfm verify: %s: %ld problem%s\n", dir, n,
                n == 1 ? "" : "s");
        return 1;
    }
    fprintf(stderr, "synthfm verify: %s: ok%s\n", dir,
            regen ? " (files, manifest, SHA256SUMS, regenerated samples)"
                  : " (files, manifest, SHA256SUMS)");
    return 0;
}

static const char merge_usage[] =
    "usage: synthfm merge OUT SHARD_DIR...\n"
    "\n"
    "Combine complete shard directories (made with generate --shard I/N)\n"
    "into a new corpus OUT, equal file for file and row for row to a single\n"
    "run. Refuses shards of different configs, seeds or counts, incomplete\n"
    "shards, gaps and overlaps.\n";

int sf_cmd_merge(int argc, char **argv) {
    if (sf_cli_wants_help(argc, argv)) {
        fputs(merge_usage, stdout);
        return 0;
    }
    if (argc < 3) {
        fputs(merge_usage, stderr);
        return 2;
    }
    sf_err err = {0};
    char msg[1200];
    sf_cli_progress prog;
    sf_cli_progress_init(&prog, "samples");
    int rc = sf_corpus_merge(argv[1], (const char *const *)argv + 2, argc - 2,
                             sf_cli_progress_cb, &prog, &err);
    sf_cli_progress_end(&prog);
    if (rc) {
        fprintf(stderr, "synthfm merge: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_EINVAL ? 2 : 1;
    }
    fprintf(stderr, "synthfm merge: %d shards -> %s\n", argc - 2, argv[1]);
    return 0;
}
