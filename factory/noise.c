/*
 * noise.c - per-pixel noise models: gaussian, poisson, perlin (fBm),
 * speckle, rician.
 *
 * Every model is a pure function of (parameters, stream key, input pixel,
 * pixel position): per-pixel randomness comes from the counter-based RNG
 * (sf_rng_block, through its inline twin sf__rng_block_inline) with a
 * counter derived from the pixel index, never from a sequential state. So the
 * result does not depend on threads, on the order pixels are visited, or on
 * which other pixels a mask selects: applying a model inside a mask gives,
 * there, exactly the values the unmasked apply gives. Pixels outside the mask
 * are not written at all.
 *
 * Counter layout per model (i = y * nx + x, the row-major pixel index):
 *   gaussian, speckle  ctr = i / 4, word i % 4: one ziggurat normal.
 *   rician             ctr = i / 2, words 2 (i % 2) and 2 (i % 2) + 1:
 *                      the normals z1, z2.
 *   poisson            ctr = i, all 4 words (two 53-bit uniforms).
 *   perlin             no per-pixel draws. Lattice gradients: counter
 *                      o << 41 | ly << 20 | lx >> 4, byte lx % 16 of the
 *                      block picks one of 256 unit directions (o = octave,
 *                      lx, ly lattice indices mod 2^20). Per-octave lattice
 *                      offset: counter o << 41 | 1 << 40.
 * Rare rejection steps (ziggurat wedges and tail, Poisson PTRS retries)
 * take their words from derived keys at the variate's own counter (see
 * retry_key): normal q (q = i for gaussian/speckle, 2 i + t for rician)
 * and Poisson pixel i.
 *
 * Values are not clamped to [0,1]: the quantiser clamps at the end.
 */
#include "sf_int.h"

#include <string.h>

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
    sf__buf_puts(b, "{\"model\":");
    sf__json_str(b, sf_noise_name(m)); /* the YAML key; "?" if unknown */
    switch (m) {
    case SF_NOISE_GAUSSIAN:
    case SF_NOISE_SPECKLE:
    case SF_NOISE_RICIAN:
        sf__buf_puts(b, ",\"sigma\":");
        sf__json_num(b, p->sigma);
        break;
    case SF_NOISE_POISSON:
        sf__buf_puts(b, ",\"photons\":");
        sf__json_num(b, p->photons);
        break;
    case SF_NOISE_PERLIN:
        sf__buf_puts(b, ",\"amplitude\":");
        sf__json_num(b, p->amplitude);
        sf__buf_printf(b, ",\"octaves\":%d", p->octaves);
        sf__buf_puts(b, ",\"cells\":");
        sf__json_num(b, p->cells);
        sf__buf_puts(b, ",\"persistence\":");
        sf__json_num(b, p->persistence);
        break;
    default: break;
    }
    sf__buf_puts(b, "}");
}

/* --------------------------------------------------------------- helpers */

static inline int selected(const uint16_t *mask, uint16_t mv, size_t i) {
    return !mask || mask[i] == mv;
}

