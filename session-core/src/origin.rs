//! Refusal of cross-origin writes, before any handler runs: see [`CrossOriginGuard`].

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The body of the 403 adapters answer when they refuse a cross-origin write.
pub const CROSS_ORIGIN_BODY: &str = r#"{"error":"cross-origin request refused"}"#;

/// How cross-origin writes are handled (`[cross_origin]` in the configuration). On by default.
///
/// ```toml
/// [cross_origin]
/// trusted_origins = ["https://partner.example"]   # their writes pass
/// exempt_paths = ["/auth/callback", "/hooks/*"]    # exact paths, or prefixes ending in `*`
/// trust_forwarded = false                          # true only behind a proxy that sets X-Forwarded-Host
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossOriginConfig {
    /// Whether cross-origin writes are refused. Default `true`; turn it off only when something
    /// else (a CSRF token on every form) protects the writes.
    pub enabled: bool,
    /// Origins (`scheme://host[:port]`) whose writes pass whatever the headers say.
    pub trusted_origins: Vec<String>,
    /// Paths whose writes are never refused: an exact path (`/auth/callback`) or a prefix ending
    /// in `*` (`/hooks/*`).
    pub exempt_paths: Vec<String>,
    /// Whether `X-Forwarded-Host` and `X-Forwarded-Proto` name the request's own origin. Default
    /// `false`: set it only when every request comes through a proxy that sets them.
    pub trust_forwarded: bool,
}

impl Default for CrossOriginConfig {
    fn default() -> Self {
        CrossOriginConfig {
            enabled: true,
            trusted_origins: Vec::new(),
            exempt_paths: Vec::new(),
            trust_forwarded: false,
        }
    }
}

/// What an adapter reads from a request for the check. Header values are raw bytes (`None` when
/// the header is absent); the guard reads none of them for a safe method.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossOriginRequest<'a> {
    /// The request method (`POST`).
    pub method: &'a str,
    /// The request path, without the query (`/login`).
    pub path: &'a str,
    /// The `Host` header, or the URI's authority where the protocol has no `Host` (HTTP/2).
    pub host: Option<&'a [u8]>,
    /// The `Origin` header.
    pub origin: Option<&'a [u8]>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a [u8]>,
    /// The `X-Forwarded-Host` header (read only with `trust_forwarded`).
    pub forwarded_host: Option<&'a [u8]>,
    /// The `X-Forwarded-Proto` header (read only with `trust_forwarded`).
    pub forwarded_proto: Option<&'a [u8]>,
}

/// Why a write was refused, for the log (the response says only that it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrossOriginRefused {
    /// `Sec-Fetch-Site` said the request came from another site or origin.
    #[error("cross-origin write refused: Sec-Fetch-Site is not same-origin; list the origin in `cross_origin.trusted_origins` or the path in `cross_origin.exempt_paths` to let it through")]
    FetchSite,
    /// `Origin` named another host, or was `null`.
    #[error("cross-origin write refused: Origin is not the request's own origin; list it in `cross_origin.trusted_origins`, or set `cross_origin.trust_forwarded` behind a proxy that rewrites Host")]
    Origin,
}

impl CrossOriginRefused {
    /// The status adapters answer with: 403.
    pub const STATUS: u16 = 403;

    /// The body adapters answer with ([`CROSS_ORIGIN_BODY`]).
    pub fn body(&self) -> &'static str {
        CROSS_ORIGIN_BODY
    }
}

