//! What an admin typed into a client form, and whether it makes a valid client.

use latchkey_oidc::redirect::validate_registration;
use latchkey_store::Client;
use latchkey_web::Form;

const MAX_NAME_CHARS: usize = 100;
const MAX_REDIRECT_URIS: usize = 20;
const MAX_URI_LEN: usize = 2000;

/// The form's values as typed, to show again when they are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Draft {
    pub name: String,
    /// One URI per line.
    pub redirect_uris: String,
    pub public: bool,
}

/// A draft that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Valid {
    pub name: String,
    pub redirect_uris: Vec<String>,
}

impl Draft {
    pub fn of(client: &Client) -> Draft {
        Draft {
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.join("\n"),
            public: client.public,
        }
    }

    /// `public` is taken from the form only where it may be chosen (creation).
    pub fn from_form(form: &Form, public: bool) -> Draft {
        Draft {
            name: form.get("name").unwrap_or_default().to_owned(),
            redirect_uris: form.get("redirect_uris").unwrap_or_default().to_owned(),
            public,
        }
    }

    pub fn validate(&self) -> Result<Valid, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("Give the client a name.".into());
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "The name is too long (at most {MAX_NAME_CHARS} characters)."
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("The name may not contain control characters.".into());
        }
        let mut uris: Vec<String> = Vec::new();
        for line in self.redirect_uris.lines() {
            let uri = line.trim();
            if uri.is_empty() || uris.iter().any(|u| u == uri) {
                continue;
            }
            if uri.len() > MAX_URI_LEN {
                return Err(format!(
                    "A redirect URI is too long (at most {MAX_URI_LEN} characters)."
                ));
            }
            validate_registration(uri).map_err(|e| format!("Redirect URI refused: {e}."))?;
            uris.push(uri.to_owned());
        }
        if uris.is_empty() {
            return Err("Give at least one redirect URI.".into());
        }
        if uris.len() > MAX_REDIRECT_URIS {
            return Err(format!(
                "Too many redirect URIs (at most {MAX_REDIRECT_URIS})."
            ));
        }
        Ok(Valid {
            name: name.to_owned(),
            redirect_uris: uris,
        })
    }
}

/// The client type chosen on the creation form: `Ok(true)` for public.
pub(crate) fn client_type(form: &Form) -> Result<bool, String> {
    match form.get("client_type") {
        Some("public") => Ok(true),
        Some("confidential") => Ok(false),
        _ => Err("Choose whether the client is confidential or public.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(name: &str, uris: &str) -> Draft {
        Draft {
            name: name.into(),
            redirect_uris: uris.into(),
            public: false,
        }
    }

    #[test]
    fn lines_become_uris() {
        let v = draft(
            "  Grafana ",
            "https://grafana.example/login/generic_oauth\r\n\r\n  http://127.0.0.1/cb \nhttps://grafana.example/login/generic_oauth\n",
        )
        .validate()
        .unwrap();
        assert_eq!(v.name, "Grafana");
        assert_eq!(
            v.redirect_uris,
            [
                "https://grafana.example/login/generic_oauth",
                "http://127.0.0.1/cb"
            ]
        );
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let e = draft("", "https://a.example/cb").validate().unwrap_err();
        assert!(e.contains("name"), "{e}");
        let e = draft("x\u{7}", "https://a.example/cb")
            .validate()
            .unwrap_err();
        assert!(e.contains("control"), "{e}");
        let e = draft(&"x".repeat(101), "https://a.example/cb")
            .validate()
            .unwrap_err();
        assert!(e.contains("too long"), "{e}");
        let e = draft("x", " \n ").validate().unwrap_err();
        assert!(e.contains("at least one"), "{e}");
        let e = draft("x", "https://a.example/cb\njavascript:alert(1)")
            .validate()
            .unwrap_err();
        assert!(e.contains("forbidden scheme"), "{e}");
        let e = draft("x", "https://a.example/cb#frag")
            .validate()
            .unwrap_err();
        assert!(e.contains("fragment"), "{e}");
        let e = draft("x", "/relative").validate().unwrap_err();
        assert!(e.contains("not an absolute URI"), "{e}");
        let many: Vec<String> = (0..21).map(|i| format!("https://a.example/{i}")).collect();
        let e = draft("x", &many.join("\n")).validate().unwrap_err();
        assert!(e.contains("Too many"), "{e}");
    }

    #[test]
    fn the_type_must_be_chosen() {
        let f = |body: &str| {
            latchkey_web::FormRules::PAGE
                .parse(body.as_bytes())
                .unwrap()
        };
        assert_eq!(client_type(&f("client_type=public")), Ok(true));
        assert_eq!(client_type(&f("client_type=confidential")), Ok(false));
        assert!(client_type(&f("client_type=other")).is_err());
        assert!(client_type(&f("")).is_err());
    }
}
