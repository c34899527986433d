-- Conversations: one row per customer an account sent to or heard from, keyed by the phone number when known,
-- else by the business-scoped user id (BSUID). Kept up to date by the writes that change it (a send's insert, an
-- inbound message, an opt-out), so listing conversations reads this table by its activity index and never scans
-- messages. `activity_at` is what listings sort on: the latest message either way, or when the row was created
-- without one (an opt-out set through the API). Opt-outs: `opted_out_at` is set while the contact is opted out,
-- with who asked (`keyword`, `api`, `meta`); `marketing_paused_until` holds marketing templates back after
-- Meta's 131049.
CREATE TABLE contacts (
    account                BLOB    NOT NULL,
    key                    TEXT    NOT NULL,
    phone                  TEXT,
    user_id                TEXT,
    profile_name           TEXT,
    last_inbound_at        INTEGER,
    last_message_at        INTEGER,
    activity_at            INTEGER NOT NULL,
    opted_out_at           INTEGER,
    opt_out_source         TEXT,
    marketing_paused_until INTEGER,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE INDEX contacts_by_activity ON contacts (account, activity_at, key);
CREATE INDEX contacts_opted_out ON contacts (account, activity_at, key) WHERE opted_out_at IS NOT NULL;
CREATE INDEX contacts_by_user ON contacts (account, user_id) WHERE user_id IS NOT NULL;

-- A contact's thread: its messages by recipient, newest first.
CREATE INDEX messages_by_recipient ON messages (account, recipient, created_at);
CREATE INDEX messages_by_recipient_user ON messages (account, recipient_user_id, created_at)
    WHERE recipient_user_id IS NOT NULL;

-- The words customers write to opt out and back in, per account (none: the defaults).
CREATE TABLE opt_out_keywords (
    account BLOB PRIMARY KEY,
    opt_out TEXT NOT NULL,
    opt_in  TEXT NOT NULL
) WITHOUT ROWID;

-- The conversations of what was stored before this migration.
INSERT INTO contacts (account, key, phone, user_id, last_message_at, activity_at)
SELECT a.id, m.recipient, CASE WHEN m.recipient NOT GLOB '*[^0-9]*' THEN m.recipient END,
       max(m.recipient_user_id), max(m.created_at), max(m.created_at)
FROM messages m JOIN accounts a ON a.seq = m.account
GROUP BY a.id, m.recipient;
INSERT INTO contacts (account, key, phone, user_id, last_inbound_at, last_message_at, activity_at)
SELECT account, COALESCE(from_phone, from_user_id), from_phone, max(from_user_id), max(received_at),
       max(received_at), max(received_at)
FROM inbound_messages WHERE COALESCE(from_phone, from_user_id) IS NOT NULL
GROUP BY account, COALESCE(from_phone, from_user_id)
ON CONFLICT (account, key) DO UPDATE SET
    user_id = COALESCE(contacts.user_id, excluded.user_id),
    last_inbound_at = excluded.last_inbound_at,
    last_message_at = max(contacts.last_message_at, excluded.last_message_at),
    activity_at = max(contacts.activity_at, excluded.activity_at);
