-- Recipients behind a WhatsApp username and replies in context.
-- `recipient` keeps the address Meta delivers to: the phone number when known, else the business-scoped user id
-- (BSUID, such as US.13491208655302741918, which never looks like a phone number). `recipient_user_id` keeps the
-- BSUID whenever one was given, with or without a phone number. `reply_to` is the wamid a reply quotes.
ALTER TABLE messages ADD COLUMN recipient_user_id TEXT;
ALTER TABLE messages ADD COLUMN reply_to TEXT;
