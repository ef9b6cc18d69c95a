-- The lifecycle worker's due work (claim_due): subscriptions whose term has ended, among
-- those that can still owe a transition. Ended ones (EXPIRED, CANCELLED) pile up with
-- time and are left out, so a pass reads what is due (and what sits in grace) rather than
-- scanning and sorting every subscription under the write lock. SQLite uses a partial
-- index only when the query repeats its predicate verbatim, which claim_due does.
-- IF NOT EXISTS: on a large file the index can be built beforehand, at a quiet moment
-- (the same definition), and this finds it there.
CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (term_end, id)
    WHERE status IN ('TRIAL', 'ACTIVE', 'SUSPENDED', 'GRACE');
