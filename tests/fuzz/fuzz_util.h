/*
 * fuzz_util.h - helpers shared by the libFuzzer targets (tests/fuzz/).
 *
 * Most of our parsers take a path, so a target writes its input to a file
 * in a private scratch directory (made once per process under $TMPDIR,
 * removed at exit) and hands the reader that path. fz_check aborts (a
 * finding) when a contract of the API under test is broken even though
 * nothing crashed: e.g. an error that does not name the input file.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sf.h"

#define fz_check(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz contract broken: %s: ", #cond);              \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

static char fz_dir_[512];

static void fz_rm_tree_(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat st;
            if (!lstat(p, &st) && S_ISDIR(st.st_mode))
                fz_rm_tree_(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void fz_cleanup_(void) {
    if (fz_dir_[0]) fz_rm_tree_(fz_dir_);
}

/* The scratch directory of this process. */
static const char *fz_dir(void) {
    if (!fz_dir_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fz_dir_, sizeof fz_dir_, "%s/sf-fuzz-XXXXXX",
                 t && *t ? t : "/tmp");
        if (!mkdtemp(fz_dir_)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fz_cleanup_);
    }
    return fz_dir_;
}

/* Write data to <scratch>/<name> (name may hold sub-directories, made as
 * needed); returns the path in buf. */
__attribute__((unused)) /* not every target writes files */
static const char *
fz_write(const char *name, const uint8_t *data, size_t n, char *buf,
         size_t nbuf) {
    snprintf(buf, nbuf, "%s/%s", fz_dir(), name);
    for (char *s = buf + strlen(fz_dir()) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(buf, 0700);
        *s = '/';
    }
    FILE *f = fopen(buf, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
        perror("fuzz: write scratch file");
        abort();
    }
    return buf;
}

/* An error must say something and, for readers, name the file. */
static void fz_check_err(int rc, const sf_err *e, const char *path) {
    fz_check(rc < 0 && rc >= SF_EUNSUPPORTED, "rc=%d", rc);
    fz_check(e->code == rc, "err.code %d != rc %d", e->code, rc);
    fz_check(e->msg[0] != 0, "empty error message (rc %d)", rc);
    if (path && rc != SF_ENOMEM)
        fz_check(strstr(e->msg, path) || strstr(e->where, path),
                 "error does not name %s: where='%s' msg='%s'", path, e->where,
                 e->msg);
}

#endif
