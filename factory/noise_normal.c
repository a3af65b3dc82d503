/*
 * noise_normal.c - the noise models made of normal variates: gaussian
 * (additive), speckle (multiplicative) and rician (magnitude of a complex
 * gaussian), on a ziggurat N(0,1). See noise.c for the counter layouts.
 */
#include "noise_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- normals */

/*
 * N(0,1) by the ziggurat method (Marsaglia & Tsang 2000), 128 layers of
 * area v under f(x) = exp(-x^2/2). One 32-bit word gives the layer (bits
 * 0-6), the sign (bit 7) and a 24-bit magnitude (bits 8-31): disjoint bits,
 * so layer and value are independent (Doornik 2005's remark on the
 * original). ~98.8% of words return from the core test; the rest (wedges,
 * tail beyond r) draw more words from retry_key(k, j) at the variate's own
 * counter q. The wedge test uses libm exp, but only to decide: returned
 * bits come from IEEE basic operations and log_ieee.
 *
 * Tables (generated offline in long double): r = x_1 solved so that the
 * top layer closes exactly at x_128 = 0, v = r f(r) + int_r^inf f
 * = 9.91256303533646e-3, x_0 = v / f(r), x_{i+1} = f^-1(f(x_i) + v / x_i).
 */
#define ZIG_R 3.4426198558966523

/* core test: u < kn[i] (u: 24 bits) <=> u x_i / 2^24 < x_{i+1}; stored
 * twice so that w & 255, the index of zig_wn, indexes it too. */
#define ZIG_KN                                                                 \
    15555141, 15707338, 16049219, 16208408, 16302111, 16364394, 16409026,      \
        16442690, 16469045, 16490265, 16507733, 16522368, 16534809, 16545511,  \
        16554812, 16562965, 16570163, 16576559, 16582273, 16587402, 16592025,  \
        16596206, 16599999, 16603449, 16606593, 16609465, 16612091, 16614494,  \
        16616696, 16618714, 16620563, 16622257, 16623808, 16625226, 16626520,  \
        16627698, 16628768, 16629737, 16630609, 16631390, 16632085, 16632698,  \
        16633231, 16633689, 16634075, 16634390, 16634637, 16634817, 16634934,  \
        16634987, 16634979, 16634910, 16634781, 16634593, 16634346, 16634041,  \
        16633677, 16633254, 16632773, 16632233, 16631634, 16630974, 16630253,  \
        16629470, 16628624, 16627713, 16626735, 16625690, 16624575, 16623387,  \
        16622125, 16620786, 16619367, 16617865, 16616276, 16614597, 16612822,  \
        16610949, 16608972, 16606885, 16604682, 16602358, 16599905, 16597314,  \
        16594579, 16591688, 16588633, 16585401, 16581980, 16578357, 16574515,  \
        16570437, 16566104, 16561496, 16556587, 16551351, 16545758, 16539772,  \
        16533356, 16526462, 16519042, 16511034, 16502372, 16492974, 16482747,  \
        16471581, 16459346, 16445883, 16431005, 16414482, 16396029, 16375294,  \
        16351834, 16325081, 16294298, 16258511, 16216402, 16166150, 16105158,  \
        16029597, 15933580, 15807564, 15635012, 15384587, 14988942, 14272656,  \
        12590647, 0
static const uint32_t zig_kn[256] = {ZIG_KN, ZIG_KN};
#undef ZIG_KN

/* x_i / 2^24, then the same negated: zig_wn[w & 255] is the signed scale
 * of word w (bit 7 the sign), so the core needs no sign step (u x and
 * u (-x) round symmetrically: the same bits as a sign flip). */
