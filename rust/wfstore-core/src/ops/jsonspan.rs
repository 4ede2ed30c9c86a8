//! Byte spans of the entries of a compact JSON document.
//!
//! A JSON store keeps its document (`metadata.json`) as compact JSON: no whitespace
//! between tokens, ASCII only (non-ASCII characters escaped). A commit re-encodes only
//! what it changed and joins the unchanged pieces as they are, so a process that has
//! just read the file can take those pieces from the file's bytes instead of encoding
//! the whole document once: [`compact_spans`] finds them.

use std::collections::HashSet;

/// The items of an entry's value, as byte spans of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemSpans {
    /// The elements of an array, each `(start, end)`.
    List(Vec<(usize, usize)>),
    /// The members of an object: the key (unescaped) and the span of `"key":value`.
    Object(Vec<(String, usize, usize)>),
}

/// One top-level member of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySpan {
    /// The key, unescaped.
    pub key: String,
    /// Where the member starts (its key's opening quote).
    pub start: usize,
    /// Where its value starts (after the `:`).
    pub value_start: usize,
    /// Where its value ends (exclusive).
    pub end: usize,
    /// The value's items, for keys asked for whose value is an array or an object.
    pub items: Option<ItemSpans>,
}

/// Nesting deeper than this gives no spans (the caller encodes the document instead).
pub const MAX_DEPTH: usize = 256;

/// The spans of the top-level members of `doc`, with the items of the members named in
/// `itemised`; `None` unless `doc` is one compact JSON object: ASCII only, no
/// whitespace outside strings, no key twice at the top level, nesting within
/// [`MAX_DEPTH`], and nothing after it. `NaN`, `Infinity` and `-Infinity` are accepted
/// as values (Python's `json` writes them).
///
/// Joining, in order, `{`, the members' spans separated by `,`, and `}` gives `doc`
/// back; within a member, `key:` and its items' spans separated by `,` inside `[]` or
/// `{}` give the member back.
pub fn compact_spans(doc: &[u8], itemised: &[&str]) -> Option<Vec<EntrySpan>> {
    let wanted: HashSet<&str> = itemised.iter().copied().collect();
    let mut s = Scanner { doc, pos: 0 };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    s.seq(b'{', b'}', |s| {
        let start = s.pos;
        let key = s.key()?;
        if !seen.insert(key.clone()) {
            return None;
        }
        s.expect(b':')?;
        let value_start = s.pos;
        let items = if wanted.contains(key.as_str()) {
            match s.peek()? {
                b'[' => Some(ItemSpans::List(s.list_items()?)),
                b'{' => Some(ItemSpans::Object(s.object_items()?)),
                _ => {
                    s.value(0)?;
                    None
                }
            }
        } else {
            s.value(0)?;
            None
        };
        out.push(EntrySpan {
            key,
            start,
            value_start,
            end: s.pos,
            items,
        });
        Some(())
    })?;
    s.at_end().then_some(out)
}

