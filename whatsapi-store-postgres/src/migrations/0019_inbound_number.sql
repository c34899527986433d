-- The business number an inbound message was sent to: Meta's phone number id of the change's `metadata` (the
-- account's default number or one of its extra numbers) and the number as the webhook displays it. NULL for
-- messages stored before whatsapi recorded it, or when Meta's metadata named none.
ALTER TABLE inbound_messages ADD COLUMN to_phone_number_id TEXT;
ALTER TABLE inbound_messages ADD COLUMN to_display_phone_number TEXT;

-- `GET /inbound?to=`: one number's messages, newest first.
CREATE INDEX inbound_messages_by_number ON inbound_messages (account, to_phone_number_id, received_at DESC, id DESC)
    WHERE to_phone_number_id IS NOT NULL;
