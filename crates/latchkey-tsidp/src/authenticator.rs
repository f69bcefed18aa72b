//! Silent sign-in: the person is whoever tailscaled says is at the other end of the
//! connection. No page, no consent (as tsidp).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use latchkey_oidc::{Authentication, Authenticator, AuthnRequest, BoxFuture, Principal, RoleError};
use latchkey_store::{Subject, unix_now};

use crate::claims::{identity_claims, subject, user_id, userinfo_claims, with_extra_claims};
use crate::grants::{Grants, from_cap_map};
use crate::sign_in::TailnetSignIn;
use crate::tailnet::{Tailnet, TailnetError};
use crate::whois::WhoIs;

/// Set by `tailscale serve` and Funnel on requests that came from the public internet.
pub const FUNNEL_HEADER: &str = "tailscale-funnel-request";

pub struct TailnetAuthenticator {
    tailnet: Arc<dyn Tailnet>,
    issuer_host: String,
    /// TCP peers (local proxies such as `tailscale serve`) whose last `X-Forwarded-For` hop
    /// names the real caller. Nobody else's header is believed.
    trusted_proxies: Vec<IpAddr>,
    allow_tagged: bool,
}

impl TailnetAuthenticator {
    pub fn new(
        tailnet: Arc<dyn Tailnet>,
        issuer: &str,
        trusted_proxies: Vec<IpAddr>,
        allow_tagged: bool,
    ) -> TailnetAuthenticator {
        let issuer_host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        TailnetAuthenticator {
            tailnet,
            issuer_host,
            trusted_proxies,
            allow_tagged,
        }
    }

    /// The address to ask tailscaled about.
    pub fn caller(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<SocketAddr, String> {
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        if !self.trusted_proxies.contains(&peer.ip()) {
            return Ok(peer);
        }
        // Several headers are one list in order: the last hop is the last item of the last.
        let Some(last) = headers.get_all("x-forwarded-for").iter().next_back() else {
            // The proxy's own request (no client behind it).
            return Ok(peer);
        };
        // A header that is there but unreadable or empty never falls back to the proxy's own
        // address: the proxy may be a person's node, and the caller would become them.
        let forwarded = last
            .to_str()
            .ok()
            .and_then(|v| v.rsplit(',').map(str::trim).find(|h| !h.is_empty()))
            .ok_or("X-Forwarded-For names no readable address")?;
        // The last hop is the one the trusted proxy added; earlier ones are the client's word.
        // Without a port it is asked about as IP:0, which tailscaled's WhoIs accepts for a
        // tailnet address (ipnlocal's LocalBackend.WhoIs: "the provided port may be 0").
        forwarded
            .parse::<SocketAddr>()
            .or_else(|_| forwarded.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
            .map_err(|_| format!("X-Forwarded-For hop {forwarded:?} is not an address"))
    }
}

/// Who is calling, according to tailscaled and the tailnet policy.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The address tailscaled was asked about.
    pub addr: SocketAddr,
    pub whois: WhoIs,
    /// `userid:N` for a person; `node:<stable ID>` for a tagged node (when allowed).
    pub subject: String,
    /// The caller's `tailscale.com/cap/tsidp` rules, merged.
    pub grants: Grants,
}

/// Why a request has no [`Caller`]. [`CallerError::is_unavailable`] separates "we cannot tell
/// right now" (answer 503) from "this is nobody we serve" (refuse). The messages are fit to
/// show the person.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    #[error("not available over Funnel")]
    Funnel,
    #[error("no peer address on the connection")]
    NoPeer,
    /// A trusted proxy's last `X-Forwarded-For` hop that is not an address.
    #[error("{0}")]
    BadForwardedFor(String),
    #[error("{0} is not a tailnet peer")]
    NotAPeer(SocketAddr),
    #[error("{0} is a tagged node, not a person")]
    Tagged(SocketAddr),
    #[error("{}", tailscaled_message(.0))]
    Tailscaled(TailnetError),
    #[error("tailscaled's answer names no {0}.")]
    Incomplete(&'static str),
    #[error("the tailnet policy's tsidp grant is not valid: {0}")]
    Grant(crate::grants::GrantError),
}

impl CallerError {
    /// The identity source is down or its answer unusable: nobody can be told apart.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            CallerError::Tailscaled(_) | CallerError::Incomplete(_) | CallerError::Grant(_)
        )
    }
}

