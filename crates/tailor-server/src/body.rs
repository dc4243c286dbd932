//! Request bodies as SDKs send them: JSON whatever the Content-Type says, optionally gzip
//! (RudderStack's default), with a cap on the decoded size.

use std::io::Read;

use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine;

use crate::error::ApiError;

/// Decodes `body` per `Content-Encoding`; refuses more than `max` decoded bytes with 413.
pub fn decode(headers: &HeaderMap, body: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the decoded request body exceeds {max} bytes; send smaller batches"),
        )
    };
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > max {
                return Err(too_big());
            }
            Ok(body.to_vec())
        }
        "gzip" | "x-gzip" | "deflate" => {
            let reader: Box<dyn Read + '_> = if encoding == "deflate" {
                Box::new(flate2::read::ZlibDecoder::new(body))
            } else {
                Box::new(flate2::read::MultiGzDecoder::new(body))
            };
            let mut out = Vec::with_capacity(body.len() * 4);
            reader
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    ApiError::bad_request(format!("the {encoding} body cannot be decoded: {e}"))
                })?;
            if out.len() > max {
                return Err(too_big());
            }
            Ok(out)
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {other:?} is not supported; use gzip or none"),
        )),
    }
}

/// The write key from `Authorization: Basic base64(key:)`, if present.
pub fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, cred) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(cred.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
    Some(user.to_owned())
}

/// The token from `Authorization: Bearer TOKEN`, if present.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_decoded_and_capped() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b'a'; 10_000]).expect("write");
        let gz = enc.finish().expect("finish");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, "gzip".parse().expect("hv"));
        assert_eq!(decode(&h, &gz, 10_000).expect("fits").len(), 10_000);
        assert_eq!(
            decode(&h, &gz, 9_999).expect_err("too big").status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            decode(&h, b"not gzip", 100).expect_err("bad").status,
            StatusCode::BAD_REQUEST
        );
        h.insert(header::CONTENT_ENCODING, "br".parse().expect("hv"));
        assert_eq!(
            decode(&h, b"x", 100).expect_err("br").status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn basic_auth_user_is_the_write_key() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "Basic d2tfdGVzdDo=".parse().expect("hv"),
        );
        assert_eq!(basic_auth_user(&h).as_deref(), Some("wk_test"));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().expect("hv"));
        assert_eq!(basic_auth_user(&h), None);
        assert_eq!(bearer_token(&h).as_deref(), Some("s3cret"));
    }
}

/// A JSON request body, whatever the Content-Type says: `curl -d '{…}'` sends
/// `application/x-www-form-urlencoded`, and the collector has always accepted that, so every
/// JSON endpoint does too. The rejection says what was wrong with the body.
pub struct AnyJson<T>(pub T);

/// Why a body is not the JSON an endpoint expects.
#[derive(Debug)]
pub struct BadJson(pub String);

impl std::fmt::Display for BadJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl axum::response::IntoResponse for BadJson {
    fn into_response(self) -> axum::response::Response {
        ApiError::bad_request(self.0).into_response()
    }
}

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for AnyJson<T> {
    type Rejection = BadJson;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, BadJson> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| BadJson(e.body_text()))?;
        serde_json::from_slice(&bytes)
            .map(AnyJson)
            .map_err(|e| BadJson(format!("invalid JSON body: {e}")))
    }
}
