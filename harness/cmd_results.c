/*
 * cmd_results.c - `synthfm results merge OUT.sqlite SHARD...`: the shards
 * of one sharded evaluation into one results database (results.h).
 * Exit status: 0 merged, 1 refused or failed (nothing written), 2 usage.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "results.h"
#include "sf_cli.h"

static const char usage_text[] =
    "usage: synthfm results merge OUT.sqlite SHARD.sqlite...\n"
    "\n"
    "Join the results files of `synthfm eval --shard I/N` (I = 0..N-1, each\n"
    "finished) into OUT.sqlite (new), equal to one unsharded run row for\n"
    "row. Refused, writing nothing: shards of different evaluations\n"
    "(method, checkpoint, dataset, split, settings, prompt seed), of\n"
    "different builds, a missing or repeated shard, overlapping units.\n"
    "\n"
    "options:\n"
    "  -h, --help   this text\n";

int hx_cmd_results(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "merge") &&
        (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc < 4 || strcmp(argv[1], "merge"))
        return sf_cli_usage_error("results", usage_text,
                                  "expected: merge OUT.sqlite SHARD...");
    sf_err err = {0};
    int n = argc - 3;
    if (hx_results_merge(argv[2], (const char *const *)argv + 3, n, &err)) {
        char msg[1200];
        fprintf(stderr, "synthfm results merge: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return 1;
    }
    fprintf(stderr, "synthfm results merge: %d shards -> %s\n", n, argv[2]);
    printf("{\"out\": \"%s\", \"shards\": %d}\n", argv[2], n);
    return 0;
}
