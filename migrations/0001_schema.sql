-- The evolve schema: everything one self-evolution round reads or writes.
-- Later changes go in new numbered files; applied migrations are checksummed.

-- A named problem set (gsm8k-test, math500, a user's JSONL file, ...).
CREATE TABLE datasets (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    format          TEXT    NOT NULL,
    source          TEXT,
    -- a seeded held-out split made by `evolve data split` (NULL when unsplit)
    split_seed      INTEGER,
    split_held_out  INTEGER,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE problems (
    id                  INTEGER PRIMARY KEY,
    dataset_id          INTEGER NOT NULL REFERENCES datasets(id),
    external_id         TEXT    NOT NULL,
    question            TEXT    NOT NULL,
    gold_answer         TEXT    NOT NULL,
    reference_solution  TEXT,
    level               INTEGER,
    subject             TEXT,
    difficulty          REAL,
    -- 'pool' or 'held-out' once the dataset is split; NULL before
    split               TEXT CHECK (split IN ('pool', 'held-out')),
    UNIQUE (dataset_id, external_id)
);
CREATE INDEX problems_dataset_split ON problems(dataset_id, split);

-- Policy and PPM checkpoints, each tied to the round that produced it.
CREATE TABLE models (
    id          INTEGER PRIMARY KEY,
    role        TEXT    NOT NULL CHECK (role IN ('policy', 'ppm')),
    round       INTEGER NOT NULL DEFAULT 0,
    name        TEXT,
    path        TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    parent_id   INTEGER REFERENCES models(id),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (role, sha256)
);

-- One self-evolution round of a named pipeline; `phase` is where a resumed run continues.
CREATE TABLE rounds (
    id               INTEGER PRIMARY KEY,
    pipeline         TEXT    NOT NULL,
    number           INTEGER NOT NULL,
    phase            TEXT    NOT NULL DEFAULT 'search',
    status           TEXT    NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'done', 'failed')),
    config           TEXT    NOT NULL DEFAULT '{}',
    policy_model_id  INTEGER REFERENCES models(id),
    ppm_model_id     INTEGER REFERENCES models(id),
    started_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at      TEXT,
    UNIQUE (pipeline, number)
);

-- One search tree per (round, problem); written in one transaction with its nodes.
CREATE TABLE trees (
    id          INTEGER PRIMARY KEY,
    round_id    INTEGER NOT NULL REFERENCES rounds(id),
    problem_id  INTEGER NOT NULL REFERENCES problems(id),
    status      TEXT    NOT NULL DEFAULT 'done'
                CHECK (status IN ('done', 'failed', 'timeout')),
    seed        INTEGER NOT NULL,
    rollouts    INTEGER NOT NULL,
    solved      INTEGER NOT NULL DEFAULT 0,
    seconds     REAL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (round_id, problem_id)
);
CREATE INDEX trees_problem ON trees(problem_id);

