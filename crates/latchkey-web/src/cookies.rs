//! Reading the `Cookie` header, on bytes: a cookie of another application with non-ASCII
//! bytes must neither hide ours nor make us pass the whole header on unread.

use axum::http::{HeaderMap, header};

/// Every cookie the request's `Cookie` headers carry, as sent (`name=value`, trimmed, not
/// empty), in order.
pub fn entries(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .map(<[u8]>::trim_ascii)
        .filter(|entry| !entry.is_empty())
}

/// The name of a cookie entry: up to its `=` (all of it when it has none).
pub fn entry_name(entry: &[u8]) -> &[u8] {
    entry
        .iter()
        .position(|b| *b == b'=')
        .map_or(entry, |at| &entry[..at])
}

/// Every `name=value` pair, in order.
pub fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    entries(headers).filter_map(|entry| {
        let at = entry.iter().position(|b| *b == b'=')?;
        Some((&entry[..at], &entry[at + 1..]))
    })
}

/// The first value of cookie `name`, if it is UTF-8.
pub fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    pairs(headers)
        .find(|(n, _)| *n == name.as_bytes())
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn names_are_matched_exactly_whatever_else_is_sent() {
        let mut h = HeaderMap::new();
        let value = "app=Jos\u{e9}; a_x=1; a=2".as_bytes();
        h.insert(header::COOKIE, HeaderValue::from_bytes(value).unwrap());
        h.append(header::COOKIE, HeaderValue::from_static("b=3"));
        assert_eq!(read(&h, "a"), Some("2"));
        assert_eq!(read(&h, "b"), Some("3"));
        assert_eq!(read(&h, "app"), Some("Jos\u{e9}"));
        assert_eq!(read(&h, "c"), None);
        assert_eq!(pairs(&h).count(), 4);
        assert_eq!(entry_name(b"lone"), b"lone");
        assert_eq!(entries(&h).next(), Some("app=Jos\u{e9}".as_bytes()));
    }
}
