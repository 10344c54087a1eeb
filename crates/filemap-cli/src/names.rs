//! Names as given on the command line.

use filemap::Name;

use crate::outcome::Failure;

/// [`scoped_name`], as the text the commands that take a name as text are given.
pub fn scoped(name: &str, global: bool) -> Result<String, Failure> {
    Ok(scoped_name(name, global)?.to_string())
}

/// [`scoped`], but a foreign segment's name (POSIX shared memory's, a plain section's) as
/// it is: it has no scope (clap refuses `--global` with `--foreign`).
pub fn maybe_scoped(name: &str, foreign: bool, global: bool) -> Result<String, Failure> {
    if foreign {
        return Ok(name.to_string());
    }
    scoped(name, global)
}

/// The name, with `--global` applied to names without a prefix.
pub fn scoped_name(name: &str, global: bool) -> Result<Name, Failure> {
    let parsed = Name::new(name)?;
    if !global {
        return Ok(parsed);
    }
    if name.starts_with("Local\\") {
        return Err(Failure::Usage(format!(
            "{name} has a Local\\ prefix, which contradicts --global"
        )));
    }
    Ok(Name::new(&format!("Global\\{}", parsed.base()))?)
}
