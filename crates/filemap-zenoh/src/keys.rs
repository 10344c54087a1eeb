//! Names and keys: a filemap name's Zenoh key (`PREFIX/NAME`, with the characters Zenoh
//! keys reserve escaped), the name a key stands for, and the name patterns of `--export`
//! and `--import` (`*` for any run of characters, `?` for one).

/// The characters a Zenoh key chunk cannot hold as they are (`*`, `$`, `#`, `?` are
/// wildcards or reserved; a chunk that starts with `@` is verbatim, matched by no
/// wildcard, so a pattern's import would miss the name), and `%`, which starts an escape.
const ESCAPED: [char; 6] = ['%', '*', '$', '#', '?', '@'];

/// The Zenoh key for the topic `base` (a filemap name without its scope): `prefix/base`,
/// each reserved character written as `%` and its two hex digits.
///
/// ```
/// assert_eq!(filemap_zenoh::keys::key_for("filemap", "temp"), "filemap/temp");
/// assert_eq!(filemap_zenoh::keys::key_for("filemap", "a*b"), "filemap/a%2Ab");
/// ```
pub fn key_for(prefix: &str, base: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + 1 + base.len());
    key.push_str(prefix);
    key.push('/');
    for c in base.chars() {
        if ESCAPED.contains(&c) {
            key.push_str(&format!("%{:02X}", c as u32));
        } else {
            key.push(c);
        }
    }
    key
}

/// The topic name a key under `prefix` stands for; `None` if the key is not one
/// ([`key_for`]'s inverse). A key with a wildcard or a reserved character unescaped
/// (`*`, `$`, `#`, `?`: a peer may put on a wildcard key, which Zenoh delivers to every
/// subscription it overlaps) is none; an `@` within a chunk, as earlier bridges wrote it,
/// and escapes in lowercase are read as they were.
///
/// ```
/// use filemap_zenoh::keys::name_for;
/// assert_eq!(name_for("filemap", "filemap/a%2Ab").as_deref(), Some("a*b"));
/// assert_eq!(name_for("filemap", "other/temp"), None);
/// assert_eq!(name_for("filemap", "filemap/**"), None);
/// assert_eq!(name_for("filemap", "filemap/a$*"), None);
/// assert_eq!(name_for("filemap", "filemap/a@b").as_deref(), Some("a@b"));
/// ```
pub fn name_for(prefix: &str, key: &str) -> Option<String> {
    let chunk = key.strip_prefix(prefix)?.strip_prefix('/')?;
    // No name is longer than a `Global\` one of the longest base (a key from the network
    // is not kept, nor logged, at any length).
    if chunk.is_empty() || chunk.contains(['/', '*', '$', '#', '?']) || chunk.len() > MAX_KEY_NAME {
        return None;
    }
    let mut name = String::with_capacity(chunk.len());
    let mut chars = chunk.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex: String = chars.by_ref().take(2).collect();
            let code = u32::from_str_radix(&hex, 16).ok()?;
            name.push(char::from_u32(code).filter(|c| ESCAPED.contains(c))?);
        } else {
            name.push(c);
        }
    }
    // A local name's key is its base: `Local\x` is `x`'s, never a name of its own.
    if name.starts_with("Local\\") {
        return None;
    }
    Some(name)
}

/// The longest name a key may stand for, escapes written out: a `Global\` name of the
/// longest base, each character escaped.
const MAX_KEY_NAME: usize = 3 * ("Global\\".len() + filemap::Name::MAX_LEN);

/// `name` as a key names it: a `Local\` name without its scope (the names of this
/// session are written bare), any other as it is.
///
/// ```
/// use filemap_zenoh::keys::scopeless;
/// assert_eq!(scopeless("Local\\temp"), "temp");
/// assert_eq!(scopeless("Global\\temp"), "Global\\temp");
/// ```
pub fn scopeless(name: &str) -> String {
    name.strip_prefix("Local\\").unwrap_or(name).to_string()
}

/// The Zenoh key expression that covers every key of the names `pattern` matches: the
/// pattern's key with its wildcards as `$*` (any part of a chunk), or `prefix/*` if it
/// is only wildcards. Matching names are then told apart with [`matches()`].
///
/// ```
/// use filemap_zenoh::keys::key_expr_for;
/// assert_eq!(key_expr_for("filemap", "sensors-*"), "filemap/sensors-$*");
/// assert_eq!(key_expr_for("filemap", "*"), "filemap/*");
/// ```
pub fn key_expr_for(prefix: &str, pattern: &str) -> String {
    if !is_pattern(pattern) {
        return key_for(prefix, pattern);
    }
    if pattern.chars().all(|c| c == '*' || c == '?') {
        return format!("{prefix}/*");
    }
    let mut expr = format!("{prefix}/");
    let mut last_wild = false;
    for part in pattern.split_inclusive(['*', '?']) {
        let literal = part.trim_end_matches(['*', '?']);
        if !literal.is_empty() {
            expr.push_str(&key_for("", literal)[1..]);
            last_wild = false;
        }
        if literal.len() < part.len() && !last_wild {
            expr.push_str("$*");
            last_wild = true;
        }
    }
    expr
}

