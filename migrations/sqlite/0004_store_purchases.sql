-- App Store and Google Play purchases restored onto accounts. One store purchase maps to
-- one subscription, which belongs to one account at a time.

CREATE TABLE store_purchases (
    store           TEXT NOT NULL,
    original_id     TEXT NOT NULL,
    subscription_id TEXT NOT NULL UNIQUE REFERENCES subscriptions (id),
    product_id      TEXT NOT NULL,
    environment     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (store, original_id)
);
