-- Inbound messages, stored once per account and wamid (Meta delivers webhooks at least once). `data` holds the
-- message as whatsapi read it (JSON of whatsapi_core::Inbound: sender, context, referral, content); the columns
-- beside it are what listings filter and sort on. `reply_to` is our message it answers, when it is one of ours.
CREATE TABLE inbound_messages (
    seq          INTEGER PRIMARY KEY,
    id           BLOB    NOT NULL UNIQUE,
    account      BLOB    NOT NULL,
    wamid        TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    from_phone   TEXT,
    from_user_id TEXT,
    received_at  INTEGER NOT NULL,
    reply_to     BLOB,
    data         TEXT    NOT NULL,
    UNIQUE (account, wamid)
);
CREATE INDEX inbound_messages_newest ON inbound_messages (account, received_at, id);
CREATE INDEX inbound_messages_by_phone ON inbound_messages (account, from_phone, received_at, id)
    WHERE from_phone IS NOT NULL;
CREATE INDEX inbound_messages_by_user ON inbound_messages (account, from_user_id, received_at, id)
    WHERE from_user_id IS NOT NULL;