/// Whether `pattern` has wildcards.
///
/// ```
/// assert!(filemap_zenoh::keys::is_pattern("room-?"));
/// assert!(!filemap_zenoh::keys::is_pattern("room-1"));
/// ```
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// Whether `name` matches `pattern` (`*`: any run of characters, `?`: one). A pattern
/// matches names of this session only (written without their scope): a `Global\` name
/// only by itself, so that no key from the network makes a pattern's import create or
/// take over a machine-wide object.
///
/// ```
/// use filemap_zenoh::keys::matches;
/// assert!(matches("sensors-*", "sensors-temp"));
/// assert!(!matches("sensors-?", "sensors-10"));
/// assert!(!matches("*", "Global\\temp") && matches("Global\\temp", "Global\\temp"));
/// ```
pub fn matches(pattern: &str, name: &str) -> bool {
    if is_pattern(pattern) && name.contains('\\') {
        return false;
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // The classic two-pointer glob match, with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_escapes() {
        for name in ["temp", "a*b", "50%", "x$y#z?", "ünïcode", "@cam"] {
            let key = key_for("filemap", name);
            assert!(!key[8..].contains(['*', '$', '#', '?', '@']), "{key}");
            assert_eq!(name_for("filemap", &key).as_deref(), Some(name));
        }
        assert_eq!(key_for("filemap", "a*b"), "filemap/a%2Ab");
        assert_eq!(name_for("filemap", "other/x"), None);
        assert_eq!(name_for("filemap", "filemap/a/b"), None);
        assert_eq!(
            name_for("filemap", "filemap/%41"),
            None,
            "not an escape of ours"
        );
        assert_eq!(name_for("filemap", "filemap/%4"), None);
        assert_eq!(
            name_for("filemap", "filemap/Local\\x"),
            None,
            "a local name's key is its base"
        );
        assert_eq!(
            name_for("filemap", "filemap/Global\\x").as_deref(),
            Some("Global\\x")
        );
        let long = format!("filemap/{}", "x".repeat(MAX_KEY_NAME + 1));
        assert_eq!(name_for("filemap", &long), None, "longer than any name");
    }

    #[test]
    fn patterns_match_like_globs() {
        assert!(matches("sensors-*", "sensors-temp"));
        assert!(matches("sensors-*", "sensors-"));
        assert!(!matches("sensors-*", "sensor"));
        assert!(matches("*-temp", "room1-temp"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", "anything"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbY"));
        assert!(matches("exact", "exact") && !matches("exact", "exact2"));
        // A scope is matched by no pattern, only by the name itself.
        assert!(!matches("*", "Global\\x") && !matches("G*", "Global\\x"));
        assert!(!matches("*", "Local\\x"));
        assert!(matches("Global\\x", "Global\\x"));
    }

    #[test]
    fn key_expressions_cover_their_patterns() {
        assert_eq!(key_expr_for("filemap", "temp"), "filemap/temp");
        assert_eq!(key_expr_for("filemap", "*"), "filemap/*");
        assert_eq!(key_expr_for("filemap", "sensors-*"), "filemap/sensors-$*");
        assert_eq!(key_expr_for("filemap", "a*b?c"), "filemap/a$*b$*c");
        assert_eq!(key_expr_for("filemap", "**x"), "filemap/$*x");
    }

    /// Zenoh's own rules for keys: every name's key is a key (not an expression), and
    /// the expression of every pattern that matches the name covers it (a chunk that
    /// starts with `@` is verbatim: only a chunk written the same matches it).
    #[test]
    fn zenoh_takes_every_key_and_pattern() {
        use zenoh::key_expr::keyexpr;
        let names = [
            "temp",
            "@cam",
            "a@b",
            "@",
            "50%",
            "x$y#z?",
            "a*b",
            "ünïcode",
        ];
        let patterns = ["*", "?cam", "@*", "a*", "*b", "x$y#z?", "50%"];
        for name in names {
            let key = key_for("filemap", name);
            let key = keyexpr::new(&key).unwrap_or_else(|e| panic!("{name}: {key}: {e}"));
            assert!(!key.is_wild(), "{key}");
            for pattern in patterns.into_iter().filter(|p| matches(p, name)) {
                let expr = key_expr_for("filemap", pattern);
                let expr = keyexpr::new(&expr).unwrap_or_else(|e| panic!("{pattern}: {e}"));
                assert!(
                    expr.includes(key),
                    "{pattern} ({expr}) misses {name} ({key})"
                );
            }
        }
    }
}
