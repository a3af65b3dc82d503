/*
 * fuzz_config.c - the YAML config loader and validator: parse (on top of
 * the defaults), validate, and for a valid config check the canonical
 * YAML round trip (to_yaml -> parse -> to_yaml gives the same text).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sf_config c;
    sf_err err = {0};
    int rc = sf_config_parse("fuzz.yaml", (const char *)data, size, &c, &err);
    if (rc != SF_OK) {
        fz_check_err(rc, &err, NULL);
        return 0;
    }
    rc = sf_config_validate(&c, &err);
    fz_check(rc == SF_OK, "parse accepted what validate refuses: %s", err.msg);
    char *y1 = NULL, *y2 = NULL;
    rc = sf_config_to_yaml(&c, &y1, &err);
    fz_check(rc == SF_OK && y1, "to_yaml rc %d", rc);
    sf_config c2;
    rc = sf_config_parse("canonical.yaml", y1, strlen(y1), &c2, &err);
    fz_check(rc == SF_OK, "canonical YAML does not parse: %s | %s", err.where,
             err.msg);
    rc = sf_config_to_yaml(&c2, &y2, &err);
    fz_check(rc == SF_OK && y2 && !strcmp(y1, y2),
             "canonical YAML is not a fixed point");
    free(y1);
    free(y2);
    return 0;
}
