-- synthfm corpus manifest (SQLite, WAL). One file per corpus directory:
-- DIR/manifest.sqlite. format_version 1.
--
-- Identity: two corpora are the same when their corpus rows agree on every
-- column except created_at, and their samples/instances rows are equal.

CREATE TABLE IF NOT EXISTS corpus (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    format_version  INTEGER NOT NULL,   -- this schema's version (1)
    generator       TEXT    NOT NULL,   -- "synthfm 0.1.0"
    git_commit      TEXT    NOT NULL,   -- of the generator build ("unknown" if none)
    rng_version     INTEGER NOT NULL,   -- SF_RNG_VERSION
    config_yaml     TEXT    NOT NULL,   -- resolved config, canonical YAML
    config_sha256   TEXT    NOT NULL,   -- of config_yaml
    master_seed     TEXT    NOT NULL,   -- unsigned 64-bit, decimal
    sample_count    INTEGER NOT NULL,   -- samples in the whole corpus
    shard_index     INTEGER NOT NULL,   -- 0-based; merged or single run: 0
    shard_count     INTEGER NOT NULL,   -- 1 for a whole corpus
    first_index     INTEGER NOT NULL,   -- this directory holds [first, end)
    end_index       INTEGER NOT NULL,
    image_size      INTEGER NOT NULL,   -- px (square)
    created_at      TEXT    NOT NULL    -- UTC ISO 8601; not part of identity
);

CREATE TABLE IF NOT EXISTS samples (
    sample_index    INTEGER PRIMARY KEY,          -- 0-based index in the corpus
    sample_seed     TEXT    NOT NULL,             -- sf_sample_seed(master, index), decimal
    module          TEXT    NOT NULL CHECK (module IN ('shape', 'boundary')),
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    image_path      TEXT    NOT NULL UNIQUE,      -- relative: images/NNNNNN.png
    image_sha256    TEXT    NOT NULL,
    image_bytes     INTEGER NOT NULL,
    label_path      TEXT    NOT NULL UNIQUE,      -- relative: labels/NNNNNN.png
    label_sha256    TEXT    NOT NULL,
    label_bytes     INTEGER NOT NULL,
    n_instances     INTEGER NOT NULL,
    params_json     TEXT    NOT NULL              -- every drawn parameter
);

CREATE TABLE IF NOT EXISTS instances (
    sample_index    INTEGER NOT NULL REFERENCES samples (sample_index),
    label           INTEGER NOT NULL,             -- id in the label map, 1..n
    area            INTEGER NOT NULL,             -- px
    bbox_x0         INTEGER NOT NULL,             -- inclusive pixel bounds
    bbox_y0         INTEGER NOT NULL,
    bbox_x1         INTEGER NOT NULL,
    bbox_y1         INTEGER NOT NULL,
    centroid_x      REAL    NOT NULL,
    centroid_y      REAL    NOT NULL,
    interior_x      INTEGER NOT NULL,             -- a pixel inside: nearest the centroid
    interior_y      INTEGER NOT NULL,
    PRIMARY KEY (sample_index, label)
) WITHOUT ROWID;

-- The trainer's queries: samples of a module in order; instances large
-- enough to prompt.
CREATE INDEX IF NOT EXISTS samples_by_module ON samples (module, sample_index);
CREATE INDEX IF NOT EXISTS instances_by_area ON instances (area);
