-- synthfm results database (SQLite): what `synthfm eval` writes and
-- `synthfm report` reads. format_version 1. One file may hold many runs
-- (methods x datasets); `synthfm eval` appends, and re-running the same
-- evaluation (same run_key) reuses the rows already finished.
--
-- format_version 2 (issue 18, 19) adds, next to version 1's tables:
-- surface_scores (NSD at 1 and 2 mm and HD95 of every fixed-setting
-- prediction), interactive_seqs + interactive_steps (the CVPR 2025 click
-- protocol and the clicks-to-Dice protocol, every step's click stored so a
-- row can be replayed) and volume_scores (3D Dice of the volume setting),
-- and the views below them. Migration: a version 1 file opened by this
-- version gets the new tables and views (CREATE ... IF NOT EXISTS) and
-- format_version '2' in one transaction; no row is changed or dropped.
--
-- Contract for readers (the report, later checks): the views dice_scores,
-- case_dice_scores, prediction_scores, interactive_scores,
-- interactive_curve and volume_dice_scores. Everything else may grow
-- columns, never lose them.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,           -- 'format_version' = '2', ...
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One evaluation of one method on one dataset (a split or "every case found").
CREATE TABLE IF NOT EXISTS runs (
    run_id            INTEGER PRIMARY KEY,
    run_key           TEXT NOT NULL UNIQUE,  -- sha256 of the identity below: rerun = resume
    method            TEXT NOT NULL,  -- display name in tables: 'SynthFM', 'SAM', 'MedSAM', 'classical', ...
    method_kind       TEXT NOT NULL CHECK (method_kind IN ('native', 'imported', 'classical')),
    checkpoint_path   TEXT,           -- as given by the user (native); NULL otherwise
    checkpoint_sha256 TEXT,           -- of the checkpoint file (native); NULL otherwise
    model_config_sha256 TEXT,         -- of the model config YAML (native)
    import_dir        TEXT,           -- imported masks folder (imported)
    dataset           TEXT NOT NULL,  -- 'amos-ct', 'totalseg-ct', 'synthetic-ood', ...
    modality          TEXT NOT NULL CHECK (modality IN ('CT', 'MR', 'US', 'microscopy', 'synthetic')),
    data_root         TEXT NOT NULL,
    split_name        TEXT,           -- NULL: every case found (no fixed split)
    split_sha256      TEXT,           -- of the split file; NULL without a split
    settings          TEXT NOT NULL,  -- '1,0:3,0:1,1:3,3'
    prompt_seed       INTEGER NOT NULL,
    git_commit        TEXT NOT NULL,  -- of the synthfm build that evaluated
    provenance_json   TEXT NOT NULL DEFAULT '{}', -- e.g. training run: corpus manifest hashes, config
    status            TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    started_at        TEXT NOT NULL,  -- UTC ISO 8601
    finished_at       TEXT
);

-- One 2D evaluation unit: a structure on a slice of a case. Shared by all
-- runs on the same dataset, so every method is scored on the same units.
CREATE TABLE IF NOT EXISTS slices (
    slice_id       INTEGER PRIMARY KEY,
    dataset        TEXT NOT NULL,
    case_id        TEXT NOT NULL,
    slice_index    INTEGER NOT NULL,  -- axial index in the volume (0 for 2D images)
    structure      TEXT NOT NULL,     -- 'liver', 'left_kidney', ..., 'instance_3' (synthetic)
    label_value    INTEGER NOT NULL,  -- in the source label map
    source_sha256  TEXT NOT NULL,     -- of the image file the slice came from
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    gt_pixels      INTEGER NOT NULL,  -- > 0: a slice without the structure is never scored
    UNIQUE (dataset, case_id, slice_index, structure)
);

