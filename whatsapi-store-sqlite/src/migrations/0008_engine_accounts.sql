-- An account of the engine needs no product half: email, plan and key hash are set for the hosted product's
-- customers and NULL for the accounts an embedding app creates (all four together, a CHECK says). SQLite cannot
-- drop NOT NULL, so the table is rebuilt with its indexes and triggers under the same seq values (SQLite's
-- procedure for a table change: foreign keys are off while migrations run, and checked before they commit).

CREATE TABLE accounts_rebuilt (
    seq                    INTEGER PRIMARY KEY,
    id                     BLOB    NOT NULL UNIQUE,
    name                   TEXT    NOT NULL,
    email                  TEXT,
    email_key              TEXT    UNIQUE,
    plan                   TEXT,
    key_hash               BLOB    UNIQUE,
    active                 INTEGER NOT NULL,
    messages_sent          INTEGER NOT NULL DEFAULT 0,
    credentials            TEXT,
    phone_number_id        TEXT,
    credentials_status     TEXT    NOT NULL,
    webhook                TEXT,
    strict_window          INTEGER NOT NULL DEFAULT 0,
    breaker_failures       INTEGER NOT NULL DEFAULT 0,
    breaker_open_until     INTEGER,
    breaker_trips          INTEGER NOT NULL DEFAULT 0,
    stripe_customer_id     TEXT,
    stripe_subscription_id TEXT,
    created_at             INTEGER NOT NULL,
    billing_event_at       INTEGER,
    waba_id                TEXT,
    verify_token_hash      BLOB,
    CHECK ((email IS NULL) = (email_key IS NULL)
       AND (email IS NULL) = (plan IS NULL)
       AND (email IS NULL) = (key_hash IS NULL))
);

INSERT INTO accounts_rebuilt (
    seq, id, name, email, email_key, plan, key_hash, active, messages_sent, credentials, phone_number_id,
    credentials_status, webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips,
    stripe_customer_id, stripe_subscription_id, created_at, billing_event_at, waba_id, verify_token_hash
)
SELECT
    seq, id, name, email, email_key, plan, key_hash, active, messages_sent, credentials, phone_number_id,
    credentials_status, webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips,
    stripe_customer_id, stripe_subscription_id, created_at, billing_event_at, waba_id, verify_token_hash
FROM accounts;

-- Its indexes and triggers go with it.
DROP TABLE accounts;
ALTER TABLE accounts_rebuilt RENAME TO accounts;

CREATE UNIQUE INDEX accounts_phone_number_id_unique ON accounts (phone_number_id) WHERE phone_number_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_waba_id_unique ON accounts (waba_id) WHERE waba_id IS NOT NULL;
CREATE INDEX accounts_by_verify_token_hash ON accounts (verify_token_hash) WHERE verify_token_hash IS NOT NULL;

CREATE TRIGGER accounts_insert_auth AFTER INSERT ON accounts
BEGIN
    UPDATE auth_version SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER accounts_delete_auth AFTER DELETE ON accounts
BEGIN
    UPDATE auth_version SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER accounts_update_auth AFTER UPDATE OF
    seq, id, name, email, email_key, plan, key_hash, active, credentials, phone_number_id, credentials_status,
    webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips, stripe_customer_id,
    stripe_subscription_id, created_at, billing_event_at, waba_id, verify_token_hash
ON accounts
BEGIN
    UPDATE auth_version SET n = n + 1 WHERE id = 1;
END;
