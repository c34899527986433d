-- Campaigns (issue 21, item 4). A campaign's messages are ordinary messages whose batch_id is the campaign's id
-- (found through messages_by_batch); a pause sets their due_at to NULL (out of every claim index), a resume sets
-- it again. control: 0 active, 1 paused, 2 cancelled. The send window is kept as minutes since local midnight.
CREATE TABLE campaigns (
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              UUID    NOT NULL UNIQUE,
    account         BIGINT  NOT NULL REFERENCES accounts (seq),
    name            TEXT    NOT NULL,
    content         TEXT    NOT NULL,
    start_at        BIGINT  NOT NULL,
    window_from     INTEGER,
    window_to       INTEGER,
    rate_per_second INTEGER,
    recipients      BIGINT  NOT NULL,
    control         SMALLINT NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX campaigns_by_account ON campaigns (account, created_at DESC, id DESC);

-- The time zone a campaign's recipient row gave (rows without one are derived from the number again).
CREATE TABLE campaign_zones (
    message   BIGINT PRIMARY KEY REFERENCES messages (seq),
    time_zone TEXT   NOT NULL
);
