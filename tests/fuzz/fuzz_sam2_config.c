/*
 * fuzz_sam2_config.c - the SAM 2 model config reader (model/sam2_config.c):
 * nested YAML in the official layout. Whatever it accepts must pass the
 * cross-field validation (the model is built from it without further
 * checks); whatever it refuses must say why and where (the file name).
 * The same bytes through the file path (sam2_config_load and the cheap
 * sniffing of sam2_config_spec_is_sam2) must agree with the memory path.
 */
#include "fuzz_util.h"
#include "sam2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sam2_config c;
    sf_err err = {0};
    int rc = sam2_config_parse("fuzz.yaml", (const char *)data, size, &c, &err);
    if (rc != SF_OK) {
        fz_check_err(rc, &err, "fuzz.yaml");
    } else {
        sf_err e2 = {0};
        fz_check(sam2_config_validate(&c, &e2) == SF_OK,
                 "parse accepted what validate refuses: %s", e2.msg);
        fz_check(c.image_size >= 16 && c.image_size <= 8192 &&
                     c.image_encoder.trunk.n_stages >= 1 &&
                     c.image_encoder.trunk.n_stages <= SAM2_MAX_STAGES,
                 "accepted an out-of-range config");
    }
    char path[1024];
    fz_write("m.yaml", data, size, path, sizeof path);
    sam2_config c2;
    sf_err e3 = {0};
    int rc2 = sam2_config_load(path, &c2, &e3);
    /* the file path reads at most 1 MiB and stops at a NUL, as text */
    if (size < (1u << 20) && !memchr(data, 0, size)) {
        fz_check((rc == SF_OK) == (rc2 == SF_OK),
                 "memory and file paths disagree: %d vs %d (%s)", rc, rc2,
                 e3.msg);
        if (rc == SF_OK)
            fz_check(!memcmp(&c, &c2, sizeof c),
                     "memory and file paths give different configs");
    }
    if (rc2 != SF_OK) fz_check_err(rc2, &e3, path);
    (void)sam2_config_spec_is_sam2(path);
    return 0;
}
