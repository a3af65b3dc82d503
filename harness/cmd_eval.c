/*
 * cmd_eval.c - `synthfm eval`: one method on one dataset into a results
 * database (harness/eval.h does the work). Exit status: 0 every unit
 * scored, 1 a runtime failure or anything recorded as failed (the run
 * still went on and kept what it could), 2 usage or config error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sf_cli.h"
#include "eval.h"
#include "sf_model.h"

static const char usage_text[] =
    "usage: synthfm eval --dataset NAME --data-root DIR --method METHOD\n"
    "                    [--checkpoint CKPT --model-config FILE|PRESET]\n"
    "                    [--import DIR] [--name LABEL] [--split FILE]\n"
    "                    [--settings all|P,N:P,N...] [--seed S]\n"
    "                    [--protocol fixed|cvpr25|noc|volume [--box]]\n"
    "                    --out RESULTS.sqlite\n"
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
    "                        Without it every case found is evaluated "
    "(warned)\n"
    "  --settings S          all = 1,0:3,0:1,1:3,3 (default), or P,N:P,N...\n"
    "  --protocol P          what is measured (default fixed):\n"
    "                        fixed: the --settings clicks; Dice, NSD at 1\n"
    "                          and 2 mm and HD95 per slice (table\n"
    "                          predictions, surface_scores)\n"
    "                        cvpr25: the CVPR 2025 interactive challenge per\n"
    "                          slice: [box,] then 5 corrective clicks, each "
    "at\n"
    "                          the centre of the largest error of the\n"
    "                          method's own last mask; DSC and NSD (2 mm) per\n"
    "                          step, their AUCs, final values, time per step\n"
    "                          (interactive_seqs, interactive_steps)\n"
    "                        noc: corrective clicks until Dice >= 0.90, at\n"
    "                          most 20: NoC@85, NoC@90, Dice-vs-clicks curve\n"
    "                        volume: per case and structure, clicks on the\n"
    "                          slice of largest area (--settings of 1-3\n"
    "                          positives; default 1,0:3,0); sam2 propagates\n"
    "                          through the volume, 2-D methods get clicks on\n"
    "                          every slice with the structure; 3D Dice and\n"
    "                          NSD (volume_scores)\n"
    "  --box                 cvpr25: step 0 is the ground truth's bounding "
    "box\n"
    "                        (sam, sam2 only)\n"
    "  --seed S              prompt seed (default 0)\n"
    "  --ring-width PX       negative-click ring width (default 10)\n"
    "  --min-pixels N        a slice counts for a structure with >= N pixels\n"
    "                        (default: the split's, else 10)\n"
    "  --ood-count N         synthetic-ood: images (default 32)\n"
    "  --ood-size PX         synthetic-ood: image side (default 256)\n"
    "  --out RESULTS.sqlite  results database (created or appended to)\n"
    "  --shard I/N           evaluate only the I-th (0-based) of N contiguous\n"
    "                        blocks of the cases, into its own --out; then\n"
    "                        `synthfm results merge` joins the N files\n"
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

/* Split files that changed (before anything is written) and failures
 * recorded during the run. */
static void on_problem(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "synthfm eval: %s\n", msg);
}

/* What the command line gives besides hx_eval_opts. */
typedef struct eval_args {
    const char *dataset, *method, *settings;
    int threads;
    char gallery_dir[4096]; /* --gallery's default folder */
} eval_args;

/* Options into o and a: -1 to go on, else the exit code of the usage
 * error printed. */
