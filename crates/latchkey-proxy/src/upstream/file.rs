//! `file:///dir#/mount/` upstreams: files under a directory, streamed, never outside it.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use tokio::io::{AsyncRead, ReadBuf};

const CHUNK: usize = 64 * 1024;

/// The file for `path` (the request path after the mount), if it is inside `dir`.
async fn resolve(dir: &Path, rel: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(rel)
        .decode_utf8()
        .ok()?;
    let mut path = dir.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            // Hidden files (`.git`, `.env`) are not served.
            Component::Normal(part) if part.as_encoded_bytes().starts_with(b".") => return None,
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            // `..`, a root or a prefix: not a file under `dir`.
            _ => return None,
        }
    }
    if decoded.contains('\0') {
        return None;
    }
    let mut real = tokio::fs::canonicalize(&path).await.ok()?;
    // A symbolic link may point anywhere: what counts is where it lands.
    if !real.starts_with(dir) {
        return None;
    }
    if tokio::fs::metadata(&real).await.ok()?.is_dir() {
        real = tokio::fs::canonicalize(real.join("index.html"))
            .await
            .ok()?;
        if !real.starts_with(dir) {
            return None;
        }
    }
    Some(real)
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("pdf") => "application/pdf",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn status(code: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = code;
    resp
}

/// Answers `method` `rel` from `dir` (canonical): 200 with the file streamed, 404 for what
/// is not a readable file under it, 405 for other methods than GET and HEAD.
pub(super) async fn serve(dir: &Path, method: &Method, rel: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = status(StatusCode::METHOD_NOT_ALLOWED);
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let Some(path) = resolve(dir, rel).await else {
        return status(StatusCode::NOT_FOUND);
    };
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return status(StatusCode::NOT_FOUND);
    };
    let Ok(meta) = file.metadata().await else {
        return status(StatusCode::NOT_FOUND);
    };
    if !meta.is_file() {
        return status(StatusCode::NOT_FOUND);
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::new(
            FileBody {
                file,
                buf: BytesMut::new(),
            }
            .boxed(),
        )
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// A file read in chunks as the client takes them: memory stays at one chunk.
struct FileBody {
    file: tokio::fs::File,
    buf: BytesMut,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        this.buf.resize(CHUNK, 0);
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(None);
                }
                let chunk = this.buf.split_to(n).freeze();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_files_under_the_directory_are_served() {
        let root =
            std::env::temp_dir().join(format!("latchkey-file-upstream-{}", std::process::id()));
        let dir = root.join("site");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "home").unwrap();
        std::fs::write(dir.join("sub/a b.txt"), "a").unwrap();
        std::fs::write(root.join("secret.txt"), "no").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("secret.txt"), dir.join("link.txt")).unwrap();
        let dir = std::fs::canonicalize(&dir).unwrap();
        let get = |p: &'static str| {
            let dir = dir.clone();
            async move { serve(&dir, &Method::GET, p).await.status().as_u16() }
        };
        assert_eq!(get("/").await, 200);
        assert_eq!(get("/sub/a%20b.txt").await, 200);
        assert_eq!(get("/../secret.txt").await, 404);
        assert_eq!(get("/sub/..%2F..%2Fsecret.txt").await, 404);
        assert_eq!(get("/link.txt").await, 404, "a link out of the directory");
        assert_eq!(get("/missing").await, 404);
        assert_eq!(get("/sub").await, 404, "a directory without index.html");
        std::fs::write(dir.join(".env"), "SECRET=1").unwrap();
        assert_eq!(get("/.env").await, 404, "hidden files");
        #[cfg(unix)]
        {
            std::fs::create_dir_all(dir.join("out")).unwrap();
            std::os::unix::fs::symlink(root.join("secret.txt"), dir.join("out/index.html"))
                .unwrap();
            assert_eq!(get("/out/").await, 404, "an index.html that leads outside");
        }
        let post = serve(&dir, &Method::POST, "/").await;
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body = serve(&dir, &Method::GET, "/")
            .await
            .into_body()
            .collect()
            .await
            .unwrap();
        assert_eq!(body.to_bytes(), "home");
        let _ = std::fs::remove_dir_all(&root);
    }
}
