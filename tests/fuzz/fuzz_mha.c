/*
 * fuzz_mha.c - MetaImage through hx_reader_metaimage: the header parser,
 * raw and zlib-compressed (CompressedData) data. The input is written as
 * in.mha; a 16 KiB companion in.raw sits beside it so that headers naming
 * an external ElementDataFile reach the data path too.
 */
#include "fuzz_volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int raw_done;
    char path[1024];
    if (!raw_done) {
        static uint8_t raw[16384];
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (uint8_t)(i * 37u);
        fz_write("in.raw", raw, sizeof raw, path, sizeof path);
        raw_done = 1;
    }
    fz_write("in.mha", data, size, path, sizeof path);
    fz_volume(&hx_reader_metaimage, path);
    return 0;
}
