-- Several business numbers per account (the default one stays in accounts.credentials / phone_number_id).

-- An account's extra numbers. A phone number id is unique here and, checked by the writer in the same
-- transaction, never also an account's default phone_number_id.
CREATE TABLE business_numbers (
    phone_number_id       TEXT    PRIMARY KEY,
    account               INTEGER NOT NULL REFERENCES accounts (seq),
    -- The number's own access token (sealed when the store is encrypted); NULL: the default credentials' token.
    access_token          TEXT,
    display_phone_number  TEXT    NOT NULL,
    verified_name         TEXT    NOT NULL,
    quality_rating        TEXT,
    throughput_level      TEXT,
    -- Pacing rate in messages per second; NULL: the engine's default.
    throughput_per_second INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX business_numbers_by_account ON business_numbers (account, created_at, phone_number_id);

-- The number a message is sent from; NULL: the account's default number (every message written before).
ALTER TABLE messages ADD COLUMN from_number TEXT;
