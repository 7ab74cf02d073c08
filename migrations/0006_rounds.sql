-- Rounds run by `evolve round`: the pipeline each ran with, the models it
-- produced, and every phase's status, timing and figures, so that a rerun
-- resumes at the phase that did not finish.

-- the whole pipeline (JSON) the round runs with; NULL for rounds made by `evolve search`
ALTER TABLE rounds ADD COLUMN plan TEXT;
-- the policy and PPM this round trained (NULL while not trained, or when training was skipped)
ALTER TABLE rounds ADD COLUMN trained_policy_id INTEGER REFERENCES models(id);
ALTER TABLE rounds ADD COLUMN trained_ppm_id INTEGER REFERENCES models(id);

CREATE TABLE round_phases (
    id           INTEGER PRIMARY KEY,
    round_id     INTEGER NOT NULL REFERENCES rounds(id),
    phase        TEXT    NOT NULL
                 CHECK (phase IN ('search', 'export', 'train-policy', 'train-ppm', 'eval')),
    -- 'interrupted': stopped cleanly by Ctrl-C; a 'running' phase after a crash stays 'running'
    status       TEXT    NOT NULL
                 CHECK (status IN ('running', 'done', 'skipped', 'interrupted', 'failed')),
    -- runs of the phase so far (a resume after a crash or Ctrl-C adds one)
    attempts     INTEGER NOT NULL DEFAULT 1,
    started_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at  TEXT,
    -- wall-clock seconds of the attempts that ended (a crashed attempt's time is lost)
    seconds      REAL    NOT NULL DEFAULT 0,
    -- the phase's figures (solve rate, rows, held-out metrics, accuracies) or why it was skipped, as JSON
    detail       TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (round_id, phase)
);
