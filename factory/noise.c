/*
 * noise.c - per-pixel noise models: gaussian, poisson, perlin (fBm),
 * speckle, rician.
 *
 * Every model is a pure function of (parameters, stream key, input pixel,
 * pixel position): per-pixel randomness comes from the counter-based RNG
 * (Philox4x32-10, as sf_rng_block) with a counter derived from the pixel
 * index, never from a sequential state. So the result does not depend on
 * threads, on the order pixels are visited, or on which other pixels a mask
 * selects: applying a model inside a mask gives, there, exactly the values
 * the unmasked apply gives. Pixels outside the mask are not written at all.
 * The same holds per label: sf__noise_apply_labels, one pass with a
 * parameter set per label, equals one masked apply per label.
 *
 * Counter layout per model (i = y * nx + x, the row-major pixel index):
 *   gaussian, speckle  ctr = i / 4, word i % 4: one ziggurat normal.
 *   rician             ctr = i / 2, words 2 (i % 2) and 2 (i % 2) + 1:
 *                      the normals z1, z2.
 *   poisson            ctr = i / 2, words 2 (i % 2) and 2 (i % 2) + 1:
 *                      PTRS's two 32-bit uniforms u, v, or (mean < 10)
 *                      one 53-bit uniform for inversion.
 *   perlin             no per-pixel draws. Lattice gradients: counter
 *                      o << 41 | ly << 20 | lx >> 4, byte lx % 16 of the
 *                      block picks one of 256 unit directions (o = octave,
 *                      lx, ly lattice indices mod 2^20). Per-octave lattice
 *                      offset: counter o << 41 | 1 << 40.
 * Rare rejection steps (ziggurat wedges and tail, Poisson PTRS retries)
 * take their words from derived keys (see retry_key): the ziggurat's at the
 * variate's own counter q (q = i for gaussian/speckle, 2 i + t for
 * rician), Poisson's at the pixel's counter and words.
 *
 * Speed (1024 x 1024, one core): pixels go in chunks of NOISE_CHUNK. The
 * Philox blocks of a chunk are generated together (eight at a time in SSE2
 * lanes when available: the same bits as the scalar Philox), then consumed
 * by loops without data-dependent branches (SIMD where GCC will not
 * vectorise by itself, always with a scalar twin doing the same IEEE
 * operations in the same order, so SSE2 and fallback builds agree bit for
 * bit); the rare slow paths (ziggurat rejections, Poisson log tests and
 * retries) are listed and run after, in batches. One pass serves any
 * number of labels: a pixel's label picks its parameter set, chunks
 * without a selected pixel are skipped, and Perlin works per tile on each
 * label's bounding box there.
 *
 * Values are not clamped to [0,1]: the quantiser clamps at the end.
 */
#include "sf_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#include <immintrin.h>
#endif

/* ------------------------------------------------------------ parameters */

void sf__noise_draw(const sf_noise_cfg *cfg, int model, sf_draw *d,
                    sf_noise_params *p) {
    memset(p, 0, sizeof *p);
    p->model = model;
    /* Only the model's own parameters are drawn, in this fixed order: the
     * draw count is part of the stream contract. */
    switch (model) {
    case SF_NOISE_GAUSSIAN:
    case SF_NOISE_SPECKLE:
    case SF_NOISE_RICIAN: p->sigma = sf__draw_range(d, cfg->sigma); break;
    case SF_NOISE_POISSON: p->photons = sf__draw_range(d, cfg->photons); break;
    case SF_NOISE_PERLIN:
        p->amplitude = sf__draw_range(d, cfg->amplitude);
        p->octaves = sf__draw_irange(d, cfg->octaves);
        p->cells = sf__draw_range(d, cfg->cells);
        p->persistence = sf__draw_range(d, cfg->persistence);
        break;
    default: break;
    }
}

void sf__noise_json(const sf_noise_params *p, sf_buf *b) {
    int m = p->model;
    sf_buf_puts(b, "{\"model\":");
    sf_json_str(b, sf_noise_name(m)); /* the YAML key; "?" if unknown */
    switch (m) {
    case SF_NOISE_GAUSSIAN:
    case SF_NOISE_SPECKLE:
    case SF_NOISE_RICIAN:
        sf_buf_puts(b, ",\"sigma\":");
        sf_json_num(b, p->sigma);
        break;
    case SF_NOISE_POISSON:
        sf_buf_puts(b, ",\"photons\":");
        sf_json_num(b, p->photons);
        break;
    case SF_NOISE_PERLIN:
        sf_buf_puts(b, ",\"amplitude\":");
        sf_json_num(b, p->amplitude);
        sf_buf_printf(b, ",\"octaves\":%d", p->octaves);
        sf_buf_puts(b, ",\"cells\":");
        sf_json_num(b, p->cells);
        sf_buf_puts(b, ",\"persistence\":");
        sf_json_num(b, p->persistence);
        break;
    default: break;
    }
    sf_buf_puts(b, "}");
}

/* --------------------------------------------------------------- helpers */

/* Pixels are processed in chunks of NOISE_CHUNK (a multiple of 4, so a
 * chunk starts on a block boundary for every counter layout). */
#define NOISE_CHUNK 256

/* Which pixels an application touches, and with which parameters: pixel i
 * gets entry e(i) of a parameter table, entry 0 meaning "untouched".
 *   lab == NULL        every pixel is entry 1;
 *   n_labels == 0      entry 1 where lab[i] == mv, else 0;
 *   n_labels > 0       entry lab[i] where 1 <= lab[i] <= n_labels, else 0. */
typedef struct noise_sel {
    const uint16_t *lab;
    int n_labels;
    uint16_t mv;
} noise_sel;

/* Entries of pixels [i0, i0 + m) into e[0 .. m); returns whether any is
 * non-zero. Plain loops the compiler vectorises. */
static int sel_chunk(const noise_sel *s, size_t i0, size_t m, uint16_t *e) {
    unsigned any = 0;
    if (!s->lab) {
        for (size_t j = 0; j < m; j++)
            e[j] = 1;
        return m > 0;
    }
    const uint16_t *lab = s->lab + i0;
    if (s->n_labels == 0) {
        const uint16_t mv = s->mv;
        for (size_t j = 0; j < m; j++) {
            e[j] = (uint16_t)(lab[j] == mv);
            any |= e[j];
        }
    } else {
        const uint16_t n = (uint16_t)s->n_labels;
        for (size_t j = 0; j < m; j++) {
            e[j] = lab[j] <= n ? lab[j] : 0;
            any |= e[j];
        }
    }
    return any != 0;
}

/* Key for rejection retry j >= 1 of a variate whose first try used
 * counter `ctr` of key k: a derived Philox key (streams under distinct
 * keys are independent) with the same counter, so retries never touch a
 * counter another pixel uses and never depend on a sequential state. */
static sf_rng_key retry_key(sf_rng_key k, uint32_t j) {
    k.k[0] ^= 0x5851F42Du;
    k.k[1] += 0x9E3779B9u * j;
    return k;
}

/* Uniform [0,1) and (0,1] doubles from one word (exact). */
static inline double u01_w(uint32_t w) {
    return (double)w * 0x1p-32;
}
static inline double u01_open_w(uint32_t w) {
    return ((double)w + 1.0) * 0x1p-32;
}

/* Natural log of u in (0, 1] from IEEE basic operations only, so the bits
 * are the same on every machine (libm's may differ by CPU dispatch):
 * u = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
 * s = (m - 1) / (m + 1), |s| < 0.1716; error ~1 ulp. */
static double log_ieee(double u) {
    int e;
    double m = frexp(u, &e);
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e--;
    }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, p = 1.0 / 25.0;
    for (int k = 11; k >= 0; k--)
        p = p * s2 + 1.0 / (double)(2 * k + 1);
    return (double)e * 6.93147180369123816490e-01 +
           ((double)e * 1.90821492927058770002e-10 + 2.0 * s * p);
}

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

/* Select a where e != 0, else b, bit for bit (a plain conditional is
 * compiled to a branch around the store, which does not vectorise). */