#define ZIG_WN(S)                                                              \
    S 2.21317187e-07f, S 2.05196134e-07f, S 1.92110836e-07f,                   \
        S 1.83774761e-07f, S 1.77544132e-07f, S 1.72516346e-07f,               \
        S 1.68271384e-07f, S 1.6457852e-07f, S 1.61296938e-07f,                \
        S 1.58334161e-07f, S 1.55626073e-07f, S 1.53126337e-07f,               \
        S 1.50800328e-07f, S 1.48621471e-07f, S 1.46568905e-07f,               \
        S 1.44625941e-07f, S 1.42779009e-07f, S 1.41016923e-07f,               \
        S 1.39330342e-07f, S 1.37711387e-07f, S 1.36153344e-07f,               \
        S 1.34650443e-07f, S 1.33197689e-07f, S 1.31790722e-07f,               \
        S 1.30425717e-07f, S 1.29099297e-07f, S 1.27808463e-07f,               \
        S 1.26550538e-07f, S 1.25323125e-07f, S 1.24124064e-07f,               \
        S 1.22951405e-07f, S 1.21803375e-07f, S 1.20678364e-07f,               \
        S 1.19574897e-07f, S 1.18491624e-07f, S 1.17427305e-07f,               \
        S 1.16380795e-07f, S 1.15351035e-07f, S 1.14337045e-07f,               \
        S 1.13337913e-07f, S 1.12352791e-07f, S 1.11380884e-07f,               \
        S 1.1042145e-07f, S 1.09473792e-07f, S 1.08537257e-07f,                \
        S 1.07611225e-07f, S 1.06695115e-07f, S 1.05788374e-07f,               \
        S 1.04890479e-07f, S 1.04000934e-07f, S 1.03119264e-07f,               \
        S 1.02245017e-07f, S 1.01377762e-07f, S 1.00517085e-07f,               \
        S 9.96625873e-08f, S 9.88138867e-08f, S 9.79706142e-08f,               \
        S 9.71324134e-08f, S 9.62989387e-08f, S 9.54698551e-08f,               \
        S 9.46448365e-08f, S 9.3823565e-08f, S 9.30057301e-08f,                \
        S 9.21910274e-08f, S 9.13791584e-08f, S 9.0569829e-08f,                \
        S 8.97627495e-08f, S 8.8957633e-08f, S 8.81541954e-08f,                \
        S 8.73521541e-08f, S 8.65512277e-08f, S 8.57511352e-08f,               \
        S 8.49515947e-08f, S 8.41523237e-08f, S 8.33530375e-08f,               \
        S 8.25534485e-08f, S 8.1753266e-08f, S 8.09521946e-08f,                \
        S 8.01499338e-08f, S 7.9346177e-08f, S 7.85406103e-08f,                \
        S 7.77329117e-08f, S 7.692275e-08f, S 7.61097833e-08f,                 \
        S 7.52936579e-08f, S 7.44740069e-08f, S 7.36504485e-08f,               \
        S 7.28225845e-08f, S 7.19899982e-08f, S 7.11522524e-08f,               \
        S 7.0308887e-08f, S 6.94594166e-08f, S 6.86033274e-08f,                \
        S 6.77400739e-08f, S 6.68690755e-08f, S 6.59897117e-08f,               \
        S 6.51013182e-08f, S 6.42031804e-08f, S 6.32945278e-08f,               \
        S 6.23745263e-08f, S 6.144227e-08f, S 6.04967711e-08f,                 \
        S 5.95369478e-08f, S 5.85616114e-08f, S 5.75694489e-08f,               \
        S 5.65590039e-08f, S 5.55286525e-08f, S 5.44765741e-08f,               \
        S 5.34007163e-08f, S 5.22987502e-08f, S 5.11680152e-08f,               \
        S 5.00054487e-08f, S 4.88074962e-08f, S 4.75699938e-08f,               \
        S 4.62880127e-08f, S 4.49556508e-08f, S 4.35657448e-08f,               \
        S 4.21094663e-08f, S 4.05757379e-08f, S 3.89503621e-08f,               \
        S 3.72146724e-08f, S 3.53433455e-08f, S 3.33006488e-08f,               \
        S 3.10335182e-08f, S 2.84575127e-08f, S 2.54242412e-08f,               \
        S 2.16288227e-08f, S 1.62315884e-08f
static const float zig_wn[256] = {ZIG_WN(+), ZIG_WN(-)};
#undef ZIG_WN

