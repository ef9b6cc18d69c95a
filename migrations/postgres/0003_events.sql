-- The transactional outbox. Sequence numbers come from one counter row that a
-- transaction locks just before it commits, so they follow commit order with no gaps:
-- a watcher that has seen N has seen everything committed before N.

CREATE TABLE event_sequence (
    id   BIGINT PRIMARY KEY,
    last BIGINT NOT NULL
);

INSERT INTO event_sequence (id, last) VALUES (1, 0);

CREATE TABLE events (
    seq             BIGINT PRIMARY KEY,
    event_type      TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    partner_id      TEXT,
    account_id      TEXT,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE INDEX events_by_subscription ON events (subscription_id, seq);
CREATE INDEX events_by_partner ON events (partner_id, seq);
