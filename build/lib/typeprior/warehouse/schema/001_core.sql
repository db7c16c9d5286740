-- Core tables: the migration ledger and the imported corpora.
-- Integrity between these tables is kept by the Python writers (one transaction per import);
-- DuckDB's foreign keys forbid deleting a referenced row and its referents in one transaction,
-- which a split re-import needs, so none are declared.

-- One row per applied migration file (NNN_name.sql).
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY,
    name    VARCHAR   NOT NULL,
    applied TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- A named corpus (conll2003, cadec, ...); its splits are imported separately.
CREATE TABLE corpora (
    name    VARCHAR PRIMARY KEY,
    created TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- One imported split of a corpus, with where it came from and what it holds.
CREATE TABLE splits (
    corpus    VARCHAR   NOT NULL,
    split     VARCHAR   NOT NULL,
    source    VARCHAR,
    format    VARCHAR,
    sentences INTEGER   NOT NULL,
    mentions  INTEGER   NOT NULL,
    imported  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (corpus, split)
);

-- Sentences in file order: idx is the 0-based position within the split; id is the file's own id if any.
CREATE TABLE sentences (
    corpus VARCHAR   NOT NULL,
    split  VARCHAR   NOT NULL,
    idx    INTEGER   NOT NULL,
    id     VARCHAR,
    tokens VARCHAR[] NOT NULL,
    PRIMARY KEY (corpus, split, idx)
);

-- Entity mentions: sorted token indices (a gap = discontinuous), type, and kind as the data model derives it.
-- n is the mention's position within its sentence (BARTNER target order); text joins its tokens with spaces.
CREATE TABLE mentions (
    corpus   VARCHAR   NOT NULL,
    split    VARCHAR   NOT NULL,
    sentence INTEGER   NOT NULL,
    n        INTEGER   NOT NULL,
    indices  INTEGER[] NOT NULL CHECK (len(indices) > 0),
    type     VARCHAR   NOT NULL,
    kind     VARCHAR   NOT NULL CHECK (kind IN ('flat', 'nested', 'discontinuous')),
    text     VARCHAR   NOT NULL,
    PRIMARY KEY (corpus, split, sentence, n)
);
