//! `salla-odoo`: see the crate docs and `salla-odoo --help`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    salla_odoo_cli::main_with(std::env::args_os()).await
}