/// A checked [`CrossOriginConfig`], ready to judge requests.
///
/// Refusal of cross-origin writes, before any handler runs.
///
/// `SameSite=Lax` cookies stop a form on another *site* from riding the session, but not a page on
/// another port or subdomain of the same site (browsers count those as same-site), and not a
/// login CSRF, where the attacker's form logs the victim in as the attacker. This guard closes
/// both without tokens, the way browsers now allow (and Go's `http.CrossOriginProtection` does
/// it): every request with an unsafe method (anything but `GET`, `HEAD` and `OPTIONS`) is judged
/// by the headers a browser cannot be made to forge.
///
/// 1. `Sec-Fetch-Site: same-origin` or `none` (the user typed it, a bookmark) passes;
///    `cross-site`, `same-site` or any other value is refused. Every browser released since 2023
///    sends it.
/// 2. Without `Sec-Fetch-Site` (an older browser), an `Origin` whose host and port are not the
///    request's own `Host` is refused, and so is `Origin: null` (sandboxed frames, some
///    redirects). The scheme cannot be told from `Host`, so an `http://` page of the same host
///    passes here; HSTS closes that.
/// 3. A request with neither header is not from a browser's cross-origin context (curl, another
///    server, a same-origin request of an old browser) and passes.
///
/// An origin listed in [`CrossOriginConfig::trusted_origins`] passes whatever the headers say,
/// and so does a path listed in [`CrossOriginConfig::exempt_paths`] (an identity provider's POST
/// callback). Behind a proxy that rewrites `Host`, set [`CrossOriginConfig::trust_forwarded`] so
/// that `X-Forwarded-Host` (and `X-Forwarded-Proto`, compared with the origin's scheme) stand for
/// the request's own origin; never set it when clients can reach the app without the proxy, since
/// they could then send those headers themselves.
///
/// Adapters build a [`CrossOriginGuard`] from the configuration and
/// [`check_headers`](CrossOriginGuard::check_headers) each request (a `GET` reads no header), or
/// [`check`](CrossOriginGuard::check) a [`CrossOriginRequest`] they built; a refusal is answered with 403
/// and [`CROSS_ORIGIN_BODY`] before the handler, touching no session.
///
/// ```
/// use session_core::{CrossOriginConfig, CrossOriginGuard, CrossOriginRequest};
///
/// let guard = CrossOriginGuard::new(&CrossOriginConfig::default())?;
/// let from_elsewhere = CrossOriginRequest {
///     method: "POST",
///     path: "/login",
///     host: Some(b"app.example"),
///     sec_fetch_site: Some(b"cross-site"),
///     ..CrossOriginRequest::default()
/// };
/// assert!(guard.check(&from_elsewhere).is_err());
///
/// let curl = CrossOriginRequest { method: "POST", path: "/login", host: Some(b"app.example"), ..Default::default() };
/// assert!(guard.check(&curl).is_ok());
/// # Ok::<(), session_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CrossOriginGuard {
    enabled: bool,
    /// Normalized (`scheme://host[:port]`, lower case, default port left out).
    trusted: Vec<String>,
    exempt: Vec<PathRule>,
    trust_forwarded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathRule {
    Exact(String),
    Prefix(String),
}

impl PathRule {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathRule::Exact(exact) => path == exact,
            PathRule::Prefix(prefix) => path.starts_with(prefix.as_str()),
        }
    }
}

impl Default for CrossOriginGuard {
    /// On, with nothing trusted or exempt.
    fn default() -> Self {
        CrossOriginGuard {
            enabled: true,
            trusted: Vec::new(),
            exempt: Vec::new(),
            trust_forwarded: false,
        }
    }
}

