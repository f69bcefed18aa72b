//! Latchkey's mark and icons: inline SVG drawn for Latchkey (no icon font, no request), for
//! templates to emit with `|safe` (`{{ icons::KEY|safe }}` after passing the constant in, or
//! a `&'static str` field). Icons are 24-unit line drawings in `currentColor`, hidden from
//! assistive technology (the text beside them says what they mean), 20 px by default
//! (`class="icon"`; inside a button, `.alert`, `.empty` or `.badge` the stylesheet sizes them).

macro_rules! icon {
    ($body:literal) => {
        concat!(
            r#"<svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">"#,
            $body,
            "</svg>"
        )
    };
}

/// Latchkey's mark: a keyhole cut in a rounded plate (accent colour from the stylesheet).
pub const MARK: &str = r#"<svg class="mark" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false"><rect class="plate" width="32" height="32" rx="8"/><path class="cut" d="M16 7.5a5 5 0 0 1 2.6 9.27L20 24.5h-8l1.4-7.73A5 5 0 0 1 16 7.5z"/></svg>"#;

/// A passkey: a person and a key.
pub const PASSKEY: &str = icon!(
    r#"<circle cx="8.5" cy="7.5" r="3.5"/><path d="M2.5 20.5v-1a5.5 5.5 0 0 1 8.5-4.6"/><circle cx="17.5" cy="10" r="3"/><path d="M17.5 13v8M17.5 17.5h2M17.5 20h1.5"/>"#
);
/// A key (API keys, client secrets).
pub const KEY: &str = icon!(
    r#"<circle cx="8" cy="15" r="4.5"/><path d="m11.2 11.8 8.8-8.8M16.5 6.5l2.5 2.5M14 9l2 2"/>"#
);
/// One person.
pub const USER: &str =
    icon!(r#"<circle cx="12" cy="8" r="4"/><path d="M4.5 20.5a7.5 7.5 0 0 1 15 0"/>"#);
/// A group of people.
pub const GROUP: &str = icon!(
    r#"<circle cx="9" cy="8.5" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M15.5 5.2a3.5 3.5 0 0 1 0 6.6M18 14.4a6.5 6.5 0 0 1 3.5 5.6"/>"#
);
/// An application (OIDC clients).
pub const APP: &str = icon!(
    r#"<rect x="3.5" y="3.5" width="7" height="7" rx="1.5"/><rect x="13.5" y="3.5" width="7" height="7" rx="1.5"/><rect x="3.5" y="13.5" width="7" height="7" rx="1.5"/><rect x="13.5" y="13.5" width="7" height="7" rx="1.5"/>"#
);
/// A computer (a device, a session).
pub const DEVICE: &str =
    icon!(r#"<rect x="4" y="5" width="16" height="11" rx="1.5"/><path d="M2 19.5h20"/>"#);
/// A phone.
pub const PHONE: &str =
    icon!(r#"<rect x="6.5" y="2.5" width="11" height="19" rx="2.5"/><path d="M11 18.5h2"/>"#);
/// Done, allowed.
pub const CHECK: &str = icon!(r#"<path d="m4.5 12.5 5 5 10-11"/>"#);
/// A warning (triangle).
pub const WARNING: &str = icon!(
    r#"<path d="M10.3 4.2 2.6 17.5A2 2 0 0 0 4.3 20.5h15.4a2 2 0 0 0 1.7-3L13.7 4.2a2 2 0 0 0-3.4 0z"/><path d="M12 9.5v4M12 17h.01"/>"#
);
/// An error (circle with a cross).
pub const ERROR: &str = icon!(r#"<circle cx="12" cy="12" r="9"/><path d="m9 9 6 6m0-6-6 6"/>"#);
/// Information (circle with an i).
pub const INFO: &str = icon!(r#"<circle cx="12" cy="12" r="9"/><path d="M12 11v5.5M12 7.5h.01"/>"#);
/// Copy to the clipboard.
pub const COPY: &str = icon!(
    r#"<rect x="8.5" y="8.5" width="12" height="12" rx="2"/><path d="M15.5 8.5V5.5a2 2 0 0 0-2-2h-8a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h3"/>"#
);
/// Sign out (an arrow leaving a door).
pub const SIGN_OUT: &str = icon!(
    r#"<path d="M9.5 20.5h-4a2 2 0 0 1-2-2v-13a2 2 0 0 1 2-2h4M16 16.5l4.5-4.5L16 7.5M20.5 12H9.5"/>"#
);
/// Add something.
pub const PLUS: &str = icon!(r#"<path d="M12 5v14M5 12h14"/>"#);
/// Delete something.
pub const TRASH: &str = icon!(
    r#"<path d="M4 6.5h16M9.5 6.5V4.5a1 1 0 0 1 1-1h3a1 1 0 0 1 1 1v2M6 6.5l1 13a1.5 1.5 0 0 0 1.5 1.5h7a1.5 1.5 0 0 0 1.5-1.5l1-13M10 11v6M14 11v6"/>"#
);
/// Edit something.
pub const EDIT: &str = icon!(r#"<path d="M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4zM13.5 6.5l4 4"/>"#);
/// A sign-in link sent by e-mail.
pub const MAIL: &str =
    icon!(r#"<rect x="3" y="5" width="18" height="14" rx="2"/><path d="m3.5 6.5 8.5 7 8.5-7"/>"#);
/// A link (one-time links).
pub const LINK: &str = icon!(
    r#"<path d="M10 14a4.5 4.5 0 0 0 6.4 0l3-3a4.5 4.5 0 0 0-6.4-6.4l-1 1M14 10a4.5 4.5 0 0 0-6.4 0l-3 3a4.5 4.5 0 0 0 6.4 6.4l1-1"/>"#
);
/// A shield (security, audit).
pub const SHIELD: &str = icon!(
    r#"<path d="M12 3 4.5 6v5.5c0 4.6 3.2 8.2 7.5 9.5 4.3-1.3 7.5-4.9 7.5-9.5V6L12 3z"/><path d="m9 12 2.2 2.2L15.5 10"/>"#
);
/// Go on (a row that opens a page).
pub const CHEVRON_RIGHT: &str = icon!(r#"<path d="m9.5 5.5 6.5 6.5-6.5 6.5"/>"#);

/// Every icon with its name, for a gallery.
pub const ALL: &[(&str, &str)] = &[
    ("PASSKEY", PASSKEY),
    ("KEY", KEY),
    ("USER", USER),
    ("GROUP", GROUP),
    ("APP", APP),
    ("DEVICE", DEVICE),
    ("PHONE", PHONE),
    ("CHECK", CHECK),
    ("WARNING", WARNING),
    ("ERROR", ERROR),
    ("INFO", INFO),
    ("COPY", COPY),
    ("SIGN_OUT", SIGN_OUT),
    ("PLUS", PLUS),
    ("TRASH", TRASH),
    ("EDIT", EDIT),
    ("MAIL", MAIL),
    ("LINK", LINK),
    ("SHIELD", SHIELD),
    ("CHEVRON_RIGHT", CHEVRON_RIGHT),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_are_decorative_and_take_the_text_colour() {
        for (name, svg) in ALL {
            assert!(
                svg.starts_with("<svg ") && svg.ends_with("</svg>"),
                "{name}"
            );
            assert!(
                svg.contains(r#"aria-hidden="true" focusable="false""#),
                "{name}"
            );
            assert!(svg.contains(r#"stroke="currentColor""#), "{name}");
            assert!(svg.contains(r#"viewBox="0 0 24 24""#), "{name}");
            // Safe to emit unescaped in an attribute-free context and under a strict CSP.
            assert!(!svg.contains("style") && !svg.contains("<script"), "{name}");
        }
        assert!(MARK.contains(r#"aria-hidden="true""#));
    }
}
