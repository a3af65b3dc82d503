/*
 * rng.c - Philox4x32-10 (Salmon et al., SC'11), keyed by (seed, stream) with
 * the sample index in the upper counter words, and the scalar draw stream.
 */
#include "sf_int.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#include <immintrin.h>
#endif

void sf_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                      uint32_t out[4]) {
    sf__philox_inline(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], out);
}

/* sf__philox_blocks (sf_int.h): the one vector kernel.
 *
 * With SSE2, eight blocks at a time: each 32-bit word of the state sits in
 * the low half of a 64-bit slot (two blocks per vector), so one pmuludq
 * gives the whole 32x32->64 product of a round and a dword swap (pshufd,
 * which runs beside the multiplies) brings its high word down. The high
 * halves of the slots carry junk that never reaches a low
 * half (pmuludq reads low halves only; xor is bitwise). Four independent
 * vectors per state word hide the multiply latency. */
#if defined(__x86_64__) && defined(__GNUC__)
#define PHILOX_AVX2 1
/* The same with AVX2, where the CPU has it: four blocks per vector,
 * sixteen per step (integer operations: the same words). Blocks
 * [0, n - n % 16) here; the caller does the rest. */
__attribute__((target("avx2"))) static void
philox_blocks_avx2(sf_rng_key k, uint64_t ctr0, const uint64_t *ctr, size_t n,
                   uint32_t *out) {
    __m256i rk0[10], rk1[10];
    uint32_t k0 = k.k[0], k1 = k.k[1];
    for (int r = 0; r < 10; r++) {
        rk0[r] = _mm256_set1_epi32((int)k0);
        rk1[r] = _mm256_set1_epi32((int)k1);
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    const __m256i m0 = _mm256_set1_epi32((int)0xD2511F53u);
    const __m256i m1 = _mm256_set1_epi32((int)0xCD9E8D57u);
    const __m256i id0 = _mm256_set1_epi32((int)k.id[0]);
    const __m256i id1 = _mm256_set1_epi32((int)k.id[1]);
    for (size_t b = 0; b + 16 <= n; b += 16) {
        __m256i c0[4], c1[4], c2[4], c3[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            uint64_t x[4];
            for (int t = 0; t < 4; t++)
                x[t] = ctr ? ctr[b + 4 * v + t]
                           : ctr0 + b + 4 * (size_t)v + (size_t)t;
            c0[v] = _mm256_set_epi64x((long long)x[3], (long long)x[2],
                                      (long long)x[1], (long long)x[0]);
            c1[v] = _mm256_srli_epi64(c0[v], 32);
            c2[v] = id0;
            c3[v] = id1;
        }
#pragma GCC unroll 10
        for (int r = 0; r < 10; r++) {
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                __m256i p0 = _mm256_mul_epu32(c0[v], m0);
                __m256i p1 = _mm256_mul_epu32(c2[v], m1);
                c0[v] = _mm256_xor_si256(
                    _mm256_xor_si256(_mm256_shuffle_epi32(p1, 0xB1), c1[v]),
                    rk0[r]);
                c2[v] = _mm256_xor_si256(
                    _mm256_xor_si256(_mm256_shuffle_epi32(p0, 0xB1), c3[v]),
                    rk1[r]);
                c1[v] = p1;
                c3[v] = p0;
            }
        }
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            /* per 128-bit lane as in the SSE2 path: lane 0 holds blocks
             * 4v, 4v + 1, lane 1 blocks 4v + 2, 4v + 3 */
            __m256i a = _mm256_unpacklo_epi32(c0[v], c1[v]);
            __m256i bb = _mm256_unpackhi_epi32(c0[v], c1[v]);
            __m256i c = _mm256_unpacklo_epi32(c2[v], c3[v]);
            __m256i d = _mm256_unpackhi_epi32(c2[v], c3[v]);
            __m256i r0 = _mm256_unpacklo_epi64(a, c),
                    r1 = _mm256_unpacklo_epi64(bb, d);
            uint32_t *o = out + 4 * (b + 4 * (size_t)v);
            _mm256_storeu_si256((__m256i *)o,
                                _mm256_permute2x128_si256(r0, r1, 0x20));
            _mm256_storeu_si256((__m256i *)(o + 8),
                                _mm256_permute2x128_si256(r0, r1, 0x31));
        }
    }
}
#endif

