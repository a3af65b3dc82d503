/*
 * cmd_export.c - `synthfm export`: parse options, call sf_export, map the
 * status to an exit code (0 ok, 1 failure, 2 usage or refused output).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_cli.h"
#include "sf_export.h"

static const char usage_text[] =
    "usage: synthfm export --format nnunet|imagefolder [options] CORPUS OUT\n"
    "\n"
    "Write the finished corpus CORPUS (a synthfm generate directory) into\n"
    "the new directory OUT in another tool's layout:\n"
    "  nnunet       nnU-Net v2 raw dataset: imagesTr/<case>_0000.nii.gz,\n"
    "               labelsTr/<case>.nii.gz, dataset.json (2-D images as\n"
    "               one-slice NIfTI, spacing 1 x 1 x 999 mm); name OUT\n"
    "               DatasetXXX_Name inside $nnUNet_raw\n"
    "  imagefolder  Hugging Face datasets ImageFolder: train/images/*.png,\n"
    "               train/labels/*.png, train/metadata.jsonl (file_name,\n"
    "               label_file_name, sample_index, module, n_instances)\n"
    "Both add README.md (what the export holds, the label mapping) and\n"
    "synthfm_export.json (corpus identity and options). Every corpus file\n"
    "is checked against the manifest's SHA-256 first. OUT is built in\n"
    "OUT.partial and renamed when complete; OUT must be missing or empty,\n"
    "or a finished export of the same corpus with the same options (then\n"
    "nothing is done). Same corpus and options: byte-identical output.\n"
    "\n"
    "options:\n"
    "  --format F        nnunet | imagefolder (required)\n"
    "  --labels M        binary: 1 where any instance is (nnunet default);\n"
    "                    instances: the instance ids 0..K of each image\n"
    "                    (imagefolder default: the 16-bit label PNGs)\n"
    "  --max-label N     nnunet --labels instances: ids above N become N,\n"
    "                    classes 1..min(largest K, N) (default 255)\n"
    "  --gzip-level L    nnunet: .nii.gz deflate level 1..9 (default 1;\n"
    "                    6 makes images ~15% smaller, ~4x slower)\n"
    "  --threads T       worker threads (default: all cores)\n"
    "  -q, --quiet       no progress line\n"
    "  -h, --help        this text\n"
    "\n"
    "exit: 0 done (or already done), 1 failure (corpus damaged or\n"
    "incomplete, I/O), 2 usage, or OUT holds something else.\n";

static int fail_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "synthfm export: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see synthfm export --help)\n");
    return 2;
}

static int parse_int(const char *s, long lo, long hi, int *v) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < lo || x > hi) return -1;
    *v = (int)x;
    return 0;
}

int sf_cmd_export(int argc, char **argv) {
    static const struct option opts[] = {
        {"format", required_argument, 0, 'f'},
        {"labels", required_argument, 0, 'l'},
        {"max-label", required_argument, 0, 'm'},
        {"threads", required_argument, 0, 't'},
        {"gzip-level", required_argument, 0, 'z'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    sf_export_opts o = {0};
    int quiet = 0, ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if ((o.format = sf_export_format_parse(optarg)) < 0)
                return fail_usage(
                    "--format expects nnunet|imagefolder, got '%s'", optarg);
            break;
        case 'l':
            if ((o.labels = sf_export_labels_parse(optarg)) < 0)
                return fail_usage("--labels expects binary|instances, got '%s'",
                                  optarg);
            break;
        case 'm':
            if (parse_int(optarg, 1, SF_EXPORT_MAX_LABEL_LIMIT, &o.max_label))
                return fail_usage("--max-label expects 1..65535, got '%s'",
                                  optarg);
            break;
        case 't':
            if (parse_int(optarg, 1, 1024, &o.threads))
                return fail_usage("--threads expects 1..1024, got '%s'",
                                  optarg);
            break;
        case 'z':
            if (parse_int(optarg, 1, 9, &o.gzip_level))
                return fail_usage("--gzip-level expects 1..9, got '%s'",
                                  optarg);
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return sf_cli_unknown_option("export", NULL, argv[optind - 1], opts,
                                         NULL);
        }
    }
    if (!o.format)
        return fail_usage("%s", "--format nnunet|imagefolder is required");
    if (argc - optind != 2)
        return fail_usage("%s", "expects two arguments: CORPUS OUT");
    if (o.max_label && !(o.format == SF_EXPORT_NNUNET &&
                         o.labels == SF_EXPORT_LABELS_INSTANCES))
        return fail_usage("%s", "--max-label applies to --format nnunet "
                                "--labels instances only");
    if (o.gzip_level && o.format != SF_EXPORT_NNUNET)
        return fail_usage("%s", "--gzip-level applies to --format nnunet only");
    const char *corpus = argv[optind], *out = argv[optind + 1];

    sf_cli_progress prog;
    sf_cli_progress_init(&prog, "samples");
    if (!quiet) {
        o.progress = sf_cli_progress_cb;
        o.progress_ctx = &prog;
    }
    sf_export_stats st;
    sf_err err = {0};
    char msg[1200];
    int rc = sf_export(corpus, out, &o, &st, &err);
    sf_cli_progress_end(&prog);
    if (rc) {
        fprintf(stderr, "synthfm export: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_EINVAL || rc == SF_EEXIST ? 2 : 1;
    }
    const char *fmt = sf_export_format_name(o.format);
    if (st.up_to_date) {
        fprintf(stderr,
                "synthfm export: %s is already the %s export of %s "
                "(%llu cases): nothing to do\n",
                out, fmt, corpus, (unsigned long long)st.n_samples);
        return 0;
    }
    int labels = o.labels                       ? o.labels
                 : o.format == SF_EXPORT_NNUNET ? SF_EXPORT_LABELS_BINARY
                                                : SF_EXPORT_LABELS_INSTANCES;
    char classes[64] = "";
    if (o.format == SF_EXPORT_NNUNET)
        snprintf(classes, sizeof classes, ", %d foreground class%s",
                 st.n_classes, st.n_classes == 1 ? "" : "es");
    fprintf(stderr,
            "synthfm export: %llu cases -> %s (%s, labels %s%s, %.1f MB) "
            "in %.1f s\n",
            (unsigned long long)st.n_samples, out, fmt,
            sf_export_labels_name(labels), classes,
            (double)st.bytes_written / 1e6, st.seconds);
    if (st.n_clamped)
        fprintf(stderr,
                "synthfm export: %llu images had instance ids above %d, "
                "written as %d (see OUT/README.md)\n",
                (unsigned long long)st.n_clamped, st.n_classes, st.n_classes);
    return 0;
}
