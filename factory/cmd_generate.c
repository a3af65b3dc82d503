/*
 * cmd_generate.c - `synthfm generate`: parse options, call the factory,
 * map the status to an exit code (0 ok, 1 failure, 2 usage/config).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "sf.h"
#include "sf_cli.h"

static const char usage_text[] =
    "usage: synthfm generate --out DIR [options]\n"
    "\n"
    "Make a synthetic corpus: DIR/images/NNNNNN.png (8-bit gray),\n"
    "DIR/labels/NNNNNN.png (16-bit instance ids, 0 = background),\n"
    "DIR/manifest.sqlite (every seed and drawn parameter), config.yaml,\n"
    "SHA256SUMS, README.md (dataset card), croissant.json, preview.png.\n"
    "Every sample is a pure function of (seed, index, config). Rerunning\n"
    "the same command resumes an interrupted run; a finished corpus is left\n"
    "as it is. Shards go to separate directories: see `synthfm merge`.\n"
    "\n"
    "options:\n"
    "  --config FILE     factory YAML (default: the embedded\n"
    "                    schemas/factory/default.yaml)\n"
    "  --out DIR         output corpus directory (required)\n"
    "  --count N         samples in the corpus (default 64)\n"
    "  --seed S          master seed (default 0)\n"
    "  --threads T       worker threads (default: all cores)\n"
    "  --size PX         image side in pixels (overrides image_size)\n"
    "  --mode M          both | shape | boundary (overrides mode)\n"
    "  --shard I/N       make only shard I of N (0-based, contiguous blocks)\n"
    "  --png-level L     deflate level 0-9 (overrides png_level; 1 = fast "
    "RLE)\n"
    "  -q, --quiet       no progress line\n"
    "  -h, --help        this text\n"
    "\n"
    "Disk: about 0.45 bytes per pixel per sample with the default config\n"
    "(1024 px: ~0.45 MB a sample, 10,000 samples ~4.5 GB); a run expected\n"
    "to take 100 MB or more says its size and the free space first.\n";

/* Bytes on disk per image pixel (image + label PNG, manifest), measured
 * with the default config: 0.42 at 1024 px (64 samples, 28.1 MB), 0.48 at
 * 128 px. An estimate: noise and png_level move it. */
#define DISK_BYTES_PER_PX 0.45

/* Before a big run (>= 100 MB expected), the expected size and the free
 * space where it goes, on stderr; a warning when it does not fit. */
static void disk_note(const char *out, uint64_t n_samples, int size,
                      int quiet) {
    double need = (double)n_samples * size * size * DISK_BYTES_PER_PX;
    if (need < 100e6) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    struct statvfs vf;
    double avail = -1;
    for (;;) { /* OUT, or the nearest folder above it that exists */
        if (statvfs(dir, &vf) == 0) {
            avail = (double)vf.f_bavail * (double)vf.f_frsize;
            break;
        }
        char *slash = strrchr(dir, '/');
        if (!slash) {
            if (statvfs(".", &vf) == 0)
                avail = (double)vf.f_bavail * (double)vf.f_frsize;
            break;
        }
        if (slash == dir) {
            dir[1] = '\0';
            if (statvfs(dir, &vf) == 0)
                avail = (double)vf.f_bavail * (double)vf.f_frsize;
            break;
        }
        *slash = '\0';
    }
    int short_of = avail >= 0 && avail < need;
    if (quiet && !short_of) return;
    fprintf(stderr,
            "synthfm generate: %s%llu samples of %d px need about %.1f GB "
            "(~%.2f bytes/pixel)",
            short_of ? "warning: " : "", (unsigned long long)n_samples, size,
            need / 1e9, DISK_BYTES_PER_PX);
    if (avail >= 0)
        fprintf(stderr, "; %.1f GB free there%s", avail / 1e9,
                short_of ? ": it may not fit" : "");
    fputc('\n', stderr);
}

