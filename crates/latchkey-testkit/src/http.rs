//! HTTP clients and requests as the black-box tests make them.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

/// No redirects followed (an authorization response is looked at, not followed; the
/// `openidconnect` crate insists on it too), no connection reuse (so a stopped server is
/// really gone), no proxy from the environment, 20 s at the most per request.
pub fn http_client() -> reqwest::Client {
    builder().build().expect("http client")
}

/// [`http_client`] whose connections come from `addr`: on loopback, a stand-in tailscaled
/// tells callers apart by this address.
pub fn http_client_from(addr: &str) -> reqwest::Client {
    let ip: IpAddr = addr.parse().expect("an IP address");
    builder().local_address(ip).build().expect("http client")
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .no_proxy()
        .timeout(Duration::from_secs(20))
}

/// `req` with these headers added (a name given twice is sent twice).
pub fn with_headers(
    req: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    headers.iter().fold(req, |req, (k, v)| req.header(*k, *v))
}

/// `Authorization: Basic` with form-urlencoded id and secret (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// POSTs `form` to `url` as the confidential client `id` (client_secret_basic).
pub async fn post_form_as<F: Serialize + ?Sized>(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    form: &F,
) -> reqwest::Response {
    http.post(url)
        .header("authorization", basic(id, secret))
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The status and the JSON body (which must be JSON).
async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body = r.text().await.expect("response body");
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("a JSON answer ({status}), not {body:?}: {e}"));
    (status, json)
}

/// [`post_form_as`], then [`status_json`].
pub async fn post_form_json<F: Serialize + ?Sized>(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    form: &F,
) -> (u16, Value) {
    status_json(post_form_as(http, url, id, secret, form).await).await
}

/// GET `url`, with this bearer token if any: the JSON body of a 200 answer.
pub async fn get_json(http: &reqwest::Client, url: &str, bearer: Option<&str>) -> Value {
    let mut req = http.get(url);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let (status, json) = status_json(r).await;
    assert_eq!(status, 200, "GET {url}: {json}");
    json
}