static int parse_options(int argc, char **argv, hx_eval_opts *o, eval_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u;
        if (!strcmp(arg, "--box")) {
            o->box_step = 1;
            continue;
        }
        if (!strcmp(arg, "--dataset") || !strcmp(arg, "--data-root") ||
            !strcmp(arg, "--method") || !strcmp(arg, "--checkpoint") ||
            !strcmp(arg, "--model-config") || !strcmp(arg, "--import") ||
            !strcmp(arg, "--name") || !strcmp(arg, "--split") ||
            !strcmp(arg, "--settings") || !strcmp(arg, "--seed") ||
            !strcmp(arg, "--ring-width") || !strcmp(arg, "--min-pixels") ||
            !strcmp(arg, "--out") || !strcmp(arg, "--device") ||
            !strcmp(arg, "--threads") || !strcmp(arg, "--ood-count") ||
            !strcmp(arg, "--ood-size") || !strcmp(arg, "--multimask") ||
            !strcmp(arg, "--gallery") || !strcmp(arg, "--gallery-dir") ||
            !strcmp(arg, "--shard") || !strcmp(arg, "--protocol")) {
            if (!v)
                return sf_cli_usage_error("eval", NULL,
                                          "missing value for '%s'", arg);
            i++;
        } else {
            return sf_cli_unknown_option("eval", NULL, arg, NULL, usage_text);
        }
        if (!strcmp(arg, "--dataset"))
            a->dataset = v;
        else if (!strcmp(arg, "--data-root"))
            o->data_root = v;
        else if (!strcmp(arg, "--method"))
            a->method = v;
        else if (!strcmp(arg, "--checkpoint"))
            o->checkpoint = v;
        else if (!strcmp(arg, "--model-config"))
            o->model_config = v;
        else if (!strcmp(arg, "--import"))
            o->import_dir = v;
        else if (!strcmp(arg, "--name"))
            o->method_name = v;
        else if (!strcmp(arg, "--split"))
            o->split_path = v;
        else if (!strcmp(arg, "--settings"))
            a->settings = v;
        else if (!strcmp(arg, "--protocol")) {
            if ((o->protocol = hx_protocol_parse(v)) < 0)
                return sf_cli_usage_error(
                    "eval", NULL,
                    "--protocol must be fixed, cvpr25, noc or volume, got "
                    "'%s'",
                    v);
        } else if (!strcmp(arg, "--out"))
            o->out_db = v;
        else if (!strcmp(arg, "--gallery-dir"))
            o->gallery_dir = v;
        else if (!strcmp(arg, "--shard")) {
            char *end = NULL;
            long si = strtol(v, &end, 10), sn = -1;
            if (end && *end == '/') sn = strtol(end + 1, &end, 10);
            if (!end || *end || sn < 1 || sn > 100000 || si < 0 || si >= sn)
                return sf_cli_usage_error(
                    "eval", NULL,
                    "--shard expects I/N with 0 <= I < N, got '%s'", v);
            o->shard_index = (int)si;
            o->shard_count = (int)sn;
        } else if (!strcmp(arg, "--multimask")) {
            if (!strcmp(v, "auto"))
                o->multimask = HX_MULTIMASK_AUTO;
            else if (!strcmp(v, "on"))
                o->multimask = HX_MULTIMASK_ON;
            else if (!strcmp(v, "off"))
                o->multimask = HX_MULTIMASK_OFF;
            else
                return sf_cli_usage_error(
                    "eval", NULL,
                    "--multimask must be auto, on or off, got '%s'", v);
        } else if (!strcmp(arg, "--device")) {
            if ((o->device = sam_device_parse(v)) < 0)
                return sf_cli_usage_error(
                    "eval", NULL, "--device must be cpu or cuda, got '%s'", v);
        } else if (sf_cli_parse_u64(v, &u) != 0) {
            return sf_cli_usage_error(
                "eval", NULL, "expected a non-negative integer: '%s'", v);
        } else if (!strcmp(arg, "--seed")) {
            o->seed = u;
        } else if (!strcmp(arg, "--ring-width")) {
            if (u < 1 || u > SF_PROMPT_MAX_SIDE)
                return sf_cli_usage_error("eval", NULL,
                                          "--ring-width out of range: '%s'", v);
            o->ring_width_px = (int)u;
        } else if (!strcmp(arg, "--min-pixels")) {
            if (u < 1 || u > (1u << 30))
                return sf_cli_usage_error("eval", NULL,
                                          "--min-pixels out of range: '%s'", v);
            o->min_pixels = (int)u;
        } else if (!strcmp(arg, "--threads")) {
            a->threads = (int)(u > 4096 ? 4096 : u);
        } else if (!strcmp(arg, "--gallery")) {
            if (u < 1 || u > 64)
                return sf_cli_usage_error(
                    "eval", NULL, "--gallery out of range (1..64): '%s'", v);
            o->gallery_n = (int)u;
        } else if (!strcmp(arg, "--ood-count")) {
            if (u < 1 || u > 1000000)
                return sf_cli_usage_error("eval", NULL,
                                          "--ood-count out of range: '%s'", v);
            o->ood_count = u;
        } else if (!strcmp(arg, "--ood-size")) {
            if (u < 32 || u > 8192)
                return sf_cli_usage_error(
                    "eval", NULL, "--ood-size out of range (32..8192): '%s'",
                    v);
            o->ood_size = (int)u;
        }
    }
    return -1;
}

