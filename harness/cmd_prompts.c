/*
 * cmd_prompts.c - `synthfm prompts export`: the exact slices and clicks
 * of an evaluation, for methods that run outside synthfm (SAM 2, UnSAM);
 * their masks come back through `synthfm eval --method import`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sf_cli.h"
#include "eval.h"

static const char usage_text[] =
    "usage: synthfm prompts export --dataset NAME --data-root DIR --out DIR\n"
    "                              [--split FILE] [--settings S] [--seed S]\n"
    "                              [--ring-width PX] [--min-pixels N]\n"
    "\n"
    "Write the units of `synthfm eval` with the same options (the same\n"
    "slices and the same clicks) to DIR: images/*.png (preprocessed\n"
    "slices), prompts.jsonl (one line per slice, structure and setting:\n"
    "where its mask goes, the image, the clicks [[x, y, label], ...]) and\n"
    "README.md (the format). Put the masks in DIR/masks/ and score them\n"
    "with `synthfm eval --method import --import DIR --name NAME ...`.\n";

static void on_problem(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "synthfm prompts export: %s\n", msg);
}

int hx_cmd_prompts(int argc, char **argv) {
    if (argc < 2 || sf_cli_wants_help(argc, argv)) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "export")) {
        static const char *const subs[] = {"export"};
        return sf_cli_usage_error(
            "prompts", NULL, "unknown subcommand '%s'%s", argv[1],
            sf_cli_nearest(argv[1], subs, 1) ? " (did you mean export?)"
                                             : " (export)");
    }
    hx_eval_opts o;
    hx_eval_opts_init(&o);
    const char *dataset = NULL, *out = NULL, *settings = "all";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return sf_cli_usage_error("prompts", NULL, "missing value for '%s'",
                                      a);
        char *end;
        errno = 0;
        if (!strcmp(a, "--dataset"))
            dataset = v;
        else if (!strcmp(a, "--data-root"))
            o.data_root = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--split"))
            o.split_path = v;
        else if (!strcmp(a, "--settings"))
            settings = v;
        else if (!strcmp(a, "--seed")) {
            o.seed = strtoull(v, &end, 10);
            if (*end || errno || *v == '-')
                return sf_cli_usage_error("prompts", NULL, "bad --seed '%s'",
                                          v);
        } else if (!strcmp(a, "--ring-width") || !strcmp(a, "--min-pixels")) {
            long x = strtol(v, &end, 10);
            if (*end || x < 1 || x > (1 << 30))
                return sf_cli_usage_error(
                    "prompts", NULL, "expected a positive integer: '%s'", v);
            if (a[2] == 'r')
                o.ring_width_px = (int)x;
            else
                o.min_pixels = (int)x;
        } else
            return sf_cli_unknown_option("prompts", NULL, a, NULL, usage_text);
        i++;
    }
    if (!dataset || !o.data_root || !out)
        return sf_cli_usage_error(
            "prompts", NULL, "export needs --dataset, --data-root and --out");
    if (!(o.ds = hx_dataset_by_name(dataset)))
        return sf_cli_usage_error("prompts", NULL, "unknown dataset '%s'",
                                  dataset);
    if (!o.split_path)
        fprintf(stderr,
                "synthfm prompts export: warning: no --split: every case "
                "found under %s (no fixed split in use)\n",
                o.data_root);
    o.problem = on_problem;
    sf_err err;
    sf_err_clear(&err);
    long n = 0;
    /* --settings text to typed settings, each with the ring width. */
    int rc = sf_prompt_settings_parse(settings, o.ring_width_px, o.settings,
                                      HX_MAX_SETTINGS, &o.n_settings, &err);
    if (rc == SF_OK) {
        sf_cli_progress prog;
        sf_cli_progress_init(&prog, "cases");
        o.progress = sf_cli_progress_cb;
        o.progress_ctx = &prog;
        rc = hx_prompts_export(&o, out, &n, &err);
        sf_cli_progress_end(&prog);
    }
    if (rc != SF_OK) {
        char msg[1200];
        fprintf(stderr, "synthfm prompts export: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_EINVAL || rc == SF_ECONFIG ? 2 : 1;
    }
    printf("{\"out\":\"%s\",\"prompts\":%ld}\n", out, n);
    return 0;
}
