-- synthfm results database (SQLite): what `synthfm eval` writes and
-- `synthfm report` reads. format_version 1. One file may hold many runs
-- (methods x datasets); `synthfm eval` appends, and re-running the same
-- evaluation (same run_key) reuses the rows already finished.
--
-- Contract for readers (the report, later checks): the view dice_scores at
-- the bottom. Everything else may grow columns, never lose them.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,           -- 'format_version' = '1', ...
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
