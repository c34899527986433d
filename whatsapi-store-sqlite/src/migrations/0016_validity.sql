-- Validity periods: when a message expires unsent (nanoseconds since the epoch; NULL: never), and the account's
-- default period for sends that set none (whole seconds; NULL: none).
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
ALTER TABLE accounts ADD COLUMN default_validity_seconds INTEGER;

-- The sweeper's pass over messages that expired unsent: only unsettled rows with an expiry are in it.
CREATE INDEX messages_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL AND due_at IS NOT NULL;

-- A changed default changes what `recent_account` answers, like every other column of the account.
DROP TRIGGER accounts_update_auth;
CREATE TRIGGER accounts_update_auth AFTER UPDATE OF
    seq, id, name, email, email_key, plan, key_hash, active, credentials, phone_number_id, credentials_status,
    webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips, stripe_customer_id,
    stripe_subscription_id, created_at, billing_event_at, waba_id, verify_token_hash, breaker_probing,
    default_validity_seconds
ON accounts
BEGIN
    UPDATE auth_version SET n = n + 1 WHERE id = 1;
END;
