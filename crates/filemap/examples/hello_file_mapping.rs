//! The classic first file-mapping program: map a data file and write "Hello File Mapping"
//! through a view (Win32: CreateFile + CreateFileMapping + MapViewOfFile + FlushViewOfFile).
//!
//! ```sh
//! cargo run --example hello_file_mapping
//! ```

use filemap::Mapping;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("filemap-hello-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("data.txt");
    std::fs::write(&path, "")?; // CreateFile(..., CREATE_ALWAYS, ...)

    // CreateFileMapping(hFile, NULL, PAGE_READWRITE, 0, 4096, NULL): the size extends the
    // empty file (size 0 on an empty file would be Error::EmptyFile, ERROR_FILE_INVALID).
    let mapping = Mapping::from_path(&path).size(4096).create()?;
    // MapViewOfFile(hMap, FILE_MAP_WRITE, 0, 0, 0): 0 = to the end.
    let view = mapping.view().map()?;
    view.write_at(0, b"Hello File Mapping")?;
    // FlushViewOfFile + FlushFileBuffers: durable when it returns.
    view.flush()?;
    // UnmapViewOfFile, CloseHandle: drop, in any order.
    drop((view, mapping));

    let on_disk = std::fs::read(&path)?;
    println!(
        "{} now starts with {:?} ({} bytes)",
        path.display(),
        String::from_utf8_lossy(&on_disk[..18]),
        on_disk.len()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
