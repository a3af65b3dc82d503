/*
 * cmd_predict_volume.c - `synthfm predict --volume`: segment a whole CT/MR
 * volume from prompts on one slice with SAM 2's video predictor, the
 * slices taken as frames and propagated from the prompted slice in both
 * directions. The volume is read by any harness reader (NIfTI, DICOM
 * series, MetaImage), preprocessed to 8 bits as the evaluation does
 * (hx_preprocess_volume: CT window or MR/US percentiles), and the mask is
 * written as a uint8 NIfTI with the input's geometry.
 *
 * Also the dispatcher of `synthfm predict`: without --volume the command
 * is model/cmd_predict.c's (one image).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "hx.h"
#include "readers.h"
#include "sam_cmd.h"
#include "sf_cli.h"
#include "sf_model.h"

#define MAX_POINTS 256

static const char usage_text[] =
    "usage: synthfm predict --volume VOL --slice K --point X,Y,LABEL...\n"
    "                       [--box X0,Y0,X1,Y1] --checkpoint CKPT\n"
    "                       --model-config SAM2 --out MASK.nii.gz\n"
    "\n"
    "Segment a 3-D volume with SAM 2 from prompts on one slice: the slices\n"
    "are the frames of SAM 2's video predictor, propagated from slice K to\n"
    "both ends of the volume.\n"
    "\n"
    "options:\n"
    "  --volume VOL          NIfTI (.nii, .nii.gz), DICOM series folder or\n"
    "                        MetaImage (.mha, .mhd); 3-D, as stored\n"
    "  --slice K             the prompted slice (third voxel index, 0-based)\n"
    "  --point X,Y,LABEL     a click on slice K in voxel indices (X = first,\n"
    "                        Y = second index, as stored in the file); LABEL\n"
    "                        1 = foreground, 0 = background (repeatable)\n"
    "  --box X0,Y0,X1,Y1     a box on slice K, same coordinates\n"
    "  --checkpoint CKPT     SAM 2 / 2.1 checkpoint ({\"model\": state_dict})\n"
    "  --random-weights SEED no checkpoint: random weights (smoke tests,\n"
    "                        timing)\n"
    "  --model-config SPEC   sam2.1_hiera_t | _s | _b+ | _l or a SAM 2 YAML\n"
    "                        (default sam2.1_hiera_t)\n"
    "  --modality ct|mr|us   intensity preprocessing (default ct: window\n"
    "                        level 40, width 400 HU; mr/us: 0.5-99.5\n"
    "                        percentiles)\n"
    "  --window L,W          CT window level and width in HU\n"
    "  --device cpu|cuda     where to run (default cpu)\n"
    "  --threads N           CPU threads (default: all cores)\n"
    "  --out MASK.nii.gz     output: uint8 0/1 mask volume, the input's\n"
    "                        dimensions, spacing and orientation\n"
    "  -h, --help            this text\n"
    "\n"
    "stderr: progress, then the per-slice inference times. stdout: one JSON\n"
    "line {\"out\": ..., \"slices\": ..., \"foreground_voxels\": ...,\n"
    "\"seconds\": ...}. Nothing is written on error.\n";

static int fail(const char *what, const sf_err *err) {
    char msg[1200];
    fprintf(stderr, "synthfm predict: %s: %s\n", what,
            sf_err_text(err, msg, sizeof msg));
    return err->code == SF_ECONFIG ? 2 : 1;
}

static int parse_floats(const char *s, double *v, int n) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(p, &end);
        if (end == p || errno || !isfinite(v[i])) return -1;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n > k && !strcmp(s + n - k, suf);
}

typedef struct run {
    uint8_t *mask;   /* (nz, ny, nx) 0/1 */
    double *seconds; /* per slice */
    size_t npx, done, total;
    sf_cli_progress prog;
} run;

static int on_slice(void *ctx, int k, const float *logits, float score,
                    double seconds) {
    (void)score;
    run *r = ctx;
    uint8_t *m = r->mask + (size_t)k * r->npx;
    for (size_t i = 0; i < r->npx; i++)
        m[i] = logits[i] > 0;
    if (seconds > r->seconds[k]) r->seconds[k] = seconds;
    r->done++;
    sf_cli_progress_cb(&r->prog, r->done, r->total);
    return 0;
}