static inline float sel_f(unsigned e, float a, float b) {
    uint32_t ua, ub, m = 0u - (uint32_t)(e != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
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

/* --------------------------------------------------------------- poisson */

/* Above this mean the variate would not fit comfortably in `unsigned`;
 * means are capped here (far above any photon count we configure). */
#define POISSON_MU_MAX 1.0e9
/* Inversion below, transformed rejection (PTRS) at and above. */
#define POISSON_MU_PTRS 10.0

/* 1 / k, k < 64, as constant expressions (correctly rounded at compile
 * time): keeps divisions off the inversion's dependency chain. */
#define POISSON_NRECIP 64
#define R4(k)          1.0 / (k), 1.0 / ((k) + 1), 1.0 / ((k) + 2), 1.0 / ((k) + 3)
#define R16(k)         R4(k), R4((k) + 4), R4((k) + 8), R4((k) + 12)
static const double poisson_recip[POISSON_NRECIP] = {
    0.0,   1.0,    1.0 / 2, 1.0 / 3, R4(4),
    R4(8), R4(12), R16(16), R16(32), R16(48)};
#undef R16
#undef R4

/* Uniform [0,1) with 53 bits from two words. */
static inline double u01_2w(uint32_t lo, uint32_t hi) {
    return sf__u01d(((uint64_t)hi << 32) | lo);
}

/* Inversion by sequential search (mu < POISSON_MU_PTRS), one 53-bit
 * uniform from the words (lo, hi); exp_neg_mu = exp(-mu) = P(X = 0). */
static unsigned poisson_invert(double mu, double exp_neg_mu, uint32_t lo,
                               uint32_t hi) {
    double u = u01_2w(lo, hi);
    double p = exp_neg_mu, f = p;
    unsigned x = 0;
    /* f saturates just below 1 in floating point; the cap (P(X > 200)
     * < 1e-200 for mu < 10) ends the walk where rounding would not. */
    while (u >= f && x < 200) {
        x++;
        p *= mu * (x < POISSON_NRECIP ? poisson_recip[x] : 1.0 / x);
        f += p;
    }
    return x;
}

/* log Gamma(x) for x >= 1 (x = k + 1, k >= 0): Stirling's series after
 * shifting x to >= 8; absolute error well below 1e-14. Local, because
 * lgamma() writes the global signgam (a data race under OpenMP). */
static double log_gamma(double x) {
    double shift = 0.0;
    while (x < 8.0) {
        shift += log(x);
        x += 1.0;
    }
    double r = 1.0 / x, r2 = r * r;
    /* Bernoulli terms B_2n / (2n (2n - 1)) x^(1 - 2n), n = 1..7. */
    double series =
        r *
        (1.0 / 12.0 +
         r2 * (-1.0 / 360.0 +
               r2 * (1.0 / 1260.0 +
                     r2 * (-1.0 / 1680.0 +
                           r2 * (1.0 / 1188.0 + r2 * (-691.0 / 360360.0 +
                                                      r2 * (1.0 / 156.0)))))));
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 + series - shift;
}

/*
 * PTRS: Hoermann (1993), "The transformed rejection method for generating
 * Poisson random variables", constants as published. A trial takes two
 * uniforms, u in [-1/2, 1/2) and v in [0, 1), each from one 32-bit word:
 *   us = 1/2 - |u|,  k = floor((2 a / us + b) u + mu + 0.43),
 *   reject if us <= 0 or k < 0; accept if us >= 0.07 and v <= v_r
 *   (the fast path, no logs); reject if us < 0.013 and v > us; else accept
 *   iff log(v alpha^-1 / (a / us^2 + b)) <= -mu + k log mu - log k!.
 * 32-bit uniforms (rather than 53-bit) change the variate's law only where
 * a single 2^-32 step of u or v matters: u's step moves k by one only for
 * us < ~2e-5 (k ~ mu + 4e4, probability nil for every mean we allow),
 * and v's step moves the acceptance probability of a k by at most 2^-32.
 * The logs of the last test come from log_fast (IEEE operations, ~1 ulp,
 * with an SSE2 twin), log k! from log_gamma (cached per call for k < 2048):
 * the test decides as the exact one except within ~1e-15 of the boundary,
 * and the SIMD and scalar paths decide alike (sf__poisson = the pixels').
 * The cheap tests run on all pixels of a chunk at once; only the
 * undecided trials (~25-55%, mean-dependent) take the logs.
 */
static inline void ptrs_prepare(double s, double *b, double *a, double *v_r) {
    /* s = sqrt(mu) */
    *b = 0.931 + 2.53 * s;
    *a = -0.059 + 0.02483 * *b;
    *v_r = 0.9277 - 3.6224 / (*b - 2.0);
}

/* u = w 2^-32 - 1/2 and v = w 2^-32, exact, through a signed conversion
 * (the one SSE2 has for packed doubles). */
static inline double ptrs_u(uint32_t w) {
    return (double)(int32_t)(w ^ 0x80000000u) * 0x1p-32;
}
static inline double ptrs_v(uint32_t w) {
    return (double)(int32_t)(w ^ 0x80000000u) * 0x1p-32 + 0.5;
}
static inline double ptrs_x(double mu, double a, double b, double u,
                            double us) {
    return (2.0 * a / us + b) * u + mu + 0.43;
}

/* Natural log of a positive normal double from IEEE operations and bit
 * manipulation only (no libm), error ~1 ulp, as log_ieee; written so that
 * its SSE2 twin log_pd performs the same operations: the same bits. */
#define LOG_SQRTH  0.70710678118654752440
#define LOG_LN2_HI 6.93147180369123816490e-01
#define LOG_LN2_LO 1.90821492927058770002e-10
static inline double log_poly(double s) {
    /* 2 atanh(s) / s - 2 = 2 sum_{k>=1} z^k / (2k + 1), z = s^2 < 0.0295,
     * as z sum_{k<=10} z^k / (2k + 3) in Estrin's scheme (short
     * dependency chains) */
    double z = s * s, z2 = z * z, z4 = z2 * z2, z8 = z4 * z4;
    double q0 = 1.0 / 3.0 + 1.0 / 5.0 * z, q1 = 1.0 / 7.0 + 1.0 / 9.0 * z;
    double q2 = 1.0 / 11.0 + 1.0 / 13.0 * z, q3 = 1.0 / 15.0 + 1.0 / 17.0 * z;
    double q4 = 1.0 / 19.0 + 1.0 / 21.0 * z;
    double r0 = q0 + q1 * z2, r1 = q2 + q3 * z2, r2 = q4 + 1.0 / 23.0 * z2;
    return ((r0 + r1 * z4) + r2 * z8) * z;
}
static inline double log_fast(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    double e = (double)(int32_t)(bits >> 52) - 1022.0;
    bits = (bits & 0x000FFFFFFFFFFFFFull) | 0x3FE0000000000000ull;
    double m; /* in [1/2, 1) */
    memcpy(&m, &bits, sizeof m);
    if (m < LOG_SQRTH) {
        m = m + m;
        e = e - 1.0;
    }
    double s = (m - 1.0) / (m + 1.0), t = s + s;
    return e * LOG_LN2_HI + (e * LOG_LN2_LO + (t + t * log_poly(s)));
}

#ifdef __SSE2__
static inline __m128d log_poly_pd(__m128d s) {
    __m128d z = _mm_mul_pd(s, s), z2 = _mm_mul_pd(z, z);
    __m128d z4 = _mm_mul_pd(z2, z2), z8 = _mm_mul_pd(z4, z4);
#define LOG_Q(c0, c1)                                                          \
    _mm_add_pd(_mm_set1_pd(c0), _mm_mul_pd(_mm_set1_pd(c1), z))
    __m128d q0 = LOG_Q(1.0 / 3.0, 1.0 / 5.0), q1 = LOG_Q(1.0 / 7.0, 1.0 / 9.0);
    __m128d q2 = LOG_Q(1.0 / 11.0, 1.0 / 13.0);
    __m128d q3 = LOG_Q(1.0 / 15.0, 1.0 / 17.0);
    __m128d q4 = LOG_Q(1.0 / 19.0, 1.0 / 21.0);
#undef LOG_Q
    __m128d r0 = _mm_add_pd(q0, _mm_mul_pd(q1, z2));
    __m128d r1 = _mm_add_pd(q2, _mm_mul_pd(q3, z2));
    __m128d r2 = _mm_add_pd(q4, _mm_mul_pd(_mm_set1_pd(1.0 / 23.0), z2));
    return _mm_mul_pd(
        _mm_add_pd(_mm_add_pd(r0, _mm_mul_pd(r1, z4)), _mm_mul_pd(r2, z8)), z);
}
static inline __m128d log_pd(__m128d x) {
    const __m128i mant = _mm_set1_epi64x(0x000FFFFFFFFFFFFFll);
    const __m128i half = _mm_set1_epi64x(0x3FE0000000000000ll);
    const __m128d one = _mm_set1_pd(1.0);
    __m128i bits = _mm_castpd_si128(x);
    __m128i eb = _mm_shuffle_epi32(_mm_srli_epi64(bits, 52), 0x08);
    __m128d e = _mm_sub_pd(_mm_cvtepi32_pd(eb), _mm_set1_pd(1022.0));
    __m128d m = _mm_castsi128_pd(_mm_or_si128(_mm_and_si128(bits, mant), half));
    __m128d lt = _mm_cmplt_pd(m, _mm_set1_pd(LOG_SQRTH));
    m = _mm_add_pd(m, _mm_and_pd(lt, m));
    e = _mm_sub_pd(e, _mm_and_pd(lt, one));
    __m128d s = _mm_div_pd(_mm_sub_pd(m, one), _mm_add_pd(m, one));
    __m128d t = _mm_add_pd(s, s);
    return _mm_add_pd(_mm_mul_pd(e, _mm_set1_pd(LOG_LN2_HI)),
                      _mm_add_pd(_mm_mul_pd(e, _mm_set1_pd(LOG_LN2_LO)),
                                 _mm_add_pd(t, _mm_mul_pd(t, log_poly_pd(s)))));
}
#endif

/* The log test of a trial that the cheap tests left undecided: with
 * lf = log k! (= log_gamma(kd + 1)), accept iff
 *   log(v inv_alpha us^2 / (a + b us^2)) <= -mu + kd log mu - lf
 * (Hoermann's log(v) + log(inv_alpha) - log(a / us^2 + b), as one log: the
 * value only decides); v = 0 accepts (log 0 = -inf). */
static int ptrs_slow(double mu, double a, double b, double us, double v,
                     double kd, double lf) {
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    double us2 = us * us;
    double q = v * inv_alpha * us2 / (a + b * us2);
    double lhs = log_fast(q);
    double rhs = -mu + kd * log_fast(mu) - lf;
    return (lhs <= rhs) | (q == 0.0);
}

/* One PTRS trial from words (wu, wv): 1 and *kd on acceptance. */
static int ptrs_trial(double mu, double a, double b, double v_r, uint32_t wu,
                      uint32_t wv, double *kd) {
    double u = ptrs_u(wu), v = ptrs_v(wv), us = 0.5 - fabs(u);
    if (us <= 0.0) return 0; /* u = -0.5 exactly: the hat is infinite */
    *kd = floor(ptrs_x(mu, a, b, u, us));
    if (*kd < 0.0) return 0;
    if (us >= 0.07 && v <= v_r) return 1;
    if (us < 0.013 && v > us) return 0;
    return ptrs_slow(mu, a, b, us, v, *kd, log_gamma(*kd + 1.0));
}

/* Poisson(mu) from words 2 h, 2 h + 1 (h = 0 or 1) of block `ctr` of key
 * k, retries j >= 1 at the same words of block ctr of retry_key(k, j). */
static unsigned poisson_draw(double mu, sf_rng_key k, uint64_t ctr,
                             unsigned h) {
    uint32_t w[4];
    sf__rng_block_inline(k, ctr, w);
    if (mu < POISSON_MU_PTRS)
        return poisson_invert(mu, exp(-mu), w[2 * h], w[2 * h + 1]);
    double b, a, v_r, kd;
    ptrs_prepare(sqrt(mu), &b, &a, &v_r);
    for (uint32_t j = 1;; j++) {
        if (ptrs_trial(mu, a, b, v_r, w[2 * h], w[2 * h + 1], &kd))
            return (unsigned)kd;
        sf__rng_block_inline(retry_key(k, j), ctr, w);
    }
}

unsigned sf__poisson(double mu, sf_rng_key k, uint64_t ctr) {
    if (!(mu > 0.0)) return 0; /* also NaN */
    if (mu > POISSON_MU_MAX) mu = POISSON_MU_MAX;
    return poisson_draw(mu, k, ctr, 0);
}

/* The PTRS pixels of a chunk as a work list, in rounds: the cheap tests of
 * every item's trial in one SIMD loop, the log test for the undecided ones
 * (SIMD too), results out, and the rejected ones again in a second list
 * with their retry words, until none is left. Only the tail of each
 * round's bookkeeping branches on data. */
typedef struct ptrs_list {
    size_t n;
    uint16_t pix[NOISE_CHUNK];   /* pixel within the chunk */
    uint32_t w[2 * NOISE_CHUNK]; /* the trial's words u, v */
    double mu[NOISE_CHUNK];
    double b[NOISE_CHUNK], a[NOISE_CHUNK], v_r[NOISE_CHUNK];
    double x[NOISE_CHUNK], kd[NOISE_CHUNK]; /* x, floor(x) (if x >= 0) */
    uint8_t st[NOISE_CHUNK]; /* 0 reject, 1 accept, 2 undecided */
} ptrs_list;

/* Floor of x for 0 <= x < 2^52 from IEEE additions (SSE2 has no packed
 * floor); other x give some value the caller does not use. */
static inline double floor_small(double x) {
    double t = (x + 0x1p52) - 0x1p52; /* x rounded to nearest */
    return t > x ? t - 1.0 : t;
}

/* Cheap tests of every trial in the list, as in ptrs_trial: st[t] = 1
 * accept, 0 reject, 2 undecided; x[t] and kd[t] = floor(x[t]) (valid
 * unless rejected). With SSE2 two trials at a time, the same operations in
 * the same order (so the same bits); GCC does not if-convert the compares
 * itself. */
static void ptrs_fast(ptrs_list *L) {
    size_t t = 0;
#ifdef __SSE2__
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m128d scale = _mm_set1_pd(0x1p-32), half = _mm_set1_pd(0.5);
    const __m128d two = _mm_set1_pd(2.0), c043 = _mm_set1_pd(0.43);
    const __m128d big = _mm_set1_pd(0x1p52), one = _mm_set1_pd(1.0);
    const __m128d zero = _mm_setzero_pd(), sign = _mm_set1_pd(-0.0);
    const __m128d c007 = _mm_set1_pd(0.07), c0013 = _mm_set1_pd(0.013);
    for (; t + 2 <= L->n; t += 2) {
        /* words u0 v0 u1 v1 -> u0 u1 | v0 v1 */
        __m128i uv = _mm_shuffle_epi32(
            _mm_loadu_si128((const __m128i *)(L->w + 2 * t)), 0xD8);
        uv = _mm_xor_si128(uv, flip);
        __m128d u = _mm_mul_pd(_mm_cvtepi32_pd(uv), scale);
        __m128d v = _mm_add_pd(
            _mm_mul_pd(_mm_cvtepi32_pd(_mm_unpackhi_epi64(uv, uv)), scale),
            half);
        __m128d us = _mm_sub_pd(half, _mm_andnot_pd(sign, u));
        __m128d a = _mm_loadu_pd(L->a + t), b = _mm_loadu_pd(L->b + t);
        __m128d x = _mm_add_pd(_mm_div_pd(_mm_mul_pd(two, a), us), b);
        x = _mm_add_pd(_mm_add_pd(_mm_mul_pd(x, u), _mm_loadu_pd(L->mu + t)),
                       c043);
        __m128d r = _mm_sub_pd(_mm_add_pd(x, big), big);
        r = _mm_sub_pd(r, _mm_and_pd(_mm_cmpgt_pd(r, x), one));
        __m128d acc =
            _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(us, c007),
                                  _mm_cmple_pd(v, _mm_loadu_pd(L->v_r + t))),
                       _mm_cmpge_pd(x, zero));
        __m128d rej =
            _mm_or_pd(_mm_or_pd(_mm_cmple_pd(us, zero), _mm_cmplt_pd(x, zero)),
                      _mm_and_pd(_mm_cmplt_pd(us, c0013), _mm_cmpgt_pd(v, us)));
        _mm_storeu_pd(L->x + t, x);
        _mm_storeu_pd(L->kd + t, r);
        /* st = 1 if acc, else 0 if rej, else 2 */
        int ma = _mm_movemask_pd(acc), mr = _mm_movemask_pd(rej);
        int und = 3 & ~(ma | mr);
        L->st[t] = (uint8_t)((ma & 1) | (und & 1) << 1);
        L->st[t + 1] = (uint8_t)((ma >> 1) | (und & 2));
    }
#endif
    for (; t < L->n; t++) {
        double u = ptrs_u(L->w[2 * t]), v = ptrs_v(L->w[2 * t + 1]);
        double us = 0.5 - fabs(u);
        double x = ptrs_x(L->mu[t], L->a[t], L->b[t], u, us);
        int acc = us >= 0.07 && v <= L->v_r[t] && x >= 0.0;
        int rej = us <= 0.0 || x < 0.0 || (us < 0.013 && v > us);
        L->x[t] = x;
        L->kd[t] = floor_small(x);
        L->st[t] = (uint8_t)(acc ? 1 : (rej ? 0 : 2));
    }
}

