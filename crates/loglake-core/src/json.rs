//! A validating, single-pass scanner for one JSON object: the normaliser's parser.
//!
//! Why not serde_json: the normaliser needs, for each top-level field, the key, the value's exact
//! text and its kind, and whether a string has escapes; it does not need a tree. serde_json's
//! `RawValue` path scans every value and the normaliser then re-scanned strings; this scanner
//! does it once, validates exactly what JSON requires (grammar, escapes, no raw control
//! characters in strings), has no recursion (any nesting depth, bounded by the input), and
//! borrows everything from the input. Its verdicts are checked against serde_json by the
//! differential fuzz test in `tests/fuzz.rs`.

/// The kind of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string; `escaped` tells whether it contains backslash escapes.
    Str {
        /// The string has at least one escape sequence.
        escaped: bool,
    },
    /// A number.
    Num,
    /// `true`.
    True,
    /// `false`.
    False,
    /// `null`.
    Null,
    /// An object.
    Object,
    /// An array.
    Array,
}

/// A value: its exact text (strings include their quotes) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    /// The value's JSON text, exactly as in the input.
    pub raw: &'a str,
    /// What it is.
    pub kind: Kind,
}

impl<'a> Value<'a> {
    /// The content of a string value without quotes, unescaped only when needed.
    pub fn str_content(&self) -> Option<std::borrow::Cow<'a, str>> {
        match self.kind {
            Kind::Str { escaped: false } => {
                Some(std::borrow::Cow::Borrowed(&self.raw[1..self.raw.len() - 1]))
            }
            Kind::Str { escaped: true } => serde_json::from_str::<String>(self.raw)
                .ok()
                .map(std::borrow::Cow::Owned),
            _ => None,
        }
    }
}

/// A key: its text between the quotes, still escaped when `escaped` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key<'a> {
    /// The key's text between the quotes (valid JSON string content).
    pub raw: &'a str,
    /// The key has escape sequences.
    pub escaped: bool,
}

impl<'a> Key<'a> {
    /// The key's value, unescaped.
    pub fn text(&self) -> std::borrow::Cow<'a, str> {
        if !self.escaped {
            return std::borrow::Cow::Borrowed(self.raw);
        }
        // The scanner validated the escapes; only a lone surrogate can fail here, and then the
        // raw text is the most faithful name left.
        let quoted = format!("\"{}\"", self.raw);
        serde_json::from_str::<String>(&quoted).map_or(
            std::borrow::Cow::Borrowed(self.raw),
            std::borrow::Cow::Owned,
        )
    }
}

/// Why the text is not valid JSON, with the 1-based byte column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What was wrong.
    pub message: &'static str,
    /// 1-based column (byte offset + 1) where it was found.
    pub column: usize,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

