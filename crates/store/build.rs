//! Rebuild when a migration is added: `sqlx::migrate!` embeds the folders' files at build time but
//! cannot tell Cargo to watch the folders themselves.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
