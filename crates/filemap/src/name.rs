//! Object names: the `Local\` / `Global\` scopes, validation, and the encoding of a name
//! into a namespace entry's file name.
//!
//! A name is validated once, here, into a [`Name`]; everything else takes `&Name`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, NameProblem, Result};
use crate::vocabulary::MAX_NAME_LEN;

/// Who can see a named object.
///
/// ```
/// use filemap::{Name, Scope};
/// assert_eq!(Name::new("jobs")?.scope(), Scope::Local);
/// assert_eq!(Name::new("Global\\jobs")?.scope(), Scope::Global);
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `Local\name` (the default): private to the current user.
    Local,
    /// `Global\name`: one object for the whole machine, shared between users according to
    /// the permissions its creator gave it.
    Global,
}

/// A validated object name: a [`Scope`] and a base name.
///
/// Written as `Local\base`, `Global\base`, or just `base` (which means `Local\base`),
/// like the names of Windows kernel objects. The base name is 1 to [`Name::MAX_LEN`]
/// bytes of UTF-8 without control characters, `/` or `\`.
///
/// ```
/// use filemap::{Name, Scope};
///
/// let n: Name = "Global\\jobs".parse()?;
/// assert_eq!(n.scope(), Scope::Global);
/// assert_eq!(n.base(), "jobs");
/// assert_eq!(n.to_string(), "Global\\jobs");
///
/// let local = Name::new("jobs")?;
/// assert_eq!(local.to_string(), "Local\\jobs");
///
/// assert!(Name::new("a/b").is_err());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    scope: Scope,
    base: String,
}

/// Appends `n` in decimal (as `write!` would, without its formatting machinery: every
/// create and open names a file this way).
#[cfg(unix)]
fn push_decimal(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// The prefix of every entry file filemap creates in its namespace directory (on Linux;
/// foreign segment names may not start with it on either system).
pub(crate) const ENTRY_PREFIX: &str = "filemap.";

impl Name {
    /// The longest base name accepted, in bytes.
    ///
    /// ```
    /// use filemap::{Error, Name, NameProblem};
    /// assert!(Name::new(&"x".repeat(Name::MAX_LEN)).is_ok());
    /// let too_long = "x".repeat(Name::MAX_LEN + 1);
    /// // The prefix does not count: the length is the base name's.
    /// match Name::new(&format!("Global\\{too_long}")) {
    ///     Err(Error::InvalidName { problem: NameProblem::TooLong { len }, .. }) => {
    ///         assert_eq!(len, Name::MAX_LEN + 1)
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub const MAX_LEN: usize = MAX_NAME_LEN;

    /// Parses and validates a name (`Local\x`, `Global\x` or `x`).
    ///
    /// ```
    /// use filemap::{Error, Name, NameProblem};
    /// assert_eq!(Name::new("jobs")?, Name::new("Local\\jobs")?);
    /// assert_eq!(Name::new("Global\\jobs")?.to_string(), "Global\\jobs");
    /// let problem = |s| match Name::new(s) {
    ///     Err(Error::InvalidName { problem, .. }) => problem,
    ///     other => panic!("{other:?}"),
    /// };
    /// assert_eq!(problem("Local\\"), NameProblem::Empty);
    /// let session = NameProblem::UnknownPrefix { prefix: "Session".into() };
    /// assert_eq!(problem("Session\\jobs"), session);
    /// assert_eq!(problem("a\tb"), NameProblem::ControlCharacter { position: 1 });
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn new(name: &str) -> Result<Name> {
        let invalid = |problem| Error::InvalidName {
            name: name.to_string(),
            problem,
        };
        let (scope, base, base_start) = if let Some(rest) = name.strip_prefix("Local\\") {
            (Scope::Local, rest, "Local\\".len())
        } else if let Some(rest) = name.strip_prefix("Global\\") {
            (Scope::Global, rest, "Global\\".len())
        } else {
            (Scope::Local, name, 0)
        };
        if base.is_empty() {
            return Err(invalid(NameProblem::Empty));
        }
        // Most names are ASCII without anything to refuse: one pass over the bytes says so.
        let plain = |b: &u8| b.is_ascii() && !b.is_ascii_control() && !matches!(b, b'/' | b'\\');
        if base.len() <= Name::MAX_LEN && base.as_bytes().iter().all(plain) {
            return Ok(Name {
                scope,
                base: base.to_string(),
            });
        }
        for (i, c) in base.char_indices() {
            let position = base_start + i;
            if c.is_control() {
                return Err(invalid(NameProblem::ControlCharacter { position }));
            }
            if c == '/' {
                return Err(invalid(NameProblem::Slash { position }));
            }
            if c == '\\' {
                if base_start == 0 {
                    let prefix = &base[..i];
                    if !prefix.is_empty() && !prefix.contains(['/', '\\']) {
                        return Err(invalid(NameProblem::UnknownPrefix {
                            prefix: prefix.to_string(),
                        }));
                    }
                }
                return Err(invalid(NameProblem::Backslash { position }));
            }
        }
        if base.len() > Name::MAX_LEN {
            return Err(invalid(NameProblem::TooLong { len: base.len() }));
        }
        Ok(Name {
            scope,
            base: base.to_string(),
        })
    }

    /// The scope: `Local` or `Global`.
    ///
    /// ```
    /// use filemap::{Name, Scope};
    /// assert_eq!(Name::new("Local\\jobs")?.scope(), Scope::Local);
    /// assert_eq!(Name::new("jobs")?.scope(), Scope::Local); // the default
    /// assert_eq!(Name::new("Global\\jobs")?.scope(), Scope::Global);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The name without its scope prefix.
    ///
    /// ```
    /// use filemap::Name;
    /// assert_eq!(Name::new("Global\\jobs")?.base(), "jobs");
    /// assert_eq!(Name::new("jobs")?.base(), "jobs");
    /// assert_eq!(Name::new("Local\\a.b c")?.base(), "a.b c");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The file name of this object's entry in the namespace directory, for the user `uid`
    /// (`filemap.u1000.jobs`, `filemap.global.jobs`).
    #[cfg(unix)]
    pub(crate) fn entry_file_name(&self, uid: u32) -> String {
        // Built in one allocation (every create and open makes one).
        let mut file_name = String::with_capacity(ENTRY_PREFIX.len() + 12 + self.base.len());
        file_name.push_str(ENTRY_PREFIX);
        match self.scope {
            Scope::Local => {
                file_name.push('u');
                push_decimal(&mut file_name, uid);
                file_name.push('.');
            }
            Scope::Global => file_name.push_str("global."),
        }
        file_name.push_str(&self.base);
        file_name
    }

    /// The inverse of [`Name::entry_file_name`]: the name and, for Local names, the uid.
    /// `None` for files that are not filemap entries.
    #[cfg(unix)]
    pub(crate) fn from_entry_file_name(file_name: &str) -> Option<(Name, Option<u32>)> {
        let rest = file_name.strip_prefix(ENTRY_PREFIX)?;
        let (scope_part, base) = rest.split_once('.')?;
        let (name, uid) = if scope_part == "global" {
            (format!("Global\\{base}"), None)
        } else {
            // Only as `entry_file_name` writes it (`u+1000` or `u01000` would list, and be
            // collected, under a name whose entry is another file).
            let digits = scope_part.strip_prefix('u')?;
            let uid: u32 = digits.parse().ok()?;
            if uid.to_string() != digits {
                return None;
            }
            (format!("Local\\{base}"), Some(uid))
        };
        Some((Name::new(&name).ok()?, uid))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            Scope::Local => write!(f, "Local\\{}", self.base),
            Scope::Global => write!(f, "Global\\{}", self.base),
        }
    }
}

