//! Names as given on the command line.

use filemap::Name;

use crate::outcome::Failure;

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