impl CrossOriginGuard {
    /// Checks `config`: every trusted origin must be `scheme://host[:port]` (no path), every
    /// exempt path must start with `/`.
    pub fn new(config: &CrossOriginConfig) -> Result<Self, ConfigError> {
        let trusted = config
            .trusted_origins
            .iter()
            .map(|origin| {
                parse_origin(origin.trim_end_matches('/').as_bytes())
                    .map(|parsed| parsed.normalized())
                    .ok_or_else(|| ConfigError::CrossOrigin {
                        field: "trusted_origins",
                        message: format!(
                            "`{origin}` is not an origin; write it as `https://host` or \
                                 `https://host:port`, without a path"
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let exempt = config
            .exempt_paths
            .iter()
            .map(|path| {
                if !path.starts_with('/') {
                    return Err(ConfigError::CrossOrigin {
                        field: "exempt_paths",
                        message: format!(
                            "`{path}` must start with `/` (an exact path, or a prefix ending \
                             in `*`)"
                        ),
                    });
                }
                Ok(match path.strip_suffix('*') {
                    Some(prefix) => PathRule::Prefix(prefix.to_owned()),
                    None => PathRule::Exact(path.clone()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CrossOriginGuard {
            enabled: config.enabled,
            trusted,
            exempt,
            trust_forwarded: config.trust_forwarded,
        })
    }

    /// A guard that lets every request through: the switch an adapter takes when something
    /// else (a CSRF token on every form) protects the writes. The same as
    /// `[cross_origin] enabled = false` in the configuration.
    pub fn disabled() -> Self {
        CrossOriginGuard {
            enabled: false,
            ..CrossOriginGuard::default()
        }
    }

    /// Whether this guard refuses anything (`false` for [`disabled`](Self::disabled)).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether a request with this method must be checked: the guard is on and the method is not
    /// `GET`, `HEAD` or `OPTIONS`. Adapters read the headers only when it is.
    #[inline]
    pub fn needs_check(&self, method: &str) -> bool {
        self.enabled && !matches!(method, "GET" | "HEAD" | "OPTIONS")
    }

    /// Judges a request from its method, its path and a lookup of its headers by lower-case
    /// name, as [`check`](Self::check) does, and logs a refusal. `authority` is the URI's
    /// authority, which stands for the host when there is no `Host` header (HTTP/2 carries the
    /// host there). A safe method reads no header. Each adapter calls this with its framework's
    /// header map, so all of them read the same headers.
    pub fn check_headers<'a>(
        &self,
        method: &str,
        path: &str,
        authority: Option<&'a [u8]>,
        header: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Result<(), CrossOriginRefused> {
        if !self.needs_check(method) {
            return Ok(());
        }
        let request = CrossOriginRequest {
            method,
            path,
            host: header("host").or(authority),
            origin: header("origin"),
            sec_fetch_site: header("sec-fetch-site"),
            forwarded_host: header("x-forwarded-host"),
            forwarded_proto: header("x-forwarded-proto"),
        };
        self.check(&request).inspect_err(|refused| {
            tracing::info!(reason = %refused, method, path, "refused a cross-origin write");
        })
    }

    /// Judges `request` as the [type docs](Self) say.
    pub fn check(&self, request: &CrossOriginRequest<'_>) -> Result<(), CrossOriginRefused> {
        if !self.needs_check(request.method) {
            return Ok(());
        }
        let verdict = match request.sec_fetch_site {
            Some(b"same-origin") | Some(b"none") => return Ok(()),
            Some(_) => Err(CrossOriginRefused::FetchSite),
            None => match request.origin {
                None => return Ok(()),
                Some(origin) if self.is_own_origin(origin, request) => return Ok(()),
                Some(_) => Err(CrossOriginRefused::Origin),
            },
        };
        if self.is_exempt(request) {
            return Ok(());
        }
        verdict
    }

    fn is_exempt(&self, request: &CrossOriginRequest<'_>) -> bool {
        let path_exempt = self.exempt.iter().any(|rule| rule.matches(request.path));
        path_exempt
            || request.origin.is_some_and(|origin| {
                parse_origin(origin).is_some_and(|parsed| self.trusted.iter().any(|t| parsed.is(t)))
            })
    }

    fn is_own_origin(&self, origin: &[u8], request: &CrossOriginRequest<'_>) -> bool {
        let Some(origin) = parse_origin(origin) else {
            return false; // `null`, or not an origin at all
        };
        let forwarded = self
            .trust_forwarded
            .then_some(request.forwarded_host)
            .flatten();
        let Some(host) = forwarded.or(request.host) else {
            return false;
        };
        // A proxy may list several hosts or schemes; the first is the client's.
        let host = first_listed(host);
        if self.trust_forwarded {
            if let Some(proto) = request.forwarded_proto {
                if !first_listed(proto).eq_ignore_ascii_case(origin.scheme.as_bytes()) {
                    return false;
                }
            }
        }
        origin.has_host(host)
    }
}

fn first_listed(value: &[u8]) -> &[u8] {
    let first = value.split(|&b| b == b',').next().unwrap_or(value);
    first.trim_ascii()
}

/// An `Origin` value taken apart: `scheme://host[:port]`.
#[derive(Debug, PartialEq, Eq)]
struct ParsedOrigin<'a> {
    scheme: &'a str,
    /// Lower-cased only when compared.
    host: &'a str,
    /// `None` when absent or the scheme's default.
    port: Option<&'a str>,
}

fn parse_origin(value: &[u8]) -> Option<ParsedOrigin<'_>> {
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, authority) = text.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !scheme_ok || !authority_ok {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    };
    let port = port.filter(|port| Some(*port) != default_port);
    Some(ParsedOrigin { scheme, host, port })
}

/// `host[:port]`, with IPv6 literals in brackets; `None` for an empty host or a bad port.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority, None),
    };
    if host.is_empty()
        || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((host, port))
}

impl ParsedOrigin<'_> {
    fn normalized(&self) -> String {
        let mut text = format!("{}://{}", self.scheme, self.host).to_ascii_lowercase();
        if let Some(port) = self.port {
            text.push(':');
            text.push_str(port);
        }
        text
    }

    /// Whether this is the trusted origin `normalized` (see [`normalized`](Self::normalized)).
    fn is(&self, normalized: &str) -> bool {
        let Some(rest) = strip_prefix_ignore_case(normalized, self.scheme) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix("://") else {
            return false;
        };
        let Some(rest) = strip_prefix_ignore_case(rest, self.host) else {
            return false;
        };
        match self.port {
            None => rest.is_empty(),
            Some(port) => rest.strip_prefix(':') == Some(port),
        }
    }

    /// Whether `host` (a `Host` header: `host[:port]`) names this origin's host and port. `Host`
    /// carries no scheme, so its port is compared with this origin's, defaults left out on both
    /// sides.
    fn has_host(&self, host: &[u8]) -> bool {
        let Some((name, port)) = std::str::from_utf8(host).ok().and_then(split_host_port) else {
            return false;
        };
        let default_port = match self.scheme.to_ascii_lowercase().as_str() {
            "http" => Some("80"),
            "https" => Some("443"),
            _ => None,
        };
        let port = port.filter(|port| Some(*port) != default_port);
        name.eq_ignore_ascii_case(self.host) && port == self.port
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(config: CrossOriginConfig) -> CrossOriginGuard {
        CrossOriginGuard::new(&config).unwrap()
    }

    fn post<'a>(host: &'a str) -> CrossOriginRequest<'a> {
        CrossOriginRequest {
            method: "POST",
            path: "/login",
            host: Some(host.as_bytes()),
            ..CrossOriginRequest::default()
        }
    }

    #[test]
    fn safe_methods_pass_whatever_the_headers_say() {
        let guard = CrossOriginGuard::default();
        for method in ["GET", "HEAD", "OPTIONS"] {
            let request = CrossOriginRequest {
                method,
                sec_fetch_site: Some(b"cross-site"),
                origin: Some(b"https://evil.example"),
                ..post("app.example")
            };
            assert!(!guard.needs_check(method));
            assert_eq!(guard.check(&request), Ok(()), "{method}");
        }
        for method in ["POST", "PUT", "PATCH", "DELETE", "TRACE", "post"] {
            assert!(guard.needs_check(method), "{method}");
        }
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        let guard = CrossOriginGuard::default();
        for (site, expected) in [
            (&b"same-origin"[..], Ok(())),
            (b"none", Ok(())),
            (b"cross-site", Err(CrossOriginRefused::FetchSite)),
            (b"same-site", Err(CrossOriginRefused::FetchSite)),
            (b"bogus", Err(CrossOriginRefused::FetchSite)),
        ] {
            // A matching Origin does not rescue a cross-site fetch, nor a foreign one sink a
            // same-origin fetch: the browser's own verdict wins.
            let request = CrossOriginRequest {
                sec_fetch_site: Some(site),
                origin: Some(b"https://app.example"),
                ..post("app.example")
            };
            assert_eq!(
                guard.check(&request),
                expected,
                "{}",
                String::from_utf8_lossy(site)
            );
        }
        let same_origin_fetch = CrossOriginRequest {
            sec_fetch_site: Some(b"same-origin"),
            origin: Some(b"https://evil.example"),
            ..post("app.example")
        };
        assert_eq!(guard.check(&same_origin_fetch), Ok(()));
    }

    /// Asserts that the default guard answers `expected` to a POST to each `(origin, host)` of
    /// `cases` that says its `Origin` and no `Sec-Fetch-Site`.
    fn assert_origins(cases: &[(&[u8], &str)], expected: Result<(), CrossOriginRefused>) {
        let guard = CrossOriginGuard::default();
        for &(origin, host) in cases {
            let request = CrossOriginRequest {
                origin: Some(origin),
                ..post(host)
            };
            let label = String::from_utf8_lossy(origin);
            assert_eq!(guard.check(&request), expected, "{label} on {host}");
        }
    }

    #[test]
    fn without_sec_fetch_site_the_origin_must_be_the_hosts() {
        assert_origins(
            &[
                (b"https://app.example", "app.example"),
                (b"http://app.example", "app.example"),
                (b"https://APP.example", "app.EXAMPLE"),
                (b"https://app.example:443", "app.example"),
                (b"https://app.example", "app.example:443"),
                (b"http://127.0.0.1:3000", "127.0.0.1:3000"),
                (b"http://[::1]:3000", "[::1]:3000"),
            ],
            Ok(()),
        );
        assert_origins(
            &[
                // Another port of the same host is another origin (and the same site).
                (b"http://127.0.0.1:4000", "127.0.0.1:3000"),
                (b"http://127.0.0.1", "127.0.0.1:3000"),
                (b"https://evil.example", "app.example"),
                (b"https://app.example.evil", "app.example"),
                (b"null", "app.example"),
                (b"", "app.example"),
                (b"https://", "app.example"),
                (b"https://app.example/path", "app.example"),
                (b"https://app.example:x", "app.example"),
                (b"https://caf\xe9", "app.example"),
            ],
            Err(CrossOriginRefused::Origin),
        );
        let no_host = CrossOriginRequest {
            host: None,
            origin: Some(b"https://app.example"),
            ..post("app.example")
        };
        assert_eq!(
            CrossOriginGuard::default().check(&no_host),
            Err(CrossOriginRefused::Origin)
        );
    }

    #[test]
    fn a_request_with_neither_header_passes() {
        let guard = CrossOriginGuard::default();
        assert_eq!(guard.check(&post("app.example")), Ok(()));
        let no_host = CrossOriginRequest {
            host: None,
            ..post("app.example")
        };
        assert_eq!(guard.check(&no_host), Ok(()));
    }

    #[test]
    fn trusted_origins_pass_whatever_the_headers_say() {
        let guard = guard(CrossOriginConfig {
            trusted_origins: vec![
                "https://Partner.example/".into(),
                "http://localhost:8080".into(),
            ],
            ..CrossOriginConfig::default()
        });
        for (origin, site, expected) in [
            (
                &b"https://partner.example"[..],
                Some(&b"cross-site"[..]),
                Ok(()),
            ),
            (b"https://partner.example:443", Some(b"same-site"), Ok(())),
            (b"https://partner.example", None, Ok(())),
            (b"http://localhost:8080", Some(b"same-site"), Ok(())),
            (
                b"http://partner.example",
                Some(b"cross-site"),
                Err(CrossOriginRefused::FetchSite),
            ),
            (
                b"http://localhost:8081",
                None,
                Err(CrossOriginRefused::Origin),
            ),
            (
                b"https://partner.example.evil",
                None,
                Err(CrossOriginRefused::Origin),
            ),
        ] {
            let request = CrossOriginRequest {
                origin: Some(origin),
                sec_fetch_site: site,
                ..post("app.example")
            };
            let label = String::from_utf8_lossy(origin);
            assert_eq!(guard.check(&request), expected, "{label}");
        }
    }

    #[test]
    fn exempt_paths_pass_exactly_or_by_prefix() {
        let guard = guard(CrossOriginConfig {
            exempt_paths: vec!["/auth/callback".into(), "/hooks/*".into()],
            ..CrossOriginConfig::default()
        });
        for (path, expected) in [
            ("/auth/callback", Ok(())),
            ("/hooks/", Ok(())),
            ("/hooks/stripe", Ok(())),
            ("/auth/callback/x", Err(CrossOriginRefused::FetchSite)),
            ("/hooks", Err(CrossOriginRefused::FetchSite)),
            ("/login", Err(CrossOriginRefused::FetchSite)),
        ] {
            let request = CrossOriginRequest {
                path,
                sec_fetch_site: Some(b"cross-site"),
                ..post("app.example")
            };
            assert_eq!(guard.check(&request), expected, "{path}");
        }
    }

    #[test]
    fn forwarded_headers_count_only_when_trusted() {
        let behind_proxy = CrossOriginRequest {
            origin: Some(b"https://app.example"),
            forwarded_host: Some(b"app.example, proxy.internal"),
            forwarded_proto: Some(b"https"),
            ..post("backend:8080")
        };
        assert_eq!(
            CrossOriginGuard::default().check(&behind_proxy),
            Err(CrossOriginRefused::Origin),
            "X-Forwarded-Host is a client's word unless configured"
        );
        let trusting = guard(CrossOriginConfig {
            trust_forwarded: true,
            ..CrossOriginConfig::default()
        });
        assert_eq!(trusting.check(&behind_proxy), Ok(()));
        let other_scheme = CrossOriginRequest {
            origin: Some(b"http://app.example"),
            ..behind_proxy
        };
        assert_eq!(
            trusting.check(&other_scheme),
            Err(CrossOriginRefused::Origin)
        );
        let no_forwarded_host = CrossOriginRequest {
            forwarded_host: None,
            ..behind_proxy
        };
        assert_eq!(
            trusting.check(&no_forwarded_host),
            Err(CrossOriginRefused::Origin),
            "falls back to Host"
        );
    }

    #[test]
    fn disabled_passes_everything() {
        let guard = guard(CrossOriginConfig {
            enabled: false,
            ..CrossOriginConfig::default()
        });
        assert!(!guard.needs_check("POST"));
        let request = CrossOriginRequest {
            sec_fetch_site: Some(b"cross-site"),
            ..post("app.example")
        };
        assert_eq!(guard.check(&request), Ok(()));
    }

    /// A trusted origin must be `scheme://host[:port]`: no path, no empty host, a port of digits.
    #[test]
    fn bad_configuration_is_refused_with_the_field_named() {
        for origin in [
            "partner.example",
            "https://partner.example/path",
            "*",
            "null",
            "https://",
            "https://partner.example:",
            "https://partner.example:x",
            "https://partner.example:44x",
            "https://:8080",
        ] {
            let error = CrossOriginGuard::new(&CrossOriginConfig {
                trusted_origins: vec![origin.into()],
                ..CrossOriginConfig::default()
            })
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("trusted_origins") && error.contains(origin),
                "{error}"
            );
        }
        let error = CrossOriginGuard::new(&CrossOriginConfig {
            exempt_paths: vec!["auth/callback".into()],
            ..CrossOriginConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("exempt_paths") && error.contains("start with `/`"),
            "{error}"
        );
    }

    #[test]
    fn the_configuration_reads_from_toml_with_defaults() {
        let config: CrossOriginConfig =
            toml::from_str("trusted_origins = [\"https://a.example\"]").unwrap();
        assert!(config.enabled && !config.trust_forwarded && config.exempt_paths.is_empty());
        assert_eq!(config.trusted_origins, ["https://a.example"]);
        assert!(toml::from_str::<CrossOriginConfig>("trusted = []").is_err());
    }

    #[test]
    fn the_refusal_says_what_to_do_and_answers_403() {
        assert_eq!(CrossOriginRefused::STATUS, 403);
        assert_eq!(CrossOriginRefused::Origin.body(), CROSS_ORIGIN_BODY);
        assert!(CrossOriginRefused::FetchSite
            .to_string()
            .contains("trusted_origins"));
        assert!(CrossOriginRefused::Origin
            .to_string()
            .contains("trust_forwarded"));
    }

    #[test]
    fn default_ports_and_bracketed_hosts_compare_as_the_same_origin() {
        assert_origins(
            &[
                (b"http://app.example:80", "app.example"),
                (b"http://app.example", "app.example:80"),
                (b"http://[::1]", "[::1]"),
                (b"http://[::1]", "[::1]:80"),
            ],
            Ok(()),
        );
        // 443 is the default of https only, 80 of http only.
        assert_origins(
            &[
                (b"http://app.example:443", "app.example"),
                (b"https://app.example", "app.example:80"),
            ],
            Err(CrossOriginRefused::Origin),
        );
    }

    #[test]
    fn an_origin_whose_scheme_is_empty_or_not_a_scheme_is_refused() {
        assert_origins(
            &[
                (b"://app.example", "app.example"),
                (b"ht_tp://app.example", "app.example"),
                (b"h t://app.example", "app.example"),
            ],
            Err(CrossOriginRefused::Origin),
        );
    }
}
