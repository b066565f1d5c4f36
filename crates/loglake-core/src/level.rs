//! Log level normalisation: `warning` → `WARN`, Bunyan `30` → `INFO`, anything unknown upper-cased.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use crate::schema::LevelsSpec;

/// Built-in aliases, lower-case. The canonical levels are TRACE, DEBUG, INFO, WARN, ERROR, FATAL.
const BUILTIN_ALIASES: &[(&str, &str)] = &[
    ("trace", "TRACE"),
    ("verbose", "TRACE"),
    ("debug", "DEBUG"),
    ("dbg", "DEBUG"),
    ("info", "INFO"),
    ("information", "INFO"),
    ("informational", "INFO"),
    ("notice", "INFO"),
    ("warn", "WARN"),
    ("warning", "WARN"),
    ("error", "ERROR"),
    ("err", "ERROR"),
    ("fatal", "FATAL"),
    ("critical", "FATAL"),
    ("crit", "FATAL"),
    ("alert", "FATAL"),
    ("emerg", "FATAL"),
    ("emergency", "FATAL"),
    ("panic", "FATAL"),
];

/// Bunyan/pino numeric levels (node-bunyan README "Levels").
const BUNYAN_NUMBERS: &[(&str, &str)] = &[
    ("10", "TRACE"),
    ("20", "DEBUG"),
    ("30", "INFO"),
    ("40", "WARN"),
    ("50", "ERROR"),
    ("60", "FATAL"),
];

/// Whether `level` is one of the canonical levels every alias maps to.
pub fn is_canonical(level: &str) -> bool {
    matches!(
        level,
        "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR" | "FATAL"
    )
}

/// The compiled level table.
#[derive(Debug, Clone)]
pub struct LevelMap {
    aliases: FxHashMap<String, String>,
    numbers: FxHashMap<String, String>,
}

impl LevelMap {
    /// Builds the table: built-in aliases overridden by the schema's, and the schema's numeric
    /// table when given (else Bunyan's).
    pub fn new(spec: &LevelsSpec) -> Self {
        let mut aliases: FxHashMap<String, String> = BUILTIN_ALIASES
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in &spec.aliases {
            aliases.insert(k.to_lowercase(), v.clone());
        }
        let numbers = match &spec.numbers {
            Some(n) => n.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => BUNYAN_NUMBERS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        Self { aliases, numbers }
    }

    /// Normalises a level written as text. Numeric text goes through the numeric table. The
    /// result borrows from the table or the input: no allocation unless the level is unknown.
    pub fn normalize<'a>(&'a self, raw: &'a str) -> Cow<'a, str> {
        let t = raw.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return self.number(t).map_or(Cow::Borrowed(t), Cow::Borrowed);
        }
        // Fast path: already canonical.
        if is_canonical(t) {
            return Cow::Borrowed(t);
        }
        // Lower-case into a stack buffer for the alias lookup (levels are short ASCII words).
        let mut buf = [0u8; 32];
        let hit = if t.len() <= buf.len() && t.is_ascii() {
            let lower = &mut buf[..t.len()];
            lower.copy_from_slice(t.as_bytes());
            lower.make_ascii_lowercase();
            std::str::from_utf8(lower)
                .ok()
                .and_then(|l| self.aliases.get(l))
        } else {
            self.aliases.get(&t.to_lowercase())
        };
        match hit {
            Some(v) => Cow::Borrowed(v.as_str()),
            None => Cow::Owned(t.to_uppercase()),
        }
    }

    /// Normalises a numeric level; `None` when the number is not in the table.
    pub fn number(&self, digits: &str) -> Option<&str> {
        let d = digits.trim_start_matches('0');
        let d = if d.is_empty() { "0" } else { d };
        self.numbers.get(d).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_case() {
        let m = LevelMap::new(&LevelsSpec::default());
        assert_eq!(m.normalize("warning"), "WARN");
        assert_eq!(m.normalize("Warning"), "WARN");
        assert_eq!(m.normalize("info"), "INFO");
        assert_eq!(m.normalize("INFO"), "INFO");
        assert_eq!(m.normalize(" critical "), "FATAL");
        assert_eq!(m.normalize("DEBUG5"), "DEBUG5");
        assert_eq!(m.normalize("stats"), "STATS");
    }

    #[test]
    fn bunyan_numbers_and_unknown_numbers() {
        let m = LevelMap::new(&LevelsSpec::default());
        assert_eq!(m.normalize("30"), "INFO");
        assert_eq!(m.normalize("60"), "FATAL");
        // bunyan all.log has a non-standard 55: kept as written.
        assert_eq!(m.normalize("55"), "55");
    }

    #[test]
    fn schema_numbers_replace_bunyan() {
        let spec = LevelsSpec {
            aliases: [("i".to_owned(), "INFO".to_owned())].into_iter().collect(),
            numbers: Some([("3".to_owned(), "ERROR".to_owned())].into_iter().collect()),
        };
        let m = LevelMap::new(&spec);
        assert_eq!(m.normalize("3"), "ERROR");
        assert_eq!(m.normalize("30"), "30");
        assert_eq!(m.normalize("I"), "INFO");
    }
}
