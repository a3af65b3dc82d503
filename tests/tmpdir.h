/*
 * tmpdir.h - the tests' temporary folders, one helper for every test and
 * benchmark that writes files: sf_test_mkdtemp makes a fresh folder
 * $TMPDIR/sf_<tag>_XXXXXX (TMPDIR unset: /tmp), sf_test_rmtree removes a
 * folder and everything below it. A folder made here that is still there
 * when the process exits (a test that failed or skipped before its
 * cleanup) is removed then, so a run leaves nothing behind; tests/run.sh
 * also gives the suite a private TMPDIR it removes at the end (a test
 * killed by a timeout runs no exit handler). Header-only; include as
 * "../tmpdir.h".
 */
#ifndef SF_TEST_TMPDIR_H
#define SF_TEST_TMPDIR_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* rm -rf dir: 0 when it is gone. */
static inline int sf_test_rmtree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

enum { SF_TEST_MAX_DIRS = 64 };
static char sf_test_dirs_[SF_TEST_MAX_DIRS][256];
static int sf_test_n_dirs_;

static void sf_test_cleanup_(void) {
    struct stat st;
    for (int i = 0; i < sf_test_n_dirs_; i++)
        if (stat(sf_test_dirs_[i], &st) == 0)
            (void)sf_test_rmtree(sf_test_dirs_[i]);
}

/* mkdtemp of $TMPDIR/sf_<tag>_XXXXXX into buf (n bytes): buf, or NULL
 * with errno set. */
static inline char *sf_test_mkdtemp(char *buf, size_t n, const char *tag) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (snprintf(buf, n, "%s/sf_%s_XXXXXX", tmp, tag) >= (int)n) return NULL;
    if (!mkdtemp(buf)) return NULL;
    if (sf_test_n_dirs_ == 0) atexit(sf_test_cleanup_);
    if (sf_test_n_dirs_ < SF_TEST_MAX_DIRS && strlen(buf) < 256)
        strcpy(sf_test_dirs_[sf_test_n_dirs_++], buf);
    return buf;
}

#endif /* SF_TEST_TMPDIR_H */