/* log k! for small k, filled on demand with exactly log_gamma(k + 1)
 * (a cache: the same values as the scalar path computes). */
#define POISSON_NLF 2048
typedef struct poisson_lf {
    size_t n; /* entries filled */
    double v[POISSON_NLF];
} poisson_lf;

static double logfact_fill(poisson_lf *lf, double kd) {
    if (!(kd < (double)POISSON_NLF)) return log_gamma(kd + 1.0);
    size_t k = (size_t)kd;
    while (lf->n <= k) {
        lf->v[lf->n] = log_gamma((double)lf->n + 1.0);
        lf->n++;
    }
    return lf->v[k];
}
static inline double logfact(poisson_lf *lf, double kd) {
    if (kd < (double)lf->n) return lf->v[(size_t)kd];
    return logfact_fill(lf, kd);
}

#ifdef __AVX2__
/* log_pd four lanes at a time: the same operations, the same bits. */
static inline __m256d log_poly_pd4(__m256d s) {
    __m256d z = _mm256_mul_pd(s, s), z2 = _mm256_mul_pd(z, z);
    __m256d z4 = _mm256_mul_pd(z2, z2), z8 = _mm256_mul_pd(z4, z4);
#define LOG_Q4(c0, c1)                                                         \
    _mm256_add_pd(_mm256_set1_pd(c0), _mm256_mul_pd(_mm256_set1_pd(c1), z))
    __m256d q0 = LOG_Q4(1.0 / 3.0, 1.0 / 5.0);
    __m256d q1 = LOG_Q4(1.0 / 7.0, 1.0 / 9.0);
    __m256d q2 = LOG_Q4(1.0 / 11.0, 1.0 / 13.0);
    __m256d q3 = LOG_Q4(1.0 / 15.0, 1.0 / 17.0);
    __m256d q4 = LOG_Q4(1.0 / 19.0, 1.0 / 21.0);
#undef LOG_Q4
    __m256d r0 = _mm256_add_pd(q0, _mm256_mul_pd(q1, z2));
    __m256d r1 = _mm256_add_pd(q2, _mm256_mul_pd(q3, z2));
    __m256d r2 =
        _mm256_add_pd(q4, _mm256_mul_pd(_mm256_set1_pd(1.0 / 23.0), z2));
    return _mm256_mul_pd(_mm256_add_pd(_mm256_add_pd(r0, _mm256_mul_pd(r1, z4)),
                                       _mm256_mul_pd(r2, z8)),
                         z);
}
static inline __m256d log_pd4(__m256d x) {
    const __m256i mant = _mm256_set1_epi64x(0x000FFFFFFFFFFFFFll);
    const __m256i half = _mm256_set1_epi64x(0x3FE0000000000000ll);
    const __m256d one = _mm256_set1_pd(1.0);
    __m256i bits = _mm256_castpd_si256(x);
    __m128i eb = _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(_mm256_srli_epi64(bits, 52),
                                    _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
    __m256d e = _mm256_sub_pd(_mm256_cvtepi32_pd(eb), _mm256_set1_pd(1022.0));
    __m256d m = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(bits, mant), half));
    __m256d lt = _mm256_cmp_pd(m, _mm256_set1_pd(LOG_SQRTH), _CMP_LT_OQ);
    m = _mm256_add_pd(m, _mm256_and_pd(lt, m));
    e = _mm256_sub_pd(e, _mm256_and_pd(lt, one));
    __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
    __m256d t = _mm256_add_pd(s, s);
    return _mm256_add_pd(
        _mm256_mul_pd(e, _mm256_set1_pd(LOG_LN2_HI)),
        _mm256_add_pd(_mm256_mul_pd(e, _mm256_set1_pd(LOG_LN2_LO)),
                      _mm256_add_pd(t, _mm256_mul_pd(t, log_poly_pd4(s)))));
}