struct Scanner<'a> {
    doc: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.doc.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn at_end(&self) -> bool {
        self.pos == self.doc.len()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.doc.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// A string (at its opening quote); `None` on a control or non-ASCII byte.
    fn string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            if !self.next()?.is_ascii_hexdigit() {
                                return None;
                            }
                        }
                    }
                    _ => return None,
                },
                b if !(0x20..0x80).contains(&b) => return None,
                _ => {}
            }
        }
    }

    /// An object key, unescaped.
    fn key(&mut self) -> Option<String> {
        let start = self.pos;
        self.string()?;
        let raw = std::str::from_utf8(&self.doc[start..self.pos]).ok()?;
        serde_json::from_str(raw).ok()
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
            if self.peek() == Some(b'I') {
                return self.literal(b"Infinity");
            }
        }
        let digits = |s: &mut Self| {
            let from = s.pos;
            while matches!(s.peek(), Some(b'0'..=b'9')) {
                s.pos += 1;
            }
            s.pos > from
        };
        // an integer part without leading zeros (as JSON has it)
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        (self.pos > start).then_some(())
    }

    /// `open`, items separated by `,` (each read by `item`), `close`.
    fn seq(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.expect(open)?;
        if self.peek()? == close {
            self.pos += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.next()? {
                b',' => continue,
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string(),
            b'{' => self.seq(b'{', b'}', |s| {
                s.string()?;
                s.expect(b':')?;
                s.value(depth + 1)
            }),
            b'[' => self.seq(b'[', b']', |s| s.value(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'N' => self.literal(b"NaN"),
            b'I' => self.literal(b"Infinity"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn list_items(&mut self) -> Option<Vec<(usize, usize)>> {
        let mut items = Vec::new();
        self.seq(b'[', b']', |s| {
            let start = s.pos;
            s.value(1)?;
            items.push((start, s.pos));
            Some(())
        })?;
        Some(items)
    }

    fn object_items(&mut self) -> Option<Vec<(String, usize, usize)>> {
        let mut items = Vec::new();
        self.seq(b'{', b'}', |s| {
            let start = s.pos;
            let key = s.key()?;
            s.expect(b':')?;
            s.value(1)?;
            items.push((key, start, s.pos));
            Some(())
        })?;
        Some(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn parse(doc: &[u8], span: (usize, usize)) -> Value {
        serde_json::from_slice(&doc[span.0..span.1]).unwrap()
    }

    #[test]
    fn spans_of_members_and_items() {
        let doc = br#"{"a":1,"runs":[{"x":[1,2]},null,"s\"]"],"p":{"1":{"d":true},"k\u00e9":-2.5e-3},"z":[]}"#;
        let spans = compact_spans(doc, &["runs", "p", "z", "missing"]).unwrap();
        let keys: Vec<&str> = spans.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "runs", "p", "z"]);
        assert_eq!(&doc[spans[0].start..spans[0].end], br#""a":1"#);
        assert_eq!(spans[0].items, None);
        let Some(ItemSpans::List(runs)) = &spans[1].items else {
            panic!("runs: {:?}", spans[1].items)
        };
        let got: Vec<Value> = runs.iter().map(|s| parse(doc, *s)).collect();
        assert_eq!(got, [json!({"x": [1, 2]}), Value::Null, json!("s\"]")]);
        let Some(ItemSpans::Object(p)) = &spans[2].items else {
            panic!("p: {:?}", spans[2].items)
        };
        assert_eq!(p[0].0, "1");
        assert_eq!(&doc[p[0].1..p[0].2], br#""1":{"d":true}"#);
        assert_eq!(p[1].0, "k\u{e9}"); // unescaped
        assert_eq!(spans[3].items, Some(ItemSpans::List(vec![])));
        assert_eq!(&doc[spans[2].start..spans[2].value_start], br#""p":"#);
        assert_eq!(compact_spans(b"{}", &[]), Some(vec![]));
    }

    #[test]
    fn python_special_numbers_are_values() {
        let doc = br#"{"a":[NaN,Infinity,-Infinity,-0,1E+5]}"#;
        let spans = compact_spans(doc, &["a"]).unwrap();
        let Some(ItemSpans::List(items)) = &spans[0].items else {
            panic!()
        };
        let texts: Vec<&[u8]> = items.iter().map(|&(a, b)| &doc[a..b]).collect();
        assert_eq!(
            texts,
            [&b"NaN"[..], b"Infinity", b"-Infinity", b"-0", b"1E+5"]
        );
    }

    #[test]
    fn anything_but_a_compact_ascii_object_gives_none() {
        for doc in [
            &b"[1,2]"[..],
            b"{\"a\": 1}",           // whitespace
            b"{\n\"a\":1}",          // indented
            b"{\"a\":1} ",           // trailing whitespace
            b"{\"a\":1}{}",          // trailing data
            b"{\"a\":1,\"a\":2}",    // a key twice
            b"{\"a\":\"\xc3\xa9\"}", // non-ASCII
            b"{\"a\":\"\x01\"}",     // control character
            b"{\"a\":tru}",
            b"{\"a\":1,}",
            b"{\"a\":[1,]}",
            b"{\"a\":01}", // a leading zero
            b"{\"a\":1.}",
            b"{\"a\":.5}",
            b"{\"a\":1e}",
            b"{\"a\":\"\\u12\"}", // a short \u escape
            b"{\"a\":\"\\u12g4\"}",
            b"{\"a\":\"\\q\"}",
            b"{\"a\":1",
            b"",
        ] {
            assert_eq!(
                compact_spans(doc, &["a"]),
                None,
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
        let deep = format!(
            "{{\"a\":{}{}}}",
            "[".repeat(MAX_DEPTH + 2),
            "]".repeat(MAX_DEPTH + 2)
        );
        assert_eq!(compact_spans(deep.as_bytes(), &[]), None);
    }

    fn ascii_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-4000i32..4000).prop_map(|i| Value::from(f64::from(i) / 8.0)),
            "[ -~]{0,8}".prop_map(Value::from),
            "\\PC{0,4}".prop_map(Value::from), // escaped below
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[ -~]{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Compact JSON with non-ASCII characters escaped, as Python's `json.dumps` with
    /// `ensure_ascii` writes it.
    fn ascii_compact(v: &Value) -> String {
        let mut out = String::new();
        for c in serde_json::to_string(v).unwrap().chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn spans_give_the_document_back(
            members in prop::collection::btree_map("[a-z\u{e9}]{1,4}", ascii_json(), 0..6)
        ) {
            let doc_value = Value::Object(members.clone().into_iter().collect());
            let doc = ascii_compact(&doc_value);
            let keys: Vec<&str> = members.keys().map(String::as_str).collect();
            let spans = compact_spans(doc.as_bytes(), &keys).unwrap();
            let b = doc.as_bytes();
            // members joined give the document
            let joined: Vec<&str> = spans.iter().map(|e| &doc[e.start..e.end]).collect();
            prop_assert_eq!(format!("{{{}}}", joined.join(",")), doc.clone());
            for e in &spans {
                let value: Value = serde_json::from_slice(&b[e.value_start..e.end]).unwrap();
                prop_assert_eq!(&value, &members[&e.key]);
                let head = &doc[e.start..e.value_start];
                match (&e.items, &value) {
                    (Some(ItemSpans::List(items)), Value::Array(vals)) => {
                        let texts: Vec<&str> = items.iter().map(|&(a, z)| &doc[a..z]).collect();
                        prop_assert_eq!(format!("{head}[{}]", texts.join(",")), &doc[e.start..e.end]);
                        let got: Vec<Value> = items.iter().map(|s| parse(b, *s)).collect();
                        prop_assert_eq!(&got, vals);
                    }
                    (Some(ItemSpans::Object(items)), Value::Object(vals)) => {
                        let texts: Vec<&str> = items.iter().map(|(_, a, z)| &doc[*a..*z]).collect();
                        prop_assert_eq!(format!("{head}{{{}}}", texts.join(",")), &doc[e.start..e.end]);
                        let got_keys: Vec<&String> = items.iter().map(|(k, _, _)| k).collect();
                        let want_keys: Vec<&String> = vals.keys().collect();
                        prop_assert_eq!(got_keys, want_keys);
                    }
                    (None, v) => prop_assert!(!v.is_array() && !v.is_object()),
                    (items, v) => prop_assert!(false, "{:?} for {:?}", items, v),
                }
            }
        }
    }
}
