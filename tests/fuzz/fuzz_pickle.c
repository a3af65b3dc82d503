/*
 * fuzz_pickle.c - the strict state_dict pickle interpreter
 * (sam__pickle_parse) on raw bytes: what it accepts must describe
 * tensors that point at declared storages with sane dtypes and sizes.
 */
#include "fuzz_util.h"
#include "sam_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sam_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) return 0;
    sf_err err = {0};
    int rc = sam__pickle_parse(data, size, ck, &err);
    if (rc != SF_OK) {
        fz_check_err(rc, &err, NULL);
        sam__ckpt_free(ck);
        return 0;
    }
    for (int t = 0; t < ck->n_tensors; t++) {
        const sam_ckpt_tensor *x = &ck->tensors[t];
        fz_check(x->storage >= 0 && x->storage < ck->n_storages,
                 "tensor %d storage %d", t, x->storage);
        fz_check(x->ndim >= 0 && x->ndim <= SAM_CKPT_MAX_NDIM, "ndim %d",
                 x->ndim);
    }
    for (int s = 0; s < ck->n_storages; s++)
        fz_check(ck->storages[s].dtype >= 0 &&
                     ck->storages[s].dtype < SAM_DT_COUNT &&
                     ck->storages[s].numel >= 0,
                 "storage %d dtype %d numel %lld", s, ck->storages[s].dtype,
                 (long long)ck->storages[s].numel);
    sam__ckpt_free(ck);
    return 0;
}
