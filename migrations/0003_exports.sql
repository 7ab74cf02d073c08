-- Export phase: every file of fine-tuning data written from a round's trees, so
-- a trainer's input can be traced to the round, settings and bytes it came from.

CREATE TABLE exports (
    id          INTEGER PRIMARY KEY,
    -- 'sft' (trajectories), 'pairs' (preference pairs) or 'steps' (step labels)
    kind        TEXT    NOT NULL CHECK (kind IN ('sft', 'pairs', 'steps')),
    -- the row shape: 'messages', 'prompt-completion', 'step-pairs', 'solution-pairs', 'per-step', 'stepwise'
    format      TEXT    NOT NULL,
    round_id    INTEGER NOT NULL REFERENCES rounds(id),
    -- only trees of this dataset, or NULL for all of the round's trees
    dataset     TEXT,
    -- the file written, or '-' for standard output
    path        TEXT    NOT NULL,
    rows        INTEGER NOT NULL,
    problems    INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    -- the selection settings, as JSON
    options     TEXT    NOT NULL DEFAULT '{}',
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX exports_round ON exports(round_id);