void sf__philox_blocks(sf_rng_key k, uint64_t ctr0, const uint64_t *ctr,
                       size_t n, uint32_t *out) {
    size_t b = 0;
#ifdef PHILOX_AVX2
    static int have_avx2 = -1; /* every thread finds the same */
    int h = __atomic_load_n(&have_avx2, __ATOMIC_RELAXED);
    if (h < 0) {
        h = __builtin_cpu_supports("avx2") ? 1 : 0;
        __atomic_store_n(&have_avx2, h, __ATOMIC_RELAXED);
    }
    if (h && n >= 16) {
        philox_blocks_avx2(k, ctr0, ctr, n, out);
        b = n - n % 16;
    }
#endif
#ifdef __SSE2__
    if (n - b >= 8) {
        __m128i rk0[10], rk1[10];
        uint32_t k0 = k.k[0], k1 = k.k[1];
        for (int r = 0; r < 10; r++) {
            rk0[r] = _mm_set1_epi32((int)k0);
            rk1[r] = _mm_set1_epi32((int)k1);
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const __m128i m0 = _mm_set1_epi32((int)0xD2511F53u);
        const __m128i m1 = _mm_set1_epi32((int)0xCD9E8D57u);
        const __m128i id0 = _mm_set1_epi32((int)k.id[0]);
        const __m128i id1 = _mm_set1_epi32((int)k.id[1]);
        for (; b + 8 <= n; b += 8) {
            __m128i c0[4], c1[4], c2[4], c3[4];
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                uint64_t x0 = ctr ? ctr[b + 2 * v] : ctr0 + b + 2 * v;
                uint64_t x1 = ctr ? ctr[b + 2 * v + 1] : x0 + 1;
                c0[v] = _mm_set_epi64x((long long)x1, (long long)x0);
                c1[v] = _mm_srli_epi64(c0[v], 32);
                c2[v] = id0;
                c3[v] = id1;
            }
            /* unrolled: the compiler then renames the state between
             * rounds instead of copying it */
#pragma GCC unroll 10
            for (int r = 0; r < 10; r++) {
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) {
                    __m128i p0 = _mm_mul_epu32(c0[v], m0);
                    __m128i p1 = _mm_mul_epu32(c2[v], m1);
                    c0[v] = _mm_xor_si128(
                        _mm_xor_si128(_mm_shuffle_epi32(p1, 0xB1), c1[v]),
                        rk0[r]);
                    c2[v] = _mm_xor_si128(
                        _mm_xor_si128(_mm_shuffle_epi32(p0, 0xB1), c3[v]),
                        rk1[r]);
                    c1[v] = p1;
                    c3[v] = p0;
                }
            }
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                __m128i a = _mm_unpacklo_epi32(c0[v], c1[v]);
                __m128i bb = _mm_unpackhi_epi32(c0[v], c1[v]);
                __m128i c = _mm_unpacklo_epi32(c2[v], c3[v]);
                __m128i d = _mm_unpackhi_epi32(c2[v], c3[v]);
                uint32_t *o = out + 4 * (b + 2 * (size_t)v);
                _mm_storeu_si128((__m128i *)o, _mm_unpacklo_epi64(a, c));
                _mm_storeu_si128((__m128i *)(o + 4), _mm_unpacklo_epi64(bb, d));
            }
        }
    }
#endif
    for (; b < n; b++)
        sf__rng_block_inline(k, ctr ? ctr[b] : ctr0 + b, out + 4 * b);
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

void sf__draw_init(sf_draw *d, uint64_t seed, uint64_t index, uint32_t stream) {
    d->key = sf_rng_key_make(seed, index, stream);
    d->ctr = 0;
}

double sf__draw_u01(sf_draw *d) {
    return sf__u01d(sf_rng_u64(d->key, d->ctr++));
}

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

int sf__draw_irange(sf_draw *d, sf_irange r) {
    return sf__draw_int(d, r.lo, r.hi);
}

int sf__draw_bernoulli(sf_draw *d, double p) {
    return sf__draw_u01(d) < p;
}

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