/* ptrs_slow_list's SSE2 pairs, four items at a time: the same operations
 * per lane. Returns the number of items done (a multiple of 4). */
static size_t ptrs_slow4(ptrs_list *L, const uint16_t *und, size_t nu,
                         poisson_lf *lf) {
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m256d scale = _mm256_set1_pd(0x1p-32), half = _mm256_set1_pd(0.5);
    const __m256d sign = _mm256_set1_pd(-0.0), zero = _mm256_setzero_pd();
    size_t q = 0;
    for (; q + 4 <= nu; q += 4) {
        size_t t0 = und[q], t1 = und[q + 1], t2 = und[q + 2], t3 = und[q + 3];
        __m128i wu = _mm_setr_epi32((int)L->w[2 * t0], (int)L->w[2 * t1],
                                    (int)L->w[2 * t2], (int)L->w[2 * t3]);
        __m128i wv =
            _mm_setr_epi32((int)L->w[2 * t0 + 1], (int)L->w[2 * t1 + 1],
                           (int)L->w[2 * t2 + 1], (int)L->w[2 * t3 + 1]);
        __m256d u =
            _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_xor_si128(wu, flip)), scale);
        __m256d v = _mm256_add_pd(
            _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_xor_si128(wv, flip)), scale),
            half);
        __m256d us = _mm256_sub_pd(half, _mm256_andnot_pd(sign, u));
#define GATHER4(arr) _mm256_setr_pd(arr[t0], arr[t1], arr[t2], arr[t3])
        __m256d mu = GATHER4(L->mu), a = GATHER4(L->a), b = GATHER4(L->b);
        __m256d kd = GATHER4(L->kd);
#undef GATHER4
        __m256d lf4 =
            _mm256_setr_pd(logfact(lf, L->kd[t0]), logfact(lf, L->kd[t1]),
                           logfact(lf, L->kd[t2]), logfact(lf, L->kd[t3]));
        __m256d inv_alpha =
            _mm256_add_pd(_mm256_set1_pd(1.1239),
                          _mm256_div_pd(_mm256_set1_pd(1.1328),
                                        _mm256_sub_pd(b, _mm256_set1_pd(3.4))));
        __m256d us2 = _mm256_mul_pd(us, us);
        __m256d qq =
            _mm256_div_pd(_mm256_mul_pd(_mm256_mul_pd(v, inv_alpha), us2),
                          _mm256_add_pd(a, _mm256_mul_pd(b, us2)));
        __m256d lhs = log_pd4(qq);
        __m256d rhs =
            _mm256_sub_pd(_mm256_add_pd(_mm256_sub_pd(zero, mu),
                                        _mm256_mul_pd(kd, log_pd4(mu))),
                          lf4);
        int acc = _mm256_movemask_pd(
            _mm256_or_pd(_mm256_cmp_pd(lhs, rhs, _CMP_LE_OQ),
                         _mm256_cmp_pd(qq, zero, _CMP_EQ_OQ)));
        L->st[t0] = (uint8_t)(acc & 1);
        L->st[t1] = (uint8_t)(acc >> 1 & 1);
        L->st[t2] = (uint8_t)(acc >> 2 & 1);
        L->st[t3] = (uint8_t)(acc >> 3);
    }
    return q;
}
#endif

/* The log test (ptrs_slow) for items und[0 .. nu) of L into st (0 or 1).
 * Undecided items have 0 <= x < 2^52 (x >= 0, us >= 2^-33), so kd is
 * exact. */
static void ptrs_slow_list(ptrs_list *L, const uint16_t *und, size_t nu,
                           poisson_lf *lf) {
    size_t q = 0;
#ifdef __AVX2__
    q = ptrs_slow4(L, und, nu, lf);
#endif
#ifdef __SSE2__
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m128d scale = _mm_set1_pd(0x1p-32), half = _mm_set1_pd(0.5);
    const __m128d sign = _mm_set1_pd(-0.0), zero = _mm_setzero_pd();
    for (; q + 2 <= nu; q += 2) {
        size_t t0 = und[q], t1 = und[q + 1];
        __m128i uv = _mm_set_epi32((int)L->w[2 * t1 + 1], (int)L->w[2 * t0 + 1],
                                   (int)L->w[2 * t1], (int)L->w[2 * t0]);
        uv = _mm_xor_si128(uv, flip);
        __m128d u = _mm_mul_pd(_mm_cvtepi32_pd(uv), scale);
        __m128d v = _mm_add_pd(
            _mm_mul_pd(_mm_cvtepi32_pd(_mm_unpackhi_epi64(uv, uv)), scale),
            half);
        __m128d us = _mm_sub_pd(half, _mm_andnot_pd(sign, u));
        __m128d mu = _mm_set_pd(L->mu[t1], L->mu[t0]);
        __m128d a = _mm_set_pd(L->a[t1], L->a[t0]);
        __m128d b = _mm_set_pd(L->b[t1], L->b[t0]);
        __m128d kd = _mm_set_pd(L->kd[t1], L->kd[t0]);
        __m128d lf2 =
            _mm_set_pd(logfact(lf, L->kd[t1]), logfact(lf, L->kd[t0]));
        __m128d inv_alpha = _mm_add_pd(
            _mm_set1_pd(1.1239),
            _mm_div_pd(_mm_set1_pd(1.1328), _mm_sub_pd(b, _mm_set1_pd(3.4))));
        __m128d us2 = _mm_mul_pd(us, us);
        __m128d qq = _mm_div_pd(_mm_mul_pd(_mm_mul_pd(v, inv_alpha), us2),
                                _mm_add_pd(a, _mm_mul_pd(b, us2)));
        __m128d lhs = log_pd(qq);
        __m128d rhs = _mm_sub_pd(
            _mm_add_pd(_mm_sub_pd(zero, mu), _mm_mul_pd(kd, log_pd(mu))), lf2);
        int acc = _mm_movemask_pd(
            _mm_or_pd(_mm_cmple_pd(lhs, rhs), _mm_cmpeq_pd(qq, zero)));
        L->st[t0] = (uint8_t)(acc & 1);
        L->st[t1] = (uint8_t)(acc >> 1);
    }
#endif
    for (; q < nu; q++) {
        size_t t = und[q];
        double u = ptrs_u(L->w[2 * t]), v = ptrs_v(L->w[2 * t + 1]);
        L->st[t] = (uint8_t)ptrs_slow(L->mu[t], L->a[t], L->b[t], 0.5 - fabs(u),
                                      v, L->kd[t], logfact(lf, L->kd[t]));
    }
}

/* Select a where m (a 0/1 flag) is set, else 0.0, bit for bit. */
static inline double sel_d0(unsigned m, double a) {
    uint64_t ua;
    memcpy(&ua, &a, sizeof ua);
    ua &= 0ull - (uint64_t)m;
    memcpy(&a, &ua, sizeof a);
    return a;
}

/* Run the list (trials of level j0) to completion: accepted variates into
 * px (the chunk), each times inv[e[pixel]]. R is scratch for the next
 * round's list. */
static void ptrs_run(ptrs_list *L, ptrs_list *R, float *px, const uint16_t *e,
                     const double *inv, sf_rng_key k, uint64_t ctr0,
                     uint32_t j0, poisson_lf *lf) {
    uint16_t und[NOISE_CHUNK], rej[NOISE_CHUNK];
    uint64_t ctr[NOISE_CHUNK];
    uint32_t blk[4 * NOISE_CHUNK];
    for (uint32_t j = j0; L->n > 0; j++) {
        size_t n = L->n, nu = 0, nr = 0;
        ptrs_fast(L);
        for (size_t t = 0; t < n; t++) {
            und[nu] = (uint16_t)t;
            nu += L->st[t] == 2;
        }
        ptrs_slow_list(L, und, nu, lf);
        /* out (a rejected pixel gets 0 for now, overwritten when
         * accepted), and the rejected listed */
        for (size_t t = 0; t < n; t++) {
            unsigned p = L->pix[t], acc = L->st[t];
            px[p] = (float)(sel_d0(acc, L->kd[t]) * inv[e[p]]);
            rej[nr] = (uint16_t)t;
            nr += !acc;
        }
        /* the rejected again, with their retry words (same counter and
         * words) */
        for (size_t q = 0; q < nr; q++) {
            size_t t = rej[q];
            unsigned p = L->pix[t];
            ctr[q] = ctr0 + p / 2;
            R->pix[q] = (uint16_t)p;
            R->mu[q] = L->mu[t];
            R->b[q] = L->b[t];
            R->a[q] = L->a[t];
            R->v_r[q] = L->v_r[t];
        }
        sf__philox_blocks(retry_key(k, j), 0, ctr, nr, blk);
        for (size_t q = 0; q < nr; q++) {
            unsigned h = R->pix[q] & 1u;
            R->w[2 * q] = blk[4 * q + 2 * h];
            R->w[2 * q + 1] = blk[4 * q + 2 * h + 1];
        }
        R->n = nr;
        ptrs_list *T = L;
        L = R;
        R = T;
    }
}

