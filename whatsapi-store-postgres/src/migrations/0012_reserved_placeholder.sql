-- PLACEHOLDER, not a real migration: version 12 is reserved for another branch (sharded counters), which adds
-- its own 0012_*.sql. This empty file only keeps the `limits` branch's 0013 at version 13 until that merge; the
-- merger drops this file (and its line in schema.rs) in favour of the real 0012.
SELECT 1;