-- The clicks of one (slice, setting, seed): identical for every method.
-- points_json: [[x, y, label], ...] in pixel coordinates of the slice,
-- label 1 positive, 0 negative, positives first (the simulator's order).
CREATE TABLE IF NOT EXISTS prompts (
    slice_id     INTEGER NOT NULL REFERENCES slices (slice_id),
    setting      TEXT NOT NULL,       -- 'P,N' e.g. '1,0'
    prompt_seed  INTEGER NOT NULL,
    points_json  TEXT NOT NULL,
    PRIMARY KEY (slice_id, setting, prompt_seed)
) WITHOUT ROWID;

-- One prediction, scored. status 'ok' rows have a Dice in [0, 1].
CREATE TABLE IF NOT EXISTS predictions (
    run_id       INTEGER NOT NULL REFERENCES runs (run_id),
    slice_id     INTEGER NOT NULL REFERENCES slices (slice_id),
    setting      TEXT NOT NULL,
    dice         REAL CHECK (dice IS NULL OR (dice >= 0 AND dice <= 1)),
    pred_pixels  INTEGER,
    mask_sha256  TEXT,                -- of the predicted mask bytes (row-major uint8 0/1)
    seconds      REAL,                -- model time for this prediction
    status       TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error        TEXT,                -- why, when failed
    PRIMARY KEY (run_id, slice_id, setting)
) WITHOUT ROWID;

-- Files or cases that could not be evaluated (corrupt, missing, mismatched
-- checksum): recorded, the run goes on. The report lists them.
CREATE TABLE IF NOT EXISTS failures (
    run_id   INTEGER NOT NULL REFERENCES runs (run_id),
    case_id  TEXT,
    path     TEXT,
    message  TEXT NOT NULL
);

CREATE VIEW IF NOT EXISTS dice_scores AS
SELECT r.method      AS method,
       s.dataset     AS dataset,
       r.modality    AS modality,
       s.case_id     AS case_id,
       s.slice_index AS slice_index,
       s.structure   AS structure,
       p.setting     AS setting,
       p.dice        AS dice
FROM predictions p
JOIN runs r   ON r.run_id = p.run_id
JOIN slices s ON s.slice_id = p.slice_id
WHERE p.status = 'ok';

-- Case-level Dice: the slices of a case pooled, 2 sum|A n B| /
-- (sum|A| + sum|B|) over every scored slice of (run, case, structure,
-- setting). |A n B| of one slice is recovered exactly from its Dice:
-- dice = 2I / (P + G)  =>  I = dice * (P + G) / 2, an integer well inside
-- double precision, rounded.
CREATE VIEW IF NOT EXISTS case_dice_scores AS
SELECT r.method    AS method,
       s.dataset   AS dataset,
       r.modality  AS modality,
       s.case_id   AS case_id,
       s.structure AS structure,
       p.setting   AS setting,
       count(*)    AS n_slices,
       2.0 * sum(round(p.dice * (p.pred_pixels + s.gt_pixels) / 2.0))
           / (sum(p.pred_pixels) + sum(s.gt_pixels)) AS dice
FROM predictions p
JOIN runs r   ON r.run_id = p.run_id
JOIN slices s ON s.slice_id = p.slice_id
WHERE p.status = 'ok'
GROUP BY p.run_id, s.dataset, s.case_id, s.structure, p.setting;

-- ------------------------------------------------------ format_version 2

-- Boundary metrics of one fixed-setting prediction (an 'ok' row of
-- predictions), spacing-aware: the slice's pixel spacing as the reader
-- gave it (mm). NSD at 1 and 2 mm and HD95 as the surface-distance
-- reference (harness/metrics.h); hd95 is NULL when the prediction is
-- empty (the reference's +inf).
CREATE TABLE IF NOT EXISTS surface_scores (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id),
    slice_id    INTEGER NOT NULL REFERENCES slices (slice_id),
    setting     TEXT NOT NULL,
    nsd_1mm     REAL CHECK (nsd_1mm IS NULL OR (nsd_1mm >= 0 AND nsd_1mm <= 1)),
    nsd_2mm     REAL CHECK (nsd_2mm IS NULL OR (nsd_2mm >= 0 AND nsd_2mm <= 1)),
    hd95_mm     REAL,
    spacing_x_mm REAL NOT NULL,      -- column spacing
    spacing_y_mm REAL NOT NULL,      -- row spacing
    PRIMARY KEY (run_id, slice_id, setting)
) WITHOUT ROWID;

-- One interactive sequence of one unit: protocol 'cvpr25' (optional box,
-- then 5 corrective clicks) or 'noc' (corrective clicks until Dice >=
-- 0.90, at most 20). Clicks follow the CVPR 2025 rule (harness/metrics.h
-- hx_click_next, 2D form: 8-connected error components) on this method's
-- own errors; the first click (no box) depends on the ground truth only,
-- so every method gets the same one. status 'failed': the method failed
-- at some step (error says which); no metric is kept then.
CREATE TABLE IF NOT EXISTS interactive_seqs (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id),
    slice_id    INTEGER NOT NULL REFERENCES slices (slice_id),
    protocol    TEXT NOT NULL CHECK (protocol IN ('cvpr25', 'noc')),
    has_box     INTEGER NOT NULL,     -- 1: step 0 is the box prediction
    n_clicks    INTEGER,              -- corrective clicks made
    dsc_auc     REAL,                 -- trapezoid over the click steps
    nsd_auc     REAL,
    dsc_final   REAL,
    nsd_final   REAL,
    noc85       INTEGER,              -- clicks to Dice >= 0.85 (cap + 1:
    noc90       INTEGER,              -- not reached); NULL for cvpr25
    click_cap   INTEGER NOT NULL,     -- 5 (cvpr25) or 20 (noc)
    spacing_x_mm REAL NOT NULL,
    spacing_y_mm REAL NOT NULL,
    seconds     REAL,                 -- the method's time over all steps
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error       TEXT,
    PRIMARY KEY (run_id, slice_id, protocol)
) WITHOUT ROWID;

