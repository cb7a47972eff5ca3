-- Currencies and amounts (issue 17).
-- pricelists: the Odoo product.pricelist id per Salla order currency, e.g. {"SAR": 1, "USD": 3}.
-- NULL or {}: each currency uses the store's pricelist_id when it is in that currency, else the
-- pricelist Odoo holds in it; an order in a currency no pricelist has fails permanently.
ALTER TABLE stores ADD COLUMN pricelists JSONB;
-- The largest difference (cents of the order's currency) between Odoo's total and Salla's that a
-- rounding line may absorb; beyond it the order fails permanently. 0: never add a rounding line.
ALTER TABLE stores ADD COLUMN rounding_max_cents BIGINT NOT NULL DEFAULT 100
    CHECK (rounding_max_cents >= 0);
