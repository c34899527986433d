-- Meta's webhooks as Meta sends them.
-- A phone number id and a WhatsApp Business Account id belong to one account (Meta's webhooks are routed by them),
-- enforced by unique partial indexes. The migration checks for duplicates first and refuses, naming them, rather
-- than failing on the index.
-- Per-account verify tokens are found by their SHA-256 (an index, no scan, no plaintext comparison).
-- Messages keep Meta's error field by field and the per-message pricing of their statuses.

ALTER TABLE accounts ADD COLUMN waba_id TEXT, ADD COLUMN verify_token_hash BYTEA;

DROP INDEX accounts_by_phone_number_id;
CREATE UNIQUE INDEX accounts_phone_number_id_unique ON accounts (phone_number_id) WHERE phone_number_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_waba_id_unique ON accounts (waba_id) WHERE waba_id IS NOT NULL;
CREATE INDEX accounts_by_verify_token_hash ON accounts (verify_token_hash, created_at, id)
    WHERE verify_token_hash IS NOT NULL;

ALTER TABLE messages ADD COLUMN meta_error TEXT, ADD COLUMN pricing TEXT;
ALTER TABLE pending_statuses ADD COLUMN meta_error TEXT, ADD COLUMN pricing TEXT;
