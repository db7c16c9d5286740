-- Training, evaluation, ablation and sweep runs with their per-epoch curves, scores and predictions.
-- Written through warehouse.runs (start_run, record_epoch, record_metrics, record_predictions, finish_run).

CREATE SEQUENCE run_ids START 1;

-- One run. A sweep or ablation is a run whose children point at it through parent_run_id.
CREATE TABLE runs (
    run_id        INTEGER PRIMARY KEY DEFAULT nextval('run_ids'),
    kind          VARCHAR   NOT NULL CHECK (kind IN ('train', 'evaluate', 'ablation', 'sweep')),
    parent_run_id INTEGER,
    created       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished      TIMESTAMP,
    status        VARCHAR   NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    corpus        VARCHAR,
    variant       VARCHAR,
    backbone      VARCHAR,
    w             DOUBLE,
    priors_build  VARCHAR,
    config        JSON      NOT NULL,
    model_dir     VARCHAR,
    message       VARCHAR
);

-- One row per finished training epoch.
CREATE TABLE epochs (
    run_id        INTEGER NOT NULL,
    epoch         INTEGER NOT NULL,
    train_loss    DOUBLE,
    relation_loss DOUBLE,
    dev_p         DOUBLE,
    dev_r         DOUBLE,
    dev_f1        DOUBLE,
    seconds       DOUBLE,
    PRIMARY KEY (run_id, epoch)
);

-- Scores of a run on a split. scope 'overall' has key '', 'type' is keyed by entity type, 'kind' by
-- flat/nested/discontinuous, 'error' by prediction outcome (value holds the count).
CREATE TABLE metrics (
    run_id INTEGER NOT NULL,
    split  VARCHAR NOT NULL,
    scope  VARCHAR NOT NULL CHECK (scope IN ('overall', 'type', 'kind', 'error')),
    key    VARCHAR NOT NULL,
    p      DOUBLE,
    r      DOUBLE,
    f1     DOUBLE,
    tp     INTEGER,
    fp     INTEGER,
    fn     INTEGER,
    value  DOUBLE,
    PRIMARY KEY (run_id, split, scope, key)
);

-- Gold and predicted entities of one sentence, as lists of {indices, type}.
CREATE TABLE predictions (
    run_id   INTEGER   NOT NULL,
    split    VARCHAR   NOT NULL,
    sentence INTEGER   NOT NULL,
    tokens   VARCHAR[] NOT NULL,
    gold     STRUCT(indices INTEGER[], type VARCHAR)[] NOT NULL,
    pred     STRUCT(indices INTEGER[], type VARCHAR)[] NOT NULL,
    PRIMARY KEY (run_id, split, sentence)
);

-- One outcome per predicted entity, plus one per gold entity that no prediction matched or was compared with.
-- The classes are those of model.metrics.error_breakdown; a wrong prediction is compared with the overlapping
-- gold entity of its own type sharing most tokens, else the one sharing most tokens:
--   correct        same indices and type as a gold entity
--   type           same indices as a gold entity, other type
--   boundary       shares tokens with a gold entity of the same type, other indices
--   both           shares tokens only with gold entities of another type, other indices
--   spurious       shares no token with any gold entity
--   missed         a gold entity that no prediction matched or was compared with
-- indices/type are the predicted entity's (the gold one's for missed); gold_indices/gold_type the gold
-- entity it was compared with (NULL for spurious); kind is the gold entity's kind (the predicted one's for spurious).
CREATE TABLE outcomes (
    run_id       INTEGER   NOT NULL,
    split        VARCHAR   NOT NULL,
    sentence     INTEGER   NOT NULL,
    indices      INTEGER[] NOT NULL,
    type         VARCHAR   NOT NULL,
    status       VARCHAR   NOT NULL
                 CHECK (status IN ('correct', 'type', 'boundary', 'both', 'spurious', 'missed')),
    gold_indices INTEGER[],
    gold_type    VARCHAR,
    kind         VARCHAR   NOT NULL CHECK (kind IN ('flat', 'nested', 'discontinuous'))
);
