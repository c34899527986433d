-- Event subscriptions: an account's webhook endpoints besides its reference webhook (accounts.webhook), and the
-- endpoint each outbox event goes to (NULL: the reference webhook, as every event written before this migration).

CREATE TABLE webhook_endpoints (
    seq             INTEGER PRIMARY KEY,
    id              BLOB    NOT NULL UNIQUE,
    account         INTEGER NOT NULL REFERENCES accounts (seq),
    url             TEXT    NOT NULL,
    -- The signing secret, sealed when the store is encrypted.
    secret          TEXT    NOT NULL,
    -- JSON array of event type names; [] is every type.
    events          TEXT    NOT NULL,
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    -- JSON array of the retry delays in milliseconds.
    retry_schedule  TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account);

ALTER TABLE outbox ADD COLUMN endpoint INTEGER REFERENCES webhook_endpoints (seq);
-- The oldest waiting event per message and destination.
CREATE INDEX outbox_waiting_by_destination ON outbox (message, endpoint) WHERE state = 0;
CREATE INDEX outbox_by_endpoint ON outbox (endpoint) WHERE endpoint IS NOT NULL;
