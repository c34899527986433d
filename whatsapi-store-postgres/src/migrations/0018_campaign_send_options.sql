-- A campaign's sending number (a phone number id of its account; NULL: the default number) and the validity period
-- of each of its messages in whole seconds (NULL: none), counted from each message's planned send time.
ALTER TABLE campaigns ADD COLUMN from_number TEXT;
ALTER TABLE campaigns ADD COLUMN validity_secs BIGINT;

-- The expiry sweep also fails a paused campaign's held messages (waiting with due_at NULL): the sweeper's index now
-- holds every unsettled row with an expiry, by status (0 queued, 1 scheduled, 2 processing, 3 retrying).
DROP INDEX messages_expiry;
CREATE INDEX messages_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL AND status <= 3;
