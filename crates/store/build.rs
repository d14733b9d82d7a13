//! Embeds migrations/ into the crate: each file validated and split into
//! statements by `prompthelm-migrations` (sqlparser) here, at build time, so
//! the components carry ready statements and no SQL parser. A file that does
//! not parse fails the build.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time, not with env!: the compiled build script is reused
    // by clones at other paths that share a target dir (CI does).
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let dir = Path::new(&manifest_dir).join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let migrations = prompthelm_migrations::load_dir(&dir)
        .unwrap_or_else(|e| panic!("migrations/ does not load: {e:#}"));
    let mut out = String::from("pub static MIGRATIONS: &[Embedded] = &[\n");
    for m in &migrations {
        writeln!(
            out,
            "    Embedded {{ version: {}, name: {:?}, file_name: {:?}, checksum: {:?}, statements: &{:?} }},",
            m.version, m.name, m.file_name, m.checksum, m.statements
        )
        .unwrap();
    }
    out.push_str("];\n");
    let path = Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(path, out).unwrap();
}