/* The first trials of a chunk, per pixel: mean, constants, trial. */
typedef struct ptrs_chunk {
    double mu[NOISE_CHUNK], b[NOISE_CHUNK], a[NOISE_CHUNK];
    double v_r[NOISE_CHUNK], kd[NOISE_CHUNK];
    /* bit j: pixel j's first trial undecided / rejected; selected but
     * mean < POISSON_MU_PTRS (inversion, or 0) */
    uint64_t und[NOISE_CHUNK / 64], rej[NOISE_CHUNK / 64];
    uint64_t low[NOISE_CHUNK / 64];
} ptrs_chunk;

/* Set bits b (0..3, two pixels) at pixel j of a chunk bit map. */
static inline void bits_put(uint64_t *map, size_t j, unsigned b) {
    map[j >> 6] |= (uint64_t)b << (j & 63);
}

/* One pixel's first trial, scalar (the SSE2 path below does the same
 * operations two pixels at a time). */
static void ptrs_first1(ptrs_chunk *C, float *px, size_t j, double p,
                        double inv, const uint32_t *w) {
    double mu = px[j] > 0.0f ? (double)px[j] * p : 0.0;
    if (!(p > 0.0)) return;
    if (!(mu >= POISSON_MU_PTRS)) {
        C->mu[j] = mu;
        bits_put(C->low, j, 1);
        return;
    }
    mu = mu > POISSON_MU_MAX ? POISSON_MU_MAX : mu;
    double b, a, v_r;
    ptrs_prepare(sqrt(mu), &b, &a, &v_r);
    C->mu[j] = mu;
    C->b[j] = b;
    C->a[j] = a;
    C->v_r[j] = v_r;
    double u = ptrs_u(w[2 * j]), v = ptrs_v(w[2 * j + 1]);
    double us = 0.5 - fabs(u);
    double x = ptrs_x(mu, a, b, u, us);
    int acc = us >= 0.07 && v <= v_r && x >= 0.0;
    int rej = us <= 0.0 || x < 0.0 || (us < 0.013 && v > us);
    C->kd[j] = floor_small(x);
    if (acc)
        px[j] = (float)(C->kd[j] * inv);
    else
        bits_put(rej ? C->rej : C->und, j, 1);
}

#ifdef __AVX2__
/* ptrs_first's two loops four pixels at a time (AVX2), for the pixels
 * [0, m & ~3): the same operations per lane as the SSE2 pairs below, so
 * the same bits. Returns the number of pixels done. */
static size_t ptrs_first4(ptrs_chunk *C, float *px, const uint16_t *e, size_t m,
                          const double *ph, const double *inv,
                          const uint32_t *w) {
    const __m256i flip = _mm256_set1_epi32((int)0x80000000u);
    const __m256i odd_even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256d scale = _mm256_set1_pd(0x1p-32), half = _mm256_set1_pd(0.5);
    const __m256d two = _mm256_set1_pd(2.0), c043 = _mm256_set1_pd(0.43);
    const __m256d big = _mm256_set1_pd(0x1p52), one = _mm256_set1_pd(1.0);
    const __m256d zero = _mm256_setzero_pd(), sign = _mm256_set1_pd(-0.0);
    const __m256d c007 = _mm256_set1_pd(0.07), c0013 = _mm256_set1_pd(0.013);
    const __m256d lo = _mm256_set1_pd(POISSON_MU_PTRS);
    const __m256d hi = _mm256_set1_pd(POISSON_MU_MAX);
    const __m128i lane_bit = _mm_setr_epi32(1, 2, 4, 8);
    uint8_t elig4[NOISE_CHUNK / 4];
    __m256d pmu = _mm256_set1_pd(-1.0), b = zero, a = zero, v_r = zero;
    size_t j = 0;
    for (; j + 4 <= m; j += 4) {
        __m256d p =
            _mm256_setr_pd(ph[e[j]], ph[e[j + 1]], ph[e[j + 2]], ph[e[j + 3]]);
        __m256d vd = _mm256_cvtps_pd(_mm_loadu_ps(px + j));
        /* mu = v > 0 ? v p : 0 (NaN: 0) */
        __m256d mu = _mm256_mul_pd(
            _mm256_and_pd(_mm256_cmp_pd(vd, zero, _CMP_GT_OQ), vd), p);
        __m256d sel = _mm256_cmp_pd(p, zero, _CMP_GT_OQ);
        __m256d elig = _mm256_cmp_pd(mu, lo, _CMP_GE_OQ);
        mu = _mm256_min_pd(mu, hi);
        _mm256_storeu_pd(C->mu + j, mu);
        int ms = _mm256_movemask_pd(sel), me = _mm256_movemask_pd(elig);
        elig4[j / 4] = (uint8_t)me;
        if (ms & ~me) bits_put(C->low, j, (unsigned)(ms & ~me));
        if (!me) continue;
        if (_mm256_movemask_pd(_mm256_cmp_pd(mu, pmu, _CMP_EQ_OQ)) != 15) {
            /* as ptrs_prepare */
            pmu = mu;
            b = _mm256_add_pd(
                _mm256_set1_pd(0.931),
                _mm256_mul_pd(_mm256_set1_pd(2.53), _mm256_sqrt_pd(mu)));
            a = _mm256_add_pd(_mm256_set1_pd(-0.059),
                              _mm256_mul_pd(_mm256_set1_pd(0.02483), b));
            v_r = _mm256_sub_pd(
                _mm256_set1_pd(0.9277),
                _mm256_div_pd(_mm256_set1_pd(3.6224),
                              _mm256_sub_pd(b, _mm256_set1_pd(2.0))));
        }
        _mm256_storeu_pd(C->b + j, b);
        _mm256_storeu_pd(C->a + j, a);
        _mm256_storeu_pd(C->v_r + j, v_r);
    }
    for (size_t i = 0; i < j; i += 4) {
        int me = elig4[i / 4];
        if (!me) continue;
        __m256d mu = _mm256_loadu_pd(C->mu + i), b4 = _mm256_loadu_pd(C->b + i);
        __m256d a4 = _mm256_loadu_pd(C->a + i);
        __m256d vr4 = _mm256_loadu_pd(C->v_r + i);
        __m256d iv = _mm256_setr_pd(inv[e[i]], inv[e[i + 1]], inv[e[i + 2]],
                                    inv[e[i + 3]]);
        /* the trial, as ptrs_trial; words u0 v0 .. u3 v3 -> u0..u3 | v0..v3 */
        __m256i uv = _mm256_permutevar8x32_epi32(
            _mm256_loadu_si256((const __m256i *)(w + 2 * i)), odd_even);
        uv = _mm256_xor_si256(uv, flip);
        __m256d u = _mm256_mul_pd(
            _mm256_cvtepi32_pd(_mm256_castsi256_si128(uv)), scale);
        __m256d v = _mm256_add_pd(
            _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(uv, 1)),
                          scale),
            half);
        __m256d us = _mm256_sub_pd(half, _mm256_andnot_pd(sign, u));
        __m256d x =
            _mm256_add_pd(_mm256_div_pd(_mm256_mul_pd(two, a4), us), b4);
        x = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(x, u), mu), c043);
        __m256d r = _mm256_sub_pd(_mm256_add_pd(x, big), big);
        r = _mm256_sub_pd(r,
                          _mm256_and_pd(_mm256_cmp_pd(r, x, _CMP_GT_OQ), one));
        _mm256_storeu_pd(C->kd + i, r);
        __m256d acc =
            _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(us, c007, _CMP_GE_OQ),
                                        _mm256_cmp_pd(v, vr4, _CMP_LE_OQ)),
                          _mm256_cmp_pd(x, zero, _CMP_GE_OQ));
        __m256d rej =
            _mm256_or_pd(_mm256_or_pd(_mm256_cmp_pd(us, zero, _CMP_LE_OQ),
                                      _mm256_cmp_pd(x, zero, _CMP_LT_OQ)),
                         _mm256_and_pd(_mm256_cmp_pd(us, c0013, _CMP_LT_OQ),
                                       _mm256_cmp_pd(v, us, _CMP_GT_OQ)));
        int ma = _mm256_movemask_pd(acc) & me,
            mr = _mm256_movemask_pd(rej) & me & ~ma;
        bits_put(C->rej, i, (unsigned)mr);
        bits_put(C->und, i, (unsigned)(me & ~(ma | mr)));
        /* accepted: (float)(kd inv) over the old value */
        __m128 out = _mm256_cvtpd_ps(_mm256_mul_pd(r, iv));
        __m128i m32 = _mm_cmpeq_epi32(
            _mm_and_si128(_mm_set1_epi32(ma), lane_bit), lane_bit);
        _mm_storeu_ps(px + i, _mm_blendv_ps(_mm_loadu_ps(px + i), out,
                                            _mm_castsi128_ps(m32)));
    }
    return j;
}
#endif

/* First trials of the chunk's pixels [0, m) (entry e[j], photons ph[],
 * words w[2 j], w[2 j + 1]): accepted ones written, the others marked in
 * C's bit maps. The constants of a mean are computed once per run of
 * equal means (the per-distinct-mean cache of piecewise-constant images);
 * after other noise every mean differs, and they come two at a time from
 * SIMD sqrt and divide. */
