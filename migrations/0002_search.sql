-- Search phase: what a tree cost and why one was skipped; each node's log-probability
-- and how many duplicate candidates were merged into it.

ALTER TABLE trees ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
-- why a tree is 'failed' (e.g. the problem has no gold answer), or NULL
ALTER TABLE trees ADD COLUMN note TEXT;

ALTER TABLE nodes ADD COLUMN logprob REAL;
ALTER TABLE nodes ADD COLUMN duplicates INTEGER NOT NULL DEFAULT 0;

CREATE INDEX trees_round ON trees(round_id);