impl FromStr for Name {
    type Err = Error;
    fn from_str(s: &str) -> Result<Name> {
        Name::new(s)
    }
}

/// Anything that names an object: `&str`, `String`, or an already validated [`Name`].
///
/// Functions that take a name take `impl IntoName`, so a bad name is reported as
/// [`Error::InvalidName`] by the call that uses it.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::{Mapping, Name};
/// let name = Name::new("into-name-demo")?;
/// let _a = Mapping::create_new(&name, 64)?;            // a Name
/// let _b = Mapping::open("into-name-demo")?;           // a &str
/// let _c = Mapping::open(String::from("into-name-demo"))?; // a String
/// # Ok::<(), filemap::Error>(())
/// ```
pub trait IntoName {
    /// Validates (if needed) and returns the name.
    ///
    /// ```
    /// use filemap::{IntoName, Name};
    /// assert_eq!("jobs".into_name()?, Name::new("Local\\jobs")?);
    /// assert_eq!(String::from("Global\\jobs").into_name()?.base(), "jobs");
    /// assert!(matches!("a/b".into_name(), Err(filemap::Error::InvalidName { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    fn into_name(self) -> Result<Name>;
}

impl IntoName for &str {
    fn into_name(self) -> Result<Name> {
        Name::new(self)
    }
}

impl IntoName for String {
    fn into_name(self) -> Result<Name> {
        Name::new(&self)
    }
}

impl IntoName for &String {
    fn into_name(self) -> Result<Name> {
        Name::new(self)
    }
}

impl IntoName for Name {
    fn into_name(self) -> Result<Name> {
        Ok(self)
    }
}

