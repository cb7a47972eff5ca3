-- A job that cannot be decoded may not say which merchant it belongs to: it is dead-lettered
-- with merchant_id 0 ("unknown merchant") instead of staying in the queue forever.
ALTER TABLE dead_letters DROP CONSTRAINT dead_letters_merchant_id_check;
ALTER TABLE dead_letters ADD CONSTRAINT dead_letters_merchant_id_check CHECK (merchant_id >= 0);
