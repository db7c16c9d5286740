-- runs.priors_build holds the id of the knowledge-base build a run read (kb_builds.build_id), an integer like
-- the id it names; it was a VARCHAR holding the same number as text. A value that is not an integer id stops
-- the migration with DuckDB's conversion error rather than being dropped.
ALTER TABLE runs ALTER priors_build SET DATA TYPE INTEGER;
