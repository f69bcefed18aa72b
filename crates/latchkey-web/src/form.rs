//! Strict `application/x-www-form-urlencoded` decoding, for the OAuth endpoints (bodies and
//! query strings) and for the pages' own forms alike.
//!
//! Splitting and decoding are `form_urlencoded`'s (the WHATWG algorithm, as `url` uses). That
//! parser is lenient by design: a `%` not followed by two hex digits stays literal, and bytes
//! that are not UTF-8 become U+FFFD. What it would paper over is checked first, on the raw
//! bytes, according to the caller's [`FormRules`].

use percent_encoding::percent_decode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the request is not valid UTF-8 once decoded")]
    NotUtf8,
    #[error("the request has a malformed percent-escape")]
    BadEscape,
    #[error("the parameter {0} is repeated")]
    Repeated(String),
}

/// What a caller accepts beyond the common rules (UTF-8, no repeated names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormRules<'a> {
    /// Names that may occur several times (RFC 8707 `resource`); read them with
    /// [`Form::get_all`]. Any other name sent twice is refused.
    pub repeatable: &'a [&'a str],
    /// Keep fields sent empty (`a=`, `a`). Otherwise they are dropped as if absent (RFC 6749
    /// §3.1), and an empty repeat does not count as a repeat.
    pub keep_empty: bool,
    /// Refuse a `%` that is not followed by two hex digits, instead of taking it literally.
    pub strict_escapes: bool,
}

impl FormRules<'static> {
    /// Forms posted by our own pages: every field is kept, escapes must be well-formed.
    pub const PAGE: FormRules<'static> = FormRules {
        repeatable: &[],
        keep_empty: true,
        strict_escapes: true,
    };

    /// OAuth and OpenID Connect requests: an empty parameter is an absent one, and a stray
    /// `%` is literal (as a browser's URL parser takes it).
    pub const PROTOCOL: FormRules<'static> = FormRules {
        repeatable: &[],
        keep_empty: false,
        strict_escapes: false,
    };
}

