-- Payments, refunds and returns (issue #17), per store.
-- payment_journal_id: the account.journal (bank or cash) a Salla order's payment is registered in
--   when payment_journals has no entry for its payment method; NULL (with no entry either): the
--   payment step is skipped, and the sync log says why.
-- payment_journals: Salla payment method slug -> account.journal id, e.g.
--   {"mada": 6, "credit_card": 6, "cod": 7}; "cod" is the cash-on-delivery journal. NULL: none.
-- refund_credit_notes: refunds (order.refunded, a status mapped to refund, a refunded amount) make
--   a credit note of the posted invoice and its refund payment; an order never invoiced is
--   cancelled instead. false: refunds are recorded and left to the accountant.
-- return_pickings: a delivered return shipment makes a return picking of its items.
ALTER TABLE stores
    ADD COLUMN payment_journal_id  BIGINT,
    ADD COLUMN payment_journals    JSONB,
    ADD COLUMN refund_credit_notes BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN return_pickings     BOOLEAN NOT NULL DEFAULT true;
