/*
 * eval_ood.c - the synthetic out-of-distribution split (issue 6, item 8):
 * schemas/factory/ood.yaml compiled in (.incbin, so the documented file
 * and the embedded one cannot drift) and generated with the held-out seed
 * HX_OOD_SEED through the factory's resumable corpus writer. The build
 * compiles this file from the repository root.
 */
#include "eval.h"

#include <stdio.h>
#include <string.h>

extern const char hx__ood_yaml[];
__asm__(".section .rodata\n"
        ".global hx__ood_yaml\n"
        ".type hx__ood_yaml, @object\n"
        "hx__ood_yaml:\n"
        ".incbin \"schemas/factory/ood.yaml\"\n"
        ".byte 0\n"
        ".previous\n");

const char *hx_ood_yaml(void) {
    return hx__ood_yaml;
}

int hx_ood_generate(const char *dir, uint64_t count, int size, sf_err *err) {
    sf_config c;
    int rc = sf_config_parse("schemas/factory/ood.yaml", hx__ood_yaml,
                             strlen(hx__ood_yaml), &c, err);
    if (rc != SF_OK) return rc;
    if (size > 0) {
        c.image_size = size;
        if ((rc = sf_config_validate(&c, err)) != SF_OK) return rc;
    }
    sf_generate_opts o;
    memset(&o, 0, sizeof o);
    o.out_dir = dir;
    o.seed = HX_OOD_SEED;
    o.count = count ? count : HX_OOD_COUNT_DEFAULT;
    o.shard_index = 0;
    o.shard_count = 1;
    o.threads = 0;
    o.write_files = 1;
    sf_generate_stats st;
    sf_corpus_result res;
    rc = sf_corpus_generate(&c, &o, &st, &res, err);
    if (rc != SF_OK) sf_err_wrap(err, "synthetic-ood split in %s", dir);
    return rc;
}
