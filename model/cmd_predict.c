/*
 * cmd_predict.c - `synthfm predict`: run a SAM-format checkpoint on one
 * image with point/box prompts and write the mask. Parses options, calls
 * libsam (sf_model.h), maps the status to an exit code (0 ok, 1 failure,
 * 2 usage or config error).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sam_cmd.h"
#include "sf.h"
#include "sf_cli.h"
#include "sf_model.h"

#define MAX_POINTS 256

static const char usage_text[] =
    "usage: synthfm predict --checkpoint CKPT [--model-config FILE|PRESET]\n"
    "                       --image FILE [--point X,Y,LABEL]... "
    "[--box X0,Y0,X1,Y1]\n"
    "                       [--multimask] [--device cpu|cuda] --out MASK.png\n"
    "\n"
    "Run a SAM-format checkpoint (official SAM or MedSAM .pth, or one\n"
    "written by synthfm), or a SAM 2 / 2.1 checkpoint, on one image and\n"
    "write the predicted mask. For a 3-D volume with SAM 2 see\n"
    "synthfm predict --volume --help.\n"
    "\n"
    "options:\n"
    "  --checkpoint CKPT     state_dict checkpoint (torch.save zip format)\n"
    "  --model-config SPEC   preset vit_b | vit_l | vit_h | medsam, or a YAML\n"
    "                        model config; SAM 2: sam2.1_hiera_t | _s | _b+ |\n"
    "                        _l or a SAM 2 YAML. Default: model.yaml beside\n"
    "                        CKPT when there is one (a synthfm train run),\n"
    "                        else vit_b\n"
    "  --image FILE          8-bit gray or RGB PNG\n"
    "  --point X,Y,LABEL     a click in original image pixels; LABEL 1 =\n"
    "                        foreground, 0 = background (repeatable)\n"
    "  --box X0,Y0,X1,Y1     a box in original image pixels\n"
    "  --multimask           predict 3 masks and keep the one with the\n"
    "                        highest predicted IoU (SAM 2 without it: one\n"
    "                        mask, or the best of 3 when it is unstable)\n"
    "  --device cpu|cuda     where to run (default cpu)\n"
    "  --threads N           CPU threads (default: all cores)\n"
    "  --out MASK.png        output: 0/255 8-bit PNG of the image's size\n"
    "  -h, --help            this text\n"
    "\n"
    "stdout: one JSON line {\"out\": ..., \"iou\": <predicted IoU of the\n"
    "written mask>, \"mask_index\": ..., \"ious\": [...],\n"
    "\"foreground_pixels\": ...}.\n";

/* Parse exactly n comma-separated finite numbers. */
static int parse_floats(const char* s, double* v, int n) {
  const char* p = s;
  for (int i = 0; i < n; i++) {
    char* end;
    errno = 0;
    v[i] = strtod(p, &end);
    if (end == p || errno || !isfinite(v[i]))
      return -1;
    p = end;
    if (i + 1 < n) {
      if (*p != ',')
        return -1;
      p++;
    }
  }
  return *p ? -1 : 0;
}

/* The error's message; exit code 2 for a config error (a model config
 * that is missing or wrong is one, whatever its code), else 1. */
static int fail(const char* what, const sf_err* err) {
  char msg[1200];
  fprintf(
      stderr,
      "synthfm predict: %s: %s\n",
      what,
      sf_err_text(err, msg, sizeof msg));
  return err->code == SF_ECONFIG || !strcmp(what, "model config") ? 2 : 1;
}

/* What the command line asks for. */
typedef struct predict_args {
  const char *ckpt, *spec, *image, *out;
  char spec_beside[4096]; /* CKPT's folder/model.yaml */
  float points[2 * MAX_POINTS], box[4];
  int labels[MAX_POINTS], n_points, have_box, multimask, device, threads;
} predict_args;

/* Without --model-config: the model.yaml that synthfm train writes beside
 * its checkpoints (RUN/best.pth, RUN/model.yaml), said on stderr, else the
 * vit_b preset (official SAM ViT-B checkpoints). */
