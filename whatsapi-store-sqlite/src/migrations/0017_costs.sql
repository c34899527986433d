-- What messages cost (issue 21): the pricing Meta last reported for a message (the `pricing` JSON column, set by
-- every path that applies a status) is queryable by its category, type and model through expression indexes, so
-- no write path needs a column of its own kept in step.
-- Counts by category and by type: an index scan of the account's priced messages.
CREATE INDEX messages_by_pricing ON messages (
    account,
    json_extract(pricing, '$.category'),
    json_extract(pricing, '$.type'),
    json_extract(pricing, '$.pricing_model')
) WHERE pricing IS NOT NULL;
-- Billable messages (type `regular`) by the time Meta accepted them: a range scan for cost reports.
CREATE INDEX messages_billable ON messages (account, sent_at)
    WHERE json_extract(pricing, '$.type') = 'regular';