static void ptrs_first(ptrs_chunk *C, float *px, const uint16_t *e, size_t m,
                       const double *ph, const double *inv, const uint32_t *w) {
    memset(C->und, 0, sizeof C->und);
    memset(C->rej, 0, sizeof C->rej);
    memset(C->low, 0, sizeof C->low);
    size_t j = 0;
#ifdef __AVX2__
    j = ptrs_first4(C, px, e, m, ph, inv, w);
#endif
#ifdef __SSE2__
    const size_t j0 = j; /* the SSE2 pairs start where AVX2 stopped */
    const __m128i flip = _mm_set1_epi32((int)0x80000000u);
    const __m128d scale = _mm_set1_pd(0x1p-32), half = _mm_set1_pd(0.5);
    const __m128d two = _mm_set1_pd(2.0), c043 = _mm_set1_pd(0.43);
    const __m128d big = _mm_set1_pd(0x1p52), one = _mm_set1_pd(1.0);
    const __m128d zero = _mm_setzero_pd(), sign = _mm_set1_pd(-0.0);
    const __m128d c007 = _mm_set1_pd(0.07), c0013 = _mm_set1_pd(0.013);
    const __m128d lo = _mm_set1_pd(POISSON_MU_PTRS);
    const __m128d hi = _mm_set1_pd(POISSON_MU_MAX);
    /* Two loops, so that the long latencies (sqrt, divide) of many pairs
     * overlap: means and constants, then the trials. */
    uint8_t elig2[NOISE_CHUNK / 2];
    __m128d pmu = _mm_set1_pd(-1.0), b = zero, a = zero, v_r = zero;
    for (; j + 2 <= m; j += 2) {
        __m128d p = _mm_set_pd(ph[e[j + 1]], ph[e[j]]);
        __m128 v2 = _mm_castpd_ps(_mm_load_sd((const double *)(px + j)));
        __m128d vd = _mm_cvtps_pd(v2);
        /* mu = v > 0 ? v p : 0 (NaN: 0) */
        __m128d mu = _mm_mul_pd(_mm_and_pd(_mm_cmpgt_pd(vd, zero), vd), p);
        __m128d sel = _mm_cmpgt_pd(p, zero), elig = _mm_cmpge_pd(mu, lo);
        mu = _mm_min_pd(mu, hi);
        _mm_storeu_pd(C->mu + j, mu);
        int ms = _mm_movemask_pd(sel), me = _mm_movemask_pd(elig);
        elig2[j / 2] = (uint8_t)me;
        if (ms & ~me) bits_put(C->low, j, (unsigned)(ms & ~me));
        if (!me) continue;
        if (_mm_movemask_pd(_mm_cmpeq_pd(mu, pmu)) != 3) {
            /* as ptrs_prepare */
            pmu = mu;
            b = _mm_add_pd(_mm_set1_pd(0.931),
                           _mm_mul_pd(_mm_set1_pd(2.53), _mm_sqrt_pd(mu)));
            a = _mm_add_pd(_mm_set1_pd(-0.059),
                           _mm_mul_pd(_mm_set1_pd(0.02483), b));
            v_r = _mm_sub_pd(_mm_set1_pd(0.9277),
                             _mm_div_pd(_mm_set1_pd(3.6224),
                                        _mm_sub_pd(b, _mm_set1_pd(2.0))));
        }
        _mm_storeu_pd(C->b + j, b);
        _mm_storeu_pd(C->a + j, a);
        _mm_storeu_pd(C->v_r + j, v_r);
    }
    for (size_t i = j0; i + 2 <= j; i += 2) {
        int me = elig2[i / 2];
        if (!me) continue;
        __m128d mu = _mm_loadu_pd(C->mu + i), b2 = _mm_loadu_pd(C->b + i);
        __m128d a2 = _mm_loadu_pd(C->a + i), vr2 = _mm_loadu_pd(C->v_r + i);
        __m128d iv = _mm_set_pd(inv[e[i + 1]], inv[e[i]]);
        /* the trial, as ptrs_trial; words u0 v0 u1 v1 -> u0 u1 | v0 v1 */
        __m128i uv = _mm_shuffle_epi32(
            _mm_loadu_si128((const __m128i *)(w + 2 * i)), 0xD8);
        uv = _mm_xor_si128(uv, flip);
        __m128d u = _mm_mul_pd(_mm_cvtepi32_pd(uv), scale);
        __m128d v = _mm_add_pd(
            _mm_mul_pd(_mm_cvtepi32_pd(_mm_unpackhi_epi64(uv, uv)), scale),
            half);
        __m128d us = _mm_sub_pd(half, _mm_andnot_pd(sign, u));
        __m128d x = _mm_add_pd(_mm_div_pd(_mm_mul_pd(two, a2), us), b2);
        x = _mm_add_pd(_mm_add_pd(_mm_mul_pd(x, u), mu), c043);
        __m128d r = _mm_sub_pd(_mm_add_pd(x, big), big);
        r = _mm_sub_pd(r, _mm_and_pd(_mm_cmpgt_pd(r, x), one));
        _mm_storeu_pd(C->kd + i, r);
        __m128d acc =
            _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(us, c007), _mm_cmple_pd(v, vr2)),
                       _mm_cmpge_pd(x, zero));
        __m128d rej =
            _mm_or_pd(_mm_or_pd(_mm_cmple_pd(us, zero), _mm_cmplt_pd(x, zero)),
                      _mm_and_pd(_mm_cmplt_pd(us, c0013), _mm_cmpgt_pd(v, us)));
        int ma = _mm_movemask_pd(acc) & me,
            mr = _mm_movemask_pd(rej) & me & ~ma;
        acc =
            _mm_and_pd(acc, _mm_castsi128_pd(_mm_set_epi64x(
                                -(long long)(me >> 1), -(long long)(me & 1))));
        bits_put(C->rej, i, (unsigned)mr);
        bits_put(C->und, i, (unsigned)(me & ~(ma | mr)));
        /* accepted: (float)(kd inv) over the old value */
        __m128 v2 = _mm_castpd_ps(_mm_load_sd((const double *)(px + i)));
        __m128 out = _mm_cvtpd_ps(_mm_mul_pd(r, iv));
        __m128 m32 = _mm_castpd_ps(acc);
        m32 = _mm_shuffle_ps(m32, m32, 0x08); /* lanes 0, 2 -> 0, 1 */
        out = _mm_or_ps(_mm_and_ps(m32, out), _mm_andnot_ps(m32, v2));
        _mm_storel_pi((__m64 *)(px + i), out);
    }
#endif
    for (; j < m; j++)
        ptrs_first1(C, px, j, ph[e[j]], inv[e[j]], w);
}

/* Indices of the set bits of a chunk bit map, in order; returns the count. */
static size_t bits_list(const uint64_t *map, uint16_t *idx) {
    size_t n = 0;
    for (size_t q = 0; q < NOISE_CHUNK / 64; q++)
        for (uint64_t b = map[q]; b; b &= b - 1)
            idx[n++] = (uint16_t)(q * 64 + (size_t)__builtin_ctzll(b));
    return n;
}

/* v' = Poisson(max(v, 0) * photons) / photons, pixel i on words
 * 2 (i % 2), 2 (i % 2) + 1 of counter i / 2. ph[e] = photons of entry e
 * (0: invalid, the pixels stay as they are), inv[e] = 1 / ph[e]. Per
 * chunk: the first trials of all pixels in one pass; the undecided ones'
 * log tests; the rest (retries, small means) as lists. */
static void apply_poisson(sf_imgf *im, const noise_sel *s, const double *ph,
                          const double *inv, sf_rng_key k) {
    size_t n = (size_t)im->nx * (size_t)im->ny;
    uint32_t w[2 * NOISE_CHUNK];
    uint16_t e[NOISE_CHUNK], idx[NOISE_CHUNK];
    uint64_t ctr[NOISE_CHUNK];
    uint32_t blk[4 * NOISE_CHUNK];
    ptrs_chunk C;
    ptrs_list L[2]; /* ~30 KB of stack, with C and lf below ~55 KB */
    poisson_lf lf[1];
    double inv_mu = -1.0, exp_neg_mu = 1.0; /* inversion: last mean */
    lf->n = 0;
    for (size_t i0 = 0; i0 < n; i0 += NOISE_CHUNK) {
        size_t m = n - i0 < NOISE_CHUNK ? n - i0 : NOISE_CHUNK;
        if (!sel_chunk(s, i0, m, e)) continue;
        sf__philox_blocks(k, i0 / 2, NULL, (m + 1) / 2, w);
        float *px = im->px + i0;
        ptrs_first(&C, px, e, m, ph, inv, w);
        /* small means: inversion (or 0) */
        size_t nl = bits_list(C.low, idx);
        for (size_t q = 0; q < nl; q++) {
            size_t j = idx[q];
            double mu = C.mu[j];
            if (!(mu > 0.0)) {
                px[j] = 0.0f; /* also NaN */
                continue;
            }
            if (mu != inv_mu) {
                inv_mu = mu;
                exp_neg_mu = exp(-mu);
            }
            unsigned x = poisson_invert(mu, exp_neg_mu, w[2 * j], w[2 * j + 1]);
            px[j] = (float)((double)x * inv[e[j]]);
        }
        /* undecided first trials: the log test, as a list */
        size_t nu = bits_list(C.und, idx);
        if (nu) {
            ptrs_list *U = &L[0];
            for (size_t q = 0; q < nu; q++) {
                size_t j = idx[q];
                U->pix[q] = (uint16_t)j;
                U->w[2 * q] = w[2 * j];
                U->w[2 * q + 1] = w[2 * j + 1];
                U->mu[q] = C.mu[j];
                U->a[q] = C.a[j];
                U->b[q] = C.b[j];
                U->kd[q] = C.kd[j];
                idx[q] = (uint16_t)q;
            }
            U->n = nu;
            ptrs_slow_list(U, idx, nu, lf);
            for (size_t q = 0; q < nu; q++) {
                /* a rejected pixel gets 0 for now, overwritten when
                 * accepted */
                unsigned j = U->pix[q], acc = U->st[q];
                px[j] = (float)(sel_d0(acc, U->kd[q]) * inv[e[j]]);
                bits_put(C.rej, j, !acc);
            }
        }
        /* rejected first trials: again with their retry words */
        size_t nr = bits_list(C.rej, idx);
        if (!nr) continue;
        ptrs_list *R = &L[0];
        for (size_t q = 0; q < nr; q++) {
            size_t j = idx[q];
            ctr[q] = i0 / 2 + j / 2;
            R->pix[q] = (uint16_t)j;
            R->mu[q] = C.mu[j];
            R->b[q] = C.b[j];
            R->a[q] = C.a[j];
            R->v_r[q] = C.v_r[j];
        }
        sf__philox_blocks(retry_key(k, 1), 0, ctr, nr, blk);
        for (size_t q = 0; q < nr; q++) {
            unsigned h = R->pix[q] & 1u;
            R->w[2 * q] = blk[4 * q + 2 * h];
            R->w[2 * q + 1] = blk[4 * q + 2 * h + 1];
        }
        R->n = nr;
        ptrs_run(R, &L[1], px, e, inv, k, i0 / 2, 2, lf);
    }
}

