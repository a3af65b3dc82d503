/*
 * synthfm.c - the one CLI binary: dispatch to a library's subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "sam_cmd.h"
#include "sf.h"
#include "sf_cli.h"

/* The one list to edit when a subcommand is added. */
static const sf_command commands[] = {
    {"generate", "make a synthetic corpus (images, labels, manifest)",
     sf_cmd_generate},
    {"verify", "check a corpus against its manifest and SHA256SUMS",
     sf_cmd_verify},
    {"merge", "combine shard directories into one corpus", sf_cmd_merge},
    {"export", "write a corpus as an nnU-Net v2 dataset or an HF ImageFolder",
     sf_cmd_export},
    {"ttest", "paired Student's t-test of a CSV of a,b pairs", hx_cmd_ttest},
    {"predict", "run a SAM / SAM 2 checkpoint on an image or a volume",
     hx_cmd_predict},
    {"train", "train a SAM-architecture model on synthetic corpora",
     sam_cmd_train},
    {"eval", "evaluate a method on a dataset into a results database",
     hx_cmd_eval},
    {"data", "check the evaluation datasets; write split files", hx_cmd_data},
    {"prompts", "export evaluation slices and clicks for outside methods",
     hx_cmd_prompts},
    {"report", "tables, figures and index.md from a results database",
     hx_cmd_report},
    {"results", "merge the shards of a sharded evaluation (results merge)",
     hx_cmd_results},
    {NULL, NULL, NULL}};

static void usage(FILE *f) {
    fprintf(f,
            "synthfm %s - synthetic data for promptable medical image "
            "segmentation\n\n"
            "usage: synthfm COMMAND [OPTIONS]   (synthfm COMMAND --help)\n\n"
            "commands:\n",
            SF_VERSION);
    for (const sf_command *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

int main(int argc, char **argv) {
    sf_tune_allocator();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("synthfm %s\n", SF_VERSION);
        return 0;
    }
    for (const sf_command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    const char *names[sizeof commands / sizeof commands[0]];
    size_t n = 0;
    for (const sf_command *c = commands; c->name; c++)
        names[n++] = c->name;
    const char *near = sf_cli_nearest(argv[1], names, n);
    if (near) {
        fprintf(stderr, "synthfm: unknown command '%s' (did you mean %s?)\n",
                argv[1], near);
        return 2;
    }
    fprintf(stderr, "synthfm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
