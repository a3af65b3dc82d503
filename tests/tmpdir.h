/*
 * tmpdir.h - the tests' temporary folders, one helper for every test and
 * benchmark that writes files: sf_test_mkdtemp makes a fresh folder
 * /tmp/sf_<tag>_XXXXXX, sf_test_rmtree removes a folder and everything
 * below it. Header-only; include as "../tmpdir.h".
 */
#ifndef SF_TEST_TMPDIR_H
#define SF_TEST_TMPDIR_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* mkdtemp of /tmp/sf_<tag>_XXXXXX into buf (n bytes): buf, or NULL with
 * errno set. */
static inline char *sf_test_mkdtemp(char *buf, size_t n, const char *tag) {
    if (snprintf(buf, n, "/tmp/sf_%s_XXXXXX", tag) >= (int)n) return NULL;
    return mkdtemp(buf);
}

/* rm -rf dir: 0 when it is gone. */
static inline int sf_test_rmtree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

#endif /* SF_TEST_TMPDIR_H */
