-- A counter that moves whenever anything a key lookup answers may have changed: an account created or removed, or
-- any column of it updated except messages_sent (a statistic that moves with every send). Triggers keep it, so a
-- change made by any process on this file (the server, the operator commands) moves it. The store answers key
-- lookups from a cache whose entries are valid only while the counter has the value they were read under.
-- A migration that adds a column to accounts must add it to accounts_update_auth too (a test checks).
CREATE TABLE auth_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO auth_version (id, n) VALUES (1, 0);

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
    stripe_subscription_id, created_at, billing_event_at
ON accounts
BEGIN
    UPDATE auth_version SET n = n + 1 WHERE id = 1;
END;