/* layer edges x_i, x_128 = 0 */
static const double zig_x[129] = {
    3.7130862467403634,  3.4426198558966523,  3.2230849845786187,
    3.0832288582142136,  2.9786962526450171,  2.8943440070186708,
    2.8231253505459666,  2.7611693723841539,  2.7061135731187225,
    2.6564064112581924,  2.6109722484286131,  2.5690336259216391,
    2.5300096723854666,  2.4934545220919508,  2.4590181774083502,
    2.4264206455302118,  2.3954342780074676,  2.3658713701139877,
    2.3375752413355309,  2.310413683695002,   2.2842740596736566,
    2.2590595738653296,  2.2346863955870568,  2.2110814088747279,
    2.1881804320720204,  2.1659267937448408,  2.1442701823562613,
    2.1231657086697902,  2.1025731351849988,  2.0824562379877247,
    2.0627822745039635,  2.0435215366506694,  2.024646973372934,
    2.0061338699589668,  1.9879595741230607,  1.9701032608497133,
    1.9525457295488888,  1.9352692282919002,  1.9182573008597321,
    1.9014946531003176,  1.8849670357028692,  1.8686611409895419,
    1.8525645117230871,  1.8366654602533841,  1.8209529965910052,
    1.8054167642140488,  1.790046982594619,   1.7748343955807693,
    1.759770224894232,   1.7448461281083765,  1.7300541605582436,
    1.7153867407081165,  1.7008366185643009,  1.6863968467734862,
    1.6720607540918522,  1.6578219209482075,  1.6436741568569826,
    1.6296114794646783,  1.6156280950371329,  1.601718380215277,
    1.5878768648844006,  1.5740982160167498,  1.5603772223598407,
    1.5467087798535035,  1.5330878776675561,  1.5195095847593707,
    1.5059690368565504,  1.4924614237746154,  1.4789819769830979,
    1.4655259573357946,  1.4520886428822164,  1.4386653166774612,
    1.4252512545068616,  1.4118417124397602,  1.3984319141236063,
    1.3850170377251487,  1.3715922024197322,  1.3581524543224228,
    1.344692751745713,   1.3312079496576765,  1.317692783201343,
    1.3041418501204216,  1.2905495919178731,  1.2769102735516997,
    1.2632179614460282,  1.2494664995643336,  1.2356494832544811,
    1.2217602305309625,  1.2077917504067577,  1.1937367078237722,
    1.1795873846544607,  1.1653356361550469,  1.150972842138976,
    1.1364898520030755,  1.121876922572254,   1.1071236475235353,
    1.0922188768965537,  1.0771506248819376,  1.0619059636836194,
    1.0464709007525803,  1.0308302360564556,  1.0149673952392995,
    0.99886423348064346, 0.98250080350276037, 0.96585507938813064,
    0.94890262549791193, 0.93161619660135386, 0.91396525100880177,
    0.89591535256623855, 0.87742742909771565, 0.85845684317805082,
    0.83895221428120748, 0.8188539066833177,  0.7980920606262748,
    0.77658398787614835, 0.75423066443451003, 0.73091191062188132,
    0.70647961131360804, 0.68074791864590423, 0.65347863871504241,
    0.62435859730908827, 0.592962942441978,   0.55869217837551799,
    0.52065603872514488, 0.47743783725378786, 0.42654798630330515,
    0.36287143102841829, 0.27232086470466388, 0,
};

