//! `chaos`: the fault-injection run (`make chaos`). `CHAOS_SIZE=small|full` (default `full`),
//! `CHAOS_SEED` to replay a run. Prints one summary line on stdout; exit 1 when the run found a
//! problem (details on stderr), 2 on invalid settings.

use std::process::ExitCode;
use std::time::Duration;

use salla_odoo_tests::chaos::{self, Profile};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let size = std::env::var("CHAOS_SIZE").unwrap_or_else(|_| "full".into());
    let Some(profile) = Profile::named(&size) else {
        eprintln!("CHAOS_SIZE must be small or full, not {size:?}");
        return ExitCode::from(2);
    };
    let seed = chaos::seed_from_env();
    // The run bounds every wait by its deadline; this is the backstop if something still hangs.
    // Returning (rather than exiting) drops the run, whose processes are killed on drop.
    let limit = profile.deadline + Duration::from_secs(30);
    let Ok(report) = tokio::time::timeout(limit, chaos::run(profile, seed)).await else {
        println!("chaos: run exceeded {limit:?} and was stopped seed={seed}");
        return ExitCode::FAILURE;
    };
    println!("{}", report.summary());
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        eprint!("{}", report.explain());
        ExitCode::FAILURE
    }
}
