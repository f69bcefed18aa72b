//! One sign-in through the auth proxy, as a browser makes it: the proxy's `/oauth2/start`, the
//! provider's `/authorize` with its session cookie, the proxy's `/oauth2/callback`, cookies
//! kept between them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, StatusCode};

use crate::SESSION_COOKIE;
use crate::http::{Conn, Target};
use crate::nginx;

/// How long the proxy may take to discover its provider and offer sign-in.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(15);

/// A browser's cookies for one host, by name.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, headers: &HeaderMap) {
        for c in headers.get_all(header::SET_COOKIE) {
            let Ok(c) = c.to_str() else { continue };
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let gone = attrs.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            if gone {
                self.0.remove(name.trim());
            } else {
                self.0
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    fn header(&self) -> Result<HeaderValue, String> {
        let text: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        HeaderValue::try_from(text.join("; ")).map_err(|e| format!("cookie header: {e}"))
    }
}

/// GET `path` on `target` with `cookie`: the response, or an error naming `what`.
async fn get(
    target: &Target,
    path: &str,
    cookie: Option<HeaderValue>,
    what: &str,
) -> Result<crate::http::Response, String> {
    let mut req = target.request(hyper::Method::GET, path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let mut conn = Conn::open(target.addr).await?;
    conn.send(crate::http::finish(req, Default::default()))
        .await
        .map_err(|e| format!("{what}: {e}"))
}

/// `Location` of a redirect, which must start with `prefix`; returns the rest.
fn redirect<'a>(r: &'a crate::http::Response, prefix: &str, what: &str) -> Result<&'a str, String> {
    if !r.status.is_redirection() {
        return Err(format!("{what}: expected a redirect, got {}", r.describe()));
    }
    let location = r
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("{what}: redirect without Location"))?;
    location
        .strip_prefix(prefix)
        .ok_or_else(|| format!("{what}: redirected to {location}, not {prefix}…"))
}

/// Signs in through the proxy as a browser would; returns the proxy's cookies, checked by
/// fetching the page through the proxy with them.
pub async fn sign_in(
    proxy: &Target,
    idp: &Target,
    idp_session: &str,
) -> Result<HeaderValue, String> {
    let mut jar = Jar::default();
    // The proxy offers sign-in once it has discovered the provider.
    let started = Instant::now();
    let start = loop {
        let r = get(proxy, "/oauth2/start?rd=%2F", None, "/oauth2/start").await?;
        if r.status.is_redirection() || started.elapsed() > SIGN_IN_TIMEOUT {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    jar.take(&start.headers);
    let idp_base = format!("http://{}", idp.addr);
    let authorize = redirect(&start, &idp_base, "/oauth2/start")?;
    let idp_cookie = HeaderValue::try_from(format!("{SESSION_COOKIE}={idp_session}"))
        .map_err(|e| e.to_string())?;
    let r = get(idp, authorize, Some(idp_cookie), "idp /authorize").await?;
    let callback = redirect(&r, &format!("http://{}", proxy.addr), "idp /authorize")?;
    let r = get(proxy, callback, Some(jar.header()?), "/oauth2/callback").await?;
    jar.take(&r.headers);
    let back = redirect(&r, "", "/oauth2/callback")?;
    if back != "/" && back != format!("http://{}/", proxy.addr) {
        return Err(format!("/oauth2/callback: sent back to {back}, not /"));
    }
    let cookie = jar.header()?;
    let r = get(proxy, "/", Some(cookie.clone()), "GET / signed in").await?;
    if r.status != StatusCode::OK || r.body.as_ref() != nginx::body().as_slice() {
        return Err(format!(
            "GET / through the proxy with its cookies ({}): not the upstream's page: {}",
            jar.0.keys().cloned().collect::<Vec<_>>().join(", "),
            r.describe()
        ));
    }
    Ok(cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_cookies(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::SET_COOKIE, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn jar_keeps_set_cookies_and_drops_cleared_ones() {
        let mut jar = Jar::default();
        jar.take(&set_cookies(&[
            "_oauth2_proxy_csrf=abc; Path=/; HttpOnly",
            "other=1",
        ]));
        assert_eq!(jar.header().unwrap(), "_oauth2_proxy_csrf=abc; other=1");
        jar.take(&set_cookies(&[
            "_oauth2_proxy_csrf=; Path=/; Max-Age=0",
            "_oauth2_proxy=sealed; Path=/; HttpOnly; SameSite=Lax",
        ]));
        assert_eq!(jar.header().unwrap(), "_oauth2_proxy=sealed; other=1");
    }
}
