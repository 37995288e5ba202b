-- Whom each record is about and which payment it pays or refunds, so that a
-- customer's money events reach Reditus in order (DB.Ahead): uid as the
-- event names the customer, payment_key the idempotency key it pays, or the
-- one its refund takes back. '' where the event has none, and on the records
-- written before this migration. No index: Ahead reads the queued and
-- pending rows only, which journal_outcome finds, and they are few.
ALTER TABLE journal ADD COLUMN uid TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN payment_key TEXT NOT NULL DEFAULT '';
