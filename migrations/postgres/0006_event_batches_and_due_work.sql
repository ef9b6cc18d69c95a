-- Writers no longer number their own events. Until 0005 every transaction that emitted
-- events locked the event_sequence row and held it through its commit, so every write of
-- every replica took turns on one row. From here on a unit of work inserts its events
-- unnumbered, as one row of event_batches, as it commits; the cluster's one sequencer
-- (elected with a session advisory lock) moves committed batches into events in batch
-- order, numbering them after event_sequence.last under that row's lock, which now only
-- sequencers take. The events table and its gap-free numbering are unchanged, so readers,
-- cursors and rows written by earlier versions read as before, and a replica of an earlier
-- version, which still numbers its own events under the same lock, can run beside this one
-- during an upgrade.
--
-- One row per unit of work keeps a unit's events together and in the order emitted (the
-- arrays are parallel, one element per event); `id` is the order of insertion, which for
-- two units about one subscription is their commit order, as the second can lock the
-- subscription only after the first has committed.
CREATE TABLE event_batches (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at       TIMESTAMPTZ NOT NULL,
    event_types      TEXT[] NOT NULL,
    subscription_ids UUID[] NOT NULL,
    partner_ids      UUID[] NOT NULL,
    account_ids      UUID[] NOT NULL,
    payloads         TEXT[] NOT NULL,
    CONSTRAINT event_batches_parallel CHECK (
        cardinality(event_types) > 0
        AND cardinality(subscription_ids) = cardinality(event_types)
        AND cardinality(partner_ids) = cardinality(event_types)
        AND cardinality(account_ids) = cardinality(event_types)
        AND cardinality(payloads) = cardinality(event_types))
);

-- The lifecycle worker's due work (claim_due): subscriptions whose term has ended, among
-- those that can still owe a transition. Ended ones (EXPIRED, CANCELLED) pile up with
-- time and are left out, so a pass reads what is due (and what sits in grace) rather than
-- scanning and sorting every subscription. claim_due repeats this predicate verbatim so
-- that the planner can use the index.
-- IF NOT EXISTS: on a large table the index can be built beforehand without blocking
-- writes (CREATE INDEX CONCURRENTLY, the same definition), and this finds it there.
CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (term_end, id)
    WHERE status IN ('TRIAL', 'ACTIVE', 'SUSPENDED', 'GRACE');
