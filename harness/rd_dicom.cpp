/*
 * rd_dicom.cpp - the GDCM shim behind rd_dicom_series.c: one file's header, one
 * file's decoded pixels (GDCM's ImageReader; JPEG 2000 through its
 * OpenJPEG codec, JPEG, JPEG-LS, RLE and raw). C interface in readers.h;
 * no exception crosses it (GDCM throws std::exception and std::string).
 * GDCM's trace output (warnings, errors on stderr) is switched off once.
 */
#include "readers_int.h"

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmMediaStorage.h>
#include <gdcmPixelFormat.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmStringFilter.h>
#include <gdcmTag.h>
#include <gdcmTrace.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace {

std::once_flag quiet_once;

void quiet() {
    std::call_once(quiet_once, [] {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
    });
}

/* A tag's value as text ("" when absent or empty), spaces trimmed. */
std::string text(gdcm::StringFilter &sf, const gdcm::DataSet &ds, uint16_t g,
                 uint16_t e) {
    gdcm::Tag t(g, e);
    if (!ds.FindDataElement(t) || ds.GetDataElement(t).IsEmpty()) return "";
    std::string s = sf.ToString(t);
    size_t a = s.find_first_not_of(" \t\r\n");
    size_t b = s.find_last_not_of(" \t\r\n");
    if (a == std::string::npos) return "";
    s = s.substr(a, b - a + 1);
    while (!s.empty() && s.back() == '\0')
        s.pop_back();
    return s;
}

/* Exactly n backslash-separated finite numbers. */
bool numbers(const std::string &s, int n, double *out) {
    const char *p = s.c_str();
    for (int i = 0; i < n; i++) {
        char *end;
        double x = std::strtod(p, &end);
        if (end == p || !std::isfinite(x)) return false;
        out[i] = x;
        p = end;
        while (*p == ' ')
            p++;
        if (i + 1 < n) {
            if (*p != '\\') return false;
            p++;
        }
    }
    return *p == '\0';
}

bool integer(const std::string &s, long lo, long hi, int *out) {
    if (s.empty()) return false;
    char *end;
    long x = std::strtol(s.c_str(), &end, 10);
    while (*end == ' ')
        end++;
    if (*end || x < lo || x > hi) return false;
    *out = (int)x;
    return true;
}

void copy(char *dst, size_t n, const std::string &s) {
    std::snprintf(dst, n, "%s", s.c_str());
}

