/*
 * cmd_eval.c - `synthfm eval`: one method on one dataset into a results
 * database (harness/eval.h does the work). Exit status: 0 every unit
 * scored, 1 a runtime failure or anything recorded as failed (the run
 * still went on and kept what it could), 2 usage or config error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval.h"
#include "sf_model.h"

static const char usage_text[] =
    "usage: synthfm eval --dataset NAME --data-root DIR --method METHOD\n"
    "                    [--checkpoint CKPT --model-config FILE|PRESET]\n"
    "                    [--import DIR] [--name LABEL] [--split FILE]\n"
    "                    [--settings all|P,N:P,N...] [--seed S] --out "
    "RESULTS.sqlite\n"
    "\n"
    "Evaluate one click-prompted segmentation method on a dataset: every\n"
    "axial slice where a structure has at least --min-pixels pixels is\n"
    "prompted with every setting (P positive, N negative clicks, the same\n"
    "clicks for every method) and scored with Dice into RESULTS.sqlite\n"
    "(schemas/results.sql; view dice_scores). Rerunning the same command\n"
    "resumes: finished rows are reused. Each case is one transaction.\n"
    "\n"
    "options:\n"
    "  --dataset NAME        one of the datasets below\n"
    "  --data-root DIR       the dataset in its own layout (data/README.md);\n"
    "                        synthetic-ood: made here on first use\n"
    "  --method METHOD       classical (weight-free region growing), sam\n"
    "                        (a SAM-format checkpoint), sam2 (a SAM 2 / 2.1\n"
    "                        checkpoint, image predictor per slice), import\n"
    "                        (masks made outside, see `synthfm prompts\n"
    "                        export`)\n"
    "  --checkpoint CKPT     sam: state_dict checkpoint (.pth)\n"
    "  --model-config SPEC   sam: vit_b | vit_l | vit_h | medsam or a YAML\n"
    "                        model config (default vit_b); sam2:\n"
    "                        sam2.1_hiera_t (default) | _s | _b+ | _l or a\n"
    "                        SAM 2 YAML\n"
    "  --device cpu|cuda     sam: where to run (default cpu)\n"
    "  --threads N           sam: CPU threads (default all cores)\n"
    "  --gallery N           after the run, a contact sheet of its worst,\n"
    "                        median and best N units at the first setting\n"
    "                        (image, ground truth, prediction, clicks, Dice)\n"
    "  --gallery-dir DIR     where (default: the results file's folder\n"
    "                        /gallery)\n"
    "  --multimask auto|on|off  sam, one click: score the best of the\n"
    "                        three masks by predicted IoU (auto: when the\n"
    "                        model config says they were trained, as for\n"
    "                        official SAM; else the single mask)\n"
    "  --import DIR          import: the exported folder with masks/\n"
    "  --name LABEL          method name in tables (default: classical, sam,\n"
    "                        imported)\n"
    "  --split FILE          fixed split (schemas/splits/*.yaml): only its\n"
    "                        cases; refused when a file's SHA-256 changed.\n"
    "                        Without it every case found is evaluated (warned)\n"
    "  --settings S          all = 1,0:3,0:1,1:3,3 (default), or P,N:P,N...\n"
    "  --seed S              prompt seed (default 0)\n"
    "  --ring-width PX       negative-click ring width (default 10)\n"
    "  --min-pixels N        a slice counts for a structure with >= N pixels\n"
    "                        (default: the split's, else 10)\n"
    "  --ood-count N         synthetic-ood: images (default 32)\n"
    "  --ood-size PX         synthetic-ood: image side (default 256)\n"
    "  --out RESULTS.sqlite  results database (created or appended to)\n"
    "  -h, --help            this text\n"
    "\n"
    "stdout: one JSON line with the run's figures; stderr: progress, a\n"
    "summary line (slices/s), and one line per recorded failure.\n"
    "\n"
    "datasets:\n";

static void usage(FILE *f) {
    fputs(usage_text, f);
    for (const hx_dataset_ops *const *d = hx_datasets(); *d; d++)
        fprintf(f, "  %-14s %s\n", (*d)->name, (*d)->summary);
}

static int usage_error(const char *what, const char *arg) {
    fprintf(stderr, "synthfm eval: %s%s%s%s\n(see synthfm eval --help)\n",
            what, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
    return 2;
}

static int parse_u64(const char *s, unsigned long long *v) {
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') return -1;
    *v = strtoull(s, &end, 10);
    return *end || errno ? -1 : 0;
}

/* Split files that changed (before anything is written) and failures
 * recorded during the run. */
