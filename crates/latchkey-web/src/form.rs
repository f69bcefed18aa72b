//! Strict parsing of `application/x-www-form-urlencoded` bodies posted by our own pages:
//! every value must decode to UTF-8 and no field may appear twice.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form is not valid UTF-8 after decoding")]
    NotUtf8,
    #[error("the form has a malformed percent-escape")]
    BadEscape,
    #[error("the form has the field {0:?} more than once")]
    Repeated(String),
}

/// The fields of a posted form, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut fields: Vec<(String, String)> = Vec::new();
        // Names seen so far: a set keeps a large body of tiny fields linear.
        let mut seen = std::collections::HashSet::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            if !seen.insert(name.clone()) {
                return Err(FormError::Repeated(name));
            }
            fields.push((name, decode(value)?));
        }
        Ok(Form { fields })
    }

    /// The value of a field, if it was sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `+` is a space; `%XX` is a byte; the bytes must be UTF-8.
fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(FormError::BadEscape)?;
                let hi = hex_value(hex[0]).ok_or(FormError::BadEscape)?;
                let lo = hex_value(hex[1]).ok_or(FormError::BadEscape)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
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
    fn decodes_what_browsers_send() {
        let f = Form::parse(
            b"name=My+App%21&redirect_uris=https%3A%2F%2Fa.example%2Fcb%0D%0Ahttps%3A%2F%2Fb.example%2Fcb&empty=&flag&x=%C3%A9",
        )
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
        assert_eq!(Form::parse(b"").unwrap(), Form::default());
    }

    #[test]
    fn refuses_what_is_not_a_clean_form() {
        assert_eq!(
            Form::parse(b"a=1&a=2"),
            Err(FormError::Repeated("a".into()))
        );
        assert_eq!(Form::parse(b"a=%ff"), Err(FormError::NotUtf8));
        assert_eq!(Form::parse(b"a=%4"), Err(FormError::BadEscape));
        assert_eq!(Form::parse(b"a=%zz"), Err(FormError::BadEscape));
        assert_eq!(Form::parse(b"a=%"), Err(FormError::BadEscape));
        assert_eq!(Form::parse(b"a\xff=1"), Err(FormError::NotUtf8));
    }
}
