//! The small fault-injection run (the full one is `make chaos`): a few hundred Salla events for 20
//! stores while workers and Redis are killed, an Odoo goes offline and every Odoo is flaky; then
//! every Odoo must match the model, with no duplicate and no lost event. `CHAOS_SEED` replays a run.

use salla_odoo_tests::chaos::{self, Profile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_survives_crashes_outages_and_flaky_odoo() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seed = chaos::seed_from_env();
    let mut profile = Profile::small();
    // The books (payments, refunds, returns) and products with options, as in `make chaos`;
    // CHAOS_BOOKS=0 / CHAOS_VARIANTS=0 leave them out.
    profile.size.books = chaos::books_from_env();
    profile.size.variants = chaos::variants_from_env();
    let report = chaos::run(profile, seed).await;
    println!("{}", report.summary());
    assert!(
        report.passed(),
        "{}\n{}",
        report.summary(),
        report.explain()
    );
}
