-- Statuses for unknown wamids age from when they were received, not from the timestamp Meta claims (which whoever
-- posts the webhook chooses), and are capped per account by arrival order (seq).
-- Rows kept before this version count as received at their own time, or now if that lies in the future.
ALTER TABLE pending_statuses ADD COLUMN received_at BIGINT;
UPDATE pending_statuses
SET received_at = LEAST(at, (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint);
ALTER TABLE pending_statuses ALTER COLUMN received_at SET NOT NULL;
DROP INDEX pending_statuses_by_time;
CREATE INDEX pending_statuses_by_received ON pending_statuses (received_at);
CREATE INDEX pending_statuses_by_account ON pending_statuses (account, seq);
