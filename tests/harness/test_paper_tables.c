/*
 * test_paper_tables.c - the paper's published numbers, reports/paper/
 * table{1,2,3}.csv (see reports/paper/README.md): shape of each table
 * (header, row count, complete grid, no duplicates), value range, cells
 * checked by hand, and - when the text copy of the paper is present in
 * $SF_SHARED/paper/ (default ../shared) - every value against the paper's
 * own table rows, in the column our reading assigns it.
 *
 * Runs from the repository root (tests/run.sh does).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ CSV rows */

#define MAX_ROWS 512
#define MAX_COLS 5

typedef struct table {
    int n_rows, n_cols;
    char cell[MAX_ROWS][MAX_COLS][32];
} table;

static const char *const SETTINGS[] = {"1+0", "3+0", "1+1", "3+3"};
static const char *const MODALITIES[] = {"CT", "MR", "US"};

static void chomp(char *s) {
    size_t k = strlen(s);
    while (k > 0 && (s[k - 1] == '\n' || s[k - 1] == '\r'))
        s[--k] = '\0';
}

/* Reads reports/paper/NAME with the expected header; every row must have
 * exactly as many fields as the header. */
static table *table_load(const char *name, const char *header) {
    char path[256], line[256];
    snprintf(path, sizeof path, "reports/paper/%s", name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: cannot open (run from the repository root)",
                       path);
    table *t = calloc(1, sizeof *t);
    cr_assert_not_null(t);
    cr_assert_not_null(fgets(line, sizeof line, f), "%s: empty", path);
    chomp(line);
    cr_assert_str_eq(line, header, "%s: header", path);
    t->n_cols = 1;
    for (const char *c = header; *c; c++)
        t->n_cols += *c == ',';
    int lineno = 1;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        cr_assert(strchr(line, '\n'), "%s:%d: line too long or no newline",
                  path, lineno);
        chomp(line);
        cr_assert(t->n_rows < MAX_ROWS, "%s: too many rows", path);
        int k = 0;
        char *s = line;
        for (;;) {
            char *comma = strchr(s, ',');
            if (comma) *comma = '\0';
            cr_assert(k < t->n_cols, "%s:%d: too many fields", path, lineno);
            cr_assert(*s && strlen(s) < 32, "%s:%d: bad field %d", path, lineno,
                      k + 1);
            strcpy(t->cell[t->n_rows][k++], s);
            if (!comma) break;
            s = comma + 1;
        }
        cr_assert_eq(k, t->n_cols, "%s:%d: %d fields, want %d", path, lineno, k,
                     t->n_cols);
        t->n_rows++;
    }
    fclose(f);
    return t;
}

static int in_list(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i])) return (int)i;
    return -1;
}
#define IN(s, arr) in_list((s), (arr), sizeof(arr) / sizeof *(arr))

/* Dice as printed: digits, '.', exactly two digits; in [0, 100]. */
static void check_dice(const char *table_name, int row, const char *s) {
    const char *dot = strchr(s, '.');
    int ok = dot && dot > s && strlen(dot + 1) == 2;
    for (const char *c = s; ok && *c; c++)
        ok = (*c >= '0' && *c <= '9') || c == dot;
    cr_expect(ok, "%s row %d: dice \"%s\" is not a printed percentage",
              table_name, row + 2, s);
    char *end;
    double v = strtod(s, &end);
    cr_expect(*end == '\0' && v >= 0.0 && v <= 100.0,
              "%s row %d: dice %s outside [0,100]", table_name, row + 2, s);
}

/* The value of the row whose first k cells equal key[0..k-1]. */
static const char *lookup(const table *t, const char *const *key, int k) {
    const char *found = NULL;
    for (int r = 0; r < t->n_rows; r++) {
        int m = 0;
        while (m < k && !strcmp(t->cell[r][m], key[m]))
            m++;
        if (m == k) {
            cr_assert_null(found, "duplicate row for %s,%s,...", key[0],
                           key[1]);
            found = t->cell[r][t->n_cols - 1];
        }
    }
    return found;
}

static void expect_cell(const table *t, const char *const *key, int k,
                        const char *want) {
    const char *got = lookup(t, key, k);
    cr_expect(got && !strcmp(got, want), "%s,%s,%s%s%s: %s, paper %s", key[0],
              key[1], key[2], k > 3 ? "," : "", k > 3 ? key[3] : "",
              got ? got : "(missing)", want);
}

/* ------------------------------------------------------------- table 1 */

