-- The fingerprint of the secret key that partner codes and product keys are hashed
-- under (HMAC-SHA256 under the key of a fixed text: it tells keys apart without
-- revealing one), recorded by the first process that hashes codes here, and where that
-- key came from: CONFIGURED (given at start-up) or GENERATED (kept in server_secrets).
-- A process started with another key refuses to run, since every unredeemed code and
-- key would stop working under it.
CREATE TABLE key_fingerprints (
    name        TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('CONFIGURED', 'GENERATED')),
    recorded_at TIMESTAMPTZ NOT NULL
);
