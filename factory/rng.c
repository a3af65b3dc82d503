/*
 * rng.c - Philox4x32-10 (Salmon et al., SC'11), keyed by (seed, stream) with
 * the sample index in the upper counter words, and the scalar draw stream.
 */
#include "sf_int.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void philox_round(uint32_t c[4], const uint32_t k[2]) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
}

void sf_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                      uint32_t out[4]) {
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r) {
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(c, k);
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = c[2];
    out[3] = c[3];
}

/* SplitMix64 finaliser: a bijective 64-bit mixer. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

sf_rng_key sf_rng_key_make(uint64_t seed, uint64_t index, uint32_t stream) {
    sf_rng_key k;
    uint64_t h = mix64(mix64(seed ^ 0x5F3759DF5F3759DFull) +
                       0x9E3779B97F4A7C15ull * ((uint64_t)stream + 1));
    k.k[0] = (uint32_t)h;
    k.k[1] = (uint32_t)(h >> 32);
    k.id[0] = (uint32_t)index;
    k.id[1] = (uint32_t)(index >> 32);
    return k;
}

void sf_rng_block(sf_rng_key k, uint64_t ctr, uint32_t out[4]) {
    sf__rng_block_inline(k, ctr, out);
}

uint64_t sf_rng_u64(sf_rng_key k, uint64_t ctr) {
    uint32_t o[4];
    sf_rng_block(k, ctr, o);
    return ((uint64_t)o[1] << 32) | o[0];
}

uint64_t sf_sample_seed(uint64_t master_seed, uint64_t index) {
    return mix64(mix64(master_seed) ^ mix64(index + 0x632BE59BD9B4E019ull));
}

void sf__draw_init(sf_draw *d, uint64_t seed, uint64_t index,
                   uint32_t stream) {
    d->key = sf_rng_key_make(seed, index, stream);
    d->ctr = 0;
}

double sf__draw_u01(sf_draw *d) { return sf__u01d(sf_rng_u64(d->key, d->ctr++)); }

double sf__draw_uniform(sf_draw *d, double lo, double hi) {
    double u = sf__draw_u01(d);
    return lo + (hi - lo) * u;
}

double sf__draw_range(sf_draw *d, sf_range r) {
    return sf__draw_uniform(d, r.lo, r.hi);
}

int sf__draw_int(sf_draw *d, int lo, int hi) {
    if (hi <= lo) {
        d->ctr++; /* keep the draw count independent of the range */
        return lo;
    }
    uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
    /* 64-bit multiply-shift: bias < span / 2^64, negligible. */
    uint64_t u = sf_rng_u64(d->key, d->ctr++);
    unsigned __int128 m = (unsigned __int128)u * span;
    return lo + (int)(uint64_t)(m >> 64);
}

int sf__draw_irange(sf_draw *d, sf_irange r) { return sf__draw_int(d, r.lo, r.hi); }

int sf__draw_bernoulli(sf_draw *d, double p) { return sf__draw_u01(d) < p; }

double sf__draw_normal(sf_draw *d) {
    uint32_t o[4];
    sf_rng_block(d->key, d->ctr++, o);
    uint64_t a = ((uint64_t)o[1] << 32) | o[0];
    uint64_t b = ((uint64_t)o[3] << 32) | o[2];
    double u1 = ((double)(a >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = sf__u01d(b);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void sf__normal2f(uint32_t u0, uint32_t u1, float *z0, float *z1) {
    float r = sqrtf(-2.0f * logf(sf__u01f_open0(u0)));
    float th = 6.28318530717958648f * sf__u01f(u1);
    *z0 = r * cosf(th);
    *z1 = r * sinf(th);
}
