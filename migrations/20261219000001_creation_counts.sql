-- How many times a code of each bucket of product codes was about to become visible in an Odoo
-- database (a product created with a code, or a code written onto one), counted before the Odoo
-- call (`started`), and how many of those calls came back with a known outcome (`finished`). A
-- job that looked codes up in Odoo without a lock, when nothing was in flight, and then took their
-- creation locks needs no second look-up when nothing started meanwhile (see
-- crates/store/src/creations.rs).
-- `scope` is a hash of the Odoo database (`<url>|<db>`), never the address itself.
CREATE TABLE creation_counts (
    scope  TEXT    NOT NULL,
    bucket INTEGER NOT NULL,
    started  BIGINT  NOT NULL DEFAULT 0,
    finished BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, bucket)
);
