-- Evaluations: a run is identified by its settings, so a rerun resumes it;
-- each question keeps every candidate the strategy weighed and its compute.

-- hash of the settings that define the run (dataset, split, strategy, models, seed, limits)
ALTER TABLE evaluations ADD COLUMN run_key TEXT;
ALTER TABLE evaluations ADD COLUMN split TEXT;
CREATE UNIQUE INDEX evaluations_by_run_key ON evaluations (run_key);

-- candidates (answer, score, tokens), compute (tokens, calls, scored steps) and, for auto, the choice, as JSON
ALTER TABLE evaluation_results ADD COLUMN detail TEXT NOT NULL DEFAULT '{}';

-- Compute-optimal strategy tables learned by `evolve eval --calibrate`: per
-- difficulty bin and budget, the strategy that did best for this policy and PPM.
CREATE TABLE calibrations (
    id          INTEGER PRIMARY KEY,
    model_id    INTEGER NOT NULL REFERENCES models(id),
    ppm_id      INTEGER NOT NULL REFERENCES models(id),
    dataset     TEXT    NOT NULL,
    split       TEXT,
    questions   INTEGER NOT NULL,
    table_json  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
