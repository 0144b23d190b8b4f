//! Our own CSS and JavaScript, compiled into the binary and served under
//! content-hashed names (`/assets/style.3f2a….css`): a page always names the
//! version it was rendered with, so browsers may cache an asset forever.
//! The plain name answers too (revalidated by ETag), for hand-written links.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

struct Source {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const SOURCES: &[Source] = &[
    Source {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/style.css"),
    },
    Source {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/app.js"),
    },
];

pub struct Asset {
    /// `style.css`
    pub name: &'static str,
    /// `/assets/style.<12 hex>.css`
    pub url: String,
    pub etag: String,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Every asset with its hashed URL (computed once).
pub fn all() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|source| {
                let hash = hex::encode(Sha256::digest(source.body));
                let short = &hash[..12];
                let (stem, ext) = source.name.rsplit_once('.').unwrap_or((source.name, ""));
                Asset {
                    name: source.name,
                    url: format!("/assets/{stem}.{short}.{ext}"),
                    etag: format!("\"{short}\""),
                    content_type: source.content_type,
                    body: source.body,
                }
            })
            .collect()
    })
}

/// The hashed URL of the asset `name` (one of ours, so always present).
pub fn url(name: &str) -> &'static str {
    all()
        .iter()
        .find(|a| a.name == name)
        .map_or("/assets/missing", |a| a.url.as_str())
}

pub(crate) async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/assets/{file}");
    let found = all().iter().find_map(|a| {
        if a.url == path {
            Some((a, "public, max-age=31536000, immutable"))
        } else if a.name == file {
            Some((a, "no-cache"))
        } else {
            None
        }
    });
    let Some((asset, cache)) = found else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == asset.etag));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if fresh {
        status.into_response()
    } else {
        (status, asset.body).into_response()
    };
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        out.insert(header::ETAG, etag);
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
