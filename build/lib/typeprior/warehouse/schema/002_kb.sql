-- Knowledge-base tables (issue 5): raw harvested pages, typed entities, per-build weights and type embeddings.
-- Idempotent (IF NOT EXISTS) so the kb store can apply it itself when the migration runner is not in use.

-- One row per page a source gave us. source_key names the source ("live:URL", "dump:PATH", "snapshot:NAME").
CREATE TABLE IF NOT EXISTS kb_raw_pages (
    source_key   VARCHAR NOT NULL,
    title        VARCHAR NOT NULL,
    fetched_at   TIMESTAMP NOT NULL,
    content_kind VARCHAR NOT NULL,          -- 'wikitext' or 'extract'
    content      VARCHAR NOT NULL,
    description  VARCHAR,                   -- Wikidata short description when the source has one
    topic        VARCHAR,                   -- snapshot topic ("People", "Geography", ...)
    redirect_to  VARCHAR,                   -- set for redirect pages: the canonical title
    pageviews    BIGINT,                    -- sum of daily views over the asked window (live)
    langlinks    INTEGER,                   -- number of other-language versions (live; dump: inline links)
    page_length  INTEGER,                   -- bytes of wikitext (prop=info length) or characters of extract
    harvested_for VARCHAR,                  -- the entity type whose harvest found it (live), NULL otherwise
    PRIMARY KEY (source_key, title)
);

-- Pages a harvest could not use, with the reason (missing, malformed, error); re-runs skip them too.
CREATE TABLE IF NOT EXISTS kb_skipped_pages (
    source_key VARCHAR NOT NULL,
    title      VARCHAR NOT NULL,
    reason     VARCHAR NOT NULL,
    detail     VARCHAR,
    skipped_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source_key, title)
);

-- Candidate titles found by walking a type's categories (live), so a resumed harvest does not walk again.
CREATE TABLE IF NOT EXISTS kb_harvest_candidates (
    source_key  VARCHAR NOT NULL,
    scheme      VARCHAR NOT NULL,
    entity_type VARCHAR NOT NULL,
    title       VARCHAR NOT NULL,
    PRIMARY KEY (source_key, scheme, entity_type, title)
);

CREATE TABLE IF NOT EXISTS kb_harvest_walks (
    source_key  VARCHAR NOT NULL,
    scheme      VARCHAR NOT NULL,
    entity_type VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    walked_at   TIMESTAMP NOT NULL,
    n_candidates INTEGER NOT NULL,
    PRIMARY KEY (source_key, scheme, entity_type, config_hash)
);

-- Redirects and other names of a page.
CREATE TABLE IF NOT EXISTS kb_aliases (
    source_key VARCHAR NOT NULL,
    title      VARCHAR NOT NULL,
    alias      VARCHAR NOT NULL,
    PRIMARY KEY (source_key, title, alias)
);

-- How often other pages of the same source link to (wikitext) or mention (extracts) a title.
CREATE TABLE IF NOT EXISTS kb_inlinks (
    source_key VARCHAR NOT NULL,
    title      VARCHAR NOT NULL,
    inlinks    BIGINT NOT NULL,
    PRIMARY KEY (source_key, title)
);

-- A page typed under a scheme, with the evidence that decided it.
CREATE TABLE IF NOT EXISTS kb_entities (
    source_key  VARCHAR NOT NULL,
    scheme      VARCHAR NOT NULL,
    title       VARCHAR NOT NULL,
    entity_type VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,           -- the title without its disambiguating "(...)": what gets embedded
    evidence    VARCHAR NOT NULL,           -- 'infobox:...', 'description:...', 'category:...', 'topic:...'
    PRIMARY KEY (source_key, scheme, title)
);

CREATE SEQUENCE IF NOT EXISTS kb_build_ids START 1;

CREATE TABLE IF NOT EXISTS kb_builds (
    build_id     INTEGER PRIMARY KEY DEFAULT nextval('kb_build_ids'),
    scheme       VARCHAR NOT NULL,
    sources      VARCHAR[] NOT NULL,
    model_id     VARCHAR NOT NULL,
    config_hash  VARCHAR NOT NULL,
    config_json  VARCHAR NOT NULL,
    max_entities INTEGER,                   -- entities kept per type by θ (the scheme's limit; NULL = all)
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    status       VARCHAR NOT NULL,          -- 'running', 'done', 'failed'
    error        VARCHAR,
    content_hash VARCHAR                    -- sha256 over the weights and E_t: equal hashes, equal priors
);

-- θ per entity per build (computed by kb/sql/theta.sql).
CREATE TABLE IF NOT EXISTS kb_weights (
    build_id    INTEGER NOT NULL,
    entity_type VARCHAR NOT NULL,
    title       VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    frequency   DOUBLE NOT NULL,
    theta       DOUBLE NOT NULL,
    PRIMARY KEY (build_id, entity_type, title)
);

-- Sentence embeddings of entity names, once per (model, name): a rebuild embeds only new names.
CREATE TABLE IF NOT EXISTS kb_embeddings (
    model_id VARCHAR NOT NULL,
    name     VARCHAR NOT NULL,
    vector   FLOAT[] NOT NULL,
    PRIMARY KEY (model_id, name)
);

-- E_t = Σ θ_i E_{C_t^i}, per build and type.
CREATE TABLE IF NOT EXISTS kb_type_vectors (
    build_id    INTEGER NOT NULL,
    entity_type VARCHAR NOT NULL,
    vector      FLOAT[384] NOT NULL,
    norm        DOUBLE NOT NULL,
    n_entities  INTEGER NOT NULL,
    PRIMARY KEY (build_id, entity_type)
);