static const char *const T1_CT_MR[] = {
    "aorta", "gallbladder", "kidney_left", "kidney_right",
    "liver", "pancreas",    "prostate",    "spleen"};
static const char *const T1_US[] = {"left_atrium", "lv_endocardium",
                                    "fetal_head"};
static const char *const T1_METHODS[] = {"unsam", "sam", "sam2", "synthfm"};

/* The paper's row label of each structure (Table 1), in print order. */
static const struct {
    const char *modality, *label, *structure;
} T1_ROWS[] = {
    {"CT", "Aorta", "aorta"},
    {"CT", "Gallbladder", "gallbladder"},
    {"CT", "Kidney Left", "kidney_left"},
    {"CT", "Kidney Right", "kidney_right"},
    {"CT", "Liver", "liver"},
    {"CT", "Pancreas", "pancreas"},
    {"CT", "Prostate", "prostate"},
    {"CT", "Spleen", "spleen"},
    {"MR", "Aorta", "aorta"},
    {"MR", "Gallbladder", "gallbladder"},
    {"MR", "Kidney Left", "kidney_left"},
    {"MR", "Kidney Right", "kidney_right"},
    {"MR", "Liver", "liver"},
    {"MR", "Pancreas", "pancreas"},
    {"MR", "Prostate", "prostate"},
    {"MR", "Spleen", "spleen"},
    {"US", "Left Atrium", "left_atrium"},
    {"US", "LV Endometrium", "lv_endocardium"},
    {"US", "Fetal Head", "fetal_head"},
};
#define N_T1_ROWS ((int)(sizeof T1_ROWS / sizeof *T1_ROWS))

static table *load_t1(void) {
    return table_load("table1.csv", "modality,structure,method,setting,dice");
}
static table *load_t2(void) {
    return table_load("table2.csv", "modality,variant,setting,dice");
}
static table *load_t3(void) {
    return table_load("table3.csv", "structure,method,setting,dice");
}

Test(paper_tables, table1_shape_and_values) {
    table *t = load_t1();
    cr_expect_eq(t->n_rows, 19 * 16, "table1: %d rows, want 304", t->n_rows);
    for (int r = 0; r < t->n_rows; r++) {
        const char *mod = t->cell[r][0], *st = t->cell[r][1];
        cr_expect(IN(mod, MODALITIES) >= 0, "row %d: modality %s", r + 2, mod);
        if (!strcmp(mod, "US"))
            cr_expect(IN(st, T1_US) >= 0, "row %d: US structure %s", r + 2, st);
        else
            cr_expect(IN(st, T1_CT_MR) >= 0, "row %d: structure %s", r + 2, st);
        cr_expect(IN(t->cell[r][2], T1_METHODS) >= 0, "row %d: method %s",
                  r + 2, t->cell[r][2]);
        cr_expect(IN(t->cell[r][3], SETTINGS) >= 0, "row %d: setting %s", r + 2,
                  t->cell[r][3]);
        check_dice("table1", r, t->cell[r][4]);
    }
    /* The complete grid, each cell once (lookup asserts no duplicates). */
    for (int i = 0; i < N_T1_ROWS; i++)
        for (int m = 0; m < 4; m++)
            for (int s = 0; s < 4; s++) {
                const char *key[] = {T1_ROWS[i].modality, T1_ROWS[i].structure,
                                     T1_METHODS[m], SETTINGS[s]};
                cr_expect_not_null(lookup(t, key, 4), "missing %s,%s,%s,%s",
                                   key[0], key[1], key[2], key[3]);
            }
    free(t);
}

Test(paper_tables, table1_cells_by_hand) {
    table *t = load_t1();
    const struct {
        const char *key[4], *dice;
    } cells[] = {
        {{"CT", "aorta", "unsam", "1+0"}, "9.48"},
        {{"CT", "aorta", "unsam", "3+3"}, "18.48"},
        {{"CT", "aorta", "sam", "1+1"}, "65.90"},
        {{"CT", "gallbladder", "sam2", "1+0"}, "8.43"},
        {{"CT", "gallbladder", "sam2", "1+1"}, "24.31"},
        {{"CT", "spleen", "synthfm", "3+0"}, "88.06"},
        {{"MR", "kidney_left", "sam2", "1+1"}, "81.59"},
        {{"MR", "prostate", "synthfm", "3+3"}, "76.09"},
        {{"MR", "spleen", "unsam", "1+0"}, "15.75"},
        {{"US", "left_atrium", "synthfm", "1+0"}, "57.06"},
        {{"US", "lv_endocardium", "sam", "3+0"}, "73.54"},
        {{"US", "fetal_head", "unsam", "3+3"}, "61.70"},
        {{"US", "fetal_head", "synthfm", "3+3"}, "83.58"},
    };
    for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
        expect_cell(t, cells[i].key, 4, cells[i].dice);
    free(t);
}

