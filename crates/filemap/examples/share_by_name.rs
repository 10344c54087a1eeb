//! The classic "Creating Named Shared Memory" pair: process A creates a named object and
//! writes a message; process B opens it by name and reads the message (Win32:
//! CreateFileMapping(INVALID_HANDLE_VALUE, ..., "Local\\MyFileMappingObject") /
//! OpenFileMapping). Here A starts B itself, as a second process.
//!
//! ```sh
//! cargo run --example share_by_name
//! ```

use filemap::{Access, Mapping};

const NAME: &str = "Local\\MyFileMappingObject";
const MESSAGE: &[u8] = b"Message from first process.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("process-b") {
        // Process B: OpenFileMapping(FILE_MAP_READ, FALSE, NAME) + MapViewOfFile.
        let mapping = Mapping::open_with(NAME, Access::Read)?;
        let view = mapping.view().len(MESSAGE.len() as u64).map()?;
        println!(
            "process B read: {:?}",
            String::from_utf8_lossy(&view.read_vec(0, MESSAGE.len())?)
        );
        return Ok(());
    }
    // Process A: CreateFileMapping with a name; the object lives while a handle is open.
    let mapping = Mapping::create_new(NAME, 256)?;
    mapping.view().map()?.write_at(0, MESSAGE)?;
    println!("process A wrote: {:?}", String::from_utf8_lossy(MESSAGE));
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("process-b")
        .status()?;
    drop(mapping); // the last handle: the object is gone
    if !status.success() {
        return Err(format!("process B failed: {status}").into());
    }
    println!("process A closed its handle: {NAME} is gone");
    Ok(())
}