/* Does any of pixels [i, i + n) belong to the mask? */
static inline int any_selected(const uint16_t *mask, uint16_t mv, size_t i,
                               size_t n) {
    if (!mask) return 1;
    for (size_t j = 0; j < n; j++)
        if (mask[i + j] == mv) return 1;
    return 0;
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

/* core test: u < kn[i] (u: 24 bits) <=> u x_i / 2^24 < x_{i+1} */
static const uint32_t zig_kn[128] = {
    15555141, 15707338, 16049219, 16208408, 16302111, 16364394, 16409026,
    16442690, 16469045, 16490265, 16507733, 16522368, 16534809, 16545511,
    16554812, 16562965, 16570163, 16576559, 16582273, 16587402, 16592025,
    16596206, 16599999, 16603449, 16606593, 16609465, 16612091, 16614494,
    16616696, 16618714, 16620563, 16622257, 16623808, 16625226, 16626520,
    16627698, 16628768, 16629737, 16630609, 16631390, 16632085, 16632698,
    16633231, 16633689, 16634075, 16634390, 16634637, 16634817, 16634934,
    16634987, 16634979, 16634910, 16634781, 16634593, 16634346, 16634041,
    16633677, 16633254, 16632773, 16632233, 16631634, 16630974, 16630253,
    16629470, 16628624, 16627713, 16626735, 16625690, 16624575, 16623387,
    16622125, 16620786, 16619367, 16617865, 16616276, 16614597, 16612822,
    16610949, 16608972, 16606885, 16604682, 16602358, 16599905, 16597314,
    16594579, 16591688, 16588633, 16585401, 16581980, 16578357, 16574515,
    16570437, 16566104, 16561496, 16556587, 16551351, 16545758, 16539772,
    16533356, 16526462, 16519042, 16511034, 16502372, 16492974, 16482747,
    16471581, 16459346, 16445883, 16431005, 16414482, 16396029, 16375294,
    16351834, 16325081, 16294298, 16258511, 16216402, 16166150, 16105158,
    16029597, 15933580, 15807564, 15635012, 15384587, 14988942, 14272656,
    12590647, 0,
};

/* x_i / 2^24 */
static const float zig_wn[128] = {
    2.21317187e-07f, 2.05196134e-07f, 1.92110836e-07f, 1.83774761e-07f,
    1.77544132e-07f, 1.72516346e-07f, 1.68271384e-07f, 1.6457852e-07f,
    1.61296938e-07f, 1.58334161e-07f, 1.55626073e-07f, 1.53126337e-07f,
    1.50800328e-07f, 1.48621471e-07f, 1.46568905e-07f, 1.44625941e-07f,
    1.42779009e-07f, 1.41016923e-07f, 1.39330342e-07f, 1.37711387e-07f,
    1.36153344e-07f, 1.34650443e-07f, 1.33197689e-07f, 1.31790722e-07f,
    1.30425717e-07f, 1.29099297e-07f, 1.27808463e-07f, 1.26550538e-07f,
    1.25323125e-07f, 1.24124064e-07f, 1.22951405e-07f, 1.21803375e-07f,
    1.20678364e-07f, 1.19574897e-07f, 1.18491624e-07f, 1.17427305e-07f,
    1.16380795e-07f, 1.15351035e-07f, 1.14337045e-07f, 1.13337913e-07f,
    1.12352791e-07f, 1.11380884e-07f, 1.1042145e-07f,  1.09473792e-07f,
    1.08537257e-07f, 1.07611225e-07f, 1.06695115e-07f, 1.05788374e-07f,
    1.04890479e-07f, 1.04000934e-07f, 1.03119264e-07f, 1.02245017e-07f,
    1.01377762e-07f, 1.00517085e-07f, 9.96625873e-08f, 9.88138867e-08f,
    9.79706142e-08f, 9.71324134e-08f, 9.62989387e-08f, 9.54698551e-08f,
    9.46448365e-08f, 9.3823565e-08f,  9.30057301e-08f, 9.21910274e-08f,
    9.13791584e-08f, 9.0569829e-08f,  8.97627495e-08f, 8.8957633e-08f,
    8.81541954e-08f, 8.73521541e-08f, 8.65512277e-08f, 8.57511352e-08f,
    8.49515947e-08f, 8.41523237e-08f, 8.33530375e-08f, 8.25534485e-08f,
    8.1753266e-08f,  8.09521946e-08f, 8.01499338e-08f, 7.9346177e-08f,
    7.85406103e-08f, 7.77329117e-08f, 7.692275e-08f,   7.61097833e-08f,
    7.52936579e-08f, 7.44740069e-08f, 7.36504485e-08f, 7.28225845e-08f,
    7.19899982e-08f, 7.11522524e-08f, 7.0308887e-08f,  6.94594166e-08f,
    6.86033274e-08f, 6.77400739e-08f, 6.68690755e-08f, 6.59897117e-08f,
    6.51013182e-08f, 6.42031804e-08f, 6.32945278e-08f, 6.23745263e-08f,
    6.144227e-08f,   6.04967711e-08f, 5.95369478e-08f, 5.85616114e-08f,
    5.75694489e-08f, 5.65590039e-08f, 5.55286525e-08f, 5.44765741e-08f,
    5.34007163e-08f, 5.22987502e-08f, 5.11680152e-08f, 5.00054487e-08f,
    4.88074962e-08f, 4.75699938e-08f, 4.62880127e-08f, 4.49556508e-08f,
    4.35657448e-08f, 4.21094663e-08f, 4.05757379e-08f, 3.89503621e-08f,
    3.72146724e-08f, 3.53433455e-08f, 3.33006488e-08f, 3.10335182e-08f,
    2.84575127e-08f, 2.54242412e-08f, 2.16288227e-08f, 1.62315884e-08f,
};

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

static float zig_slow(uint32_t w, sf_rng_key k, uint64_t q) {
    uint32_t e[4];
    for (uint32_t j = 1;; j++) {
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

/* N(0,1) from word w; q names the variate for its retry draws. */
static inline float zig_normal(uint32_t w, sf_rng_key k, uint64_t q) {
    unsigned i = w & 127u;
    uint32_t u = w >> 8;
    if (u < zig_kn[i]) {
        /* Sign by flipping the sign bit: no data-dependent branch. */
        float z = (float)u * zig_wn[i];
        uint32_t b;
        memcpy(&b, &z, sizeof b);
        b ^= (w & 128u) << 24;
        memcpy(&z, &b, sizeof z);
        return z;
    }
    return zig_slow(w, k, q);
}

/* gaussian (additive) and speckle (multiplicative, v (1 + sigma z)): one
 * normal per pixel, word i % 4 of counter i / 4; retries at counter i. */
static void apply_normal1(sf_imgf *im, const uint16_t *mask, uint16_t mv,
                          sf_rng_key k, float sigma, int speckle) {
    size_t n = (size_t)im->nx * (size_t)im->ny;
    float *px = im->px;
    for (size_t base = 0; base < n; base += 4) {
        size_t m = n - base < 4 ? n - base : 4;
        if (!any_selected(mask, mv, base, m)) continue;
        uint32_t w[4];
        sf__rng_block_inline(k, base / 4, w);
        for (size_t j = 0; j < m; j++) {
            size_t i = base + j;
            if (!selected(mask, mv, i)) continue;
            /* gaussian v + sigma z, speckle v + (sigma z) v */
            float z = zig_normal(w[j], k, i), v = px[i];
            float g = speckle ? v : 1.0f;
            px[i] = v + (sigma * z) * g;
        }
    }
}

/* rician: |v + sigma (z1 + i z2)|, two normals per pixel: words
 * 2 (i % 2) and 2 (i % 2) + 1 of counter i / 2; retry draws at counters
 * 2 i and 2 i + 1. */
static void apply_rician(sf_imgf *im, const uint16_t *mask, uint16_t mv,
                         sf_rng_key k, float sigma) {
    size_t n = (size_t)im->nx * (size_t)im->ny;
    float *px = im->px;
    for (size_t base = 0; base < n; base += 2) {
        size_t m = n - base < 2 ? n - base : 2;
        if (!any_selected(mask, mv, base, m)) continue;
        uint32_t w[4];
        sf__rng_block_inline(k, base / 2, w);
        for (size_t j = 0; j < m; j++) {
            size_t i = base + j;
            if (!selected(mask, mv, i)) continue;
            float z1 = zig_normal(w[2 * j], k, 2 * i);
            float z2 = zig_normal(w[2 * j + 1], k, 2 * i + 1);
            float re = px[i] + sigma * z1, imag = sigma * z2;
            px[i] = sqrtf(re * re + imag * imag);
        }
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
#define R4(k) 1.0 / (k), 1.0 / ((k) + 1), 1.0 / ((k) + 2), 1.0 / ((k) + 3)
#define R16(k) R4(k), R4((k) + 4), R4((k) + 8), R4((k) + 12)
static const double poisson_recip[POISSON_NRECIP] = {
    0.0,   1.0,    1.0 / 2, 1.0 / 3, R4(4),
    R4(8), R4(12), R16(16), R16(32), R16(48)};
#undef R16
#undef R4

/* Per-mean constants, computed once per distinct mean (images are mostly
 * piecewise constant before noise, so the apply loop caches one set). */
typedef struct poisson_c {
    double mu;
    double exp_neg_mu;           /* inversion: P(X = 0) */
    double b, a, inv_alpha, v_r; /* PTRS */
    double log_mu; /* PTRS slow path, set on first use (0: not yet) */
} poisson_c;

static void poisson_prepare(poisson_c *c, double mu) {
    memset(c, 0, sizeof *c);
    c->mu = mu;
    if (mu < POISSON_MU_PTRS) {
        c->exp_neg_mu = exp(-mu);
        return;
    }
    /* Hoermann (1993), "The transformed rejection method for generating
     * Poisson random variables", algorithm PTRS, constants as published. */
    double s = sqrt(mu);
    c->b = 0.931 + 2.53 * s;
    c->a = -0.059 + 0.02483 * c->b;
    c->inv_alpha = 1.1239 + 1.1328 / (c->b - 3.4);
    c->v_r = 0.9277 - 3.6224 / (c->b - 2.0);
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

/* Uniform [0,1) with 53 bits from two words. */
static inline double u01_2w(uint32_t lo, uint32_t hi) {
    return sf__u01d(((uint64_t)hi << 32) | lo);
}

static unsigned poisson_draw(poisson_c *c, sf_rng_key k, uint64_t ctr) {
    uint32_t w[4];
    sf__rng_block_inline(k, ctr, w);
    if (c->mu < POISSON_MU_PTRS) {
        /* Inversion by sequential search: one 53-bit uniform. */
        double u = u01_2w(w[0], w[1]);
        double p = c->exp_neg_mu, f = p;
        unsigned x = 0;
        /* f saturates just below 1 in floating point; the cap (P(X > 200)
         * < 1e-200 for mu < 10) ends the walk where rounding would not. */
        while (u >= f && x < 200) {
            x++;
            p *= c->mu * (x < POISSON_NRECIP ? poisson_recip[x] : 1.0 / x);
            f += p;
        }
        return x;
    }
    for (uint32_t j = 0;; j++) {
        if (j) sf__rng_block_inline(retry_key(k, j), ctr, w);
        double u = u01_2w(w[0], w[1]) - 0.5;
        double v = u01_2w(w[2], w[3]);
        double us = 0.5 - fabs(u);
        if (us <= 0.0) continue; /* u = -0.5 exactly: the hat is infinite */
        double kd = floor((2.0 * c->a / us + c->b) * u + c->mu + 0.43);
        if (kd < 0.0) continue;
        if (us >= 0.07 && v <= c->v_r) return (unsigned)kd;
        if (us < 0.013 && v > us) continue;
        if (c->log_mu == 0.0) c->log_mu = log(c->mu); /* mu >= 10 */
        /* log(v) + log(inv_alpha) - log(a / us^2 + b), as one log: the
         * value only decides acceptance */
        double lhs = log(v * c->inv_alpha / (c->a / (us * us) + c->b));
        double rhs = -c->mu + kd * c->log_mu - log_gamma(kd + 1.0);
        if (lhs <= rhs) return (unsigned)kd;
    }
}

unsigned sf__poisson(double mu, sf_rng_key k, uint64_t ctr) {
    if (!(mu > 0.0)) return 0; /* also NaN */
    if (mu > POISSON_MU_MAX) mu = POISSON_MU_MAX;
    poisson_c c;
    poisson_prepare(&c, mu);
    return poisson_draw(&c, k, ctr);
}

/* v' = Poisson(max(v, 0) * photons) / photons, ctr = i. */
static void apply_poisson(sf_imgf *im, const uint16_t *mask, uint16_t mv,
                          sf_rng_key k, double photons) {
    if (!(photons > 0.0) || !isfinite(photons)) return;
    size_t n = (size_t)im->nx * (size_t)im->ny;
    float *px = im->px;
    const double inv_photons = 1.0 / photons;
    poisson_c c;
    poisson_prepare(&c, 0.0);
    c.mu = -1.0; /* nothing cached yet */
    for (size_t i = 0; i < n; i++) {
        if (!selected(mask, mv, i)) continue;
        double mu = px[i] > 0.0f ? (double)px[i] * photons : 0.0;
        if (!(mu > 0.0)) {
            px[i] = 0.0f;
            continue;
        }
        if (mu > POISSON_MU_MAX) mu = POISSON_MU_MAX;
        if (mu != c.mu) poisson_prepare(&c, mu);
        px[i] = (float)((double)poisson_draw(&c, k, i) * inv_photons);
    }
}

/* ---------------------------------------------------------------- perlin */

#define PERLIN_TW 128               /* tile width, px */
#define PERLIN_TH 64                /* tile height, px */
#define PERLIN_LMAX (PERLIN_TW + 4) /* lattice columns cached per chunk */
#define PERLIN_MAX_OCTAVES 32       /* octave index uses counter bits 41+ */
#define PERLIN_LMASK 0xFFFFFull     /* lattice indices wrap at 2^20 */

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

static void apply_perlin(const sf_noise_params *p, sf_imgf *im,
                         const uint16_t *mask, uint16_t mv, sf_rng_key k) {
    int nx = im->nx, ny = im->ny;
    int n_oct = p->octaves;
    if (n_oct < 1 || !(p->cells > 0.0) || !isfinite(p->cells) ||
        !isfinite(p->amplitude) || !isfinite(p->persistence))
        return;
    if (n_oct > PERLIN_MAX_OCTAVES) n_oct = PERLIN_MAX_OCTAVES;

    /* 256 unit gradient directions, half a step off the axes. */
    float dirs[256][2];
    for (int b = 0; b < 256; b++) {
        double a = 6.283185307179586 * ((double)b + 0.5) / 256.0;
        dirs[b][0] = (float)cos(a);
        dirs[b][1] = (float)sin(a);
    }
    perlin_oct oct[PERLIN_MAX_OCTAVES];
    double wsum = 0.0, w = 1.0;
    for (int o = 0; o < n_oct; o++) {
        double f = p->cells * ldexp(1.0, o); /* cells across, octave o */
        uint32_t r[4];
        oct[o].cbase = (uint64_t)o << 41;
        sf__rng_block_inline(k, oct[o].cbase | 1ull << 40, r);
        oct[o].sx = f / nx;
        oct[o].sy = f / ny;
        oct[o].ox = u01_2w(r[0], r[1]);
        oct[o].oy = u01_2w(r[2], r[3]);
        oct[o].w = (float)w;
        wsum += fabs((double)oct[o].w);
        w *= p->persistence;
    }
    if (!(wsum > 0.0)) return;
    /* Unit-gradient 2-D Perlin noise lies in [-sqrt(2)/2, sqrt(2)/2]; the
     * octave sum of noise * sqrt(2) weighted by w_o / sum |w_o| stays in
     * [-1, 1], so pixels move by at most the amplitude. */
    const float scale = (float)(p->amplitude * 1.4142135623730951 / wsum);

    float acc[PERLIN_TW * PERLIN_TH];
    for (int ty0 = 0; ty0 < ny; ty0 += PERLIN_TH) {
        int th = ny - ty0 < PERLIN_TH ? ny - ty0 : PERLIN_TH;
        for (int tx0 = 0; tx0 < nx; tx0 += PERLIN_TW) {
            int tw = nx - tx0 < PERLIN_TW ? nx - tx0 : PERLIN_TW;
            if (mask) {
                int any = 0;
                for (int j = 0; j < th && !any; j++)
                    any = any_selected(
                        mask, mv, (size_t)(ty0 + j) * (size_t)nx + (size_t)tx0,
                        (size_t)tw);
                if (!any) continue;
            }
            for (int j = 0; j < th; j++)
                memset(acc + (size_t)j * PERLIN_TW, 0,
                       sizeof(float) * (size_t)tw);
            for (int o = 0; o < n_oct; o++) {
                /* A chunk of cw pixels spans < cw * sx + 2 lattice cells;
                 * narrow the chunk when the lattice is finer than pixels. */
                int cw = PERLIN_TW;
                if (oct[o].sx > 1.0) {
                    double c = (double)(PERLIN_LMAX - 4) / oct[o].sx;
                    cw = c < 1.0 ? 1 : (int)c;
                }
                for (int c0 = 0; c0 < tw; c0 += cw) {
                    int c1 = tw - c0 < cw ? tw : c0 + cw;
                    perlin_chunk(&oct[o], k, dirs, tx0, ty0, c0, c1, th, acc);
                }
            }
            for (int j = 0; j < th; j++) {
                size_t i0 = (size_t)(ty0 + j) * (size_t)nx + (size_t)tx0;
                const float *a = acc + (size_t)j * PERLIN_TW;
                float *px = im->px + i0;
                if (!mask) {
#pragma omp simd
                    for (int i = 0; i < tw; i++)
                        px[i] += scale * a[i];
                } else {
                    const uint16_t *m = mask + i0;
#pragma omp simd
                    for (int i = 0; i < tw; i++)
                        px[i] = m[i] == mv ? px[i] + scale * a[i] : px[i];
                }
            }
        }
    }
}

/* ----------------------------------------------------------------- apply */

void sf__noise_apply(const sf_noise_params *p, sf_imgf *im,
                     const uint16_t *mask, uint16_t mask_value, sf_rng_key k) {
    if (!p || !im || !im->px || im->nx <= 0 || im->ny <= 0) return;
    switch (p->model) {
    case SF_NOISE_GAUSSIAN:
        apply_normal1(im, mask, mask_value, k, (float)p->sigma, 0);
        break;
    case SF_NOISE_SPECKLE:
        apply_normal1(im, mask, mask_value, k, (float)p->sigma, 1);
        break;
    case SF_NOISE_RICIAN:
        apply_rician(im, mask, mask_value, k, (float)p->sigma);
        break;
    case SF_NOISE_POISSON:
        apply_poisson(im, mask, mask_value, k, p->photons);
        break;
    case SF_NOISE_PERLIN: apply_perlin(p, im, mask, mask_value, k); break;
    default: break;
    }
}