static void on_problem(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "synthfm eval: %s\n", msg);
}

int hx_cmd_eval(int argc, char **argv) {
    if (sf_cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    hx_eval_opts o;
    hx_eval_opts_init(&o);
    const char *dataset = NULL, *method = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long u;
        if (!strcmp(a, "--dataset") || !strcmp(a, "--data-root") ||
            !strcmp(a, "--method") || !strcmp(a, "--checkpoint") ||
            !strcmp(a, "--model-config") || !strcmp(a, "--import") ||
            !strcmp(a, "--name") || !strcmp(a, "--split") ||
            !strcmp(a, "--settings") || !strcmp(a, "--seed") ||
            !strcmp(a, "--ring-width") || !strcmp(a, "--min-pixels") ||
            !strcmp(a, "--out") || !strcmp(a, "--device") ||
            !strcmp(a, "--threads") || !strcmp(a, "--ood-count") ||
            !strcmp(a, "--ood-size") || !strcmp(a, "--multimask") ||
            !strcmp(a, "--gallery") || !strcmp(a, "--gallery-dir")) {
            if (!v) return usage_error("missing value for", a);
            i++;
        } else {
            return usage_error("unknown option", a);
        }
        if (!strcmp(a, "--dataset"))
            dataset = v;
        else if (!strcmp(a, "--data-root"))
            o.data_root = v;
        else if (!strcmp(a, "--method"))
            method = v;
        else if (!strcmp(a, "--checkpoint"))
            o.checkpoint = v;
        else if (!strcmp(a, "--model-config"))
            o.model_config = v;
        else if (!strcmp(a, "--import"))
            o.import_dir = v;
        else if (!strcmp(a, "--name"))
            o.method_name = v;
        else if (!strcmp(a, "--split"))
            o.split_path = v;
        else if (!strcmp(a, "--settings"))
            o.settings = v;
        else if (!strcmp(a, "--out"))
            o.out_db = v;
        else if (!strcmp(a, "--gallery-dir"))
            o.gallery_dir = v;
        else if (!strcmp(a, "--multimask")) {
            if (!strcmp(v, "auto"))
                o.multimask = HX_MULTIMASK_AUTO;
            else if (!strcmp(v, "on"))
                o.multimask = HX_MULTIMASK_ON;
            else if (!strcmp(v, "off"))
                o.multimask = HX_MULTIMASK_OFF;
            else
                return usage_error("--multimask must be auto, on or off, got",
                                   v);
        } else if (!strcmp(a, "--device")) {
            if ((o.device = sam_device_parse(v)) < 0)
                return usage_error("--device must be cpu or cuda, got", v);
        } else if (parse_u64(v, &u) != 0) {
            return usage_error("expected a non-negative integer:", v);
        } else if (!strcmp(a, "--seed")) {
            o.seed = u;
        } else if (!strcmp(a, "--ring-width")) {
            if (u < 1 || u > SF_PROMPT_MAX_SIDE)
                return usage_error("--ring-width out of range:", v);
            o.ring_width_px = (int)u;
        } else if (!strcmp(a, "--min-pixels")) {
            if (u < 1 || u > (1u << 30))
                return usage_error("--min-pixels out of range:", v);
            o.min_pixels = (int)u;
        } else if (!strcmp(a, "--threads")) {
            threads = (int)(u > 4096 ? 4096 : u);
        } else if (!strcmp(a, "--gallery")) {
            if (u < 1 || u > 64)
                return usage_error("--gallery out of range (1..64):", v);
            o.gallery_n = (int)u;
        } else if (!strcmp(a, "--ood-count")) {
            if (u < 1 || u > 1000000)
                return usage_error("--ood-count out of range:", v);
            o.ood_count = u;
        } else if (!strcmp(a, "--ood-size")) {
            if (u < 32 || u > 8192)
                return usage_error("--ood-size out of range (32..8192):", v);
            o.ood_size = (int)u;
        }
    }
    if (!dataset) return usage_error("missing --dataset", NULL);
    if (!(o.ds = hx_dataset_by_name(dataset)))
        return usage_error("unknown dataset (see --help):", dataset);
    if (!o.data_root) return usage_error("missing --data-root", NULL);
    if (!method) return usage_error("missing --method", NULL);
    if (!o.out_db) return usage_error("missing --out", NULL);
    char gdir[4096];
    if (o.gallery_n > 0 && !o.gallery_dir) {
        const char *slash = strrchr(o.out_db, '/');
        if (slash)
            snprintf(gdir, sizeof gdir, "%.*s/gallery",
                     (int)(slash - o.out_db), o.out_db);
        else
            snprintf(gdir, sizeof gdir, "gallery");
        o.gallery_dir = gdir;
    }
    if (!strcmp(method, "classical"))
        o.method_kind = HX_METHOD_CLASSICAL;
    else if (!strcmp(method, "sam"))
        o.method_kind = HX_METHOD_NATIVE;
    else if (!strcmp(method, "sam2")) {
        o.method_kind = HX_METHOD_NATIVE;
        if (!o.model_config) o.model_config = "sam2.1_hiera_t";
        if (!sam2_config_spec_is_sam2(o.model_config))
            return usage_error("--method sam2 needs a SAM 2 --model-config "
                               "(sam2.1_hiera_t, ... or a SAM 2 YAML), got",
                               o.model_config);
    }
    else if (!strcmp(method, "import"))
        o.method_kind = HX_METHOD_IMPORTED;
    else
        return usage_error("--method must be classical, sam, sam2 or import, "
                           "got",
                           method);
    if (o.method_kind == HX_METHOD_NATIVE && !o.checkpoint)
        return usage_error("--method sam/sam2 needs --checkpoint", NULL);
    if (o.method_kind != HX_METHOD_NATIVE && (o.checkpoint || o.model_config))
        return usage_error("--checkpoint/--model-config are for --method sam",
                           NULL);
    if (o.method_kind == HX_METHOD_IMPORTED && !o.import_dir)
        return usage_error("--method import needs --import DIR", NULL);
    if (o.method_kind != HX_METHOD_IMPORTED && o.import_dir)
        return usage_error("--import is for --method import", NULL);
    if (!strcmp(dataset, "synthetic-ood") ? 0 : (o.ood_count || o.ood_size))
        return usage_error("--ood-count/--ood-size are for synthetic-ood",
                           NULL);
    if (o.method_kind == HX_METHOD_NATIVE) sam_set_num_threads(threads);
    /* synthetic-ood is fixed by (ood.yaml, HX_OOD_SEED, count, size). */
    if (!o.split_path && strcmp(dataset, "synthetic-ood"))
        fprintf(stderr,
                "synthfm eval: warning: no --split: evaluating every case "
                "found under %s; no fixed split is in use, so the numbers "
                "are not comparable with another data copy\n",
                o.data_root);

    sf_cli_progress prog;
    sf_cli_progress_init(&prog, "cases");
    o.progress = sf_cli_progress_cb;
    o.progress_ctx = &prog;
    o.problem = on_problem;
    hx_eval_stats st;
    sf_err err;
    sf_err_clear(&err);
    int rc = hx_eval_run(&o, &st, &err);
    sf_cli_progress_end(&prog);
    if (rc != SF_OK) {
        char msg[1200];
        fprintf(stderr, "synthfm eval: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_EINVAL || rc == SF_ECONFIG ? 2 : 1;
    }
    double rate = st.seconds > 0 ? st.n_units / st.seconds : 0;
    char mean[32] = "n/a"; /* no scored row: no mean, never a 0 */
    if (st.n_ok_total > 0) snprintf(mean, sizeof mean, "%.4f", st.mean_dice);
    fprintf(stderr,
            "synthfm eval: %s on %s: %ld cases (%ld failed), %ld slices "
            "(slice x structure), %ld predictions (%ld reused, %ld failed), "
            "mean Dice %s over %ld rows, %.1f s, %.2f slices/s -> %s\n",
            o.method_name ? o.method_name : method, dataset, st.n_cases,
            st.n_cases_failed, st.n_units, st.n_predictions, st.n_reused,
            st.n_failed, mean, st.n_ok_total, st.seconds, rate, o.out_db);
    if (st.gallery_path[0])
        fprintf(stderr, "synthfm eval: gallery %s\n", st.gallery_path);
    printf("{\"run_id\":%ld,\"dataset\":\"%s\",\"cases\":%ld,"
           "\"cases_failed\":%ld,\"slices\":%ld,\"predictions\":%ld,"
           "\"reused\":%ld,\"failed\":%ld,\"mean_dice\":%s,\"rows\":%ld,"
           "\"seconds\":%.3f,\"model_seconds\":%.3f,\"slices_per_s\":%.3f,"
           "\"fixed_split\":%s}\n",
           st.run_id, dataset, st.n_cases, st.n_cases_failed, st.n_units,
           st.n_predictions, st.n_reused, st.n_failed,
           st.n_ok_total > 0 ? mean : "null", st.n_ok_total, st.seconds, st.model_seconds, rate,
           st.fixed_split ? "true" : "false");
    return st.n_cases_failed || st.n_failed ? 1 : 0;
}
