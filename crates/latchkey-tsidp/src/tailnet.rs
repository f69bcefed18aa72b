//! Who is at an address on the tailnet: the question the tsidp role asks of tailscaled.

use std::net::SocketAddr;

use latchkey_oidc::BoxFuture;

use crate::localapi::{LocalApi, LocalApiError};
use crate::whois::WhoIs;

#[derive(Debug, thiserror::Error)]
pub enum TailnetError {
    #[error("not a tailnet peer")]
    NotAPeer,
    #[error("tailscaled refused the lookup: {0}")]
    Forbidden(String),
    #[error("tailscaled is unavailable: {0}")]
    Unavailable(String),
    #[error("tailscaled's answer could not be read: {0}")]
    Malformed(String),
}

pub trait Tailnet: Send + Sync + 'static {
    fn whois<'a>(&'a self, addr: SocketAddr) -> BoxFuture<'a, Result<WhoIs, TailnetError>>;
}

impl Tailnet for LocalApi {
    fn whois<'a>(&'a self, addr: SocketAddr) -> BoxFuture<'a, Result<WhoIs, TailnetError>> {
        Box::pin(async move {
            let answer = self.answer(addr).await.map_err(|e| match e {
                LocalApiError::NotAPeer => TailnetError::NotAPeer,
                LocalApiError::Forbidden(m) => TailnetError::Forbidden(m),
                LocalApiError::BadAddress(m) | LocalApiError::Protocol(m) => {
                    TailnetError::Malformed(m)
                }
                LocalApiError::Unavailable(m) => TailnetError::Unavailable(m),
            })?;
            answer.whois().map_err(TailnetError::Malformed)
        })
    }
}
