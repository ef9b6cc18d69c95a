-- The lifecycle worker's due work (claim_due): subscriptions whose term has ended, among
-- those that can still owe a transition. Ended ones (EXPIRED, CANCELLED) pile up with
-- time and are left out, so a pass reads what is due (and what sits in grace) rather than
-- scanning and sorting every subscription. claim_due repeats this predicate verbatim so
-- that the planner can use the index.
CREATE INDEX subscriptions_due ON subscriptions (term_end, id)
    WHERE status IN ('TRIAL', 'ACTIVE', 'SUSPENDED', 'GRACE');