/* exp(-x_i^2 / 2) */
static const double zig_f[129] = {
    0.0010143525641286154, 0.0026696290839025036, 0.0055489952208164703,
    0.008624484412930471,  0.011839478657982313,  0.015167298010672042,
    0.018592102737165814,  0.022103304616111593,  0.025693291936149616,
    0.02935631744025383,   0.033087886146505152,  0.036884388786968772,
    0.040742868074790606,  0.044660862200872432,  0.048636295860284048,
    0.052667401903503171,  0.056752663481538582,  0.060890770348566374,
    0.065080585213631872,  0.069321117394180259,  0.07361150188475489,
    0.07795098251465471,   0.082338898242957412,  0.086774671895542971,
    0.091257800827634711,  0.09578784912257815,   0.10036444102954555,
    0.10498725541035454,   0.10965602101581776,   0.11437051244988827,
    0.11913054670871859,   0.12393598020398175,   0.12878670619710397,
    0.13368265258464765,   0.13862377998585104,   0.14361008009193299,
    0.14864157424369698,   0.15371831220958657,   0.15884037114093508,
    0.16400785468492773,   0.16922089223892475,   0.17447963833240232,
    0.17978427212496212,   0.18513499701071343,   0.19053204032091373,
    0.19597565311811041,   0.20146611007620324,   0.2070037094418738,
    0.21258877307373611,   0.21822164655637061,   0.22390269938713389,
    0.22963232523430271,   0.23541094226572765,   0.24123899354775133,
    0.24711694751469673,   0.25304529850976587,   0.25902456739871077,
    0.26505530225816193,   0.27113807914102528,   0.27727350292189773,
    0.28346220822601254,   0.28970486044581051,   0.29600215684985581,
    0.30235482778947975,   0.30876363800925194,   0.31522938806815753,
    0.32175291587920862,   0.32833509837615238,   0.33497685331697113,
    0.34167914123501369,   0.34844296754987247,   0.35526938485154713,
    0.36215949537303321,   0.36911445366827517,   0.37613546951445442,
    0.38322381105988362,   0.39038080824138949,   0.39760785649804253,
    0.40490642081148837,   0.41227804010702462,   0.41972433205403825,
    0.42724699830956242,   0.43484783025466189,   0.44252871528024662,
    0.45029164368692698,   0.45813871627287195,   0.46607215269457097,
    0.47409430069824959,   0.4822076463348387,    0.49041482528932162,
    0.49871863547658435,   0.50712205108130459,   0.51562823824987203,
    0.52424057267899282,   0.53296265938998755,   0.54179835503172413,
    0.55075179312105527,   0.55982741271069481,   0.56902999107472163,
    0.57836468112670236,   0.58783705444182055,   0.59745315095181228,
    0.60721953663260486,   0.61714337082656245,   0.62723248525781461,
    0.63749547734314482,   0.64794182111855081,   0.65858200005865364,
    0.6694276673577062,    0.68049184100641436,   0.69178914344603581,
    0.7033360990258174,    0.71515150742047706,   0.7272569183545059,
    0.7396772436833382,    0.75244155918570377,   0.76558417390923594,
    0.7791460859417032,    0.79317701178385924,   0.80773829469612113,
    0.82290721139526202,   0.83878360531064722,   0.85550060788506432,
    0.87324304892685356,   0.89228165080230271,   0.91304364799203808,
    0.93628268170837103,   0.96359969315576754,   1,
};

/* The ziggurat for word w of variate q from retry level j0 on (level j
 * draws its words from retry_key(k, j) at counter q). */
static float zig_slow(uint32_t w, sf_rng_key k, uint64_t q, uint32_t j0) {
    uint32_t e[4];
    for (uint32_t j = j0;; j++) {
        unsigned i = w & 127u;
        uint32_t u = w >> 8;
        int neg = (w & 128u) != 0;
        if (u < zig_kn[i]) {
            float z = (float)u * zig_wn[i];
            return neg ? -z : z;
        }
        if (i == 0) {
            /* Tail beyond r (Marsaglia 1964): an exact tail sampler, so it
             * loops here rather than restarting the ziggurat. */
            for (;; j++) {
                sf__rng_block_inline(retry_key(k, j), q, e);
                double x = -log_ieee(u01_open_w(e[0])) / ZIG_R;
                double y = -log_ieee(u01_open_w(e[1]));
                if (y + y > x * x) {
                    float z = (float)(ZIG_R + x);
                    return neg ? -z : z;
                }
            }
        }
        /* Wedge of layer i: accept if a uniform height in
         * [f(x_i), f(x_{i+1})] lies under the curve, else start over. */
        sf__rng_block_inline(retry_key(k, j), q, e);
        double x = (double)u * zig_x[i] * 0x1p-24;
        if (zig_f[i] + u01_w(e[0]) * (zig_f[i + 1] - zig_f[i]) <
            exp(-0.5 * x * x)) {
            float z = (float)x;
            return neg ? -z : z;
        }
        w = e[2];
    }
}

