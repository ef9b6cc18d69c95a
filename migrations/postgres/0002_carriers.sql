-- Partners and their API keys, partner codes, links from accounts to carrier customer
-- references, retail product keys, failed-redemption counters, and server secrets.

CREATE TABLE partners (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE partner_keys (
    id         TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    key_hash   TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX partner_keys_by_partner ON partner_keys (partner_id, created_at);
CREATE INDEX subscriptions_by_partner ON subscriptions (partner_id, created_at, id);
CREATE INDEX subscriptions_by_partner_reference ON subscriptions (partner_id, partner_reference);

-- Codes are kept only as keyed hashes.
CREATE TABLE partner_codes (
    code_hash       TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    redeemed_at     BIGINT,
    redeemed_by     TEXT REFERENCES accounts (id),
    revoked_at      BIGINT
);

CREATE INDEX partner_codes_by_subscription ON partner_codes (subscription_id);

CREATE TABLE account_links (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    partner_id TEXT NOT NULL REFERENCES partners (id),
    reference  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, partner_id, reference)
);

-- Unredeemed keys are kept only as keyed hashes; a redeemed NEW key is shown to its
-- owner on the subscription it created (subscriptions.product_key).
CREATE TABLE product_keys (
    key_hash        TEXT PRIMARY KEY,
    plan_code       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    batch_label     TEXT NOT NULL,
    issued_at       BIGINT NOT NULL,
    redeemed_at     BIGINT,
    redeemed_by     TEXT REFERENCES accounts (id),
    subscription_id TEXT REFERENCES subscriptions (id)
);

CREATE TABLE redemption_failures (
    subject      TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);

CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
