-- Fair claims (issue 15, item 11): a claim takes up to a few oldest due rows of each account, ties by id. The
-- (account, due_at) index left equal due times (a bulk request) unordered by id, so one account's claim read every
-- row of its bulk; with the id in the key it reads only what it takes. The new index serves every use of the old.
-- Numbered 0007 because 0005 and 0006 land concurrently; renumber to follow them when merging.
CREATE INDEX messages_due_by_account_id ON messages (account, due_at, id) WHERE due_at IS NOT NULL;
DROP INDEX messages_due_by_account;