/* ------------------------------------------------------------ tables 2-3 */

static const char *const T2_VARIANTS[] = {"shape", "boundary", "both"};
static const char *const T3_STRUCTURES[] = {"interphase", "mitosis"};
static const char *const T3_METHODS[] = {"medsam", "synthfm"};

Test(paper_tables, table2_shape_values_and_cells) {
    table *t = load_t2();
    cr_expect_eq(t->n_rows, 3 * 6, "table2: %d rows, want 18", t->n_rows);
    for (int r = 0; r < t->n_rows; r++) {
        cr_expect(IN(t->cell[r][0], MODALITIES) >= 0, "row %d", r + 2);
        cr_expect(IN(t->cell[r][1], T2_VARIANTS) >= 0, "row %d", r + 2);
        cr_expect(IN(t->cell[r][2], SETTINGS) >= 0 &&
                      IN(t->cell[r][2], SETTINGS) < 2,
                  "row %d: setting %s", r + 2, t->cell[r][2]);
        check_dice("table2", r, t->cell[r][3]);
    }
    for (int m = 0; m < 3; m++)
        for (int v = 0; v < 3; v++)
            for (int s = 0; s < 2; s++) {
                const char *key[] = {MODALITIES[m], T2_VARIANTS[v],
                                     SETTINGS[s]};
                cr_expect_not_null(lookup(t, key, 3), "missing %s,%s,%s",
                                   key[0], key[1], key[2]);
            }
    const char *k1[] = {"US", "both", "3+0"}, *k2[] = {"CT", "shape", "1+0"},
               *k3[] = {"MR", "boundary", "3+0"}, *k4[] = {"CT", "both", "3+0"};
    expect_cell(t, k1, 3, "81.55");
    expect_cell(t, k2, 3, "64.09");
    expect_cell(t, k3, 3, "74.02");
    expect_cell(t, k4, 3, "83.48");
    free(t);
}

Test(paper_tables, table3_shape_values_and_cells) {
    table *t = load_t3();
    cr_expect_eq(t->n_rows, 2 * 8, "table3: %d rows, want 16", t->n_rows);
    for (int r = 0; r < t->n_rows; r++) {
        cr_expect(IN(t->cell[r][0], T3_STRUCTURES) >= 0, "row %d", r + 2);
        cr_expect(IN(t->cell[r][1], T3_METHODS) >= 0, "row %d", r + 2);
        cr_expect(IN(t->cell[r][2], SETTINGS) >= 0, "row %d", r + 2);
        check_dice("table3", r, t->cell[r][3]);
    }
    for (int st = 0; st < 2; st++)
        for (int m = 0; m < 2; m++)
            for (int s = 0; s < 4; s++) {
                const char *key[] = {T3_STRUCTURES[st], T3_METHODS[m],
                                     SETTINGS[s]};
                cr_expect_not_null(lookup(t, key, 3), "missing %s,%s,%s",
                                   key[0], key[1], key[2]);
            }
    const char *k1[] = {"mitosis", "medsam", "1+0"},
               *k2[] = {"interphase", "synthfm", "3+3"},
               *k3[] = {"interphase", "medsam", "1+1"};
    expect_cell(t, k1, 3, "61.55");
    expect_cell(t, k2, 3, "59.46");
    expect_cell(t, k3, 3, "13.91");
    free(t);
}

/* --------------------------------------------- against the paper's text */

#define MAX_PAPER_LINES 256
#define MAX_CELLS       24

typedef struct paper_row {
    int n;
    char cell[MAX_CELLS][48];
} paper_row;

typedef struct paper {
    int n_lines;
    char *line[MAX_PAPER_LINES];
} paper;

static paper *paper_load(void) {
    const char *shared = getenv("SF_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/paper/synthfm-paper.txt",
             shared && *shared ? shared : "../shared");
    FILE *f = fopen(path, "r");
    if (!f)
        cr_skip_test("%s not found: the paper's text (arXiv 2504.08177, not "
                     "ours to redistribute, so not in tests/fixtures/) is in "
                     "the project's shared/ folder: set SF_SHARED to it",
                     path);
    paper *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        cr_assert(p->n_lines < MAX_PAPER_LINES, "paper: too many lines");
        chomp(line);
        p->line[p->n_lines++] = strdup(line);
    }
    free(line);
    fclose(f);
    return p;
}

