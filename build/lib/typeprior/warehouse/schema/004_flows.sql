-- Orchestration (flows/): what each prior rebuild decided, and the ablation and weight-sweep tables as views
-- over runs and metrics.

-- One row per finished prior rebuild run by the rebuild-priors flow: its content hash next to the previous
-- finished build of the same scheme, whether the content changed, and the training runs it started
-- (a JSON list of {corpus, variant, flow_run_id}; empty when nothing changed).
CREATE TABLE prior_rebuilds (
    build_id          INTEGER PRIMARY KEY,
    scheme            VARCHAR   NOT NULL,
    content_hash      VARCHAR   NOT NULL,
    previous_build_id INTEGER,
    previous_hash     VARCHAR,
    changed           BOOLEAN   NOT NULL,
    triggered         JSON      NOT NULL,
    decided           TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- The paper's Table 4: per ablation run, each variant and seed with its test (or dev) scores.
-- An ablation run is the parent of its training runs; each training run is the parent of its evaluation.
CREATE VIEW ablation_results AS
SELECT a.run_id AS ablation_run_id, a.corpus, t.variant, CAST(t.config ->> '$.seed' AS INTEGER) AS seed,
       e.run_id AS evaluate_run_id, t.run_id AS train_run_id, m.split, m.p, m.r, m.f1
FROM runs a
JOIN runs t ON t.parent_run_id = a.run_id AND t.kind = 'train'
JOIN runs e ON e.parent_run_id = t.run_id AND e.kind = 'evaluate'
JOIN metrics m ON m.run_id = e.run_id AND m.scope = 'overall'
WHERE a.kind = 'ablation';

-- The paper's Fig. 2: per sweep run, each type-attention weight w with its scores.
CREATE VIEW sweep_results AS
SELECT s.run_id AS sweep_run_id, s.corpus, t.variant, t.w, CAST(t.config ->> '$.seed' AS INTEGER) AS seed,
       e.run_id AS evaluate_run_id, t.run_id AS train_run_id, m.split, m.p, m.r, m.f1
FROM runs s
JOIN runs t ON t.parent_run_id = s.run_id AND t.kind = 'train'
JOIN runs e ON e.parent_run_id = t.run_id AND e.kind = 'evaluate'
JOIN metrics m ON m.run_id = e.run_id AND m.scope = 'overall'
WHERE s.kind = 'sweep';
