-- Meta's webhooks as Meta sends them.
-- A phone number id and a WhatsApp Business Account id belong to one account (Meta's webhooks are routed by them),
-- enforced here by unique partial indexes. The store checks for duplicates before this migration runs and refuses
-- to open, naming them, rather than failing on the index.
-- Per-account verify tokens are found by their SHA-256 (an index, no scan, no plaintext comparison).
-- Messages keep Meta's error field by field and the per-message pricing of their statuses.

ALTER TABLE accounts ADD COLUMN waba_id TEXT;
ALTER TABLE accounts ADD COLUMN verify_token_hash BLOB;

DROP INDEX accounts_by_phone_number_id;
CREATE UNIQUE INDEX accounts_phone_number_id_unique ON accounts (phone_number_id) WHERE phone_number_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_waba_id_unique ON accounts (waba_id) WHERE waba_id IS NOT NULL;
CREATE INDEX accounts_by_verify_token_hash ON accounts (verify_token_hash) WHERE verify_token_hash IS NOT NULL;

ALTER TABLE messages ADD COLUMN meta_error TEXT;
ALTER TABLE messages ADD COLUMN pricing TEXT;
ALTER TABLE pending_statuses ADD COLUMN meta_error TEXT;
ALTER TABLE pending_statuses ADD COLUMN pricing TEXT;

-- The new account columns move the key-lookup cache's counter too (see 0004).
DROP TRIGGER accounts_update_auth;
CREATE TRIGGER accounts_update_auth AFTER UPDATE OF
    seq, id, name, email, email_key, plan, key_hash, active, credentials, phone_number_id, credentials_status,
    webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips, stripe_customer_id,
    stripe_subscription_id, created_at, billing_event_at, waba_id, verify_token_hash
ON accounts
BEGIN
    UPDATE auth_version SET n = n + 1 WHERE id = 1;
END;