static const char* default_spec(const char* ckpt, char* buf, size_t n) {
  const char* slash = strrchr(ckpt, '/');
  int dir_len = slash ? (int)(slash - ckpt) : 1;
  const char* dir = slash ? ckpt : ".";
  if (snprintf(buf, n, "%.*s/model.yaml", dir_len, dir) >= (int)n ||
      access(buf, F_OK) != 0)
    return "vit_b";
  fprintf(
      stderr,
      "synthfm predict: no --model-config: using %s (the model config beside "
      "the checkpoint)\n",
      buf);
  return buf;
}

/* Options into a: -1 to go on, else the exit code (help printed: 0; a
 * usage error printed: 2). */
static int parse_args(int argc, char** argv, predict_args* a) {
  static const struct option opts[] = {
      {"checkpoint", required_argument, 0, 'c'},
      {"model-config", required_argument, 0, 'm'},
      {"image", required_argument, 0, 'i'},
      {"point", required_argument, 0, 'p'},
      {"box", required_argument, 0, 'b'},
      {"multimask", no_argument, 0, 'M'},
      {"device", required_argument, 0, 'd'},
      {"threads", required_argument, 0, 't'},
      {"out", required_argument, 0, 'o'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  memset(a, 0, sizeof *a);
  a->device = SAM_DEVICE_CPU;
  double v[4];
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (ch) {
      case 'c':
        a->ckpt = optarg;
        break;
      case 'm':
        a->spec = optarg;
        break;
      case 'i':
        a->image = optarg;
        break;
      case 'o':
        a->out = optarg;
        break;
      case 'M':
        a->multimask = 1;
        break;
      case 'p':
        if (a->n_points >= MAX_POINTS)
          return sf_cli_usage_error(
              "predict", NULL, "at most 256 points, got more at '%s'", optarg);
        if (parse_floats(optarg, v, 3) || (v[2] != 0 && v[2] != 1))
          return sf_cli_usage_error(
              "predict",
              NULL,
              "--point expects X,Y,LABEL with LABEL 0 or "
              "1, got '%s'",
              optarg);
        a->points[2 * a->n_points] = (float)v[0];
        a->points[2 * a->n_points + 1] = (float)v[1];
        a->labels[a->n_points++] = (int)v[2];
        break;
      case 'b':
        if (parse_floats(optarg, v, 4))
          return sf_cli_usage_error(
              "predict", NULL, "--box expects X0,Y0,X1,Y1, got '%s'", optarg);
        for (int i = 0; i < 4; i++)
          a->box[i] = (float)v[i];
        a->have_box = 1;
        break;
      case 'd':
        if ((a->device = sam_device_parse(optarg)) < 0)
          return sf_cli_usage_error(
              "predict",
              NULL,
              "--device expects cpu or cuda, got '%s'",
              optarg);
        break;
      case 't': {
        char* end;
        long t = strtol(optarg, &end, 10);
        if (*end || t < 1 || t > 1024)
          return sf_cli_usage_error(
              "predict", NULL, "--threads expects 1..1024, got '%s'", optarg);
        a->threads = (int)t;
        break;
      }
      case 'h':
        fputs(usage_text, stdout);
        return 0;
      default:
        return sf_cli_unknown_option(
            "predict", NULL, argv[optind - 1], opts, NULL);
    }
  }
  if (optind < argc)
    return sf_cli_usage_error(
        "predict", NULL, "unexpected argument '%s'", argv[optind]);
  if (!a->ckpt)
    return sf_cli_usage_error("predict", NULL, "--checkpoint CKPT is required");
  if (!a->image)
    return sf_cli_usage_error("predict", NULL, "--image FILE is required");
  if (!a->out)
    return sf_cli_usage_error("predict", NULL, "--out MASK.png is required");
  if (!a->n_points && !a->have_box)
    return sf_cli_usage_error(
        "predict", NULL, "give at least one --point or a --box");
  if (!a->spec)
    a->spec = default_spec(a->ckpt, a->spec_beside, sizeof a->spec_beside);
  return -1;
}

/* The mask as a 0/255 PNG at `out`, written next to it and renamed (no
 * half-written PNGs): 0, or the exit code after the message. */
static int write_mask(const char* out, const uint8_t* mask, int nx, int ny) {
  char tmp[4096];
  sf_err err = {0};
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld.png", out, (long)getpid()) >=
      (int)sizeof tmp) {
    fprintf(stderr, "synthfm predict: output path too long\n");
    return 1;
  }
  if (sf_png_write_gray8(tmp, mask, nx, ny, 6, &err)) {
    unlink(tmp);
    return fail("write mask", &err);
  }
  if (rename(tmp, out)) {
    fprintf(
        stderr,
        "synthfm predict: rename %s -> %s: %s\n",
        tmp,
        out,
        strerror(errno));
    unlink(tmp);
    return 1;
  }
  return 0;
}

