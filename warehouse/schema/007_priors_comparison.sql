-- Did a rebuilt knowledge base help? Each completed training or evaluation run that read KB type priors, with
-- its overall F1 on a split, next to the latest run of an earlier build of the same scheme that is comparable:
-- the same kind, corpus, variant, backbone, split and split source (a training run's `data.dev`, an
-- evaluation's `source`). f1_change < 0 means the newer build's model scores worse on the same data.
CREATE VIEW priors_comparison AS
WITH scored AS (
    SELECT r.run_id, r.kind, r.corpus, r.variant, r.backbone, r.priors_build, b.scheme, m.split, m.f1,
           CASE WHEN r.kind = 'train' THEN r.config ->> '$.data.dev' ELSE r.config ->> '$.source' END AS source
    FROM runs r
    JOIN metrics m ON m.run_id = r.run_id AND m.scope = 'overall' AND m.key = ''
    JOIN kb_builds b ON b.build_id = r.priors_build
    WHERE r.status = 'completed' AND r.kind IN ('train', 'evaluate') AND r.priors_build IS NOT NULL
)
SELECT s.run_id, s.kind, s.corpus, s.variant, s.backbone, s.scheme, s.split, s.source,
       s.priors_build, s.f1,
       p.priors_build AS previous_build, p.run_id AS previous_run_id, p.f1 AS previous_f1,
       s.f1 - p.f1 AS f1_change
FROM scored s
LEFT JOIN LATERAL (
    SELECT q.run_id, q.priors_build, q.f1
    FROM scored q
    WHERE q.kind = s.kind AND q.corpus = s.corpus AND q.variant = s.variant
      AND q.backbone IS NOT DISTINCT FROM s.backbone AND q.scheme = s.scheme AND q.split = s.split
      AND q.source IS NOT DISTINCT FROM s.source AND q.priors_build < s.priors_build
    ORDER BY q.priors_build DESC, q.run_id DESC
    LIMIT 1
) p ON TRUE;