-- The steps of a sequence: step 0 is the box prediction (has_box) or
-- none (no row); step k >= 1 follows corrective click k at (click_x,
-- click_y) (column, row of the slice), positive 1 when the click adds
-- the structure; has_click 0 when the previous prediction had no error
-- left (no click; the prediction is kept). NSD (2 mm) is computed only
-- when DSC > 0.2, else 0 (the challenge's rule).
CREATE TABLE IF NOT EXISTS interactive_steps (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id),
    slice_id    INTEGER NOT NULL REFERENCES slices (slice_id),
    protocol    TEXT NOT NULL,
    step        INTEGER NOT NULL,
    has_click   INTEGER NOT NULL,
    click_x     INTEGER,
    click_y     INTEGER,
    positive    INTEGER,
    dsc         REAL NOT NULL,
    nsd         REAL NOT NULL,
    seconds     REAL,                 -- the method's call
    PRIMARY KEY (run_id, slice_id, protocol, step)
) WITHOUT ROWID;

-- The volume setting (issue 19): per case and structure, clicks (setting
-- '1,0' or '3,0', the simulator's on the slice of largest area,
-- key_slice) and a 3D prediction: SAM 2 propagates from key_slice through
-- the volume ('propagation'); 2D methods get clicks of the same setting
-- on every slice where the structure is present ('per-slice', the
-- paper's protocol). dice / nsd_2mm over the whole volume with its
-- spacing.
CREATE TABLE IF NOT EXISTS volume_scores (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id),
    dataset     TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    structure   TEXT NOT NULL,
    setting     TEXT NOT NULL,        -- '1,0' or '3,0'
    mode        TEXT NOT NULL CHECK (mode IN ('propagation', 'per-slice')),
    key_slice   INTEGER NOT NULL,
    points_json TEXT NOT NULL,        -- clicks on key_slice
    n_slices    INTEGER NOT NULL,     -- slices of the volume
    gt_voxels   INTEGER NOT NULL,
    pred_voxels INTEGER,
    dice        REAL CHECK (dice IS NULL OR (dice >= 0 AND dice <= 1)),
    nsd_2mm     REAL,
    seconds     REAL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error       TEXT,
    PRIMARY KEY (run_id, case_id, structure, setting)
) WITHOUT ROWID;

-- Fixed-setting predictions with their boundary metrics (NULL for rows
-- written by format_version 1).
CREATE VIEW IF NOT EXISTS prediction_scores AS
SELECT r.method      AS method,
       s.dataset     AS dataset,
       r.modality    AS modality,
       s.case_id     AS case_id,
       s.slice_index AS slice_index,
       s.structure   AS structure,
       p.setting     AS setting,
       p.dice        AS dice,
       m.nsd_1mm     AS nsd_1mm,
       m.nsd_2mm     AS nsd_2mm,
       m.hd95_mm     AS hd95_mm
FROM predictions p
JOIN runs r   ON r.run_id = p.run_id
JOIN slices s ON s.slice_id = p.slice_id
LEFT JOIN surface_scores m ON m.run_id = p.run_id AND
     m.slice_id = p.slice_id AND m.setting = p.setting
WHERE p.status = 'ok';

CREATE VIEW IF NOT EXISTS interactive_scores AS
SELECT r.method      AS method,
       s.dataset     AS dataset,
       r.modality    AS modality,
       s.case_id     AS case_id,
       s.slice_index AS slice_index,
       s.structure   AS structure,
       q.protocol    AS protocol,
       q.has_box     AS has_box,
       q.n_clicks    AS n_clicks,
       q.dsc_auc     AS dsc_auc,
       q.nsd_auc     AS nsd_auc,
       q.dsc_final   AS dsc_final,
       q.nsd_final   AS nsd_final,
       q.noc85       AS noc85,
       q.noc90       AS noc90,
       q.click_cap   AS click_cap
FROM interactive_seqs q
JOIN runs r   ON r.run_id = q.run_id
JOIN slices s ON s.slice_id = q.slice_id
WHERE q.status = 'ok';

-- Dice after k clicks (k >= 1; step 0 = the box step when there is one).
CREATE VIEW IF NOT EXISTS interactive_curve AS
SELECT r.method      AS method,
       s.dataset     AS dataset,
       r.modality    AS modality,
       s.case_id     AS case_id,
       s.slice_index AS slice_index,
       s.structure   AS structure,
       t.protocol    AS protocol,
       t.step        AS step,
       t.dsc         AS dsc,
       t.nsd         AS nsd
FROM interactive_steps t
JOIN interactive_seqs q ON q.run_id = t.run_id AND
     q.slice_id = t.slice_id AND q.protocol = t.protocol
JOIN runs r   ON r.run_id = t.run_id
JOIN slices s ON s.slice_id = t.slice_id
WHERE q.status = 'ok';

CREATE VIEW IF NOT EXISTS volume_dice_scores AS
SELECT r.method    AS method,
       v.dataset   AS dataset,
       r.modality  AS modality,
       v.case_id   AS case_id,
       v.structure AS structure,
       v.setting   AS setting,
       v.mode      AS mode,
       v.dice      AS dice,
       v.nsd_2mm   AS nsd_2mm
FROM volume_scores v
JOIN runs r ON r.run_id = v.run_id
WHERE v.status = 'ok';
