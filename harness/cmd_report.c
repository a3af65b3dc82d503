/*
 * cmd_report.c - `synthfm report --results DB --out DIR`: Tables 1-3
 * (Markdown, CSV, LaTeX) side by side with the paper, t-tests, figures and
 * DIR/index.md with provenance.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "sf_cli.h"
#include "hx.h"
#include "report.h"

#define USAGE                                                                  \
    "usage: synthfm report --results DB --out DIR [--runs RUN...]\n"           \
    "           [--corpus DIR...] [--config FILE] [--paper DIR]\n"             \
    "           [--index FILE] [--data-root DIR] [--models DIR]\n"

#define MAX_LIST 64

static void usage(FILE *f) {
    fputs(USAGE
          "\n"
          "Reads the results database written by `synthfm eval` (the view\n"
          "dice_scores, the runs and failures tables) and writes into DIR:\n"
          "  table1.{md,csv,tex} table1_tests.csv   modality x structure x\n"
          "                                         method x prompt setting\n"
          "  table2.{md,csv,tex}                    ablation (shape, "
          "boundary, both)\n"
          "  table3.{md,csv,tex} table3_tests.csv   ALFI: MedSAM vs SynthFM\n"
          "  figures/box_*.png                      per-slice Dice box plots\n"
          "  figures/train_*.png                    training curve of each "
          "--runs RUN\n"
          "  figures/corpus_*.png                   contact sheet of each "
          "--corpus DIR\n"
          "  table_nsd.{md,csv} table_nsd_tests.csv fixed settings: Dice, "
          "NSD at\n"
          "                                         1 and 2 mm, HD95\n"
          "  table4.{md,csv} table4_tests.csv       interactive (--protocol "
          "cvpr25,\n"
          "                                         noc): DSC/NSD AUC, final\n"
          "                                         DSC/NSD, NoC@85, NoC@90\n"
          "  table_volume.{md,csv} + _tests.csv     volume setting: 3D Dice, "
          "NSD\n"
          "  figures/curve_*.png, noc_*.png         Dice vs clicks (95% CI "
          "band),\n"
          "                                         NoC@90 histograms\n"
          "  runs.csv, index.md                     provenance, what was not "
          "evaluated\n"
          "Tables show ours | paper | difference (reports/paper), the best "
          "value\n"
          "per row in bold, paired t-tests of each 'ours' method against the "
          "best\n"
          "and next-best other method, and \"missing\" where nothing was "
          "scored.\n"
          "The newer tables give each mean a 95% case-level bootstrap CI and\n"
          "their tests CSVs Wilcoxon signed-rank p, raw and Holm-adjusted.\n"
          "\n"
          "  --config FILE   report config (default reports/report.yaml if "
          "present,\n"
          "                  else the built-in copy of it)\n"
          "  --paper DIR     the paper's tables (default reports/paper)\n"
          "  --index FILE    write the index here instead of DIR/index.md "
          "(links\n"
          "                  relative to FILE's folder)\n"
          "  --runs RUN...   training runs (RUN/run.sqlite, best.pth)\n"
          "  --corpus DIR... corpora (manifest.sqlite, preview.png)\n"
          "  --data-root DIR where datasets are looked for (default data)\n"
          "  --models DIR    where checkpoints are looked for (default "
          "models)\n"
          "\n"
          "Exit status: 0 ok, 1 failure (unreadable database, write error),\n"
          "2 usage or config error.\n",
          f);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

int hx_cmd_report(int argc, char **argv) {
    if (sf_cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    hx_report_opts o;
    memset(&o, 0, sizeof o);
    const char *runs[MAX_LIST] = {0}, *corpora[MAX_LIST] = {0};
    const char *config = NULL;
    o.paper_dir = "reports/paper";
    o.data_root = "data";
    o.models_root = "models";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc && argv[i + 1][0] != '-';
        if (!strcmp(a, "--runs") || !strcmp(a, "--corpus")) {
            int is_runs = a[2] == 'r';
            if (!has)
                return sf_cli_usage_error("report", USAGE,
                                          "missing value after '%s'", a);
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                int *n = is_runs ? &o.n_runs : &o.n_corpora;
                if (*n == MAX_LIST)
                    return sf_cli_usage_error("report", USAGE,
                                              "too many values for '%s'", a);
                (is_runs ? runs : corpora)[(*n)++] = argv[++i];
            }
            continue;
        }
        const char **dst = !strcmp(a, "--results")     ? &o.results
                           : !strcmp(a, "--out")       ? &o.out_dir
                           : !strcmp(a, "--config")    ? &config
                           : !strcmp(a, "--paper")     ? &o.paper_dir
                           : !strcmp(a, "--index")     ? &o.index_path
                           : !strcmp(a, "--data-root") ? &o.data_root
                           : !strcmp(a, "--models")    ? &o.models_root
                                                       : NULL;
        if (!dst) return sf_cli_unknown_option("report", USAGE, a, NULL, USAGE);
        if (i + 1 >= argc)
            return sf_cli_usage_error("report", USAGE,
                                      "missing value after '%s'", a);
        *dst = argv[++i];
    }
    if (!o.results)
        return sf_cli_usage_error("report", USAGE, "missing --results DB");
    if (!o.out_dir)
        return sf_cli_usage_error("report", USAGE, "missing --out DIR");
    o.runs = runs;
    o.corpora = corpora;
    hx_init();

    sf_err err;
    sf_err_clear(&err);
    char msg[1200];
    hx_report_cfg *cfg = NULL;
    int rc;
    if (!config && exists("reports/report.yaml"))
        config = "reports/report.yaml";
    if (config)
        rc = hx_report_cfg_load(config, &cfg, &err);
    else {
        const char *d = hx_report_cfg_default_text();
        rc = hx_report_cfg_parse("(built-in report config)", d, strlen(d), &cfg,
                                 &err);
    }
    if (rc) {
        fprintf(stderr, "synthfm report: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_ECONFIG ? 2 : 1;
    }
    o.cfg = cfg;
    o.config_path = config;
    o.git_commit = sf_git_commit();
    rc = hx_report_write(&o, &err);
    hx_report_cfg_free(cfg);
    if (rc) {
        fprintf(stderr, "synthfm report: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_ECONFIG || rc == SF_EINVAL ? 2 : 1;
    }
    fprintf(stderr, "synthfm report: wrote %s\n",
            o.index_path ? o.index_path : o.out_dir);
    return 0;
}