fn tailscaled_message(e: &TailnetError) -> String {
    match e {
        TailnetError::NotAPeer => "the caller is not a tailnet peer".into(),
        TailnetError::Forbidden(m) => format!(
            "tailscaled refused to say who is connecting ({m}). Run Latchkey as root or as the tailnet's operator user."
        ),
        TailnetError::Unavailable(m) => format!(
            "tailscaled is not answering ({m}). Check that it runs and that its socket is reachable."
        ),
        TailnetError::Malformed(m) => format!("tailscaled's answer could not be read ({m})."),
    }
}

impl TailnetAuthenticator {
    /// Who is calling: the address to ask about ([`TailnetAuthenticator::caller`]), tailscaled's
    /// WhoIs for it, and the capability grants. Funnel requests and tagged nodes (unless
    /// allowed) are refused here, for every use.
    pub async fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<Caller, CallerError> {
        if headers.contains_key(FUNNEL_HEADER) {
            return Err(CallerError::Funnel);
        }
        let peer = peer.ok_or(CallerError::NoPeer)?;
        let addr = self
            .caller(headers, peer)
            .map_err(CallerError::BadForwardedFor)?;
        let who = match self.tailnet.whois(addr).await {
            Ok(w) => w,
            Err(TailnetError::NotAPeer) => return Err(CallerError::NotAPeer(addr)),
            Err(e) => return Err(CallerError::Tailscaled(e)),
        };
        if who.is_tagged() && !self.allow_tagged {
            return Err(CallerError::Tagged(addr));
        }
        // A person is `userid:N`; a tagged node (when allowed) has no person behind it and
        // shares its user ID with other nodes, so it is named by its own stable ID.
        let subject = if who.is_tagged() {
            if who.node.stable_id.is_empty() {
                return Err(CallerError::Incomplete("node ID for this tagged node"));
            }
            format!("node:{}", who.node.stable_id)
        } else {
            if user_id(&who) == 0 {
                return Err(CallerError::Incomplete("user for this node"));
            }
            subject(&who)
        };
        let grants = from_cap_map(&who.cap_map).map_err(CallerError::Grant)?;
        Ok(Caller {
            addr,
            whois: who,
            subject,
            grants,
        })
    }
}

impl Authenticator for TailnetAuthenticator {
    fn authenticate<'a>(
        &'a self,
        req: AuthnRequest<'a>,
    ) -> BoxFuture<'a, Result<Authentication, RoleError>> {
        Box::pin(async move {
            let Caller {
                whois: who,
                subject: sub,
                grants,
                ..
            } = match self.identify(req.headers, req.peer).await {
                Ok(c) => c,
                Err(CallerError::NoPeer) => return Err(RoleError::NoPeer),
                Err(e) if e.is_unavailable() => {
                    return Ok(Authentication::Unavailable(e.to_string()));
                }
                Err(e) => return Ok(Authentication::Denied(e.to_string())),
            };
            // Userinfo starts from the WhoIs identity alone: extra claims reach it only from
            // rules that say includeInUserInfo; the ID token gets all of them.
            let mut id = identity_claims(&who, &self.issuer_host);
            let userinfo = userinfo_claims(&id, &grants);
            with_extra_claims(&mut id, &grants);
            let snapshot =
                TailnetSignIn::new(id, userinfo, &who.user.login_name, &grants).into_snapshot()?;
            Ok(Authentication::Authenticated(Principal {
                subject: Subject(sub),
                auth_time: unix_now(),
                amr: Vec::new(),
                snapshot,
            }))
        })
    }

    /// Behind `tailscale serve` every connection comes from the proxy: limits must count the
    /// caller it names, or one abuser would lock everyone out.
    fn client_ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let peer = peer?;
        Some(self.caller(headers, peer).map_or(peer.ip(), |a| a.ip()))
    }

    /// Registration is for callers whose tsidp grant says `allow_dcr` (never over Funnel).
    fn may_register<'a>(
        &'a self,
        headers: &'a HeaderMap,
        peer: Option<SocketAddr>,
    ) -> BoxFuture<'a, Result<bool, RoleError>> {
        Box::pin(async move {
            match self.identify(headers, peer).await {
                Ok(caller) => Ok(caller.grants.allow_dcr),
                Err(CallerError::Tailscaled(e)) => Err(RoleError::source("tailscaled", e)),
                Err(_) => Ok(false),
            }
        })
    }
}
