/*
 * cmd_data.c - `synthfm data check` (each dataset present / missing /
 * wrong against its split's SHA-256s) and `synthfm data split` (write a
 * split file for the cases found under a data root). Exit status: 0 ok,
 * 1 a dataset is wrong or a runtime failure, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "sf_cli.h"
#include "eval.h"

static const char usage_text[] =
    "usage: synthfm data check [--data-root DIR] [--splits DIR]\n"
    "                          [--dataset NAME [--split FILE]]\n"
    "       synthfm data split --dataset NAME --data-root DIR --out FILE\n"
    "                          [--name NAME] [--description TEXT] "
    "[--min-pixels N]\n"
    "\n"
    "check: for each dataset (or the one named), look for its folder\n"
    "DIR/<folder> (default DIR = data, or the --data-root of the one\n"
    "--dataset) and its split (--split, or SPLITS/<dataset>.yaml, default\n"
    "schemas/splits) and print one line per dataset:\n"
    "  NAME  present  N cases (split S: every file matches | template)\n"
    "  NAME  missing  DIR/<folder>\n"
    "  NAME  wrong    N file(s) missing or changed (each listed below)\n"
    "split: write a split YAML listing every case found under DIR with\n"
    "the SHA-256 of each of its files (schemas/splits/README.md).\n";

static void print_problem(void *ctx, const char *msg) {
    (void)ctx;
    printf("    %s\n", msg);
}

/* One dataset's line; returns 1 when wrong (*missing += 1 when its
 * folder is not there). */
static int check_one(const hx_dataset_ops *ds, const char *root,
                     const char *split_path, int *missing) {
    if (!sf_path_is_dir(root)) {
        printf("%-14s missing  %s\n", ds->name, root);
        ++*missing;
        return 0;
    }
    sf_err err;
    sf_err_clear(&err);
    hx_case_list l;
    char msg[1200];
    if (hx_dataset_list(ds, root, &l, &err) != SF_OK) {
        printf("%-14s wrong    %s\n", ds->name,
               sf_err_text(&err, msg, sizeof msg));
        return 1;
    }
    hx_split *s = NULL;
    struct stat st;
    int wrong = 0;
    if (split_path && stat(split_path, &st) == 0) {
        if (hx_split_load(split_path, &s, &err) != SF_OK) {
            printf("%-14s wrong    split %s\n", ds->name,
                   sf_err_text(&err, msg, sizeof msg));
            wrong = 1;
        } else if (s->template_only) {
            printf("%-14s present  %zu cases (split %s is a template: no "
                   "checksums)\n",
                   ds->name, l.n, split_path);
        } else {
            int n_bad = 0;
            printf("%-14s ", ds->name);
            fflush(stdout);
            /* Problems go below the line: collect first. */
            int n_bad_first = 0;
            hx_split_verify(s, root, NULL, NULL, &n_bad_first, &err);
            if (n_bad_first) {
                printf("wrong    %d file(s) missing or changed (split %s)\n",
                       n_bad_first, split_path);
                hx_split_verify(s, root, print_problem, NULL, &n_bad, &err);
                wrong = 1;
            } else {
                printf("present  %zu cases (split %s: all %d cases' files "
                       "match)\n",
                       l.n, split_path, s->n_cases);
            }
        }
    } else {
        printf("%-14s present  %zu cases (no split file)\n", ds->name, l.n);
    }
    hx_split_free(s);
    hx_case_list_free(&l);
    return wrong;
}

static int cmd_check(int argc, char **argv) {
    const char *root = NULL, *splits = "schemas/splits", *dataset = NULL,
               *split = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return sf_cli_usage_error("data", NULL, "missing value for '%s'",
                                      a);
        if (!strcmp(a, "--data-root"))
            root = v;
        else if (!strcmp(a, "--splits"))
            splits = v;
        else if (!strcmp(a, "--dataset"))
            dataset = v;
        else if (!strcmp(a, "--split"))
            split = v;
        else
            return sf_cli_unknown_option("data", NULL, a, NULL, usage_text);
        i++;
    }
    if (split && !dataset)
        return sf_cli_usage_error("data", NULL, "--split needs --dataset");
    int wrong = 0, missing = 0, n_checked = 0;
    for (const hx_dataset_ops *const *d = hx_datasets(); *d; d++) {
        if (dataset ? strcmp((*d)->name, dataset)
                    : !strcmp((*d)->name, "synthetic-ood"))
            continue;
        char r[4096], sp[4096];
        if (dataset && root)
            snprintf(r, sizeof r, "%s", root);
        else
            snprintf(r, sizeof r, "%s/%s", root ? root : "data", (*d)->folder);
        if (split)
            snprintf(sp, sizeof sp, "%s", split);
        else
            snprintf(sp, sizeof sp, "%s/%s.yaml", splits, (*d)->name);
        wrong += check_one(*d, r, sp, &missing);
        n_checked++;
    }
    if (dataset && !hx_dataset_by_name(dataset))
        return sf_cli_usage_error("data", NULL, "unknown dataset '%s'",
                                  dataset);
    if (missing)
        fprintf(
            stderr,
            "synthfm data check: %d of %d dataset(s) missing; data/README.md "
            "says where each one comes from, its licence and the folder "
            "it goes in\n",
            missing, n_checked);
    return wrong ? 1 : 0;
}

static int cmd_split(int argc, char **argv) {
    const char *root = NULL, *dataset = NULL, *out = NULL, *name = NULL,
               *desc = "";
    int min_pixels = HX_MIN_PIXELS_DEFAULT;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return sf_cli_usage_error("data", NULL, "missing value for '%s'",
                                      a);
        if (!strcmp(a, "--data-root"))
            root = v;
        else if (!strcmp(a, "--dataset"))
            dataset = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--description"))
            desc = v;
        else if (!strcmp(a, "--min-pixels")) {
            char *end;
            long m = strtol(v, &end, 10);
            if (*end || m < 1 || m > (1 << 30))
                return sf_cli_usage_error("data", NULL,
                                          "--min-pixels out of range: '%s'", v);
            min_pixels = (int)m;
        } else
            return sf_cli_unknown_option("data", NULL, a, NULL, usage_text);
        i++;
    }
    if (!dataset || !root || !out)
        return sf_cli_usage_error(
            "data", NULL, "split needs --dataset, --data-root and --out");
    const hx_dataset_ops *ds = hx_dataset_by_name(dataset);
    if (!ds)
        return sf_cli_usage_error("data", NULL, "unknown dataset '%s'",
                                  dataset);
    sf_err err;
    sf_err_clear(&err);
    int rc = hx_split_write(ds, root, name ? name : dataset, desc, min_pixels,
                            out, &err);
    if (rc != SF_OK) {
        char msg[1200];
        fprintf(stderr, "synthfm data split: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_EINVAL ? 2 : 1;
    }
    fprintf(stderr, "synthfm data split: wrote %s\n", out);
    return 0;
}

int hx_cmd_data(int argc, char **argv) {
    if (argc < 2 || sf_cli_wants_help(argc, argv)) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "check")) return cmd_check(argc, argv);
    if (!strcmp(argv[1], "split")) return cmd_split(argc, argv);
    static const char *const subs[] = {"check", "split"};
    const char *near = sf_cli_nearest(argv[1], subs, 2);
    if (near)
        return sf_cli_usage_error("data", NULL,
                                  "unknown subcommand '%s' (did you mean %s?)",
                                  argv[1], near);
    return sf_cli_usage_error(
        "data", NULL, "unknown subcommand (check, split): '%s'", argv[1]);
}