int sf_cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},
        {"out", required_argument, 0, 'o'},
        {"count", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'},
        {"size", required_argument, 0, 'S'},
        {"mode", required_argument, 0, 'm'},
        {"shard", required_argument, 0, 'H'},
        {"png-level", required_argument, 0, 'L'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *config = NULL, *out = NULL;
    uint64_t count = 64, seed = 0, v;
    int threads = 0, size = 0, mode = -1, quiet = 0, level = -1;
    int shard_i = 0, shard_n = 1;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'o': out = optarg; break;
        case 'n':
            if (sf_cli_parse_u64(optarg, &count) || count == 0)
                return sf_cli_usage_error(
                    "generate", NULL,
                    "--count expects a positive integer, got '%s'", optarg);
            break;
        case 's':
            if (sf_cli_parse_u64(optarg, &seed))
                return sf_cli_usage_error(
                    "generate", NULL,
                    "--seed expects a non-negative integer, got '%s'", optarg);
            break;
        case 't':
            if (sf_cli_parse_u64(optarg, &v) || v == 0 || v > 1024)
                return sf_cli_usage_error("generate", NULL,
                                          "--threads expects 1..1024, got '%s'",
                                          optarg);
            threads = (int)v;
            break;
        case 'S':
            if (sf_cli_parse_u64(optarg, &v) || v < 32 || v > 8192)
                return sf_cli_usage_error("generate", NULL,
                                          "--size expects 32..8192, got '%s'",
                                          optarg);
            size = (int)v;
            break;
        case 'm':
            if ((mode = sf_mode_parse(optarg)) < 0)
                return sf_cli_usage_error(
                    "generate", NULL,
                    "--mode expects both|shape|boundary, got '%s'", optarg);
            break;
        case 'H': {
            char extra;
            if (sscanf(optarg, "%d/%d%c", &shard_i, &shard_n, &extra) != 2 ||
                shard_n < 1 || shard_i < 0 || shard_i >= shard_n)
                return sf_cli_usage_error(
                    "generate", NULL,
                    "--shard expects I/N with 0 <= I < N, got '%s'", optarg);
            break;
        }
        case 'L':
            if (sf_cli_parse_u64(optarg, &v) || v > 9)
                return sf_cli_usage_error("generate", NULL,
                                          "--png-level expects 0..9, got '%s'",
                                          optarg);
            level = (int)v;
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return sf_cli_unknown_option("generate", NULL, argv[optind - 1],
                                         opts, NULL);
        }
    }
    if (optind < argc)
        return sf_cli_usage_error("generate", NULL, "unexpected argument '%s'",
                                  argv[optind]);
    if (!out)
        return sf_cli_usage_error("generate", NULL, "--out DIR is required");

    sf_config cfg;
    sf_err err = {0};
    char msg[1200];
    int rc = config ? sf_config_load(config, &cfg, &err)
                    : sf_config_default(&cfg, &err);
    if (!rc) {
        if (size) cfg.image_size = size;
        if (mode >= 0) cfg.mode = mode;
        if (level >= 0) cfg.png_level = level;
        rc = sf_config_validate(&cfg, &err);
    }
    if (rc) {
        fprintf(stderr, "synthfm generate: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_ECONFIG ? 2 : 1;
    }

    uint64_t first, end; /* this shard's block */
    sf_shard_range(count, shard_i, shard_n, &first, &end);
    disk_note(out, end - first, cfg.image_size, quiet);
    sf_cli_progress prog;
    sf_cli_progress_init(&prog, "samples");
    sf_generate_opts o = {0};
    o.out_dir = out;
    o.seed = seed;
    o.count = count;
    o.shard_index = shard_i;
    o.shard_count = shard_n;
    o.threads = threads;
    o.write_files = 1;
    if (!quiet) {
        o.progress = sf_cli_progress_cb;
        o.progress_ctx = &prog;
    }
    sf_generate_stats st;
    sf_corpus_result res;
    rc = sf_corpus_generate(&cfg, &o, &st, &res, &err);
    if (!quiet) sf_cli_progress_end(&prog);
    if (rc) {
        fprintf(stderr, "synthfm generate: %s\n",
                sf_err_text(&err, msg, sizeof msg));
        return rc == SF_EEXIST ? 2 : 1;
    }
    if (res.was_complete) {
        fprintf(
            stderr,
            "synthfm generate: %s is complete (%llu samples): nothing to do\n",
            out, (unsigned long long)st.n_skipped);
        return 0;
    }
    fprintf(stderr,
            "synthfm generate: %llu samples (%llu already present) in %.2f s, "
            "%.1f pairs/s, %.1f MB written -> %s\n",
            (unsigned long long)st.n_generated,
            (unsigned long long)st.n_skipped, st.seconds,
            st.seconds > 0 ? st.n_generated / st.seconds : 0.0,
            st.bytes_written / 1e6, out);
    return 0;
}
