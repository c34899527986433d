-- An account of the engine needs no product half: email, plan and key hash are set for the hosted product's
-- customers and NULL for the accounts an embedding app creates (all four together).
ALTER TABLE accounts ALTER COLUMN email DROP NOT NULL;
ALTER TABLE accounts ALTER COLUMN email_key DROP NOT NULL;
ALTER TABLE accounts ALTER COLUMN plan DROP NOT NULL;
ALTER TABLE accounts ALTER COLUMN key_hash DROP NOT NULL;
ALTER TABLE accounts ADD CONSTRAINT accounts_product_half_whole CHECK (
    (email IS NULL) = (email_key IS NULL)
    AND (email IS NULL) = (plan IS NULL)
    AND (email IS NULL) = (key_hash IS NULL)
);
