//! The classic pair of pairs: two processes mapping the same file with FILE_MAP_COPY do
//! not communicate (each write makes a private copy), two mapping it shared do. Then the
//! tutorial's "copy the changed pages to a writable view and flush" step, done by
//! `commit`.
//!
//! ```sh
//! cargo run --example copy_on_write
//! ```

use filemap::{Access, Mapping};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, path] = args.as_slice() {
        // The second process of each pair: maps the file and reports what it sees.
        let access = if role == "copy" {
            Access::Copy
        } else {
            Access::Write
        };
        let mapping = Mapping::from_path(path).create()?;
        let view = mapping.view().access(access).map()?;
        println!(
            "  second process ({role} view) sees: {:?}",
            String::from_utf8_lossy(&view.read_vec(0, 12)?)
        );
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("filemap-cow-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("shared.bin");
    std::fs::write(&path, b"original....".repeat(400))?;
    let second = |role: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([role, path.to_str().unwrap()])
            .status()
    };
    let mapping = Mapping::from_path(&path).create()?;

    println!("copy-on-write pair (FILE_MAP_COPY): they do not communicate");
    let mut copy = mapping.view().access(Access::Copy).map()?;
    copy.write_at(0, b"private edit")?;
    println!("  first process wrote \"private edit\" into its copy view");
    second("copy")?;

    println!("shared pair (FILE_MAP_WRITE): they communicate");
    let shared = mapping.view().access(Access::Write).map()?;
    shared.write_at(0, b"shared edit!")?;
    println!("  first process wrote \"shared edit!\" into its shared view");
    second("shared")?;

    println!("committing the copy view's changed pages");
    println!("  pages changed: {:?}", copy.modified_pages()?);
    let written = copy.commit()?;
    println!("  commit wrote {written} page(s) back and flushed them");
    second("shared")?;

    drop((copy, shared, mapping));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
