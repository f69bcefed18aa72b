//! Web plumbing shared by the roles and owned by none: the page shells, stylesheet, icons and
//! the one script (askama templates and assets compiled in), strict form parsing, and CSRF protection for form posts.
//! Security headers stay with the binary, which sets them on every answer.

pub mod assets;
pub mod cookies;
pub mod csrf;
pub mod form;
pub mod form_page;
pub mod icons;
pub mod net;
pub mod page;

pub use csrf::{Csrf, CsrfError, TOKEN_FIELD};
pub use form::{Form, FormError, FormRules};
pub use form_page::{FormPage, auto_submit_page, form_page};
pub use page::{
    NavLink, Shell, SignOut, Site, initial, message_page, render, render_app,
    render_app_with_script, render_card, render_card_with_script,
};
