//! The configuration documents browser SDKs fetch before they send, built for Tailor so that
//! one option points each SDK here (`docs/sdks.md`):
//!
//! - Segment's analytics.js 2.0 / analytics-next loads `{cdnURL}/v1/projects/{writeKey}/settings`
//!   and sends to `integrations["Segment.io"].apiHost` (host and path, no scheme) over
//!   `integrations["Segment.io"].protocol`. [`segment_settings`] names this server there and
//!   turns the SDK's own metrics off (they would go to Segment).
//! - RudderStack's JavaScript SDK v3 loads `{configUrl}/sourceConfig/?writeKey=…` and needs a
//!   source with an id, a `config` object and a list of device-mode destinations;
//!   [`rudder_source_config`] is an enabled source with none, error and metrics reporting off.
//!
//! The answers depend on the address the browser used, read from the request by
//! [`PublicOrigin::from_request`]. No I/O here.

use axum::http::{header, HeaderMap, Uri};
use serde_json::{json, Value};

/// How the browser reached this server: the scheme and the `host[:port]` it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicOrigin {
    /// `http` or `https`.
    pub scheme: &'static str,
    pub host: String,
}

impl PublicOrigin {
    /// The origin a browser used: `X-Forwarded-Host` / `X-Forwarded-Proto` from a reverse
    /// proxy when present, else the `Host` header (or the request target's authority) and
    /// `https` when this server terminates TLS. `None` when no host is given or it is not a
    /// plain `host[:port]`.
    pub fn from_request(headers: &HeaderMap, uri: &Uri, tls: bool) -> Option<PublicOrigin> {
        let first = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let host = first("x-forwarded-host")
            .or_else(|| first(header::HOST.as_str()))
            .or_else(|| uri.authority().map(|a| a.as_str()))?;
        if !is_host_port(host) {
            return None;
        }
        let scheme = match first("x-forwarded-proto").map(str::to_ascii_lowercase) {
            Some(p) if p == "https" => "https",
            Some(p) if p == "http" => "http",
            _ if tls => "https",
            _ => "http",
        };
        Some(PublicOrigin {
            scheme,
            host: host.to_owned(),
        })
    }
}

/// A DNS name, IPv4 or bracketed IPv6 address, with an optional port: nothing that could
/// carry a path, credentials or markup into the documents.
fn is_host_port(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
}

/// The settings document analytics-next loads from `{cdnURL}/v1/projects/{writeKey}/settings`:
/// the `Segment.io` destination only, sending to `{origin}/v1` (the SDK appends `/t`, `/p`,
/// `/i`, `/g`, `/a`, `/s` or, when batching, `/b`), no device-mode destinations, middleware or
/// remote plugins, and the SDK's usage metrics off (`sampleRate` 0: they would go to
/// Segment's API).
pub fn segment_settings(write_key: &str, origin: &PublicOrigin) -> Value {
    json!({
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": format!("{}/v1", origin.host),
                "protocol": origin.scheme,
                "addBundledMetadata": false,
                "unbundledIntegrations": [],
            }
        },
        "plan": {},
        "edgeFunction": {},
        "analyticsNextEnabled": true,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": false,
        "remotePlugins": [],
    })
}

/// The source configuration RudderStack's JavaScript SDK v3 loads from
/// `{configUrl}/sourceConfig/`: an enabled source with no device-mode destinations and the
/// SDK's error and metrics reporting off (they would go to `{dataPlaneUrl}/rsaMetrics`,
/// which Tailor does not serve).
pub fn rudder_source_config(write_key: &str) -> Value {
    json!({
        "isHostedService": false,
        "source": {
            "id": "tailor",
            "name": "Tailor",
            "writeKey": write_key,
            "workspaceId": "tailor",
            "enabled": true,
            "config": {
                "statsCollection": {
                    "errors": {"enabled": false},
                    "metrics": {"enabled": false},
                }
            },
            "destinations": [],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn the_origin_is_the_one_the_browser_used() {
        let uri: Uri = "/v1/projects/k/settings".parse().expect("uri");
        let o = |h: &[(&str, &str)], tls| PublicOrigin::from_request(&headers(h), &uri, tls);
        let origin = |scheme, host: &str| {
            Some(PublicOrigin {
                scheme,
                host: host.to_owned(),
            })
        };
        assert_eq!(
            o(&[("host", "127.0.0.1:8080")], false),
            origin("http", "127.0.0.1:8080")
        );
        assert_eq!(
            o(&[("host", "t.example.com")], true),
            origin("https", "t.example.com")
        );
        // Behind a proxy: what the proxy was asked for.
        assert_eq!(
            o(
                &[
                    ("host", "10.0.0.5:8080"),
                    ("x-forwarded-host", "t.example.com, inner"),
                    ("x-forwarded-proto", "HTTPS")
                ],
                false
            ),
            origin("https", "t.example.com")
        );
        assert_eq!(
            o(
                &[("host", "[::1]:9"), ("x-forwarded-proto", "gopher")],
                false
            ),
            origin("http", "[::1]:9")
        );
        let absolute: Uri = "http://a.example:81/v1/x".parse().expect("uri");
        assert_eq!(
            PublicOrigin::from_request(&HeaderMap::new(), &absolute, false),
            origin("http", "a.example:81")
        );
        for bad in ["evil.example/path", "user@host", "a b", "<script>"] {
            assert_eq!(o(&[("host", bad)], false), None, "{bad}");
        }
        assert_eq!(o(&[], false), None);
    }

    #[test]
    fn segment_settings_send_here_and_nowhere_else() {
        let origin = PublicOrigin {
            scheme: "http",
            host: "127.0.0.1:8080".into(),
        };
        let s = segment_settings("wk", &origin);
        let io = &s["integrations"]["Segment.io"];
        assert_eq!(io["apiHost"], "127.0.0.1:8080/v1");
        assert_eq!(io["protocol"], "http");
        assert_eq!(io["apiKey"], "wk");
        assert_eq!(s["integrations"].as_object().map(|o| o.len()), Some(1));
        assert_eq!(s["metrics"]["sampleRate"], 0);
    }

    #[test]
    fn the_rudder_source_has_what_the_sdk_checks() {
        let c = rudder_source_config("wk");
        let src = &c["source"];
        assert!(src["id"].is_string());
        assert!(src["config"].is_object());
        assert_eq!(src["destinations"], json!([]));
        assert_eq!(src["enabled"], true);
        assert_eq!(src["writeKey"], "wk");
    }
}
