//! `sqlx::migrate!` reads the SQL files at compile time but does not tell cargo about them: without
//! this, a migration added or edited left the crate (and every binary) built with the old set.
fn main() {
    println!("cargo:rerun-if-changed=postgres");
    println!("cargo:rerun-if-changed=sqlite");
}