/* The stdout JSON line (usage_text). */
static void print_result(const char* out, const sam_prediction* pr, size_t fg) {
  printf("{\"out\": \"");
  for (const char* s = out; *s; s++) {
    if (*s == '"' || *s == '\\')
      putchar('\\');
    if ((unsigned char)*s >= 0x20)
      putchar(*s);
  }
  printf(
      "\", \"iou\": %.7g, \"mask_index\": %d, \"ious\": [",
      pr->iou[pr->best],
      pr->best);
  for (int i = 0; i < pr->n_masks; i++)
    printf("%s%.7g", i ? ", " : "", pr->iou[i]);
  printf("], \"foreground_pixels\": %zu}\n", fg);
}

int sam_cmd_predict(int argc, char** argv) {
  predict_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0)
    return rc;
  rc = 1;
  sf_err err = {0};
  sam_config cfg;
  sam_model* m = NULL;
  sam2_config cfg2;
  sam2_model* m2 = NULL;
  const int is2 = sam2_config_spec_is_sam2(a.spec);
  sam_prediction* pr = NULL;
  uint8_t *rgb = NULL, *mask = NULL;
  int nx = 0, ny = 0;

  if (is2 ? sam2_config_load(a.spec, &cfg2, &err)
          : sam_config_load(a.spec, &cfg, &err)) {
    rc = fail("model config", &err);
    goto out;
  }
  if (a.threads)
    sam_set_num_threads(a.threads);
  if (sf_png_read_rgb8(a.image, &rgb, &nx, &ny, &err)) {
    rc = fail("image", &err);
    goto out;
  }
  if (is2 ? sam2_model_load(a.ckpt, &cfg2, a.device, &m2, &err)
          : sam_model_load(a.ckpt, &cfg, a.device, &m, &err)) {
    rc = fail("checkpoint", &err);
    if (err.code == SF_ECORRUPT && !is2 &&
        (strstr(err.msg, "image_encoder.trunk.") ||
         strstr(err.msg, "maskmem_tpos_enc")))
      fprintf(
          stderr,
          "(a SAM 2 checkpoint: use --model-config sam2.1_hiera_t, _s, _b+ "
          "or _l, or a SAM 2 YAML)\n");
    else if (err.code == SF_ECORRUPT)
      fprintf(
          stderr,
          "(is --model-config right for this "
          "checkpoint? it is '%s')\n",
          a.spec);
    goto out;
  }
  if (is2 ? sam2_model_set_image(m2, rgb, nx, ny, 3, &err)
          : sam_model_set_image(m, rgb, nx, ny, 3, &err)) {
    rc = fail("image encoder", &err);
    goto out;
  }
  sam_prompt p = {0};
  p.n_points = a.n_points;
  p.points = a.n_points ? a.points : NULL;
  p.labels = a.n_points ? a.labels : NULL;
  p.box = a.have_box ? a.box : NULL;
  p.multimask = a.multimask;
  if (is2 ? sam2_model_predict(m2, &p, &pr, &err)
          : sam_model_predict(m, &p, &pr, &err)) {
    rc = fail("predict", &err);
    goto out;
  }
  size_t npx = (size_t)nx * (size_t)ny, fg = 0;
  if (!(mask = malloc(npx))) {
    fprintf(stderr, "synthfm predict: out of memory\n");
    goto out;
  }
  const uint8_t* src = pr->masks + (size_t)pr->best * npx;
  for (size_t i = 0; i < npx; i++) {
    mask[i] = src[i] ? 255 : 0;
    fg += src[i] != 0;
  }
  if ((rc = write_mask(a.out, mask, nx, ny)))
    goto out;
  print_result(a.out, pr, fg);
  rc = 0;
out:
  sam_prediction_free(pr);
  sam_model_free(m);
  sam2_model_free(m2);
  free(rgb);
  free(mask);
  return rc;
}