impl IntoName for &Name {
    fn into_name(self) -> Result<Name> {
        Ok(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(s: &str) -> NameProblem {
        match Name::new(s) {
            Err(Error::InvalidName { problem, name }) => {
                assert_eq!(name, s);
                problem
            }
            other => panic!("{s:?}: expected InvalidName, got {other:?}"),
        }
    }

    #[test]
    fn scopes_and_display() {
        let n = Name::new("abc").unwrap();
        assert_eq!((n.scope(), n.base()), (Scope::Local, "abc"));
        let n = Name::new("Local\\abc").unwrap();
        assert_eq!((n.scope(), n.base()), (Scope::Local, "abc"));
        let n = Name::new("Global\\a b.c-d").unwrap();
        assert_eq!((n.scope(), n.base()), (Scope::Global, "a b.c-d"));
        assert_eq!(n.to_string(), "Global\\a b.c-d");
        assert_eq!(Name::new("héllo").unwrap().base(), "héllo");
    }

    /// The one-pass check of plain ASCII names agrees with the character by character one:
    /// every ASCII byte, alone, inside a name and after a prefix, and names at and just
    /// past the length limit (plain, non-ASCII, and with a refused character too).
    #[test]
    fn the_ascii_pass_agrees_with_the_full_check() {
        let reference = |base: &str| -> std::result::Result<(), NameProblem> {
            if base.is_empty() {
                return Err(NameProblem::Empty);
            }
            for (i, c) in base.char_indices() {
                match c {
                    c if c.is_control() => {
                        return Err(NameProblem::ControlCharacter { position: i });
                    }
                    '/' => return Err(NameProblem::Slash { position: i }),
                    '\\' => return Err(NameProblem::Backslash { position: i }),
                    _ => {}
                }
            }
            if base.len() > Name::MAX_LEN {
                return Err(NameProblem::TooLong { len: base.len() });
            }
            Ok(())
        };
        let outcome = |name: &str| match Name::new(name) {
            Ok(n) => Ok(n.base().to_string()),
            Err(Error::InvalidName { problem, .. }) => Err(problem),
            Err(e) => panic!("{name:?}: {e:?}"),
        };
        for b in 0u8..=0x7f {
            let c = char::from(b);
            for base in [format!("{c}"), format!("ab{c}cd"), format!("{c}z")] {
                let name = format!("Global\\{base}");
                let expected = reference(&base)
                    .map(|()| base.clone())
                    .map_err(|p| match p {
                        NameProblem::ControlCharacter { position } => {
                            NameProblem::ControlCharacter {
                                position: position + "Global\\".len(),
                            }
                        }
                        NameProblem::Slash { position } => NameProblem::Slash {
                            position: position + "Global\\".len(),
                        },
                        NameProblem::Backslash { position } => NameProblem::Backslash {
                            position: position + "Global\\".len(),
                        },
                        other => other,
                    });
                assert_eq!(outcome(&name), expected, "{name:?}");
                if b != b'\\' {
                    assert_eq!(
                        outcome(&base),
                        reference(&base).map(|()| base.clone()),
                        "{base:?}"
                    );
                }
            }
        }
        let max = Name::MAX_LEN;
        for base in [
            "a".repeat(max),
            "a".repeat(max + 1),
            format!("{}é", "a".repeat(max - 2)),
            format!("{}é", "a".repeat(max - 1)),
            format!("{}\u{7f}", "a".repeat(max)),
            format!("{}/", "a".repeat(max)),
        ] {
            assert_eq!(
                outcome(&base),
                reference(&base).map(|()| base.clone()),
                "{} bytes",
                base.len()
            );
        }
    }

    #[test]
    fn each_problem_is_distinct() {
        assert_eq!(problem(""), NameProblem::Empty);
        assert_eq!(problem("Local\\"), NameProblem::Empty);
        assert_eq!(problem("Global\\"), NameProblem::Empty);
        assert_eq!(problem(&"x".repeat(201)), NameProblem::TooLong { len: 201 });
        assert!(Name::new(&"x".repeat(200)).is_ok());
        assert_eq!(
            problem("a\0b"),
            NameProblem::ControlCharacter { position: 1 }
        );
        assert_eq!(
            problem("Local\\a\nb"),
            NameProblem::ControlCharacter { position: 7 }
        );
        assert_eq!(problem("a/b"), NameProblem::Slash { position: 1 });
        assert_eq!(
            problem("Global\\a\\b"),
            NameProblem::Backslash { position: 8 }
        );
        assert_eq!(
            problem("Session\\x"),
            NameProblem::UnknownPrefix {
                prefix: "Session".into()
            }
        );
        assert_eq!(problem("\\x"), NameProblem::Backslash { position: 0 });
    }

    #[test]
    #[cfg(unix)]
    fn entry_file_names_round_trip() {
        for s in ["Local\\a", "Global\\b.c", "Local\\x.y.z"] {
            let n = Name::new(s).unwrap();
            let f = n.entry_file_name(1000);
            let (back, uid) = Name::from_entry_file_name(&f).unwrap();
            assert_eq!(back, n);
            assert_eq!(uid.is_some(), n.scope() == Scope::Local);
        }
        assert_eq!(Name::new("a").unwrap().entry_file_name(7), "filemap.u7.a");
        for uid in [0, 9, 10, 1000, 65534, u32::MAX] {
            let expected = format!("filemap.u{uid}.a");
            assert_eq!(Name::new("a").unwrap().entry_file_name(uid), expected);
        }
        assert!(Name::from_entry_file_name("other").is_none());
        assert!(Name::from_entry_file_name("filemap.uX.a").is_none());
        // Only the uid as written: another spelling would name another file.
        for odd in [
            "filemap.u+1000.a",
            "filemap.u01000.a",
            "filemap.u.a",
            "filemap.u-1.a",
        ] {
            assert!(Name::from_entry_file_name(odd).is_none(), "{odd}");
        }
        assert!(Name::from_entry_file_name("filemap.u0.a").is_some());
    }
}
