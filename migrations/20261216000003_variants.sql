-- How a Salla product with options and variants (skus[]) is kept in Odoo: 'templates' (one
-- product.template with attribute lines, one variant per Salla SKU) or 'separate' (one
-- product.product per Salla SKU, the layout before templates).
-- New stores get 'templates'; the stores that exist when this runs synced their variants as
-- separate products and keep 'separate' (`salla-odoo store update --variants templates` opts in).
ALTER TABLE stores ADD COLUMN variants TEXT NOT NULL DEFAULT 'templates'
    CHECK (variants IN ('templates', 'separate'));
UPDATE stores SET variants = 'separate';