/* ---------------------------------------------------------------- perlin */

#define PERLIN_TW          128             /* tile width, px */
#define PERLIN_TH          64              /* tile height, px */
#define PERLIN_LMAX        (PERLIN_TW + 4) /* lattice columns cached per chunk */
#define PERLIN_MAX_OCTAVES 32         /* octave index uses counter bits 41+ */
#define PERLIN_LMASK       0xFFFFFull /* lattice indices wrap at 2^20 */

/* fBm: v + amplitude * sum_o w_o perlin_o(x, y) / sum_o |w_o|, w_o =
 * persistence^o, octave o with cells * 2^o lattice cells across each axis
 * (pixel centres, offset by a random fraction of a cell per octave so that
 * octaves do not share lattice lines). Computed in tiles (stack only, no
 * allocation): per octave, per lattice row, the x-interpolated terms are
 * computed once per pixel column and reused by every image row in that
 * lattice cell, leaving ~8 flops per pixel and octave. */
typedef struct perlin_oct {
    double sx, sy;  /* lattice cells per pixel */
    double ox, oy;  /* lattice offset in [0,1) */
    float w;        /* persistence^o */
    uint64_t cbase; /* o << 41 */
} perlin_oct;

/* Ken Perlin's improved fade 6t^5 - 15t^4 + 10t^3. */
static inline float fade(float t) {
    return t * t * t * (t * (t * 6.0f - 15.0f) + 10.0f);
}

/* Gradients of lattice row `ly`, columns lx0 .. lx0 + n - 1. */
static void grad_row(sf_rng_key k, uint64_t cbase, uint64_t ly, uint64_t lx0,
                     int n, const float dirs[256][2], float *gx, float *gy) {
    uint32_t w[4];
    uint64_t last = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        uint64_t lx = (lx0 + (uint64_t)i) & PERLIN_LMASK;
        uint64_t ctr = cbase | (ly & PERLIN_LMASK) << 20 | lx >> 4;
        if (ctr != last) {
            sf__rng_block_inline(k, ctr, w);
            last = ctr;
        }
        unsigned b = (w[(lx >> 2) & 3] >> (8 * (lx & 3))) & 255u;
        gx[i] = dirs[b][0];
        gy[i] = dirs[b][1];
    }
}

/* Along lattice row r, the x-interpolated parts of the noise at the
 * chunk's pixels: with corner gradients (gx, gy) of columns c, c + 1,
 *   S(x) = lerp(gx_c fx, gx_{c+1} (fx - 1), u),  T(x) = lerp(gy_c, gy_{c+1}, u)
 * so that the corner terms of row r at height dy are S + dy T. */
static void perlin_lattice_row(const perlin_oct *po, sf_rng_key k,
                               const float dirs[256][2], uint64_t r,
                               uint64_t lx0, int ncol, const int *cix,
                               const float *fx, const float *fxm1,
                               const float *fu, int c0, int c1, float *S,
                               float *T) {
    float gx[PERLIN_LMAX], gy[PERLIN_LMAX];
    grad_row(k, po->cbase, r, lx0, ncol, dirs, gx, gy);
    for (int i = c0; i < c1; i++) {
        int c = cix[i];
        float sl = gx[c] * fx[i], sr = gx[c + 1] * fxm1[i];
        S[i] = sl + fu[i] * (sr - sl);
        T[i] = gy[c] + fu[i] * (gy[c + 1] - gy[c]);
    }
}

/* One octave over columns [c0, c1) of the tile at (tx0, ty0), th rows,
 * accumulated into acc (th x PERLIN_TW). Columns are chosen by the
 * caller so that they span at most PERLIN_LMAX - 2 lattice cells. */
static void perlin_chunk(const perlin_oct *po, sf_rng_key k,
                         const float dirs[256][2], int tx0, int ty0, int c0,
                         int c1, int th, float *acc) {
    float fx[PERLIN_TW], fxm1[PERLIN_TW], fu[PERLIN_TW];
    float sa[PERLIN_TW], ta[PERLIN_TW], sb[PERLIN_TW], tb[PERLIN_TW];
    uint64_t lx[PERLIN_TW];
    int cix[PERLIN_TW];
    if (c0 < 0 || c1 > PERLIN_TW || c1 <= c0) return;
    for (int i = c0; i < c1; i++) {
        double X = ((double)(tx0 + i) + 0.5) * po->sx + po->ox;
        double fl = floor(X);
        lx[i] = (uint64_t)fl;
        fx[i] = (float)(X - fl);
        fxm1[i] = fx[i] - 1.0f;
        fu[i] = fade(fx[i]);
    }
    uint64_t lx0 = lx[c0];
    int ncol = (int)(lx[c1 - 1] - lx0) + 2; /* corners left and right */
    for (int i = c0; i < c1; i++)
        cix[i] = (int)(lx[i] - lx0);

    /* s0, t0: lattice row ly (below); s1, t1: row ly + 1 (above). */
    float *s0 = sa, *t0 = ta, *s1 = sb, *t1 = tb;
    uint64_t cached = UINT64_MAX;
    for (int j = 0; j < th; j++) {
        double Y = ((double)(ty0 + j) + 0.5) * po->sy + po->oy;
        double fl = floor(Y);
        uint64_t ly = (uint64_t)fl;
        float fy = (float)(Y - fl), fv = fade(fy), fym1 = fy - 1.0f;
        if (ly != cached) {
            if (cached != UINT64_MAX && ly == cached + 1) {
                float *t = s0;
                s0 = s1;
                s1 = t;
                t = t0;
                t0 = t1;
                t1 = t;
            } else {
                perlin_lattice_row(po, k, dirs, ly, lx0, ncol, cix, fx, fxm1,
                                   fu, c0, c1, s0, t0);
            }
            perlin_lattice_row(po, k, dirs, ly + 1, lx0, ncol, cix, fx, fxm1,
                               fu, c0, c1, s1, t1);
            cached = ly;
        }
        /* noise = lerp(S0 + fy T0, S1 + (fy - 1) T1, v), weighted by w */
        const float a = po->w * (1.0f - fv), b = po->w * fv;
        float *row = acc + (size_t)j * PERLIN_TW;
#pragma omp simd
        for (int i = c0; i < c1; i++)
            row[i] += a * (s0[i] + fy * t0[i]) + b * (s1[i] + fym1 * t1[i]);
    }
}

/* Octaves and output scale of one parameter set; 0 if it changes nothing
 * (no octaves, bad numbers, all weights zero). off[o] = (ox, oy). */
static int perlin_setup(const sf_noise_params *p, int nx, int ny,
                        const double (*off)[2], perlin_oct *oct, float *scale) {
    int n_oct = p->octaves;
    if (n_oct < 1 || !(p->cells > 0.0) || !isfinite(p->cells) ||
        !isfinite(p->amplitude) || !isfinite(p->persistence))
        return 0;
    if (n_oct > PERLIN_MAX_OCTAVES) n_oct = PERLIN_MAX_OCTAVES;
    double wsum = 0.0, w = 1.0;
    for (int o = 0; o < n_oct; o++) {
        double f = p->cells * ldexp(1.0, o); /* cells across, octave o */
        oct[o].cbase = (uint64_t)o << 41;
        oct[o].sx = f / nx;
        oct[o].sy = f / ny;
        oct[o].ox = off[o][0];
        oct[o].oy = off[o][1];
        oct[o].w = (float)w;
        wsum += fabs((double)oct[o].w);
        w *= p->persistence;
    }
    if (!(wsum > 0.0)) return 0;
    /* Unit-gradient 2-D Perlin noise lies in [-sqrt(2)/2, sqrt(2)/2]; the
     * octave sum of noise * sqrt(2) weighted by w_o / sum |w_o| stays in
     * [-1, 1], so pixels move by at most the amplitude. */
    *scale = (float)(p->amplitude * 1.4142135623730951 / wsum);
    return n_oct;
}