/// Byte classes for the string scanner: 0 = plain, 1 = quote, 2 = backslash, 3 = control.
const STR_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 3;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 2;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `v` is `"`, `\\` or below 0x20 (SWAR: the classic "has zero byte" test
/// applied to `v ^ '"'`, `v ^ '\\'`, and `v - 0x20` masked to bytes below 0x80).
#[inline]
fn has_special(v: u64) -> bool {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero(v ^ (ONES * u64::from(b'"')));
    let backslash = zero(v ^ (ONES * u64::from(b'\\')));
    let control = v.wrapping_sub(ONES * 0x20) & !v & HIGHS;
    (quote | backslash | control) != 0
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

type Res<T> = Result<T, SyntaxError>;

impl<'a> Scanner<'a> {
    fn err<T>(&self, message: &'static str) -> Res<T> {
        Err(SyntaxError {
            message,
            column: self.i + 1,
        })
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// Scans a string starting at the opening quote; returns whether it had escapes.
    #[inline]
    fn string(&mut self) -> Res<bool> {
        self.i += 1;
        let mut escaped = false;
        loop {
            // Skip plain bytes quickly: 8 at a time while none is a quote, a backslash or a
            // control character, then byte by byte.
            while let Some(word) = self.b.get(self.i..self.i + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(word);
                if has_special(u64::from_le_bytes(w)) {
                    break;
                }
                self.i += 8;
            }
            while let Some(&c) = self.b.get(self.i) {
                if STR_CLASS[c as usize] != 0 {
                    break;
                }
                self.i += 1;
            }
            match self.b.get(self.i) {
                None => return self.err("EOF while parsing a string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.i += 1;
                    match self.b.get(self.i) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            for _ in 0..4 {
                                match self.b.get(self.i) {
                                    Some(c) if c.is_ascii_hexdigit() => self.i += 1,
                                    None => return self.err("EOF while parsing a string"),
                                    Some(_) => return self.err("invalid escape"),
                                }
                            }
                        }
                        None => return self.err("EOF while parsing a string"),
                        Some(_) => return self.err("invalid escape"),
                    }
                }
                Some(_) => {
                    return self
                        .err("control character (\\u0000-\\u001F) found while parsing a string");
                }
            }
        }
    }

    /// Scans `"key"` and the `:` after it (with whitespace around). Returns the byte range of
    /// the key's text between its quotes, and whether it has escapes.
    fn key_colon(&mut self) -> Res<(std::ops::Range<usize>, bool)> {
        match self.b.get(self.i) {
            Some(b'"') => {}
            None => return self.err("EOF while parsing an object"),
            Some(_) => return self.err("key must be a string"),
        }
        let start = self.i + 1;
        let escaped = self.string()?;
        let text = start..self.i - 1;
        self.ws();
        match self.b.get(self.i) {
            Some(b':') => self.i += 1,
            None => return self.err("EOF while parsing an object"),
            Some(_) => return self.err("expected `:`"),
        }
        self.ws();
        Ok((text, escaped))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Res<()> {
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return self.err("EOF while parsing a value"),
            Some(_) => return self.err("invalid number"),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return if self.i >= self.b.len() {
                    self.err("EOF while parsing a value")
                } else {
                    self.err("invalid number")
                };
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return if self.i >= self.b.len() {
                    self.err("EOF while parsing a value")
                } else {
                    self.err("invalid number")
                };
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Res<()> {
        for &w in word {
            match self.b.get(self.i) {
                Some(&c) if c == w => self.i += 1,
                None => return self.err("EOF while parsing a value"),
                Some(_) => return self.err("expected ident"),
            }
        }
        Ok(())
    }

    /// Scans one scalar or container at the cursor (after whitespace).
    fn value(&mut self) -> Res<Kind> {
        match self.b.get(self.i) {
            Some(b'"') => Ok(Kind::Str {
                escaped: self.string()?,
            }),
            Some(b'{') => {
                self.container()?;
                Ok(Kind::Object)
            }
            Some(b'[') => {
                self.container()?;
                Ok(Kind::Array)
            }
            Some(b't') => self.literal(b"true").map(|()| Kind::True),
            Some(b'f') => self.literal(b"false").map(|()| Kind::False),
            Some(b'n') => self.literal(b"null").map(|()| Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| Kind::Num),
            None => self.err("EOF while parsing a value"),
            Some(_) => self.err("expected value"),
        }
    }

    /// Validates a nested object or array without recursion: an explicit stack of open
    /// containers (`true` = object), so depth is bounded only by the input's length.
    fn container(&mut self) -> Res<()> {
        let mut stack: Vec<bool> = Vec::new();
        // State after an opening bracket: a member/element or the closing bracket may follow.
        let mut just_opened;
        match self.b[self.i] {
            b'{' => stack.push(true),
            _ => stack.push(false),
        }
        self.i += 1;
        just_opened = true;
        while let Some(&is_obj) = stack.last() {
            self.ws();
            let close = if is_obj { b'}' } else { b']' };
            if just_opened && self.b.get(self.i) == Some(&close) {
                self.i += 1;
                stack.pop();
                just_opened = false;
                if !self.after_value(&mut stack)? {
                    return Ok(());
                }
                continue;
            }
            if is_obj {
                self.key_colon()?;
            }
            match self.b.get(self.i) {
                Some(b'{') => {
                    stack.push(true);
                    self.i += 1;
                    just_opened = true;
                    continue;
                }
                Some(b'[') => {
                    stack.push(false);
                    self.i += 1;
                    just_opened = true;
                    continue;
                }
                None if is_obj => return self.err("EOF while parsing an object"),
                None => return self.err("EOF while parsing a list"),
                _ => {
                    self.value()?;
                }
            }
            just_opened = false;
            if !self.after_value(&mut stack)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// After a value inside containers: `,` continues the innermost container, its closing
    /// bracket closes it (and possibly more). Returns `false` when the outermost one closed.
    fn after_value(&mut self, stack: &mut Vec<bool>) -> Res<bool> {
        loop {
            let Some(&is_obj) = stack.last() else {
                return Ok(false);
            };
            self.ws();
            let close = if is_obj { b'}' } else { b']' };
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                    // A trailing comma is not JSON.
                    if matches!(self.b.get(self.i), Some(b'}' | b']')) {
                        return self.err("trailing comma");
                    }
                    return Ok(true);
                }
                Some(&c) if c == close => {
                    self.i += 1;
                    stack.pop();
                    if stack.is_empty() {
                        return Ok(false);
                    }
                }
                None if is_obj => return self.err("EOF while parsing an object"),
                None => return self.err("EOF while parsing a list"),
                Some(_) if is_obj => return self.err("expected `,` or `}`"),
                Some(_) => return self.err("expected `,` or `]`"),
            }
        }
    }
}

/// Scans `text`, which must be one JSON object (surrounding whitespace allowed), calling
/// `field` for each top-level member in order. Nested values are validated and passed whole.
pub fn scan_object<'a>(
    text: &'a str,
    field: &mut dyn FnMut(Key<'a>, Value<'a>),
) -> Result<(), SyntaxError> {
    let mut sc = Scanner {
        s: text,
        b: text.as_bytes(),
        i: 0,
    };
    sc.ws();
    match sc.b.get(sc.i) {
        Some(b'{') => sc.i += 1,
        None => return sc.err("EOF while parsing a value"),
        Some(_) => return sc.err("expected an object"),
    }
    sc.ws();
    if sc.b.get(sc.i) == Some(&b'}') {
        sc.i += 1;
    } else {
        loop {
            let (text, escaped) = sc.key_colon()?;
            let key = Key {
                raw: &sc.s[text],
                escaped,
            };
            let vs = sc.i;
            let kind = sc.value()?;
            field(
                key,
                Value {
                    raw: &sc.s[vs..sc.i],
                    kind,
                },
            );
            sc.ws();
            match sc.b.get(sc.i) {
                Some(b',') => {
                    sc.i += 1;
                    sc.ws();
                    if sc.b.get(sc.i) == Some(&b'}') {
                        return sc.err("trailing comma");
                    }
                }
                Some(b'}') => {
                    sc.i += 1;
                    break;
                }
                None => return sc.err("EOF while parsing an object"),
                Some(_) => return sc.err("expected `,` or `}`"),
            }
        }
    }
    sc.ws();
    if sc.i != sc.b.len() {
        return sc.err("trailing characters");
    }
    Ok(())
}

/// Classifies a standalone value's text (used for values found inside nested objects).
pub fn kind_of(raw: &str) -> Option<Kind> {
    let mut sc = Scanner {
        s: raw,
        b: raw.as_bytes(),
        i: 0,
    };
    let k = sc.value().ok()?;
    (sc.i == raw.len()).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Result<Vec<(String, String, Kind)>, SyntaxError> {
        let mut out = Vec::new();
        scan_object(text, &mut |k, v| {
            out.push((k.raw.to_owned(), v.raw.to_owned(), v.kind))
        })?;
        Ok(out)
    }

    #[test]
    fn members_with_exact_text() {
        let got = fields(r#" { "a" : 1.5e3 , "b\"":"x\ny", "c":{"d":[1,{"e":null}]}, "t":true,"f":false,"n":null } "#)
            .unwrap();
        assert_eq!(
            got,
            vec![
                ("a".into(), "1.5e3".into(), Kind::Num),
                (
                    "b\\\"".into(),
                    "\"x\\ny\"".into(),
                    Kind::Str { escaped: true }
                ),
                ("c".into(), r#"{"d":[1,{"e":null}]}"#.into(), Kind::Object),
                ("t".into(), "true".into(), Kind::True),
                ("f".into(), "false".into(), Kind::False),
                ("n".into(), "null".into(), Kind::Null),
            ]
        );
        assert_eq!(fields("{}").unwrap(), vec![]);
    }

    #[test]
    fn rejects_what_json_rejects() {
        for bad in [
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":tru}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":[1,]}",
            "{\"a\":[1 2]}",
            "{\"a\":{\"b\" 1}}",
            "{\"a\":{1:2}}",
            "{a:1}",
            "{\"a\":1} x",
            "{\"a\":[}",
            "{\"a\":+1}",
            "{\"a\":.5}",
            "{\"a\":1e}",
        ] {
            assert!(fields(bad).is_err(), "accepted {bad:?}");
            assert!(
                serde_json::from_str::<&serde_json::value::RawValue>(bad).is_err(),
                "serde accepts {bad:?}"
            );
        }
    }

    #[test]
    fn swar_special_bytes() {
        for b in 0u8..=255 {
            let special = b == b'"' || b == b'\\' || b < 0x20;
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                assert_eq!(
                    has_special(u64::from_le_bytes(w)),
                    special,
                    "byte {b:#x} at {pos}"
                );
            }
        }
        // Bytes above 0x80 (UTF-8) next to plain ones are not special.
        assert!(!has_special(u64::from_le_bytes(
            *b"\xc3\xa9\xe2\x82\xacabc"
        )));
    }

    #[test]
    fn deep_nesting_without_recursion() {
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(fields(&deep).unwrap().len(), 1);
        let unbalanced = format!("{{\"x\":{}{}}}", "[".repeat(1000), "]".repeat(999));
        assert!(fields(&unbalanced).is_err());
    }

    #[test]
    fn error_columns() {
        assert_eq!(
            fields(r#"{"a":1,"#).unwrap_err().to_string(),
            "EOF while parsing an object at column 8"
        );
        assert_eq!(
            fields(r#"{"a" 1}"#).unwrap_err().to_string(),
            "expected `:` at column 6"
        );
    }

    #[test]
    fn key_and_string_content() {
        let mut seen = Vec::new();
        scan_object(r#"{"k\u0065y":"caf\u00e9","plain":"x"}"#, &mut |k, v| {
            seen.push((k.text().into_owned(), v.str_content().unwrap().into_owned()));
        })
        .unwrap();
        assert_eq!(
            seen,
            [("key".into(), "café".into()), ("plain".into(), "x".into())]
        );
        assert_eq!(kind_of("[1]"), Some(Kind::Array));
        assert_eq!(kind_of("1 2"), None);
    }
}
