/*
 * files.c - sf_util.h's files and hashes: atomic writes, mkdir -p, path
 * kinds, SHA-256 of memory and of files. The one copy the three libraries
 * share.
 */
#include "sf_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void md_hex(const unsigned char md[32], char hex[65]) {
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int sf_sha256_hex(const void *data, size_t n, char hex[65]) {
    unsigned char md[32];
    unsigned int len = 0;
    if (!EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) || len != 32)
        return SF_ENOMEM;
    md_hex(md, hex);
    return SF_OK;
}

int sf_sha256_file(const char *path, char hex[65], sf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return sf_err_set(err, SF_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = SF_OK;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        rc = sf_err_set(err, SF_ENOMEM, "sha256: no context");
        goto out;
    }
    unsigned char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, k);
    unsigned char md[32];
    unsigned int len = 0;
    if (ferror(f) || !EVP_DigestFinal_ex(ctx, md, &len) || len != 32) {
        rc = sf_err_set(err, SF_EIO, "%s: read error", path);
        goto out;
    }
    md_hex(md, hex);
out:
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return rc;
}

int sf_mkdir_p(const char *path, sf_err *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return sf_err_set(err, SF_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char save = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return sf_err_set(err, SF_EIO, "%s: cannot create directory: %m",
                              buf);
        buf[i] = save;
    }
    if (!sf_path_is_dir(path))
        return sf_err_set(err, SF_EIO, "%s: not a directory", path);
    return SF_OK;
}

int sf_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int sf_path_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int sf_write_atomic(const char *path, const void *data, size_t n, int sync,
                    sf_err *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return sf_err_set(err, SF_EIO, "%s: cannot create: %m", tmp);
    int ok = (n == 0 || fwrite(data, 1, n, f) == n) && fflush(f) == 0;
    if (ok && sync) ok = fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return sf_err_set(err, SF_EIO, "%s: write failed: %m", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return sf_err_set(err, SF_EIO, "%s: rename failed: %m", path);
    }
    return SF_OK;
}
