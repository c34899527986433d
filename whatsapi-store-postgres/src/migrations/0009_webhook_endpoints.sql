-- Event subscriptions: an account's webhook endpoints besides its reference webhook (accounts.webhook), and the
-- endpoint each outbox event goes to (NULL: the reference webhook, as every event written before this migration).

CREATE TABLE webhook_endpoints (
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              UUID    NOT NULL UNIQUE,
    account         BIGINT  NOT NULL REFERENCES accounts (seq),
    url             TEXT    NOT NULL,
    -- The signing secret, sealed when the store is encrypted.
    secret          TEXT    NOT NULL,
    -- JSON array of event type names; [] is every type.
    events          TEXT    NOT NULL,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,
    -- JSON array of the retry delays in milliseconds.
    retry_schedule  TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account, seq);

ALTER TABLE outbox ADD COLUMN endpoint BIGINT REFERENCES webhook_endpoints (seq);
-- The oldest waiting event per message and destination (0: the reference webhook).
CREATE INDEX outbox_waiting_by_destination ON outbox (message, (COALESCE(endpoint, 0)), seq) WHERE state = 0;
CREATE INDEX outbox_by_endpoint ON outbox (endpoint) WHERE endpoint IS NOT NULL;
