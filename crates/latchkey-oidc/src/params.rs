//! Protocol parameters: the shared strict decoder of `latchkey-web` under the OAuth rules
//! (RFC 6749 §3.1, §3.2): invalid UTF-8 and repeated parameters are errors, an empty value is
//! an absent parameter, a stray `%` is literal.

use latchkey_web::FormRules;
pub use latchkey_web::{Form as Params, FormError as ParamError};

pub fn parse(input: &[u8]) -> Result<Params, ParamError> {
    FormRules::PROTOCOL.parse(input)
}

/// Like [`parse`], but the names in `repeatable` may occur several times (RFC 8707
/// `resource`); read them with [`Params::get_all`].
pub fn parse_allowing(input: &[u8], repeatable: &[&str]) -> Result<Params, ParamError> {
    FormRules::PROTOCOL.repeatable(repeatable).parse(input)
}

/// One component decoded on its own (`+` is a space), strictly UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, ParamError> {
    latchkey_web::form::decode_component(raw, FormRules::PROTOCOL)
}
