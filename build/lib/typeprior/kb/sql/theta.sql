/*
  θ: the weight of each entity inside its type, for every build (a pure SELECT: read or recompute it with
  `typeprior sql "$(cat kb/sql/theta.sql)"`; the build step stores the rows of its build in kb_weights).

    f_i = in-links_i + page views_i + language links_i      (summed over the build's sources)
          in-links: links from other pages of the same source (wikitext), or mentions in other extracts (snapshot)
    θ_i = ln(2 + f_i) / Σ_{j ∈ C_t} ln(2 + f_j)

  The log damps the head (a capital city must not drown its type), the +2 keeps every entity's weight above zero
  (an entity no one links to still counts a little), and the division makes θ sum to 1 within each type t.
  Only the build's max_entities most frequent entities of a type are kept (all when NULL).
*/
WITH signals AS (
    SELECT b.build_id,
           b.max_entities,
           e.entity_type,
           e.title,
           min(e.name) AS name,
           sum(coalesce(l.inlinks, 0) + coalesce(p.pageviews, 0) + coalesce(p.langlinks, 0))::DOUBLE AS frequency
    FROM kb_builds AS b
    JOIN kb_entities AS e ON e.scheme = b.scheme AND list_contains(b.sources, e.source_key)
    LEFT JOIN kb_raw_pages AS p ON p.source_key = e.source_key AND p.title = e.title
    LEFT JOIN kb_inlinks AS l ON l.source_key = e.source_key AND l.title = e.title
    GROUP BY b.build_id, b.max_entities, e.entity_type, e.title
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY build_id, entity_type ORDER BY frequency DESC, title) AS rank
    FROM signals
)
SELECT build_id,
       entity_type,
       title,
       name,
       frequency,
       ln(2 + frequency) / sum(ln(2 + frequency)) OVER (PARTITION BY build_id, entity_type) AS theta
FROM ranked
WHERE max_entities IS NULL OR rank <= max_entities
