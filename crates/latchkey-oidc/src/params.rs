//! Strict `application/x-www-form-urlencoded` parsing for protocol endpoints: invalid UTF-8
//! and repeated parameters are errors (RFC 6749 §3.1, §3.2), empty values count as absent.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    NotUtf8,
    Repeated(String),
}

impl ParamError {
    pub fn description(&self) -> String {
        match self {
            ParamError::NotUtf8 => "parameters must be UTF-8".into(),
            ParamError::Repeated(name) => format!("parameter {name} is repeated"),
        }
    }
}

/// Parameters in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(input: &[u8]) -> Result<Params, ParamError> {
        Self::parse_allowing(input, &[])
    }

    /// Like [`Params::parse`], but the names in `repeatable` may occur several times (RFC 8707
    /// `resource`); read them with [`Params::get_all`].
    pub fn parse_allowing(input: &[u8], repeatable: &[&str]) -> Result<Params, ParamError> {
        let mut out: Vec<(String, String)> = Vec::new();
        // Names seen so far: a hash set keeps a 64 KiB body of tiny parameters linear.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for pair in input.split(|b| *b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let k = decode(k)?;
            let v = decode(v)?;
            if v.is_empty() {
                continue;
            }
            if !seen.insert(k.clone()) && !repeatable.contains(&k.as_str()) {
                return Err(ParamError::Repeated(k));
            }
            out.push((k, v));
        }
        Ok(Params(out))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Params
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Serialises back to a query string in the same order.
    pub fn to_query(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            s.append_pair(k, v);
        }
        s.finish()
    }

    pub fn without(&self, names: &[&str]) -> Params {
        Params(
            self.0
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        )
    }

    pub fn push(&mut self, k: &str, v: &str) {
        self.0.push((k.into(), v.into()));
    }
}

/// Decodes one form-urlencoded component (`+` is a space), strictly UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, ParamError> {
    let plus: Cow<[u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let bytes: Vec<u8> = percent_decode(&plus);
    String::from_utf8(bytes).map_err(|_| ParamError::NotUtf8)
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && i + 2 < input.len()
            && let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let p = Params::parse(b"a=1&b=hello+world&c=%2Fx%3D&d=&e").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("hello world"));
        assert_eq!(p.get("c"), Some("/x="));
        assert_eq!(p.get("d"), None);
        assert_eq!(p.get("e"), None);
    }

    #[test]
    fn rejects_repeats_and_bad_utf8() {
        assert_eq!(
            Params::parse(b"a=1&a=2"),
            Err(ParamError::Repeated("a".into()))
        );
        assert_eq!(Params::parse(b"a=%ff%fe"), Err(ParamError::NotUtf8));
        assert_eq!(Params::parse(b"a=\xff"), Err(ParamError::NotUtf8));
        // An empty repeat is "absent" and does not count.
        assert!(Params::parse(b"a=1&a=").is_ok());
    }

    #[test]
    fn repeatable_names() {
        let p = Params::parse_allowing(b"resource=a&x=1&resource=b", &["resource"]).unwrap();
        assert_eq!(p.get_all("resource"), vec!["a", "b"]);
        assert_eq!(
            Params::parse_allowing(b"x=1&x=2", &["resource"]),
            Err(ParamError::Repeated("x".into()))
        );
    }

    #[test]
    fn stray_percent_is_literal() {
        let p = Params::parse(b"a=50%&b=%4").unwrap();
        assert_eq!(p.get("a"), Some("50%"));
        assert_eq!(p.get("b"), Some("%4"));
    }

    #[test]
    fn round_trips_query() {
        let p = Params::parse(b"x=a+b&y=%26").unwrap();
        assert_eq!(Params::parse(p.to_query().as_bytes()).unwrap(), p);
    }
}