int meta(const char *path, hx__dcm_meta *m, char *why, size_t nwhy,
         sf_err *err) {
    gdcm::Reader r;
    r.SetFileName(path);
    if (!r.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010)))
        return hx__rd_err(err, SF_EFORMAT, path,
                          "GDCM cannot parse the DICOM header");
    const gdcm::File &f = r.GetFile();
    const gdcm::DataSet &ds = f.GetDataSet();
    gdcm::StringFilter sf;
    sf.SetFile(f);
    std::memset(m, 0, sizeof *m);
    copy(m->sop_class, sizeof m->sop_class, text(sf, ds, 0x0008, 0x0016));
    copy(m->series_uid, sizeof m->series_uid, text(sf, ds, 0x0020, 0x000e));
    copy(m->photometric, sizeof m->photometric, text(sf, ds, 0x0028, 0x0004));
    std::string rows = text(sf, ds, 0x0028, 0x0010);
    std::string cols = text(sf, ds, 0x0028, 0x0011);
    if (rows.empty() || cols.empty()) {
        std::snprintf(why, nwhy, "DICOM without an image (SOP class %s)",
                      m->sop_class[0] ? m->sop_class : "unknown");
        return 0;
    }
    if (!integer(rows, 0, 65535, &m->rows) ||
        !integer(cols, 0, 65535, &m->cols))
        return hx__rd_err(err, SF_EFORMAT, path, "bad Rows/Columns");
    struct {
        uint16_t e;
        int *dst;
        int dflt;
    } us[] = {{0x0002, &m->samples, 1},
              {0x0100, &m->bits_allocated, -1},
              {0x0101, &m->bits_stored, -1},
              {0x0102, &m->high_bit, -1},
              {0x0103, &m->pixel_rep, 0}};
    for (auto &u : us) {
        std::string s = text(sf, ds, 0x0028, u.e);
        if (s.empty())
            *u.dst = u.dflt;
        else if (!integer(s, 0, 65535, u.dst))
            return hx__rd_err(err, SF_EFORMAT, path,
                              "bad (0028,%04x) value '%.40s'", u.e, s.c_str());
    }
    if (m->bits_allocated < 0)
        return hx__rd_err(err, SF_EFORMAT, path, "no BitsAllocated");
    if (m->bits_stored < 0) m->bits_stored = m->bits_allocated;
    if (m->high_bit < 0) m->high_bit = m->bits_stored - 1;
    std::string fr = text(sf, ds, 0x0028, 0x0008);
    m->frames = 1;
    if (!fr.empty() && !integer(fr, 0, 1 << 30, &m->frames))
        return hx__rd_err(err, SF_EFORMAT, path, "bad NumberOfFrames");
    std::string s = text(sf, ds, 0x0020, 0x0032);
    if (!s.empty()) {
        if (!numbers(s, 3, m->ipp))
            return hx__rd_err(err, SF_EFORMAT, path,
                              "bad ImagePositionPatient '%.60s'", s.c_str());
        m->has_ipp = 1;
    }
    s = text(sf, ds, 0x0020, 0x0037);
    if (!s.empty()) {
        if (!numbers(s, 6, m->iop))
            return hx__rd_err(err, SF_EFORMAT, path,
                              "bad ImageOrientationPatient '%.80s'", s.c_str());
        m->has_iop = 1;
    }
    s = text(sf, ds, 0x0028, 0x0030);
    if (!s.empty()) {
        if (!numbers(s, 2, m->pixel_spacing))
            return hx__rd_err(err, SF_EFORMAT, path, "bad PixelSpacing '%.60s'",
                              s.c_str());
        m->has_spacing = 1;
    }
    m->slope = 1;
    m->intercept = 0;
    s = text(sf, ds, 0x0028, 0x1053);
    if (!s.empty() && !numbers(s, 1, &m->slope))
        return hx__rd_err(err, SF_EFORMAT, path, "bad RescaleSlope '%.40s'",
                          s.c_str());
    s = text(sf, ds, 0x0028, 0x1052);
    if (!s.empty() && !numbers(s, 1, &m->intercept))
        return hx__rd_err(err, SF_EFORMAT, path, "bad RescaleIntercept '%.40s'",
                          s.c_str());
    m->instance = -1;
    s = text(sf, ds, 0x0020, 0x0013);
    if (!s.empty() && !integer(s, 0, 2147483647L, &m->instance))
        m->instance = -1; /* informational only */
    return 1;
}

/* Compressed pixel data (JPEG, JPEG-LS, JPEG 2000, RLE) is decoded by
 * GDCM's codecs and the libraries under them, which crash on some
 * crafted files (fuzzing found a SEGV in GDCM's JPEG 2000 path: see
 * tests/fuzz/regress/dicom/). So the decode runs in a child process
 * writing into shared memory: a crash or a hang there is a clear error
 * naming the file, never the end of `synthfm eval`. Uncompressed data is
 * checked above and decoded in process. */
int decode_isolated(const gdcm::Image &img, void *buf, size_t nbytes,
                    const char *path, sf_err *err) {
    const size_t shn = nbytes ? nbytes : 1; /* mmap refuses 0 */
    void *sh = mmap(NULL, shn, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        munmap(sh, shn);
        return hx__rd_err(err, SF_EIO, path, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int code = 3;
        try {
            code = img.GetBuffer(static_cast<char *>(sh)) ? 0 : 3;
        } catch (...) {
            code = 4;
        }
        _exit(code); /* no atexit handlers, no flushing of the parent's */
    }
    int status = 0, waited = 0;
    const struct timespec ms = {0, 1000000};
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && waited < 30000) {
        nanosleep(&ms, NULL);
        waited++;
    }
    if (w == 0) { /* 30 s: a hang */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    int rc = SF_OK;
    if (w == 0)
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "the compressed pixel data decoder hung (> 30 s): "
                        "file refused");
    else if (w < 0)
        rc = hx__rd_err(err, SF_EIO, path, "waitpid: %s", strerror(errno));
    else if (WIFSIGNALED(status))
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "the compressed pixel data decoder (GDCM) crashed "
                        "(signal %d): file refused",
                        WTERMSIG(status));
    else if (WEXITSTATUS(status) == 3 || WEXITSTATUS(status) == 4)
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "cannot decode the pixel data (corrupt or "
                        "truncated)");
    else if (WEXITSTATUS(status) != 0)
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "the compressed pixel data decoder (GDCM) failed "
                        "(exit %d): file refused",
                        WEXITSTATUS(status));
    else
        memcpy(buf, sh, nbytes);
    munmap(sh, shn);
    return rc;
}