/* Bounding box, within the current tile, of one entry's pixels. */
typedef struct perlin_box {
    uint32_t stamp; /* tile number + 1 when present in the current tile */
    uint8_t x0, x1, y0, y1; /* [x0, x1] x [y0, y1], inclusive */
} perlin_box;

/* fBm of every entry over its own pixels. The field of an entry at a pixel
 * depends only on its parameters, the key and the pixel's position, so it
 * is computed tile by tile, per entry present in the tile, over the
 * entry's bounding box there (one pass over the image however many
 * entries). box has one slot per entry (n_entries + 1). */
static void apply_perlin(sf_imgf *im, const noise_sel *s,
                         const sf_noise_params *tab, sf_rng_key k,
                         perlin_box *box) {
    const int nx = im->nx, ny = im->ny;
    /* 256 unit gradient directions, half a step off the axes. */
    float dirs[256][2];
    for (int b = 0; b < 256; b++) {
        double a = 6.283185307179586 * ((double)b + 0.5) / 256.0;
        dirs[b][0] = (float)cos(a);
        dirs[b][1] = (float)sin(a);
    }
    /* Per-octave lattice offsets: a function of (k, o) alone. */
    double off[PERLIN_MAX_OCTAVES][2];
    for (int o = 0; o < PERLIN_MAX_OCTAVES; o++) {
        uint32_t r[4];
        sf__rng_block_inline(k, (uint64_t)o << 41 | 1ull << 40, r);
        off[o][0] = u01_2w(r[0], r[1]);
        off[o][1] = u01_2w(r[2], r[3]);
    }
    perlin_oct oct[PERLIN_MAX_OCTAVES];
    float acc[PERLIN_TW * PERLIN_TH];
    uint16_t et[PERLIN_TW * PERLIN_TH]; /* entries of the tile's pixels */
    uint16_t present[PERLIN_TW * PERLIN_TH];
    uint32_t tile = 0;
    for (int ty0 = 0; ty0 < ny; ty0 += PERLIN_TH) {
        int th = ny - ty0 < PERLIN_TH ? ny - ty0 : PERLIN_TH;
        for (int tx0 = 0; tx0 < nx; tx0 += PERLIN_TW) {
            int tw = nx - tx0 < PERLIN_TW ? nx - tx0 : PERLIN_TW;
            tile++;
            /* Entries present and their boxes, run by run (the whole
             * image: entry 1 over the whole tile). */
            int np = 0;
            if (!s->lab) {
                box[1].x0 = box[1].y0 = 0;
                box[1].x1 = (uint8_t)(tw - 1);
                box[1].y1 = (uint8_t)(th - 1);
                present[np++] = 1;
            }
            for (int j = 0; j < th && s->lab; j++) {
                uint16_t *er = et + (size_t)j * PERLIN_TW;
                size_t i0 = (size_t)(ty0 + j) * (size_t)nx + (size_t)tx0;
                if (!sel_chunk(s, i0, (size_t)tw, er)) continue;
                unsigned diff = 0; /* one run (whole image, big shapes)? */
                for (int i = 1; i < tw; i++)
                    diff |= er[i] != er[0];
                for (int i = 0; i < tw;) {
                    unsigned l = er[i];
                    int r = diff ? i + 1 : tw;
                    while (r < tw && er[r] == l)
                        r++;
                    if (l) {
                        perlin_box *bx = &box[l];
                        if (bx->stamp != tile) {
                            bx->stamp = tile;
                            bx->x0 = (uint8_t)i;
                            bx->x1 = (uint8_t)(r - 1);
                            bx->y0 = bx->y1 = (uint8_t)j;
                            present[np++] = (uint16_t)l;
                        } else {
                            if (i < bx->x0) bx->x0 = (uint8_t)i;
                            if (r - 1 > bx->x1) bx->x1 = (uint8_t)(r - 1);
                            bx->y1 = (uint8_t)j;
                        }
                    }
                    i = r;
                }
            }
            for (int q = 0; q < np; q++) {
                unsigned l = present[q];
                float scale;
                int n_oct = perlin_setup(&tab[l], nx, ny, off, oct, &scale);
                if (!n_oct) continue;
                const perlin_box *bx = &box[l];
                int x0 = bx->x0, x1 = bx->x1 + 1, y0 = bx->y0, y1 = bx->y1 + 1;
                for (int j = y0; j < y1; j++)
                    memset(acc + (size_t)j * PERLIN_TW + x0, 0,
                           sizeof(float) * (size_t)(x1 - x0));
                for (int o = 0; o < n_oct; o++) {
                    /* A chunk of cw pixels spans < cw * sx + 2 lattice
                     * cells; narrow the chunk when the lattice is finer
                     * than pixels. */
                    int cw = PERLIN_TW;
                    if (oct[o].sx > 1.0) {
                        double c = (double)(PERLIN_LMAX - 4) / oct[o].sx;
                        cw = c < 1.0 ? 1 : (int)c;
                    }
                    for (int c0 = x0; c0 < x1; c0 += cw) {
                        int c1 = x1 - c0 < cw ? x1 : c0 + cw;
                        perlin_chunk(&oct[o], k, dirs, tx0, ty0 + y0, c0, c1,
                                     y1 - y0, acc + (size_t)y0 * PERLIN_TW);
                    }
                }
                for (int j = y0; j < y1; j++) {
                    size_t i0 = (size_t)(ty0 + j) * (size_t)nx + (size_t)tx0;
                    const float *a = acc + (size_t)j * PERLIN_TW;
                    const uint16_t *er = et + (size_t)j * PERLIN_TW;
                    float *px = im->px + i0;
                    if (!s->lab) {
                        for (int i = x0; i < x1; i++)
                            px[i] += scale * a[i];
                        continue;
                    }
                    for (int i = x0; i < x1; i++)
                        px[i] = sel_f(er[i] == l, px[i] + scale * a[i], px[i]);
                }
            }
        }
    }
}

/* ----------------------------------------------------------------- apply */

/* One application over the pixels and parameter table of s: entry e >= 1
 * uses tab[e] (every tab[e].model == model); n_entries = the largest
 * entry. Scratch: a float sigma per entry for the normal models, a box per
 * entry for perlin; taken from the stack when small. Returns -1 (nothing
 * done) without memory for it. */
static int noise_run(int model, const noise_sel *s, const sf_noise_params *tab,
                     int n_entries, sf_imgf *im, sf_rng_key k) {
    enum { SMALL = 256 };
    union {
        float sig[SMALL + 1];
        double ph[2 * (SMALL + 1)];
        perlin_box box[SMALL + 1];
    } small;
    void *scratch = &small, *heap = NULL;
    size_t each = model == SF_NOISE_PERLIN    ? sizeof(perlin_box)
                  : model == SF_NOISE_POISSON ? 2 * sizeof(double)
                                              : sizeof(float);
    if (n_entries > SMALL) {
        scratch = heap = calloc((size_t)n_entries + 1, each);
        if (!heap) return -1;
    } else {
        memset(&small, 0, sizeof small);
    }
    if (model == SF_NOISE_GAUSSIAN || model == SF_NOISE_SPECKLE ||
        model == SF_NOISE_RICIAN) {
        float *sig = scratch;
        sig[0] = 0.0f; /* entry 0: computed, never stored */
        for (int l = 1; l <= n_entries; l++)
            sig[l] = (float)tab[l].sigma;
    }
    double *ph = scratch, *inv = ph + n_entries + 1;
    if (model == SF_NOISE_POISSON) {
        ph[0] = inv[0] = 0.0; /* entry 0: untouched */
        for (int l = 1; l <= n_entries; l++) {
            double p = tab[l].photons;
            int ok = p > 0.0 && isfinite(p);
            ph[l] = ok ? p : 0.0;
            inv[l] = ok ? 1.0 / p : 0.0;
        }
    }
    switch (model) {
    case SF_NOISE_GAUSSIAN: apply_normal1(im, s, scratch, k, 0); break;
    case SF_NOISE_SPECKLE: apply_normal1(im, s, scratch, k, 1); break;
    case SF_NOISE_RICIAN: apply_rician(im, s, scratch, k); break;
    case SF_NOISE_POISSON: apply_poisson(im, s, ph, inv, k); break;
    case SF_NOISE_PERLIN: apply_perlin(im, s, tab, k, scratch); break;
    default: break;
    }
    free(heap);
    return 0;
}

void sf__noise_apply(const sf_noise_params *p, sf_imgf *im,
                     const uint16_t *mask, uint16_t mask_value, sf_rng_key k) {
    if (!p || !im || !im->px || im->nx <= 0 || im->ny <= 0) return;
    sf_noise_params tab[2];
    tab[0] = tab[1] = *p;
    noise_sel s = {mask, 0, mask_value};
    (void)noise_run(p->model, &s, tab, 1, im, k); /* 1 entry: no heap */
}

void sf__noise_apply_labels(const sf_noise_params *params, int n_labels,
                            sf_imgf *im, const uint16_t *labels, sf_rng_key k) {
    if (!params || n_labels <= 0 || !im || !im->px || im->nx <= 0 ||
        im->ny <= 0 || !labels)
        return;
    if (n_labels > UINT16_MAX) n_labels = UINT16_MAX;
    const int model = params[1].model;
    for (int l = 2; l <= n_labels; l++)
        assert(params[l].model == model && "one model per application");
    noise_sel s = {labels, n_labels, 0};
    if (noise_run(model, &s, params, n_labels, im, k) == 0) return;
    /* No memory for the scratch: label by label (the same result). */
    for (int l = 1; l <= n_labels; l++)
        sf__noise_apply(&params[l], im, labels, (uint16_t)l, k);
}
