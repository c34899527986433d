-- Validity periods: when a message expires unsent (nanoseconds since the epoch; NULL: never), and the account's
-- default period for sends that set none (whole seconds; NULL: none).
ALTER TABLE messages ADD COLUMN expires_at BIGINT;
ALTER TABLE accounts ADD COLUMN default_validity_seconds BIGINT;

-- The sweeper's pass over messages that expired unsent: only unsettled rows with an expiry are in it.
CREATE INDEX messages_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL AND due_at IS NOT NULL;
