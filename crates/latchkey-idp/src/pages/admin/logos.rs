//! Client logos. An administrator uploads one on the client's page: the page script sends
//! the image as the request body with the form's CSRF token in a header (no multipart
//! parser needed); a browser without the script is told so. Every page that names the
//! client shows it from `/clients/{id}/logo` — ours, so pages make no third-party request.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_store::{Client, ClientId, Logo, unix_now};
use serde_json::{Value, json};

use super::clients::find;
use super::{ADMIN_PURPOSE, Admin, By, Page, Posted, failed, not_found};
use crate::client_policy::LOGO_VERSION;
use crate::pages::{Peer, peer_addr, problem, see_other};
use crate::state::Idp;

/// The largest logo accepted: plenty for a 512 px PNG or any sane SVG.
pub(super) const MAX_LOGO: usize = 256 * 1024;

/// How a logo is served: cached long (its URL changes with it), never sniffed, and an SVG
/// opened on its own cannot run script or load anything.
const LOGO_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

pub(super) fn routes() -> Router<Arc<Idp>> {
    Router::new()
        .route("/clients/{id}/logo", get(get_logo))
        .route("/admin/clients/{id}/logo", post(post_logo))
        .route("/admin/clients/{id}/logo/delete", post(post_delete))
}

/// The media type of an image we accept, from its bytes (what the browser claims is not
/// trusted): PNG, JPEG, WebP or SVG.
pub(crate) fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    let text = std::str::from_utf8(data).ok()?;
    let head = text.trim_start_matches('\u{feff}').trim_start();
    let markup = head.starts_with("<?xml") || head.starts_with("<svg") || head.starts_with("<!--");
    (markup && text.contains("<svg")).then_some("image/svg+xml")
}

async fn get_logo(State(idp): State<Arc<Idp>>, Path(id): Path<String>) -> Response {
    match idp
        .store
        .client_logo(idp.issuer_id(), &ClientId::from(id.as_str()))
        .await
    {
        Ok(Some(logo)) => {
            let mut resp = logo.data.into_response();
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&logo.content_type) {
                h.insert(header::CONTENT_TYPE, v);
            }
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=604800"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(LOGO_CSP),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        Ok(None) => not_found(&idp, "logo"),
        Err(e) => failed(&idp)(e),
    }
}

/// An answer to the page script: `{"error": sentence}` with `status`.
fn refused(status: StatusCode, sentence: &str) -> Response {
    (status, axum::Json(json!({ "error": sentence }))).into_response()
}

async fn post_logo(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Admin(person): Admin,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        return problem(
            idp.site(),
            StatusCode::BAD_REQUEST,
            "Uploading a logo needs JavaScript",
            "This browser sent the form without running Latchkey's page script, which \
             uploads the image. Allow scripts for this site, or upload from another browser.",
        );
    }
    let token = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let user = person.user.id.as_str();
    if idp
        .csrf
        .check(&headers, token, ADMIN_PURPOSE, user, unix_now())
        .is_err()
    {
        return refused(
            StatusCode::FORBIDDEN,
            "This page has expired. Reload it and upload the logo again.",
        );
    }
    let mut client = match find(&idp, &id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(data) = axum::body::to_bytes(body, MAX_LOGO).await else {
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "That image is too large: choose one under 256 KB.",
        );
    };
    let Some(content_type) = sniff(&data) else {
        return refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Choose a PNG, JPEG, WebP or SVG image.",
        );
    };
    let now = unix_now();
    let logo = Logo {
        content_type: content_type.to_owned(),
        data: data.to_vec(),
        updated_at: now,
    };
    let by = By::of(&idp, &person, &headers, peer_addr(&peer));
    if let Err(e) = idp
        .store
        .put_client_logo(idp.issuer_id(), &client.id, &logo)
        .await
    {
        return failed(&idp)(e);
    }
    if let Err(r) = set_version(&idp, &mut client, Some(now)).await {
        return r;
    }
    let detail = json!({"logo": content_type, "bytes": data.len()});
    by.record(&idp, "CLIENT_LOGO_UPDATED", Some(&client.id), detail)
        .await;
    axum::Json(json!({ "ok": true })).into_response()
}

async fn post_delete(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { by, .. }: Posted,
) -> Page {
    let mut client = find(&idp, &id).await?;
    idp.store
        .delete_client_logo(idp.issuer_id(), &client.id)
        .await
        .map_err(failed(&idp))?;
    set_version(&idp, &mut client, None).await?;
    by.record(&idp, "CLIENT_LOGO_REMOVED", Some(&client.id), json!({}))
        .await;
    Ok(see_other(
        &idp.site()
            .path(&format!("/admin/clients/{}", client.id.as_str())),
    ))
}

/// Records in the client's metadata which logo its pages link to (none: the initial).
async fn set_version(idp: &Idp, client: &mut Client, version: Option<i64>) -> Result<(), Response> {
    if let Value::Object(meta) = &mut client.metadata {
        match version {
            Some(v) => meta.insert(LOGO_VERSION.into(), json!(v)),
            None => meta.remove(LOGO_VERSION),
        };
    } else if let Some(v) = version {
        client.metadata = json!({ LOGO_VERSION: v });
    }
    client.updated_at = unix_now();
    match idp.store.update_client(client).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(not_found(idp, "client")),
        Err(e) => Err(failed(idp)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn images_are_known_by_their_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some("image/jpeg")
        );
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            Some("image/svg+xml")
        );
        assert_eq!(
            sniff(b"\xEF\xBB\xBF  <svg viewBox=\"0 0 1 1\"></svg>"),
            Some("image/svg+xml")
        );
        assert_eq!(
            sniff(b"<html><svg></svg></html>"),
            None,
            "HTML is not an image"
        );
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><note/>"),
            None,
            "XML without svg"
        );
    }
}
