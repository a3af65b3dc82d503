/*
 * sf_util.h - the plumbing every library of synthfm shares: a growable text
 * buffer with canonical JSON, files written atomically, mkdir -p, SHA-256
 * of memory and of files as hex, the build's git commit and a monotonic
 * clock. Part of libsf's public API (included by sf.h); model/ and
 * harness/ use these instead of keeping copies.
 *
 * Conventions as in sf.h: SF_OK or a negative SF_E* code, a caller-owned
 * sf_err (NULL allowed), every function reentrant.
 */
#ifndef SF_UTIL_H
#define SF_UTIL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sf_err;

/* ---------------------------------------------------------- text buffer */

/* Growable NUL-terminated string, zero-initialised ({0}) before use. On
 * allocation failure it stays valid (what was appended before remains),
 * later appends are ignored and oom is set: check oom once at the end. */
typedef struct sf_buf {
    char *s; /* NULL until something is appended */
    size_t len, cap;
    int oom;
} sf_buf;

/* Append printf-style / a string. */
void sf_buf_printf(sf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sf_buf_puts(sf_buf *b, const char *s);
/* Free the string; the buffer is empty ({0}) again. NULL allowed. */
void sf_buf_release(sf_buf *b);
/* Take ownership of the string (caller frees; "" when nothing was
 * appended, NULL after an allocation failure); the buffer is reset. */
char *sf_buf_take(sf_buf *b);

/* Canonical JSON: a number as %.9g (integers below 1e15 exactly, NaN and
 * infinities as null), a string quoted with '"', '\\' and control
 * characters escaped. The format of every parameter record and manifest
 * JSON: changing it changes corpus bytes. */
void sf_json_num(sf_buf *b, double v);
void sf_json_str(sf_buf *b, const char *s);

/* ---------------------------------------------------------------- files */

/* Write n bytes to `path` through `path.tmp` (+ fsync when sync) and a
 * rename, so a reader never sees a half-written file under the final name.
 * SF_EIO naming the file (the temporary file is removed). */
int sf_write_atomic(const char *path, const void *data, size_t n, int sync,
                    struct sf_err *err);
/* mkdir -p: create `path` and its missing parents (mode 0777 & umask).
 * SF_OK when it exists as a directory afterwards; SF_EINVAL for an empty
 * or over-long (>= 4096) path, SF_EIO naming the component that failed or
 * a path that is not a directory. */
int sf_mkdir_p(const char *path, struct sf_err *err);
/* 1 when `path` is (after symbolic links) a directory / a regular file. */
int sf_path_is_dir(const char *path);
int sf_path_is_file(const char *path);

/* ------------------------------------------------------------- hashing */

/* SHA-256 of n bytes as 64 lower-case hex digits + NUL. SF_OK, or SF_ENOMEM
 * when the digest could not run (hex is then unspecified). */
int sf_sha256_hex(const void *data, size_t n, char hex[65]);
/* SHA-256 of a file's bytes, streamed. SF_EIO "PATH: cannot open: ..." or
 * "PATH: read error", SF_ENOMEM. */
int sf_sha256_file(const char *path, char hex[65], struct sf_err *err);

/* ---------------------------------------------------------------- build */

/* Git commit of this build, "-dirty" appended for a modified tree,
 * "unknown" outside a git checkout. Static storage. */
const char *sf_git_commit(void);

/* Monotonic seconds (CLOCK_MONOTONIC): for durations and rates only. */
double sf_clock_s(void);

#ifdef __cplusplus
}
#endif
#endif /* SF_UTIL_H */
