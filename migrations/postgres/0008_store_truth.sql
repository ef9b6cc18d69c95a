-- Restores follow the store's truth: each purchase keeps the newest store statement
-- applied to it (which transaction, bought when, signed when; and the newest renewal
-- info), so that an older proof changes nothing. NULL for purchases filed before.
ALTER TABLE store_purchases
    ADD COLUMN latest_transaction_id TEXT,
    ADD COLUMN latest_purchased_at timestamptz,
    ADD COLUMN latest_signed_at timestamptz,
    ADD COLUMN renewal_signed_at timestamptz;

-- Google Play purchase tokens replaced by a newer one (upgrade, downgrade,
-- re-subscription: the new token's linkedPurchaseToken names the old one). The purchase
-- lives on under the new token; restoring an old token finds it here.
CREATE TABLE store_purchase_replacements (
    store       TEXT NOT NULL,
    original_id TEXT NOT NULL,
    replaced_by TEXT NOT NULL,
    replaced_at timestamptz NOT NULL,
    PRIMARY KEY (store, original_id)
);