/* zig_slow for the words w[idx[t]] (variates q0 + idx[t], t < n, each
 * failing the core test) into z[idx[t]], level by level: the retry blocks
 * of one level are independent, so they are drawn in one loop (and
 * overlap in the pipeline) before the wedge tests. The same draws and
 * tests as zig_slow, so the same values. idx is overwritten. */
static void zig_fix(const uint32_t *w, uint16_t *idx, size_t n, sf_rng_key k,
                    uint64_t q0, float *z) {
    uint32_t cur[2 * NOISE_CHUNK], e0[2 * NOISE_CHUNK], e2[2 * NOISE_CHUNK];
    size_t m = 0;
    for (size_t t = 0; t < n; t++) {
        uint32_t x = w[idx[t]];
        if ((x & 127u) == 0) { /* the tail: rare, on its own */
            z[idx[t]] = zig_slow(x, k, q0 + idx[t], 1);
            continue;
        }
        idx[m] = idx[t];
        cur[m++] = x;
    }
    for (uint32_t j = 1; m > 0; j++) {
        sf_rng_key kj = retry_key(k, j);
        for (size_t t = 0; t < m; t++) {
            uint32_t b[4];
            sf__rng_block_inline(kj, q0 + idx[t], b);
            e0[t] = b[0];
            e2[t] = b[2];
        }
        size_t keep = 0;
        for (size_t t = 0; t < m; t++) {
            uint32_t x = cur[t], u = x >> 8;
            unsigned i = x & 127u;
            double xv = (double)u * zig_x[i] * 0x1p-24;
            if (zig_f[i] + u01_w(e0[t]) * (zig_f[i + 1] - zig_f[i]) <
                exp(-0.5 * xv * xv)) {
                float zz = (float)xv;
                z[idx[t]] = x & 128u ? -zz : zz;
                continue;
            }
            /* rejected: level j + 1 starts over with word e2 */
            uint32_t y = e2[t];
            if ((y >> 8) < zig_kn[y & 127u] || (y & 127u) == 0) {
                z[idx[t]] = zig_slow(y, k, q0 + idx[t], j + 1);
                continue;
            }
            idx[keep] = idx[t];
            cur[keep++] = y;
        }
        m = keep;
    }
}

/* For a 4-bit mask: the positions of its set bits, then their count. */
static const uint8_t zig_bit[16][5] = {
    {0, 0, 0, 0, 0}, {0, 0, 0, 0, 1}, {1, 0, 0, 0, 1}, {0, 1, 0, 0, 2},
    {2, 0, 0, 0, 1}, {0, 2, 0, 0, 2}, {1, 2, 0, 0, 2}, {0, 1, 2, 0, 3},
    {3, 0, 0, 0, 1}, {0, 3, 0, 0, 2}, {1, 3, 0, 0, 2}, {0, 1, 3, 0, 3},
    {2, 3, 0, 0, 2}, {0, 2, 3, 0, 3}, {1, 2, 3, 0, 3}, {0, 1, 2, 3, 4},
};
#ifdef __SSE2__
/* zig_bit's positions as four uint16 lanes (lane b = zig_bit[m][b]; x86
 * is little-endian) */
static const uint64_t zig_pos[16] = {
    0x0000000000000000ull, 0x0000000000000000ull, 0x0000000000000001ull,
    0x0000000000010000ull, 0x0000000000000002ull, 0x0000000000020000ull,
    0x0000000000020001ull, 0x0000000200010000ull, 0x0000000000000003ull,
    0x0000000000030000ull, 0x0000000000030001ull, 0x0000000300010000ull,
    0x0000000000030002ull, 0x0000000300020000ull, 0x0000000300020001ull,
    0x0003000200010000ull,
};
#endif

/* N(0,1) of the words w[0 .. m) of a chunk whose word j is variate
 * q0 + j and belongs to pixel entry e[j >> sh] (all: every entry is
 * non-zero), into z[]. The core of the
 * ziggurat (~97% of words) runs for every word without a data-dependent
 * branch (with SSE2 four at a time, table reads by byte index: the same
 * products, so the same bits); the words that fail its test are redone by
 * zig_fix afterwards, for selected pixels only (an unselected pixel's
 * value is never used). */