int decode(const char *path, const hx__dcm_meta *m, void *buf, size_t nbytes,
           int *pixel_rep, int *bits_stored, sf_err *err) {
    gdcm::ImageReader r;
    r.SetFileName(path);
    if (!r.Read())
        return hx__rd_err(err, SF_EFORMAT, path,
                          "GDCM cannot read the image (corrupt?)");
    /* GDCM's RAW codec asserts (aborts) on native pixel data shorter than
     * the image, so look at the element as GDCM parsed it first. */
    const gdcm::DataSet &ds = r.GetFile().GetDataSet();
    const gdcm::Tag pt(0x7fe0, 0x0010);
    if (!ds.FindDataElement(pt))
        return hx__rd_err(err, SF_EFORMAT, path, "no pixel data");
    const gdcm::DataElement &pde = ds.GetDataElement(pt);
    const gdcm::ByteValue *bv = pde.GetByteValue();
    const gdcm::SequenceOfFragments *frags = pde.GetSequenceOfFragments();
    if (bv ? bv->GetLength() < nbytes
           : !frags || frags->GetNumberOfFragments() == 0)
        return hx__rd_err(err, SF_EFORMAT, path,
                          "pixel data missing or shorter than the image");
    const gdcm::Image &img = r.GetImage();
    const gdcm::PixelFormat &pf = img.GetPixelFormat();
    unsigned nd = img.GetNumberOfDimensions();
    if (img.GetDimension(0) != (unsigned)m->cols ||
        img.GetDimension(1) != (unsigned)m->rows ||
        (nd > 2 && img.GetDimension(2) != 1))
        return hx__rd_err(err, SF_EFORMAT, path,
                          "image dimensions differ from the header");
    if (pf.GetSamplesPerPixel() != 1 ||
        pf.GetBitsAllocated() != (unsigned)m->bits_allocated)
        return hx__rd_err(err, SF_EFORMAT, path,
                          "pixel format differs from the header");
    if (img.GetBufferLength() != nbytes)
        return hx__rd_err(err, SF_EFORMAT, path,
                          "decoded size %lu, expected %zu",
                          (unsigned long)img.GetBufferLength(), nbytes);
    int rc = frags ? decode_isolated(img, buf, nbytes, path, err)
             : img.GetBuffer(static_cast<char *>(buf))
                 ? SF_OK
                 : hx__rd_err(err, SF_EFORMAT, path,
                              "cannot decode the pixel data (corrupt or "
                              "truncated)");
    if (rc != SF_OK) return rc;
    *pixel_rep = pf.GetPixelRepresentation();
    *bits_stored = pf.GetBitsStored();
    return SF_OK;
}

} // namespace

extern "C" int hx__dcm_read_meta(const char *path, hx__dcm_meta *m, char *why,
                                 size_t nwhy, sf_err *err) {
    quiet();
    try {
        return meta(path, m, why, nwhy, err);
    } catch (const std::exception &e) {
        return hx__rd_err(err, SF_EFORMAT, path, "GDCM: %s", e.what());
    } catch (const std::string &e) {
        return hx__rd_err(err, SF_EFORMAT, path, "GDCM: %.200s", e.c_str());
    } catch (...) {
        return hx__rd_err(err, SF_EFORMAT, path, "GDCM failed on the file");
    }
}

extern "C" int hx__dcm_decode(const char *path, const hx__dcm_meta *m,
                              void *buf, size_t nbytes, int *pixel_rep,
                              int *bits_stored, sf_err *err) {
    quiet();
    try {
        return decode(path, m, buf, nbytes, pixel_rep, bits_stored, err);
    } catch (const std::bad_alloc &) {
        return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    } catch (const std::exception &e) {
        return hx__rd_err(err, SF_EFORMAT, path, "GDCM: %s", e.what());
    } catch (const std::string &e) {
        return hx__rd_err(err, SF_EFORMAT, path, "GDCM: %.200s", e.c_str());
    } catch (...) {
        return hx__rd_err(err, SF_EFORMAT, path, "GDCM failed on the file");
    }
}
