-- One process claimed the probe of the account's half-open circuit breaker (breaker_open_until is then the end
-- of the probe's lease). Send slots need no table: one process serves a SQLite file, so its memory paces.
ALTER TABLE accounts ADD COLUMN breaker_probing INTEGER NOT NULL DEFAULT 0;

-- A claimed probe changes what `recent_account` answers, like every other breaker column.
DROP TRIGGER accounts_update_auth;
CREATE TRIGGER accounts_update_auth AFTER UPDATE OF
    seq, id, name, email, email_key, plan, key_hash, active, credentials, phone_number_id, credentials_status,
    webhook, strict_window, breaker_failures, breaker_open_until, breaker_trips, stripe_customer_id,
    stripe_subscription_id, created_at, billing_event_at, waba_id, verify_token_hash, breaker_probing
ON accounts
BEGIN
    UPDATE auth_version SET n = n + 1 WHERE id = 1;
END;
