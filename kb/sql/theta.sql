-- θ: the weight of each entity inside its type, for one build ($build_id; $max_entities caps a type, NULL = no cap).
--
--   f_i = in-links_i + page views_i + language links_i      (summed over the build's sources)
--         in-links: links from other pages of the same source (wikitext), or mentions in other extracts (snapshot)
--   θ_i = ln(2 + f_i) / Σ_{j ∈ C_t} ln(2 + f_j)
--
-- The log damps the head (a capital city must not drown a type), the +2 keeps every entity's weight above zero
-- (an entity no one links to still counts a little), and the division makes θ sum to 1 within each type t.
-- Read or recompute it with `typeprior sql`, replacing $build_id by a build id.
INSERT INTO kb_weights (build_id, entity_type, title, name, frequency, theta)
WITH build AS (
    SELECT scheme, sources FROM kb_builds WHERE build_id = $build_id
),
signals AS (
    SELECT e.entity_type,
           e.title,
           min(e.name) AS name,
           sum(coalesce(l.inlinks, 0) + coalesce(p.pageviews, 0) + coalesce(p.langlinks, 0))::DOUBLE AS frequency
    FROM kb_entities AS e
    JOIN build AS b ON e.scheme = b.scheme AND list_contains(b.sources, e.source_key)
    LEFT JOIN kb_raw_pages AS p ON p.source_key = e.source_key AND p.title = e.title
    LEFT JOIN kb_inlinks AS l ON l.source_key = e.source_key AND l.title = e.title
    GROUP BY e.entity_type, e.title
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY entity_type ORDER BY frequency DESC, title) AS rank
    FROM signals
)
SELECT $build_id,
       entity_type,
       title,
       name,
       frequency,
       ln(2 + frequency) / sum(ln(2 + frequency)) OVER (PARTITION BY entity_type) AS theta
FROM ranked
WHERE $max_entities IS NULL OR rank <= $max_entities;
