-- Training: where a model's data came from and how its training went.

-- the export whose file trained it (NULL when the file was not exported by evolve)
ALTER TABLE models ADD COLUMN export_id INTEGER REFERENCES exports(id);
-- the training file and its hash, as given
ALTER TABLE models ADD COLUMN data_path TEXT;
ALTER TABLE models ADD COLUMN data_sha256 TEXT;
-- settings and figures of the run (held-out metric per epoch, tokens/s, peak memory), as JSON
ALTER TABLE models ADD COLUMN metrics TEXT;
