-- Accounts, sessions, subscriptions, seats, device tokens and idempotency keys.
-- Instants are micro-seconds since the Unix epoch; ids are UUID text; flags are 0/1
-- BIGINTs (the one column type every backend of sqlx's Any driver decodes alike).

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    plan_code            TEXT NOT NULL,
    channel              TEXT NOT NULL,
    status               TEXT NOT NULL,
    account_id           TEXT REFERENCES accounts (id),
    seat_limit           BIGINT NOT NULL,
    active_seats         BIGINT NOT NULL DEFAULT 0,
    term_start           BIGINT NOT NULL,
    term_end             BIGINT NOT NULL,
    auto_renew           BIGINT NOT NULL,
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
    partner_id           TEXT,
    partner_reference    TEXT,
    product_key          TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    -- The seat limit, enforced by the database itself.
    CONSTRAINT seats_within_limit CHECK (active_seats >= 0 AND active_seats <= seat_limit)
);

CREATE INDEX subscriptions_by_account ON subscriptions (account_id, created_at, id);

CREATE TABLE seats (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    device_id       TEXT NOT NULL,
    platform        TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    activated_at    BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    deactivated_at  BIGINT
);

-- A device holds at most one active seat per subscription.
CREATE UNIQUE INDEX seats_one_active_per_device
    ON seats (subscription_id, device_id) WHERE deactivated_at IS NULL;
CREATE INDEX seats_by_subscription ON seats (subscription_id, activated_at, id);

CREATE TABLE device_tokens (
    token_hash TEXT PRIMARY KEY,
    seat_id    TEXT NOT NULL REFERENCES seats (id),
    created_at BIGINT NOT NULL
);

CREATE INDEX device_tokens_by_seat ON device_tokens (seat_id);

CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, request_id)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
