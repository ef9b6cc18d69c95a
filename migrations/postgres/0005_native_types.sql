-- Native PostgreSQL types, converted in place with the data kept: ids (and every
-- reference to one) become uuid, instants (micro-seconds since the Unix epoch) become
-- timestamptz exactly, and the 0/1 flags become boolean. Text stays text (statuses,
-- channels, hashes of codes and keys, payloads, request-id scopes).
--
-- From here on the SQLite and PostgreSQL migration folders differ: SQLite keeps the
-- 0001-0004 representation.
--
-- Instants convert exactly, micro-second for micro-second, over the whole range of
-- timestamptz: the obvious TIMESTAMPTZ 'epoch' + col * INTERVAL '1 microsecond' goes
-- through double precision and is off by up to 16 micro-seconds past 2^53 of them
-- (after the year 2255, or before 1685 BC), so whole days and the micro-seconds left
-- are added apart, on a timestamp without time zone (no session time zone or daylight
-- saving can shift them).
CREATE FUNCTION micros_to_timestamptz(micros bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT AS $$
        SELECT (TIMESTAMP 'epoch' + (micros / 86400000000) * INTERVAL '1 day'
                + (micros % 86400000000) * INTERVAL '1 microsecond') AT TIME ZONE 'UTC'
    $$;

-- A column that a foreign key joins cannot change type under it, so the foreign keys
-- are dropped first (whatever their names: they are found in pg_constraint), the
-- columns converted, and the keys re-created under explicit names (PostgreSQL's default
-- ones, which 0001-0004 got). Indexes, primary keys, unique constraints and the
-- seats_within_limit check are rebuilt by ALTER COLUMN ... TYPE itself.

DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN
        SELECT c.conrelid::regclass AS tbl, c.conname
        FROM pg_constraint c
        WHERE c.contype = 'f'
          AND c.connamespace = current_schema()::regnamespace
          AND c.conrelid::regclass::text IN (
              'sessions', 'subscriptions', 'seats', 'device_tokens', 'partner_keys',
              'partner_codes', 'account_links', 'product_keys', 'store_purchases',
              'events')
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
    END LOOP;
END
$$;

ALTER TABLE accounts
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at);

ALTER TABLE sessions
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at),
    ALTER COLUMN expires_at TYPE timestamptz USING micros_to_timestamptz(expires_at);

ALTER TABLE subscriptions
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN partner_id TYPE uuid USING partner_id::uuid,
    ALTER COLUMN term_start TYPE timestamptz USING micros_to_timestamptz(term_start),
    ALTER COLUMN term_end TYPE timestamptz USING micros_to_timestamptz(term_end),
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at),
    ALTER COLUMN updated_at TYPE timestamptz USING micros_to_timestamptz(updated_at),
    ALTER COLUMN auto_renew TYPE boolean USING auto_renew <> 0,
    -- A BIGINT default of 0 cannot be cast to boolean: drop it, convert, set it again.
    ALTER COLUMN cancel_at_period_end DROP DEFAULT,
    ALTER COLUMN cancel_at_period_end TYPE boolean USING cancel_at_period_end <> 0,
    ALTER COLUMN cancel_at_period_end SET DEFAULT false;

ALTER TABLE seats
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN subscription_id TYPE uuid USING subscription_id::uuid,
    ALTER COLUMN activated_at TYPE timestamptz USING micros_to_timestamptz(activated_at),
    ALTER COLUMN last_seen_at TYPE timestamptz USING micros_to_timestamptz(last_seen_at),
    ALTER COLUMN deactivated_at TYPE timestamptz USING micros_to_timestamptz(deactivated_at);

ALTER TABLE device_tokens
    ALTER COLUMN seat_id TYPE uuid USING seat_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at);

ALTER TABLE idempotency_keys
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at);

ALTER TABLE partners
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at);

ALTER TABLE partner_keys
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN partner_id TYPE uuid USING partner_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at),
    ALTER COLUMN revoked_at TYPE timestamptz USING micros_to_timestamptz(revoked_at);

ALTER TABLE partner_codes
    ALTER COLUMN subscription_id TYPE uuid USING subscription_id::uuid,
    ALTER COLUMN redeemed_by TYPE uuid USING redeemed_by::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at),
    ALTER COLUMN expires_at TYPE timestamptz USING micros_to_timestamptz(expires_at),
    ALTER COLUMN redeemed_at TYPE timestamptz USING micros_to_timestamptz(redeemed_at),
    ALTER COLUMN revoked_at TYPE timestamptz USING micros_to_timestamptz(revoked_at);

ALTER TABLE account_links
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN partner_id TYPE uuid USING partner_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at);

ALTER TABLE product_keys
    ALTER COLUMN redeemed_by TYPE uuid USING redeemed_by::uuid,
    ALTER COLUMN subscription_id TYPE uuid USING subscription_id::uuid,
    ALTER COLUMN issued_at TYPE timestamptz USING micros_to_timestamptz(issued_at),
    ALTER COLUMN redeemed_at TYPE timestamptz USING micros_to_timestamptz(redeemed_at);

ALTER TABLE redemption_failures
    ALTER COLUMN window_start TYPE timestamptz USING micros_to_timestamptz(window_start);

ALTER TABLE events
    ALTER COLUMN subscription_id TYPE uuid USING subscription_id::uuid,
    ALTER COLUMN partner_id TYPE uuid USING partner_id::uuid,
    ALTER COLUMN account_id TYPE uuid USING account_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at);

ALTER TABLE store_purchases
    ALTER COLUMN subscription_id TYPE uuid USING subscription_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING micros_to_timestamptz(created_at),
    ALTER COLUMN updated_at TYPE timestamptz USING micros_to_timestamptz(updated_at);

-- The foreign keys of 0001-0004, as they were (sessions go with their account).
ALTER TABLE sessions ADD CONSTRAINT sessions_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE seats ADD CONSTRAINT seats_subscription_id_fkey
    FOREIGN KEY (subscription_id) REFERENCES subscriptions (id);
ALTER TABLE device_tokens ADD CONSTRAINT device_tokens_seat_id_fkey
    FOREIGN KEY (seat_id) REFERENCES seats (id);
ALTER TABLE partner_keys ADD CONSTRAINT partner_keys_partner_id_fkey
    FOREIGN KEY (partner_id) REFERENCES partners (id);
ALTER TABLE partner_codes ADD CONSTRAINT partner_codes_subscription_id_fkey
    FOREIGN KEY (subscription_id) REFERENCES subscriptions (id);
ALTER TABLE partner_codes ADD CONSTRAINT partner_codes_redeemed_by_fkey
    FOREIGN KEY (redeemed_by) REFERENCES accounts (id);
ALTER TABLE account_links ADD CONSTRAINT account_links_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE account_links ADD CONSTRAINT account_links_partner_id_fkey
    FOREIGN KEY (partner_id) REFERENCES partners (id);
ALTER TABLE product_keys ADD CONSTRAINT product_keys_redeemed_by_fkey
    FOREIGN KEY (redeemed_by) REFERENCES accounts (id);
ALTER TABLE product_keys ADD CONSTRAINT product_keys_subscription_id_fkey
    FOREIGN KEY (subscription_id) REFERENCES subscriptions (id);
ALTER TABLE store_purchases ADD CONSTRAINT store_purchases_subscription_id_fkey
    FOREIGN KEY (subscription_id) REFERENCES subscriptions (id);

DROP FUNCTION micros_to_timestamptz(bigint);
