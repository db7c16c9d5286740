-- Hand-checked samples of a scheme's typing (kb/checks/<scheme>.yaml): each judged page, and the size of every stratum the
-- samples were drawn from, so that kb/sql/check_figures.sql can estimate precision and recall per type.
CREATE TABLE IF NOT EXISTS kb_check_frames (
    scheme             VARCHAR NOT NULL,
    stratum            VARCHAR NOT NULL,      -- an entity type, or 'untyped'
    pages              INTEGER NOT NULL,      -- pages of the stratum when the samples were drawn
    source_key         VARCHAR NOT NULL,
    scheme_fingerprint VARCHAR NOT NULL,      -- the scheme's rules the samples were typed with
    PRIMARY KEY (scheme, stratum)
);

CREATE TABLE IF NOT EXISTS kb_check_items (
    scheme   VARCHAR NOT NULL,
    sample   VARCHAR NOT NULL,                -- 'typed' (precision) or 'untyped' (recall)
    title    VARCHAR NOT NULL,
    assigned VARCHAR,                         -- the type the rules gave (NULL for an untyped page)
    judged   VARCHAR,                         -- the type a person judged right (NULL: none of the scheme's types)
    evidence VARCHAR,
    note     VARCHAR,
    PRIMARY KEY (scheme, sample, title)
);
