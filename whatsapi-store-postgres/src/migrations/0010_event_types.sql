-- Every event type through the outbox: an event has a type and an ordering key (`stream`: events of one account,
-- stream and destination are delivered in the order written); `message` and `status` are set for
-- `message.status_updated` only. Every row written before this migration is a status event, ordered per message
-- as before (its stream is the message's id, as the store writes it).

ALTER TABLE outbox ADD COLUMN event_type TEXT NOT NULL DEFAULT 'message.status_updated';
ALTER TABLE outbox ALTER COLUMN event_type DROP DEFAULT;
ALTER TABLE outbox ADD COLUMN stream TEXT;
UPDATE outbox o SET stream = 'message|' || m.id::text FROM messages m WHERE m.seq = o.message;
UPDATE outbox SET stream = 'message|seq-' || message::text WHERE stream IS NULL;
ALTER TABLE outbox ALTER COLUMN stream SET NOT NULL;
ALTER TABLE outbox ALTER COLUMN message DROP NOT NULL;
ALTER TABLE outbox ALTER COLUMN status DROP NOT NULL;

-- The oldest waiting event per stream and destination (0: the reference webhook).
DROP INDEX outbox_waiting_by_destination;
DROP INDEX outbox_waiting_by_message;
CREATE INDEX outbox_waiting_by_stream ON outbox (account, stream, (COALESCE(endpoint, 0)), seq) WHERE state = 0;

ALTER TABLE delivery_attempts ADD COLUMN event_type TEXT NOT NULL DEFAULT 'message.status_updated';
ALTER TABLE delivery_attempts ALTER COLUMN event_type DROP DEFAULT;
ALTER TABLE delivery_attempts ALTER COLUMN message DROP NOT NULL;
ALTER TABLE delivery_attempts ALTER COLUMN status DROP NOT NULL;