static void zig_chunk(const uint32_t *w, size_t m, unsigned sh,
                      const uint16_t *e, int all, sf_rng_key k, uint64_t q0,
                      float *z) {
    uint16_t idx[2 * NOISE_CHUNK + 4];
    size_t n = 0, j = 0;
#ifdef __SSE2__
    for (; j + 4 <= m; j += 4) {
        unsigned t0 = (uint8_t)w[j], t1 = (uint8_t)w[j + 1];
        unsigned t2 = (uint8_t)w[j + 2], t3 = (uint8_t)w[j + 3];
        __m128i u =
            _mm_srli_epi32(_mm_loadu_si128((const __m128i *)(w + j)), 8);
        __m128 f = _mm_setr_ps(zig_wn[t0], zig_wn[t1], zig_wn[t2], zig_wn[t3]);
        __m128i kn = _mm_setr_epi32((int)zig_kn[t0], (int)zig_kn[t1],
                                    (int)zig_kn[t2], (int)zig_kn[t3]);
        _mm_storeu_ps(z + j, _mm_mul_ps(_mm_cvtepi32_ps(u), f));
        /* u, kn < 2^24: the signed compare is the unsigned one */
        unsigned bad = 15u & ~(unsigned)_mm_movemask_ps(
                                 _mm_castsi128_ps(_mm_cmpgt_epi32(kn, u)));
        if (!all) /* selected words only */
            bad &= (e[j >> sh] != 0) | (e[(j + 1) >> sh] != 0) << 1 |
                   (e[(j + 2) >> sh] != 0) << 2 | (e[(j + 3) >> sh] != 0) << 3;
        /* append the failing words without a branch (~10% of groups
         * have one: a branch would mispredict) */
        uint64_t pos = zig_pos[bad] + (uint64_t)j * 0x0001000100010001ull;
        memcpy(idx + n, &pos, sizeof pos); /* one store, not four */
        n += zig_bit[bad][4];
    }
#endif
    for (; j < m; j++) {
        uint32_t x = w[j], u = x >> 8;
        z[j] = (float)(int32_t)u * zig_wn[x & 255u];
        idx[n] = (uint16_t)j;
        n += u >= zig_kn[x & 255u] && e[j >> sh];
    }
    zig_fix(w, idx, n, k, q0, z);
}

/* gaussian (additive, v + sigma z) and speckle (multiplicative,
 * v + (sigma z) v): one normal per pixel, word i % 4 of counter i / 4;
 * retries at counter i. sig[e] = (float)sigma of entry e. */
static void apply_normal1(sf_imgf *im, const noise_sel *s,
                          const float *restrict sig, sf_rng_key k,
                          int speckle) {
    size_t n = (size_t)im->nx * (size_t)im->ny;
    uint32_t w[NOISE_CHUNK];
    uint16_t e[NOISE_CHUNK];
    float z[NOISE_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += NOISE_CHUNK) {
        size_t m = n - i0 < NOISE_CHUNK ? n - i0 : NOISE_CHUNK;
        if (!sel_chunk(s, i0, m, e)) continue;
        sf__philox_blocks(k, i0 / 4, NULL, (m + 3) / 4, w);
        zig_chunk(w, m, 0, e, !s->lab, k, i0, z);
        float *restrict px = im->px + i0;
        if (!s->lab) { /* the whole image: one sigma, no selection */
            const float sg = sig[1];
            if (speckle)
                for (size_t j = 0; j < m; j++)
                    px[j] = px[j] + (sg * z[j]) * px[j];
            else
                for (size_t j = 0; j < m; j++)
                    px[j] = px[j] + sg * z[j];
        } else if (speckle) {
            for (size_t j = 0; j < m; j++) {
                float v = px[j];
                px[j] = sel_f(e[j], v + (sig[e[j]] * z[j]) * v, v);
            }
        } else {
            for (size_t j = 0; j < m; j++) {
                float v = px[j];
                px[j] = sel_f(e[j], v + sig[e[j]] * z[j], v);
            }
        }
    }
}

/* rician: |v + sigma (z1 + i z2)|, two normals per pixel: words
 * 2 (i % 2) and 2 (i % 2) + 1 of counter i / 2; retry draws at counters
 * 2 i and 2 i + 1. */
