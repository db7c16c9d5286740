/*
  Typing precision and recall per type from the hand-checked samples (kb_check_items, kb_check_frames; loaded from
  kb/checks/<scheme>.yaml by every build of the scheme). Read it with `typeprior sql "$(cat kb/sql/check_figures.sql)"`.

    precision_t = judged t / sampled, among the typed sample of t
    TP_t        = pages_t · precision_t
    FN_t        = Σ_{s ≠ t} pages_s · (sample of s judged t) / (sample of s)      typed as another type
                + pages_untyped · (untyped sample judged t) / (untyped sample)     not typed at all
    recall_t    = TP_t / (TP_t + FN_t)

  Each stratum is weighed by its size (the samples are drawn per stratum), so a small untyped sample stands for the
  thousands of untyped pages.
*/
WITH per_stratum AS (
    SELECT i.scheme,
           coalesce(i.assigned, 'untyped') AS stratum,
           i.judged,
           count(*) OVER (PARTITION BY i.scheme, coalesce(i.assigned, 'untyped')) AS sampled
    FROM kb_check_items AS i
),
cells AS (
    SELECT p.scheme, p.stratum, p.judged, p.sampled, count(*) AS n, f.pages
    FROM per_stratum AS p
    JOIN kb_check_frames AS f ON f.scheme = p.scheme AND f.stratum = p.stratum
    GROUP BY ALL
),
types AS (
    SELECT scheme, stratum AS entity_type, pages, sampled
    FROM cells WHERE stratum <> 'untyped'
    GROUP BY ALL
)
SELECT t.scheme,
       t.entity_type,
       t.pages AS typed_pages,
       t.sampled AS typed_sample,
       coalesce(sum(c.n) FILTER (WHERE c.stratum = t.entity_type AND c.judged = t.entity_type), 0) AS typed_right,
       coalesce(sum(c.n) FILTER (WHERE c.stratum = 'untyped' AND c.judged = t.entity_type), 0) AS untyped_should_be,
       max(c.sampled) FILTER (WHERE c.stratum = 'untyped') AS untyped_sample,
       round(typed_right / t.sampled, 4) AS precision,
       round(t.pages * typed_right / t.sampled, 1) AS est_true_positives,
       round(coalesce(sum(c.pages * c.n / c.sampled) FILTER (WHERE c.stratum <> t.entity_type
                                                            AND c.judged = t.entity_type), 0), 1) AS est_false_negatives,
       round(est_true_positives / nullif(est_true_positives + est_false_negatives, 0), 4) AS recall
FROM types AS t
JOIN cells AS c ON c.scheme = t.scheme
GROUP BY t.scheme, t.entity_type, t.pages, t.sampled
ORDER BY t.scheme, t.entity_type
