-- Campaigns (issue 21, item 4). A campaign's messages are ordinary messages whose batch_id is the campaign's id
-- (so the messages_by_batch index finds them); a pause sets their due_at to NULL, a resume sets it again.
-- control: 0 active, 1 paused, 2 cancelled. The send window is kept as minutes since local midnight.
CREATE TABLE campaigns (
    seq             INTEGER PRIMARY KEY,
    id              BLOB    NOT NULL UNIQUE,
    account         INTEGER NOT NULL REFERENCES accounts (seq),
    name            TEXT    NOT NULL,
    content         TEXT    NOT NULL,
    start_at        INTEGER NOT NULL,
    window_from     INTEGER,
    window_to       INTEGER,
    rate_per_second INTEGER,
    recipients      INTEGER NOT NULL,
    control         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- Listing newest first (scanned backwards).
CREATE INDEX campaigns_by_account ON campaigns (account, created_at);

-- The time zone a campaign's recipient row gave (rows without one are derived from the number again).
CREATE TABLE campaign_zones (
    message   INTEGER PRIMARY KEY REFERENCES messages (seq),
    time_zone TEXT    NOT NULL
);