/* Options that must go together: -1, or 2 after the usage error. */
static int check_options(hx_eval_opts *o, eval_args *a) {
    if (!a->dataset)
        return sf_cli_usage_error("eval", NULL, "missing --dataset");
    if (!(o->ds = hx_dataset_by_name(a->dataset)))
        return sf_cli_usage_error(
            "eval", NULL, "unknown dataset (see --help): '%s'", a->dataset);
    if (!o->data_root)
        return sf_cli_usage_error("eval", NULL, "missing --data-root");
    if (!a->method) return sf_cli_usage_error("eval", NULL, "missing --method");
    if (!o->out_db) return sf_cli_usage_error("eval", NULL, "missing --out");
    if (o->gallery_n > 0 && !o->gallery_dir) {
        const char *slash = strrchr(o->out_db, '/');
        if (slash)
            snprintf(a->gallery_dir, sizeof a->gallery_dir, "%.*s/gallery",
                     (int)(slash - o->out_db), o->out_db);
        else
            snprintf(a->gallery_dir, sizeof a->gallery_dir, "gallery");
        o->gallery_dir = a->gallery_dir;
    }
    if (o->box_step && o->protocol != HX_PROTOCOL_CVPR25)
        return sf_cli_usage_error("eval", NULL,
                                  "--box is for --protocol cvpr25");
    if (o->protocol != HX_PROTOCOL_FIXED && o->gallery_n > 0)
        return sf_cli_usage_error("eval", NULL,
                                  "--gallery is for --protocol fixed");
    if (o->protocol == HX_PROTOCOL_VOLUME && !a->settings)
        a->settings = "1,0:3,0";
    if (!a->settings) a->settings = "all";
    if (!(o->method = hx_method_by_name(a->method)))
        return sf_cli_usage_error("eval", NULL,
                                  "--method must be classical, sam, sam2 or "
                                  "import, got '%s'",
                                  a->method);
    const unsigned needs = hx_method_needs(o->method);
    if ((needs & HX_METHOD_NEEDS_CHECKPOINT) && !o->checkpoint)
        return sf_cli_usage_error("eval", NULL,
                                  "--method %s needs --checkpoint", a->method);
    if (!strcmp(a->method, "sam2") && o->model_config &&
        !sam2_config_spec_is_sam2(o->model_config))
        return sf_cli_usage_error("eval", NULL,
                                  "--method sam2 needs a SAM 2 --model-config "
                                  "(sam2.1_hiera_t, ... or a SAM 2 YAML), got "
                                  "'%s'",
                                  o->model_config);
    if (!(needs & HX_METHOD_NEEDS_CHECKPOINT) &&
        (o->checkpoint || o->model_config))
        return sf_cli_usage_error(
            "eval", NULL,
            "--checkpoint/--model-config are for --method sam or sam2");
    if ((needs & HX_METHOD_NEEDS_IMPORT) && !o->import_dir)
        return sf_cli_usage_error("eval", NULL,
                                  "--method import needs --import DIR");
    if (!(needs & HX_METHOD_NEEDS_IMPORT) && o->import_dir)
        return sf_cli_usage_error("eval", NULL,
                                  "--import is for --method import");
    if (!strcmp(a->dataset, "synthetic-ood") ? 0
                                             : (o->ood_count || o->ood_size))
        return sf_cli_usage_error(
            "eval", NULL, "--ood-count/--ood-size are for synthetic-ood");
    return -1;
}