static void apply_rician(sf_imgf *im, const noise_sel *s,
                         const float *restrict sig, sf_rng_key k) {
    size_t n = (size_t)im->nx * (size_t)im->ny;
    uint32_t w[2 * NOISE_CHUNK];
    uint16_t e[NOISE_CHUNK];
    float z[2 * NOISE_CHUNK], r2[NOISE_CHUNK], mag[NOISE_CHUNK];
    for (size_t i0 = 0; i0 < n; i0 += NOISE_CHUNK) {
        size_t m = n - i0 < NOISE_CHUNK ? n - i0 : NOISE_CHUNK;
        if (!sel_chunk(s, i0, m, e)) continue;
        sf__philox_blocks(k, i0 / 2, NULL, (m + 1) / 2, w);
        zig_chunk(w, 2 * m, 1, e, !s->lab, k, 2 * i0, z);
        float *restrict px = im->px + i0;
        if (!s->lab) { /* the whole image: one sigma */
            const float sg = sig[1];
            for (size_t j = 0; j < m; j++) {
                float re = px[j] + sg * z[2 * j], imag = sg * z[2 * j + 1];
                r2[j] = re * re + imag * imag;
            }
        } else {
            for (size_t j = 0; j < m; j++) {
                float sg = sig[e[j]];
                float re = px[j] + sg * z[2 * j], imag = sg * z[2 * j + 1];
                r2[j] = re * re + imag * imag;
            }
        }
        /* sqrt is correctly rounded either way: the same bits. */
        size_t j = 0;
#ifdef __SSE2__
        for (; j + 4 <= m; j += 4)
            _mm_storeu_ps(mag + j, _mm_sqrt_ps(_mm_loadu_ps(r2 + j)));
#endif
        for (; j < m; j++)
            mag[j] = sqrtf(r2[j]);
        if (!s->lab)
            memcpy(px, mag, sizeof(float) * m);
        else
            for (j = 0; j < m; j++)
                px[j] = sel_f(e[j], mag[j], px[j]);
    }
}

/* ------------------------------------------------------------------- ops */

static void draw_sigma(const sf_noise_cfg *cfg, sf_draw *d,
                       sf_noise_params *p) {
    p->sigma = sf__draw_range(d, cfg->sigma);
}

static void json_sigma(const sf_noise_params *p, sf_buf *b) {
    sf_buf_puts(b, ",\"sigma\":");
    sf_json_num(b, p->sigma);
}

/* scratch as sig[e] = (float)sigma of entry e (entry 0: computed, never
 * stored). */
static const float *sigmas(const sf_noise_params *tab, int n, void *scratch) {
    float *sig = scratch;
    sig[0] = 0.0f;
    for (int l = 1; l <= n; l++)
        sig[l] = (float)tab[l].sigma;
    return sig;
}

static void run_gaussian(sf_imgf *im, const noise_sel *s,
                         const sf_noise_params *tab, int n, void *scratch,
                         sf_rng_key k) {
    apply_normal1(im, s, sigmas(tab, n, scratch), k, 0);
}

static void run_speckle(sf_imgf *im, const noise_sel *s,
                        const sf_noise_params *tab, int n, void *scratch,
                        sf_rng_key k) {
    apply_normal1(im, s, sigmas(tab, n, scratch), k, 1);
}

static void run_rician(sf_imgf *im, const noise_sel *s,
                       const sf_noise_params *tab, int n, void *scratch,
                       sf_rng_key k) {
    apply_rician(im, s, sigmas(tab, n, scratch), k);
}

const sf_noise_ops sf__noise_gaussian = {"gaussian",    SF_NOISE_GAUSSIAN,
                                         draw_sigma,    json_sigma,
                                         sizeof(float), run_gaussian};
const sf_noise_ops sf__noise_speckle = {"speckle",     SF_NOISE_SPECKLE,
                                        draw_sigma,    json_sigma,
                                        sizeof(float), run_speckle};
const sf_noise_ops sf__noise_rician = {"rician",   SF_NOISE_RICIAN, draw_sigma,
                                       json_sigma, sizeof(float),   run_rician};