/* A uint8 NIfTI-1 of v's geometry holding `data` ((nz, ny, nx), x
 * fastest, as the reader gave it): written to a temporary name, read back
 * with the harness reader and checked, then renamed to `out`. */
/* The affines agree to NIfTI-1's float32 (a DICOM geometry is double). */
static int same_geometry(const hx_volume *a, const hx_volume *b) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            double x = a->ijk_to_lps[r][c], y = b->ijk_to_lps[r][c];
            if (!(fabs(x - y) <= 1e-5 * (1 + fabs(y)))) return 0;
        }
    return 1;
}

static int write_nifti(const char *out, const hx_volume *v, uint8_t *data,
                       sf_err *err) {
    char tmp[4096];
    const char *suf = ends_with(out, ".nii.gz") ? ".nii.gz" : ".nii";
    if (snprintf(tmp, sizeof tmp, "%.*s.tmp%ld%s",
                 (int)(strlen(out) - strlen(suf)), out, (long)getpid(),
                 suf) >= (int)sizeof tmp)
        return sf_err_set(err, SF_EINVAL, "output path too long");
    /* A NIfTI input lends its header (sform/qform and their codes, units,
     * description): the mask is the same image with another datatype.
     * Other inputs get a header made from the reader's geometry. */
    nifti_image *nim = NULL;
    if (v->format && !strcmp(v->format, "nifti")) {
        nifti_image *src = nifti_image_read(v->path, 0);
        if (src && src->nx == v->nx && src->ny == v->ny && src->nz == v->nz &&
            src->nt <= 1 && src->nu <= 1)
            nim = nifti_copy_nim_info(src);
        nifti_image_free(src);
    }
    if (nim) {
        free(nim->data); /* none is copied; be sure */
        nim->data = NULL;
        nim->datatype = NIFTI_TYPE_UINT8;
        nim->nbyper = 1;
        nim->swapsize = 0;
        nim->scl_slope = 0;
        nim->scl_inter = 0;
        nim->cal_min = 0;
        nim->cal_max = 1;
        nim->intent_code = 0;
    } else {
        int64_t dims[8] = {3, v->nx, v->ny, v->nz, 1, 1, 1, 1};
        nim = nifti_make_new_nim(dims, NIFTI_TYPE_UINT8, 0);
        if (!nim)
            return sf_err_set(err, SF_ENOMEM, "NIfTI header: out of memory");
        nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
        nim->dx = nim->pixdim[1] = v->spacing_mm[0];
        nim->dy = nim->pixdim[2] = v->spacing_mm[1];
        nim->dz = nim->pixdim[3] = v->spacing_mm[2];
        nim->xyz_units = NIFTI_UNITS_MM;
        nim->cal_max = 1;
    }
    if (v->oriented && !(nim->sform_code > 0)) {
        /* LPS+ -> RAS+: negate the x and y rows. */
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                nim->sto_xyz.m[r][c] =
                    r < 2 ? -v->ijk_to_lps[r][c] : v->ijk_to_lps[r][c];
        nim->sto_ijk = nifti_dmat44_inverse(nim->sto_xyz);
        nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
        if (!(nim->qform_code > 0)) {
            nifti_dmat44_to_quatern(
                nim->sto_xyz, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d,
                &nim->qoffset_x, &nim->qoffset_y, &nim->qoffset_z, NULL, NULL,
                NULL, &nim->qfac);
            nim->qto_xyz = nifti_quatern_to_dmat44(
                nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz,
                nim->qfac);
            nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
            nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
        }
    }
    int rc = SF_OK;
    if (nifti_set_filenames(nim, tmp, 0, 1)) {
        rc = sf_err_set(err, SF_EINVAL, "%s: not a NIfTI file name", out);
        goto out;
    }
    nim->data = data;
    nifti_image_write(nim);
    nim->data = NULL;
    /* nifticlib reports write errors on stderr only: read the file back. */
    hx_volume *back = NULL;
    sf_err e2 = {0};
    if (hx_volume_read(tmp, &back, &e2) != SF_OK || back->nx != v->nx ||
        back->ny != v->ny || back->nz != v->nz || !same_geometry(back, v)) {
        rc = sf_err_set(err, SF_EIO, "%s: writing the mask failed (%s)", out,
                        e2.msg[0] ? e2.msg : "read back with another geometry");
        hx_volume_free(back);
        unlink(tmp);
        goto out;
    }
    hx_volume_free(back);
    if (rename(tmp, out)) {
        rc = sf_err_set(err, SF_EIO, "rename %s -> %s: %s", tmp, out,
                        strerror(errno));
        unlink(tmp);
    }
out:
    nifti_image_free(nim);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int predict_volume(int argc, char **argv) {
    static const struct option opts[] = {
        {"volume", required_argument, 0, 'v'},
        {"slice", required_argument, 0, 'k'},
        {"point", required_argument, 0, 'p'},
        {"box", required_argument, 0, 'b'},
        {"checkpoint", required_argument, 0, 'c'},
        {"random-weights", required_argument, 0, 'r'},
        {"model-config", required_argument, 0, 'm'},
        {"modality", required_argument, 0, 'M'},
        {"window", required_argument, 0, 'w'},
        {"device", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 't'},
        {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *vol_path = NULL, *ckpt = NULL, *spec = "sam2.1_hiera_t";
    const char *out = NULL;
    float points[2 * MAX_POINTS], box[4];
    int labels[MAX_POINTS], n_points = 0, have_box = 0, slice = -1;
    int device = SAM_DEVICE_CPU, threads = 0, random = 0;
    long long seed = 0;
    hx_prep prep;
    hx_prep_default(&prep, HX_MODALITY_CT);
    int window_set = 0;
    double v[4];
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'v': vol_path = optarg; break;
        case 'c': ckpt = optarg; break;
        case 'm': spec = optarg; break;
        case 'o': out = optarg; break;
        case 'k': {
            errno = 0;
            long k = strtol(optarg, &end, 10);
            if (*end || end == optarg || errno || k < 0 || k > 1000000)
                return sf_cli_usage_error(
                    "predict --volume", NULL,
                    "--slice expects a slice index, got '%s'", optarg);
            slice = (int)k;
            break;
        }
        case 'r':
            errno = 0;
            seed = strtoll(optarg, &end, 10);
            if (*end || end == optarg || errno || seed < 0)
                return sf_cli_usage_error(
                    "predict --volume", NULL,
                    "--random-weights expects a seed, got '%s'", optarg);
            random = 1;
            break;
        case 'p':
            if (n_points >= MAX_POINTS)
                return sf_cli_usage_error(
                    "predict --volume", NULL,
                    "at most 256 points, got more at '%s'", optarg);
            if (parse_floats(optarg, v, 3) || (v[2] != 0 && v[2] != 1))
                return sf_cli_usage_error(
                    "predict --volume", NULL,
                    "--point expects X,Y,LABEL with LABEL 0 or 1, got '%s'",
                    optarg);
            points[2 * n_points] = (float)v[0];
            points[2 * n_points + 1] = (float)v[1];
            labels[n_points++] = (int)v[2];
            break;
        case 'b':
            if (parse_floats(optarg, v, 4))
                return sf_cli_usage_error("predict --volume", NULL,
                                          "--box expects X0,Y0,X1,Y1, got '%s'",
                                          optarg);
            for (int i = 0; i < 4; i++)
                box[i] = (float)v[i];
            have_box = 1;
            break;
        case 'M':
            if (!strcmp(optarg, "ct"))
                prep.modality = HX_MODALITY_CT;
            else if (!strcmp(optarg, "mr"))
                prep.modality = HX_MODALITY_MR;
            else if (!strcmp(optarg, "us"))
                prep.modality = HX_MODALITY_US;
            else
                return sf_cli_usage_error(
                    "predict --volume", NULL,
                    "--modality expects ct, mr or us, got '%s'", optarg);
            break;
        case 'w':
            if (parse_floats(optarg, v, 2) || !(v[1] > 0))
                return sf_cli_usage_error(
                    "predict --volume", NULL,
                    "--window expects LEVEL,WIDTH (HU, width "
                    "> 0), got '%s'",
                    optarg);
            prep.window_level = v[0];
            prep.window_width = v[1];
            window_set = 1;
            break;
        case 'd':
            if ((device = sam_device_parse(optarg)) < 0)
                return sf_cli_usage_error(
                    "predict --volume", NULL,
                    "--device expects cpu or cuda, got '%s'", optarg);
            break;
        case 't':
            errno = 0;
            threads = (int)strtol(optarg, &end, 10);
            if (*end || end == optarg || threads < 1 || threads > 1024)
                return sf_cli_usage_error("predict --volume", NULL,
                                          "--threads expects 1..1024, got '%s'",
                                          optarg);
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return sf_cli_unknown_option("predict --volume", NULL,
                                         argv[optind - 1], opts, NULL);
        }
    }
    if (optind < argc)
        return sf_cli_usage_error("predict --volume", NULL,
                                  "unexpected argument '%s'", argv[optind]);
    if (!vol_path)
        return sf_cli_usage_error("predict --volume", NULL, "%s",
                                  "--volume VOL is required");
    if (slice < 0)
        return sf_cli_usage_error("predict --volume", NULL, "%s",
                                  "--slice K is required");
    if (!out)
        return sf_cli_usage_error("predict --volume", NULL, "%s",
                                  "--out MASK.nii.gz is required");
    if (!ends_with(out, ".nii") && !ends_with(out, ".nii.gz"))
        return sf_cli_usage_error("predict --volume", NULL,
                                  "--out must end in .nii or .nii.gz, got '%s'",
                                  out);
    if (!n_points && !have_box)
        return sf_cli_usage_error("predict --volume", NULL, "%s",
                                  "give at least one --point or a --box");
    if (!ckpt == !random)
        return sf_cli_usage_error("predict --volume", NULL, "%s",
                                  "give --checkpoint CKPT or --random-weights "
                                  "SEED (one of them)");
    if (window_set && prep.modality != HX_MODALITY_CT)
        return sf_cli_usage_error("predict --volume", NULL, "%s",
                                  "--window is for --modality ct");
    if (!sam2_config_spec_is_sam2(spec))
        return sf_cli_usage_error(
            "predict --volume", NULL,
            "--volume needs a SAM 2 model (--model-config "
            "sam2.1_hiera_t or a SAM 2 YAML), got '%s'",
            spec);

    int rc = 1;
    sf_err err = {0};
    sam2_config cfg;
    sam2_model *m = NULL;
    sam2_video *vid = NULL;
    hx_volume *vol = NULL;
    uint8_t *frames = NULL;
    run r = {0};
    double t0 = sf_clock_s();

    if (sam2_config_load(spec, &cfg, &err)) {
        rc = fail("model config", &err);
        goto done;
    }
    if (hx_volume_read(vol_path, &vol, &err)) {
        rc = fail("volume", &err);
        goto done;
    }
    if (vol->nz < 2) {
        fprintf(stderr,
                "synthfm predict: %s is a 2-D image (%d x %d, one "
                "slice): --volume needs a 3-D volume (use --image for 2-D)\n",
                vol_path, vol->nx, vol->ny);
        rc = 2;
        goto done;
    }
    if (slice >= vol->nz) {
        fprintf(stderr,
                "synthfm predict: --slice %d is outside the volume "
                "(slices 0..%d)\n",
                slice, vol->nz - 1);
        rc = 2;
        goto done;
    }
    for (int i = 0; i < n_points; i++)
        if (!(points[2 * i] >= 0 && points[2 * i] < vol->nx &&
              points[2 * i + 1] >= 0 && points[2 * i + 1] < vol->ny)) {
            fprintf(stderr,
                    "synthfm predict: --point %g,%g is outside slice "
                    "%d (x 0..%d, y 0..%d)\n",
                    points[2 * i], points[2 * i + 1], slice, vol->nx - 1,
                    vol->ny - 1);
            rc = 2;
            goto done;
        }
    if (have_box &&
        !(box[0] >= 0 && box[2] < vol->nx && box[1] >= 0 && box[3] < vol->ny &&
          box[0] <= box[2] && box[1] <= box[3])) {
        fprintf(stderr,
                "synthfm predict: --box %g,%g,%g,%g is outside slice "
                "%d or inverted\n",
                box[0], box[1], box[2], box[3], slice);
        rc = 2;
        goto done;
    }
    size_t npx = (size_t)vol->nx * (size_t)vol->ny;
    size_t nvox = npx * (size_t)vol->nz;
    uint8_t *u8 = frames = malloc(nvox);
    r.mask = calloc(nvox, 1);
    r.seconds = calloc((size_t)vol->nz, sizeof *r.seconds);
    if (!u8 || !r.mask || !r.seconds) {
        fprintf(stderr, "synthfm predict: out of memory\n");
        goto done;
    }
    if (hx_preprocess_volume(vol->data, vol->nx, vol->ny, vol->nz, &prep, u8,
                             &err)) {
        rc = fail("preprocess", &err);
        goto done;
    }
    /* the frames are the 8-bit slices; the float volume is not needed */
    free(vol->data);
    vol->data = NULL;
    if (threads) sam_set_num_threads(threads);
    if (random ? sam2_model_new(&cfg, device, (uint64_t)seed, &m, &err)
               : sam2_model_load(ckpt, &cfg, device, &m, &err)) {
        rc = fail(random ? "model" : "checkpoint", &err);
        goto done;
    }
    if (sam2_video_new(m, u8, vol->nz, vol->nx, vol->ny, 1, &vid, &err)) {
        rc = fail("video", &err);
        goto done;
    }
    fprintf(stderr,
            "synthfm predict: %d slices of %d x %d, prompts on slice "
            "%d, %s\n",
            vol->nz, vol->nx, vol->ny, slice, ckpt ? ckpt : "random weights");
    sam_prompt p = {0};
    p.n_points = n_points;
    p.points = n_points ? points : NULL;
    p.labels = n_points ? labels : NULL;
    p.box = have_box ? box : NULL;
    double tk = sf_clock_s();
    if (sam2_video_add_points(vid, slice, &p, &err)) {
        rc = fail("prompt", &err);
        goto done;
    }
    r.seconds[slice] = sf_clock_s() - tk;
    r.npx = npx;
    r.total = (size_t)vol->nz + 1; /* slice K is reported twice */
    sf_cli_progress_init(&r.prog, "slices");
    if (!r.prog.tty)
        fprintf(stderr,
                "synthfm predict: propagating forward (slices "
                "%d..%d), then backward (%d..0)\n",
                slice, vol->nz - 1, slice);
    if (sam2_video_propagate(vid, slice, -1, 0, on_slice, &r, &err) ||
        sam2_video_propagate(vid, slice, -1, 1, on_slice, &r, &err)) {
        sf_cli_progress_end(&r.prog);
        rc = fail("propagate", &err);
        goto done;
    }
    sf_cli_progress_end(&r.prog);
    if (write_nifti(out, vol, r.mask, &err)) {
        rc = fail("write mask", &err);
        goto done;
    }
    /* per-slice times, then a summary */
    size_t fg = 0;
    for (size_t i = 0; i < nvox; i++)
        fg += r.mask[i];
    fprintf(stderr, "per-slice inference seconds (slice: s):");
    for (int k = 0; k < vol->nz; k++)
        fprintf(stderr, "%s%d: %.3f", k % 8 ? "  " : "\n  ", k, r.seconds[k]);
    double *sorted = malloc((size_t)vol->nz * sizeof *sorted);
    double total_s = 0;
    for (int k = 0; k < vol->nz; k++)
        total_s += r.seconds[k];
    if (sorted) {
        memcpy(sorted, r.seconds, (size_t)vol->nz * sizeof *sorted);
        qsort(sorted, (size_t)vol->nz, sizeof *sorted, cmp_double);
        fprintf(stderr,
                "\nslices: %d, inference %.2f s (mean %.3f, median "
                "%.3f, max %.3f s per slice); wall %.2f s\n",
                vol->nz, total_s, total_s / vol->nz, sorted[vol->nz / 2],
                sorted[vol->nz - 1], sf_clock_s() - t0);
        free(sorted);
    }
    printf("{\"out\": \"");
    for (const char *s = out; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    printf("\", \"slices\": %d, \"prompt_slice\": %d, \"foreground_voxels\": "
           "%zu, \"seconds\": %.3f}\n",
           vol->nz, slice, fg, sf_clock_s() - t0);
    rc = 0;
done:
    sam2_video_free(vid);
    sam2_model_free(m);
    hx_volume_free(vol);
    free(frames);
    free(r.mask);
    free(r.seconds);
    return rc;
}

int hx_cmd_predict(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--volume") || !strncmp(argv[i], "--volume=", 9))
            return predict_volume(argc, argv);
    }
    return sam_cmd_predict(argc, argv);
}
