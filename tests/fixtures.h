/*
 * fixtures.h - where the tests find their reference files. The small ones
 * (real CT/MR/ultrasound samples, the t-test and metrics goldens) are in
 * the repository under tests/fixtures/ (PROVENANCE.md and licences
 * there); the large ones (the example CT volume and its DICOM series, the
 * SAM and SAM 2 parity sets) stay in the project's shared folder,
 * $SF_SHARED (default ../shared, relative to the repository root, where
 * the tests run). A test asks for a path relative to either root and
 * skips, naming both, when neither has it. Header-only.
 */
#ifndef SF_TEST_FIXTURES_H
#define SF_TEST_FIXTURES_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* $SF_SHARED, or ../shared when it is unset or empty. */
static inline const char *sf_test_shared(void) {
    const char *s = getenv("SF_SHARED");
    return s && *s ? s : "../shared";
}

/* The path of rel ("realdata/hc18", "golden/stats/ttest_rel.csv") into
 * buf: tests/fixtures/<rel> when it exists, else $SF_SHARED/<rel>.
 * Returns buf when the path exists, else NULL (buf then holds the shared
 * path, for the skip message). */
static inline const char *sf_test_fixture(const char *rel, char *buf,
                                          size_t n) {
    struct stat st;
    snprintf(buf, n, "tests/fixtures/%s", rel);
    if (stat(buf, &st) == 0) return buf;
    snprintf(buf, n, "%s/%s", sf_test_shared(), rel);
    return stat(buf, &st) == 0 ? buf : NULL;
}

/* The skip message's text for a fixture that is absent. */
#define SF_TEST_FIXTURE_ABSENT                                                 \
    "not in tests/fixtures/ (too large for the repository) nor in "            \
    "$SF_SHARED: set SF_SHARED to the project's shared/ folder"

#endif /* SF_TEST_FIXTURES_H */
