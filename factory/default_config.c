/*
 * default_config.c - schemas/factory/default.yaml compiled into the library
 * (.incbin), so the documented file and the embedded default cannot drift;
 * likewise schemas/manifest.sql.
 * The build compiles this file from the repository root.
 */
#include "sf_int.h"

/* sf__default_yaml: the file's bytes plus a NUL; sf__default_yaml_len: the
 * file's size in bytes (without the NUL). */
__asm__(".section .rodata\n"
        ".global sf__default_yaml\n"
        ".type sf__default_yaml, @object\n"
        "sf__default_yaml:\n"
        ".incbin \"schemas/factory/default.yaml\"\n"
        "sf__default_yaml_nul:\n"
        ".byte 0\n"
        ".balign 8\n"
        ".global sf__default_yaml_len\n"
        ".type sf__default_yaml_len, @object\n"
        "sf__default_yaml_len:\n"
        ".quad sf__default_yaml_nul - sf__default_yaml\n"
        ".global sf__manifest_sql\n"
        ".type sf__manifest_sql, @object\n"
        "sf__manifest_sql:\n"
        ".incbin \"schemas/manifest.sql\"\n"
        ".byte 0\n"
        ".previous\n");
