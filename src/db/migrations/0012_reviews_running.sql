-- Quorum 0012: the org's running reviews, counted when a review starts (inline) and when a worker
-- claims one (the per-tier concurrency cap), through an index of the running ones only. Without
-- it the count read every review the org ever had (all its rows match org_id): a cost that grew
-- with history, on every review.
create index reviews_running on reviews (org_id) where status = 'running';