static void paper_free(paper *p) {
    for (int i = 0; i < p->n_lines; i++)
        free(p->line[i]);
    free(p);
}

/* The non-empty '|'-separated cells of a line, trimmed. */
static void split_cells(const char *line, paper_row *r) {
    r->n = 0;
    const char *s = line;
    while (*s) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len) {
            cr_assert(r->n < MAX_CELLS && len < 48, "paper: odd table row");
            memcpy(r->cell[r->n], s, len);
            r->cell[r->n][len] = '\0';
            r->n++;
        }
        if (!bar) break;
        s = bar + 1;
    }
}

/* The table rows following the header line that starts with `header`
 * (lines with a '|'), at most max; returns how many. */
static int paper_table(const paper *p, const char *header, paper_row *rows,
                       int max) {
    int i = 0;
    while (i < p->n_lines && strncmp(p->line[i], header, strlen(header)))
        i++;
    cr_assert(i < p->n_lines, "paper: no table header \"%s\"", header);
    int n = 0;
    for (i++; i < p->n_lines && strchr(p->line[i], '|') && n < max; i++)
        split_cells(p->line[i], &rows[n++]);
    return n;
}

Test(paper_tables, every_value_is_in_the_paper_row_and_column) {
    paper *p = paper_load();
    paper_row rows[32];
    int checked = 0;

    /* Table 1: "CT | Aorta | 16 values" or "Gallbladder | 16 values". */
    table *t = load_t1();
    int n = paper_table(p, "Modality | Structure | UnSAM", rows, 32);
    cr_assert_eq(n, N_T1_ROWS, "paper table 1: %d rows", n);
    for (int i = 0; i < n; i++) {
        paper_row *r = &rows[i];
        int first = IN(r->cell[0], MODALITIES) >= 0 ? 1 : 0;
        if (first)
            cr_expect_str_eq(r->cell[0], T1_ROWS[i].modality, "row %d", i);
        cr_assert_eq(r->n - first, 17, "paper table 1 row %d: %d cells", i,
                     r->n);
        cr_expect_str_eq(r->cell[first], T1_ROWS[i].label);
        for (int m = 0; m < 4; m++)
            for (int s = 0; s < 4; s++) {
                const char *key[] = {T1_ROWS[i].modality, T1_ROWS[i].structure,
                                     T1_METHODS[m], SETTINGS[s]};
                expect_cell(t, key, 4, r->cell[first + 1 + 4 * m + s]);
                checked++;
            }
    }
    free(t);

    /* Table 2: "CT | shape (1,0) (3,0) | boundary ... | both ...". */
    t = load_t2();
    n = paper_table(p, "Modality | Shape module", rows, 32);
    cr_assert_eq(n, 3, "paper table 2: %d rows", n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(rows[i].n, 7);
        cr_expect_str_eq(rows[i].cell[0], MODALITIES[i]);
        for (int v = 0; v < 3; v++)
            for (int s = 0; s < 2; s++) {
                const char *key[] = {MODALITIES[i], T2_VARIANTS[v],
                                     SETTINGS[s]};
                expect_cell(t, key, 3, rows[i].cell[1 + 2 * v + s]);
                checked++;
            }
    }
    free(t);

    /* Table 3: "Interphase | MedSAM x4 | SynthFM x4". */
    t = load_t3();
    n = paper_table(p, "Structure | MedSAM", rows, 32);
    cr_assert_eq(n, 2, "paper table 3: %d rows", n);
    const char *labels[] = {"Interphase", "Mitosis"};
    for (int i = 0; i < n; i++) {
        cr_assert_eq(rows[i].n, 9);
        cr_expect_str_eq(rows[i].cell[0], labels[i]);
        for (int m = 0; m < 2; m++)
            for (int s = 0; s < 4; s++) {
                const char *key[] = {T3_STRUCTURES[i], T3_METHODS[m],
                                     SETTINGS[s]};
                expect_cell(t, key, 3, rows[i].cell[1 + 4 * m + s]);
                checked++;
            }
    }
    free(t);
    /* Every CSV row was matched (the grids are complete, no duplicates). */
    cr_expect_eq(checked, 304 + 18 + 16);
    paper_free(p);
}