-- A reasoning step; the root (depth 0, parent NULL) stands for the question.
CREATE TABLE nodes (
    id                INTEGER PRIMARY KEY,
    tree_id           INTEGER NOT NULL REFERENCES trees(id),
    parent_id         INTEGER REFERENCES nodes(id),
    depth             INTEGER NOT NULL,
    step_text         TEXT    NOT NULL DEFAULT '',
    code              TEXT,
    exec_output       TEXT,
    -- per-step check: 'ok', 'error' (code failed / arithmetic false) or NULL when unchecked
    step_check        TEXT CHECK (step_check IN ('ok', 'error')),
    visits            INTEGER NOT NULL DEFAULT 0,
    value_sum         REAL    NOT NULL DEFAULT 0,
    q                 REAL    NOT NULL DEFAULT 0,
    prior             REAL,
    ppm_score         REAL,
    terminal          INTEGER NOT NULL DEFAULT 0,
    extracted_answer  TEXT,
    correct           INTEGER,
    tokens            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX nodes_tree ON nodes(tree_id);
CREATE INDEX nodes_parent ON nodes(parent_id);

-- One run of a test-time strategy over a problem set.
CREATE TABLE evaluations (
    id           INTEGER PRIMARY KEY,
    round_id     INTEGER REFERENCES rounds(id),
    model_id     INTEGER REFERENCES models(id),
    ppm_id       INTEGER REFERENCES models(id),
    dataset      TEXT    NOT NULL,
    strategy     TEXT    NOT NULL,
    budget       INTEGER NOT NULL DEFAULT 1,
    seed         INTEGER,
    questions    INTEGER NOT NULL DEFAULT 0,
    correct      INTEGER NOT NULL DEFAULT 0,
    tokens       INTEGER NOT NULL DEFAULT 0,
    seconds      REAL    NOT NULL DEFAULT 0,
    config       TEXT    NOT NULL DEFAULT '{}',
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE evaluation_results (
    evaluation_id  INTEGER NOT NULL REFERENCES evaluations(id),
    problem_id     INTEGER NOT NULL REFERENCES problems(id),
    response       TEXT,
    answer         TEXT,
    correct        INTEGER NOT NULL,
    tokens         INTEGER NOT NULL DEFAULT 0,
    seconds        REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (evaluation_id, problem_id)
);

-- Root-to-leaf paths of every tree, with the mean and minimum Q of their steps
-- (the root, which holds no step, is left out of both).
CREATE VIEW trajectories AS
WITH RECURSIVE walk (tree_id, node_id, steps, q_sum, q_min, path) AS (
    SELECT tree_id, id, 0, 0.0, NULL, CAST(id AS TEXT)
    FROM nodes WHERE parent_id IS NULL
    UNION ALL
    SELECT c.tree_id, c.id, w.steps + 1, w.q_sum + c.q,
           CASE WHEN w.q_min IS NULL OR c.q < w.q_min THEN c.q ELSE w.q_min END,
           w.path || ',' || c.id
    FROM nodes c JOIN walk w ON c.parent_id = w.node_id
)
SELECT w.tree_id,
       t.round_id,
       t.problem_id,
       w.node_id            AS leaf_id,
       w.steps,
       w.q_sum / w.steps    AS mean_q,
       w.q_min              AS min_q,
       n.terminal,
       n.extracted_answer   AS answer,
       n.correct,
       w.path
FROM walk w
JOIN nodes n ON n.id = w.node_id
JOIN trees t ON t.id = w.tree_id
WHERE w.steps > 0
  AND NOT EXISTS (SELECT 1 FROM nodes k WHERE k.parent_id = w.node_id);

CREATE VIEW tree_stats AS
SELECT t.id                                   AS tree_id,
       t.round_id,
       t.problem_id,
       t.rollouts,
       t.solved,
       COUNT(n.id)                            AS nodes,
       COALESCE(MAX(n.depth), 0)              AS max_depth,
       COALESCE(SUM(n.terminal), 0)           AS terminals,
       COALESCE(SUM(n.terminal AND n.correct = 1), 0) AS correct_terminals,
       COALESCE(SUM(n.step_check = 'error'), 0)       AS failed_steps,
       COALESCE(SUM(n.tokens), 0)             AS tokens
FROM trees t
LEFT JOIN nodes n ON n.tree_id = t.id
GROUP BY t.id;

-- Accuracy of every evaluation, by round; an evaluation outside a round (the
-- base model, say) takes the round of the model it evaluated.
CREATE VIEW round_accuracy AS
SELECT r.pipeline,
       COALESCE(r.number, m.round)            AS round,
       e.id                                   AS evaluation_id,
       e.dataset,
       e.strategy,
       e.budget,
       e.questions,
       e.correct,
       CASE WHEN e.questions > 0 THEN CAST(e.correct AS REAL) / e.questions END AS accuracy,
       e.tokens,
       e.seconds
FROM evaluations e
LEFT JOIN rounds r ON r.id = e.round_id
LEFT JOIN models m ON m.id = e.model_id;