int hx_cmd_eval(int argc, char **argv) {
    if (sf_cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    hx_eval_opts o;
    hx_eval_opts_init(&o);
    eval_args args = {NULL, NULL, NULL, 0, ""};
    int rc;
    if ((rc = parse_options(argc, argv, &o, &args)) >= 0 ||
        (rc = check_options(&o, &args)) >= 0)
        return rc;
    const char *dataset = args.dataset, *method = args.method;
    const unsigned needs = hx_method_needs(o.method);
    if (needs & HX_METHOD_NEEDS_CHECKPOINT) sam_set_num_threads(args.threads);
    /* synthetic-ood is fixed by (ood.yaml, HX_OOD_SEED, count, size). */
    if (!o.split_path && strcmp(dataset, "synthetic-ood"))
        fprintf(stderr,
                "synthfm eval: warning: no --split: evaluating every case "
                "found under %s; no fixed split is in use, so the numbers "
                "are not comparable with another data copy\n",
                o.data_root);

    hx_eval_stats st;
    sf_err err;
    sf_err_clear(&err);
    /* --settings text to typed settings, each with the ring width. */
    rc = sf_prompt_settings_parse(args.settings, o.ring_width_px, o.settings,
                                  HX_MAX_SETTINGS, &o.n_settings, &err);
    if (rc == SF_OK) {
        sf_cli_progress prog;
        sf_cli_progress_init(&prog, "cases");
        o.progress = sf_cli_progress_cb;
        o.progress_ctx = &prog;
        o.problem = on_problem;
        rc = hx_eval_run(&o, &st, &err);
        sf_cli_progress_end(&prog);
    }
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
            "mean %s %s over %ld rows, %.1f s, %.2f slices/s -> %s\n",
            o.method_name ? o.method_name : method, dataset, st.n_cases,
            st.n_cases_failed, st.n_units, st.n_predictions, st.n_reused,
            st.n_failed,
            o.protocol == HX_PROTOCOL_FIXED    ? "Dice"
            : o.protocol == HX_PROTOCOL_VOLUME ? "3D Dice"
                                               : "final Dice",
            mean, st.n_ok_total, st.seconds, rate, o.out_db);
    if (st.gallery_path[0])
        fprintf(stderr, "synthfm eval: gallery %s\n", st.gallery_path);
    printf("{\"run_id\":%ld,\"dataset\":\"%s\",\"cases\":%ld,"
           "\"cases_failed\":%ld,\"slices\":%ld,\"predictions\":%ld,"
           "\"reused\":%ld,\"failed\":%ld,\"mean_dice\":%s,\"rows\":%ld,"
           "\"seconds\":%.3f,\"model_seconds\":%.3f,\"slices_per_s\":%.3f,"
           "\"fixed_split\":%s,\"protocol\":\"%s\"}\n",
           st.run_id, dataset, st.n_cases, st.n_cases_failed, st.n_units,
           st.n_predictions, st.n_reused, st.n_failed,
           st.n_ok_total > 0 ? mean : "null", st.n_ok_total, st.seconds,
           st.model_seconds, rate, st.fixed_split ? "true" : "false",
           hx_protocol_name(o.protocol));
    return st.n_cases_failed || st.n_failed ? 1 : 0;
}
