/*
 * fuzz_ckpt.c - the checkpoint loader (model/ckpt.c): a torch.save zip
 * through sam__ckpt_open, then every storage loaded (CRC-checked) and
 * every tensor view checked against its storage.
 */
#include "fuzz_util.h"
#include "sam_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[1024];
    fz_write("in.pth", data, size, path, sizeof path);
    sam_ckpt *ck = NULL;
    sf_err err = {0};
    int rc = sam__ckpt_open(path, &ck, &err);
    if (rc != SF_OK) {
        fz_check_err(rc, &err, NULL);
        fz_check(ck == NULL, "checkpoint left on error");
        return 0;
    }
    for (int i = 0; i < ck->n_storages; i++) {
        sf_err e = {0};
        rc = sam__ckpt_load_storage(ck, i, &e);
        if (rc != SF_OK) {
            fz_check_err(rc, &e, NULL);
            continue;
        }
        sam_ckpt_storage *s = &ck->storages[i];
        size_t nb = (size_t)s->numel * (size_t)sam__dtype_size(s->dtype);
        if (nb) {
            volatile uint8_t a =
                ((uint8_t *)s->data)[0] ^ ((uint8_t *)s->data)[nb - 1];
            (void)a;
        }
        sam__ckpt_drop_storage(ck, i);
    }
    for (int t = 0; t < ck->n_tensors; t++) {
        const sam_ckpt_tensor *x = &ck->tensors[t];
        fz_check(x->storage >= 0 && x->storage < ck->n_storages,
                 "tensor %d storage %d", t, x->storage);
        fz_check(x->ndim >= 0 && x->ndim <= SAM_CKPT_MAX_NDIM, "ndim %d",
                 x->ndim);
        fz_check(sam__ckpt_find(ck, x->name) >= 0, "find %s", x->name);
    }
    sam__ckpt_free(ck);
    return 0;
}