impl<'a> FormRules<'a> {
    /// The same rules, with `names` allowed to repeat.
    pub const fn repeatable<'b>(self, names: &'b [&'b str]) -> FormRules<'b> {
        FormRules {
            repeatable: names,
            keep_empty: self.keep_empty,
            strict_escapes: self.strict_escapes,
        }
    }

    pub fn parse(&self, body: &[u8]) -> Result<Form, FormError> {
        if self.strict_escapes && has_bad_escape(body) {
            return Err(FormError::BadEscape);
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        // Names seen so far, once there are many: a set keeps a 64 KiB body of tiny fields
        // linear, while a usual request's handful is searched in `fields` without hashing.
        let mut seen: Option<std::collections::HashSet<String>> = None;
        // `form_urlencoded` turns bytes that are not UTF-8 into U+FFFD. Every byte of the
        // body but the ASCII separators belongs to a name or a value, so a body decodes to
        // UTF-8 exactly when no decoded name or value holds a U+FFFD that the sender did not
        // write; only then is the body decoded again to tell which.
        let mut replaced = false;
        for (name, value) in form_urlencoded::parse(body) {
            replaced |= name.contains('\u{FFFD}') || value.contains('\u{FFFD}');
            if value.is_empty() && !self.keep_empty {
                continue;
            }
            let repeated = match &mut seen {
                Some(set) => !set.insert(name.clone().into_owned()),
                None => fields.iter().any(|(n, _)| *n == name),
            };
            if repeated && !self.repeatable.contains(&name.as_ref()) {
                return Err(FormError::Repeated(name.into_owned()));
            }
            fields.push((name.into_owned(), value.into_owned()));
            if seen.is_none() && fields.len() > SEARCHED_NAMES {
                seen = Some(fields.iter().map(|(n, _)| n.clone()).collect());
            }
        }
        if replaced && percent_decode(body).decode_utf8().is_err() {
            return Err(FormError::NotUtf8);
        }
        Ok(Form { fields })
    }
}

/// Up to this many fields, a repeated name is found by searching the fields themselves.
const SEARCHED_NAMES: usize = 16;

/// One component decoded on its own (`+` is a space), e.g. a client id in HTTP Basic
/// credentials (RFC 6749 §2.3.1), where `=` and `&` are plain characters.
pub fn decode_component(raw: &[u8], rules: FormRules<'_>) -> Result<String, FormError> {
    if rules.strict_escapes && has_bad_escape(raw) {
        return Err(FormError::BadEscape);
    }
    let plus: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    String::from_utf8(percent_decode(&plus).collect()).map_err(|_| FormError::NotUtf8)
}

fn has_bad_escape(raw: &[u8]) -> bool {
    raw.iter().enumerate().any(|(i, b)| {
        *b == b'%'
            && !raw
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// The fields of a request or a posted form, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// The value of a field, if it was sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable field, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.fields.push((name.into(), value.into()));
    }

    /// The same fields but those named.
    pub fn without(&self, names: &[&str]) -> Form {
        Form {
            fields: self
                .fields
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Serialised back to a query string, in the same order.
    pub fn to_query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.fields)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: FormRules<'static> = FormRules::PAGE;
    const PROTOCOL: FormRules<'static> = FormRules::PROTOCOL;

    #[test]
    fn decodes_what_browsers_send() {
        let f = PAGE
            .parse(b"name=My+App%21&redirect_uris=https%3A%2F%2Fa.example%2Fcb%0D%0Ahttps%3A%2F%2Fb.example%2Fcb&empty=&flag&x=%C3%A9")
            .unwrap();
        assert_eq!(f.get("name"), Some("My App!"));
        assert_eq!(
            f.get("redirect_uris"),
            Some("https://a.example/cb\r\nhttps://b.example/cb")
        );
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.get("x"), Some("é"));
        assert_eq!(f.get("absent"), None);
        assert_eq!(PAGE.parse(b"").unwrap(), Form::default());
        assert_eq!(PAGE.parse(b"&&a=1&").unwrap().get("a"), Some("1"));
    }

    #[test]
    fn pages_refuse_what_is_not_a_clean_form() {
        assert_eq!(PAGE.parse(b"a=1&a=2"), Err(FormError::Repeated("a".into())));
        assert_eq!(PAGE.parse(b"a=1&a="), Err(FormError::Repeated("a".into())));
        assert_eq!(PAGE.parse(b"a=%ff"), Err(FormError::NotUtf8));
        assert_eq!(PAGE.parse(b"a=%4"), Err(FormError::BadEscape));
        assert_eq!(PAGE.parse(b"a=%zz"), Err(FormError::BadEscape));
        assert_eq!(PAGE.parse(b"a=%"), Err(FormError::BadEscape));
        assert_eq!(PAGE.parse(b"a%2=1"), Err(FormError::BadEscape));
        assert_eq!(PAGE.parse(b"a\xff=1"), Err(FormError::NotUtf8));
        // A sequence cut by a separator is not UTF-8 on either side.
        assert_eq!(PAGE.parse(b"a=%C3&b=%A9"), Err(FormError::NotUtf8));
        assert_eq!(PAGE.parse(b"a=%C3%26%A9"), Err(FormError::NotUtf8));
        // U+FFFD sent as such is a character like any other.
        assert_eq!(
            PAGE.parse(b"a=%EF%BF%BD").unwrap().get("a"),
            Some("\u{fffd}")
        );
    }

    #[test]
    fn protocol_drops_empty_values_and_takes_stray_percent_literally() {
        let p = PROTOCOL.parse(b"a=1&b=hello+world&c=%2Fx%3D&d=&e").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("hello world"));
        assert_eq!(p.get("c"), Some("/x="));
        assert_eq!(p.get("d"), None);
        assert_eq!(p.get("e"), None);
        // An empty repeat is "absent" and does not count.
        assert!(PROTOCOL.parse(b"a=1&a=").is_ok());
        let p = PROTOCOL.parse(b"a=50%&b=%4").unwrap();
        assert_eq!(p.get("a"), Some("50%"));
        assert_eq!(p.get("b"), Some("%4"));
    }

    #[test]
    fn protocol_refuses_repeats_and_bad_utf8() {
        assert_eq!(
            PROTOCOL.parse(b"a=1&a=2"),
            Err(FormError::Repeated("a".into()))
        );
        assert_eq!(PROTOCOL.parse(b"a=%ff%fe"), Err(FormError::NotUtf8));
        assert_eq!(PROTOCOL.parse(b"a=\xff"), Err(FormError::NotUtf8));
        assert_eq!(PROTOCOL.parse(b"a=%%ff"), Err(FormError::NotUtf8));
    }

    #[test]
    fn repeatable_names() {
        let rules = PROTOCOL.repeatable(&["resource"]);
        let p = rules.parse(b"resource=a&x=1&resource=b").unwrap();
        assert_eq!(p.get_all("resource"), vec!["a", "b"]);
        assert_eq!(p.get("resource"), Some("a"));
        assert_eq!(
            rules.parse(b"x=1&x=2"),
            Err(FormError::Repeated("x".into()))
        );
    }

    #[test]
    fn repeats_are_found_in_long_forms_too() {
        // Past SEARCHED_NAMES fields, names are remembered in a set: a repeat of an early
        // name or of a late one is still refused, a repeatable one still kept.
        let names: Vec<String> = (0..40).map(|i| format!("f{i}=v")).collect();
        let body = names.join("&");
        assert_eq!(PROTOCOL.parse(body.as_bytes()).unwrap().iter().count(), 40);
        for again in ["f0", "f20", "f39"] {
            assert_eq!(
                PROTOCOL.parse(format!("{body}&{again}=w").as_bytes()),
                Err(FormError::Repeated(again.into()))
            );
        }
        let rules = PROTOCOL.repeatable(&["resource"]);
        let body = format!("resource=a&{body}&resource=b");
        assert_eq!(
            rules.parse(body.as_bytes()).unwrap().get_all("resource"),
            vec!["a", "b"]
        );
        // A bad byte late in a long form is found too.
        assert_eq!(
            rules.parse(format!("{body}&z=%C3").as_bytes()),
            Err(FormError::NotUtf8)
        );
    }

    #[test]
    fn round_trips_query() {
        let p = PROTOCOL.parse(b"x=a+b&y=%26&z=%C3%A9").unwrap();
        assert_eq!(PROTOCOL.parse(p.to_query().as_bytes()).unwrap(), p);
        let mut q = p.without(&["y"]);
        q.push("w", "1 2");
        assert_eq!(q.to_query(), "x=a+b&z=%C3%A9&w=1+2");
    }

    #[test]
    fn components_keep_separators() {
        assert_eq!(
            decode_component(b"a%3Ab=c&d+e", PROTOCOL),
            Ok("a:b=c&d e".into())
        );
        assert_eq!(decode_component(b"50%", PROTOCOL), Ok("50%".into()));
        assert_eq!(decode_component(b"50%", PAGE), Err(FormError::BadEscape));
        assert_eq!(decode_component(b"%ff", PROTOCOL), Err(FormError::NotUtf8));
    }
}
