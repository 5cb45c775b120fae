//! Render: the response headers of a request's sessions: the value sealed (a signed id, or the
//! whole record of a client-side session), then a session header, or `Set-Cookie` values with
//! chunking, and the removals that end a session in the client.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use cookie::Cookie;

use super::intake::Incoming;
use super::ConfiguredSession;
use crate::config::{CookieConfig, SameSite, Transport};
use crate::error::Error;
use crate::id::SessionId;
use crate::keys::KeyRing;
use crate::record::Record;
use crate::seal::{seal_id, seal_record};

/// The most bytes of a `Set-Cookie` value (name, value and attributes) browsers are required to
/// keep.
pub const COOKIE_SIZE_LIMIT: usize = 4096;

/// A `Max-Age` longer than any a session gets, for sizing cookies before they are rendered.
const LONGEST_MAX_AGE: u64 = 9_999_999_999;

/// A header the adapter adds to the response.
///
/// The values are live session credentials: `Debug` shows cookie and header names, attributes and
/// lengths, never a value. [`value`](Self::value) gives the value to send.
#[derive(Clone, PartialEq, Eq)]
pub enum ResponseHeader {
    /// A `Set-Cookie` header with this value.
    SetCookie(String),
    /// A session header (header transport). An empty value means the session ended.
    Header {
        /// The header name (lowercase).
        name: Arc<str>,
        /// The sealed value, or empty.
        value: String,
    },
}

impl ResponseHeader {
    /// The header name.
    pub fn name(&self) -> &str {
        match self {
            ResponseHeader::SetCookie(_) => "set-cookie",
            ResponseHeader::Header { name, .. } => name,
        }
    }

    /// The header value.
    pub fn value(&self) -> &str {
        match self {
            ResponseHeader::SetCookie(value) | ResponseHeader::Header { value, .. } => value,
        }
    }

    /// The header value, owned: adapters hand it to their framework's header type without a copy.
    pub fn into_value(self) -> String {
        match self {
            ResponseHeader::SetCookie(value) | ResponseHeader::Header { value, .. } => value,
        }
    }
}

impl fmt::Debug for ResponseHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseHeader::SetCookie(text) => {
                let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                f.debug_tuple("SetCookie")
                    .field(&format_args!(
                        "{name}=<{} bytes>{}{attributes}",
                        value.len(),
                        if attributes.is_empty() { "" } else { ";" }
                    ))
                    .finish()
            }
            ResponseHeader::Header { name, value } => f
                .debug_struct("Header")
                .field("name", name)
                .field("value", &format_args!("<{} bytes>", value.len()))
                .finish(),
        }
    }
}

/// The longest sealed value a session can send over `transport` in `max_chunks` cookies: what
/// fits its cookies (all chunks), or for a header, the most
/// [`open_record`](crate::seal::open_record) reads.
pub(super) fn sealed_capacity(transport: &Transport, max_chunks: usize) -> usize {
    let Transport::Cookie(cookie) = transport else {
        return crate::seal::MAX_SEALED_LEN;
    };
    let longest_name = chunk_name(&cookie.name, max_chunks.saturating_sub(1));
    let overhead = render_cookie(cookie, &longest_name, "", Some(LONGEST_MAX_AGE)).len();
    COOKIE_SIZE_LIMIT.saturating_sub(overhead) * max_chunks.max(1)
}

/// Adds the headers that send server-side session `config`'s signed `id`.
pub(super) fn emit_signed_id(
    config: &ConfiguredSession,
    keys: &KeyRing,
    id: &SessionId,
    max_age: Option<u64>,
    headers: &mut Vec<ResponseHeader>,
) -> Result<(), Error> {
    let value = seal_id(keys, &config.name, id)?;
    emit_value(config, value, max_age, headers)
}

/// Adds the headers that send client-side session `config`'s `record`, sealed.
pub(super) fn emit_sealed_record(
    config: &ConfiguredSession,
    keys: &KeyRing,
    record: &Record,
    max_age: Option<u64>,
    headers: &mut Vec<ResponseHeader>,
) -> Result<(), Error> {
    let value = seal_record(keys, config.protection, &config.name, record)?;
    emit_value(config, value, max_age, headers)
}

/// Adds the headers that send `value` as session `config`'s value: a session header, one
/// cookie, or as many chunks as it needs, with every other chunk name the session may use
/// expired (an overlapping response may have left one in the browser).
fn emit_value(
    config: &ConfiguredSession,
    value: String,
    max_age: Option<u64>,
    headers: &mut Vec<ResponseHeader>,
) -> Result<(), Error> {
    let cookie = match &config.transport {
        Transport::Header(_) => {
            headers.push(ResponseHeader::Header {
                name: Arc::clone(&config.header_name),
                value,
            });
            return Ok(());
        }
        Transport::Cookie(cookie) => cookie,
    };
    let whole = render_cookie(cookie, &cookie.name, &value, max_age);
    if whole.len() <= COOKIE_SIZE_LIMIT {
        headers.push(ResponseHeader::SetCookie(whole));
        expire_chunks(cookie, 1..config.max_chunks, headers);
        return Ok(());
    }
    let too_large = || Error::CookieTooLarge {
        name: config.name.clone(),
        size: whole.len(),
        limit: COOKIE_SIZE_LIMIT,
    };
    if config.max_chunks <= 1 {
        return Err(too_large());
    }
    let longest_name = chunk_name(&cookie.name, config.max_chunks - 1);
    let overhead = render_cookie(cookie, &longest_name, "", max_age).len();
    let room = COOKIE_SIZE_LIMIT.saturating_sub(overhead);
    if room == 0 || value.len().div_ceil(room) > config.max_chunks {
        return Err(too_large());
    }
    // The sealed value is base64url (ASCII), so any byte offset is a character boundary.
    let pieces: Vec<&str> = (0..value.len())
        .step_by(room)
        .map(|start| &value[start..(start + room).min(value.len())])
        .collect();
    for (index, piece) in pieces.iter().enumerate() {
        headers.push(ResponseHeader::SetCookie(render_cookie(
            cookie,
            &chunk_name(&cookie.name, index),
            piece,
            max_age,
        )));
    }
    expire_chunks(cookie, pieces.len()..config.max_chunks, headers);
    Ok(())
}

/// Adds the headers that end session `config` in the client: an empty session header, or every
/// chunk name it may use expired.
pub(super) fn emit_removal(
    config: &ConfiguredSession,
    incoming: &Incoming,
    headers: &mut Vec<ResponseHeader>,
) {
    match &config.transport {
        Transport::Header(_) => headers.push(ResponseHeader::Header {
            name: Arc::clone(&config.header_name),
            value: String::new(),
        }),
        Transport::Cookie(cookie) => expire_chunks(
            cookie,
            0..config.max_chunks.max(incoming.chunks_held()),
            headers,
        ),
    }
}

fn expire_chunks(
    cookie: &CookieConfig,
    chunks: std::ops::Range<usize>,
    headers: &mut Vec<ResponseHeader>,
) {
    for index in chunks {
        headers.push(ResponseHeader::SetCookie(removal_cookie(
            cookie,
            &chunk_name(&cookie.name, index),
        )));
    }
}

fn chunk_name(base: &str, index: usize) -> String {
    if index == 0 {
        base.to_string()
    } else {
        format!("{base}.{index}")
    }
}

fn cookie_builder<'c>(
    config: &'c CookieConfig,
    name: &'c str,
    value: &'c str,
) -> cookie::CookieBuilder<'c> {
    let same_site = match config.same_site {
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::None => cookie::SameSite::None,
    };
    let mut builder = Cookie::build((name, value))
        .path(config.path.as_str())
        .secure(config.secure)
        .http_only(config.http_only)
        .same_site(same_site);
    if let Some(domain) = &config.domain {
        builder = builder.domain(domain.as_str());
    }
    builder
}

pub(super) fn render_cookie(
    config: &CookieConfig,
    name: &str,
    value: &str,
    max_age: Option<u64>,
) -> String {
    let mut builder = cookie_builder(config, name, value);
    if let Some(seconds) = max_age {
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        builder = builder.max_age(cookie::time::Duration::seconds(seconds));
    }
    let cookie = builder.build();
    // Sized once: the value is up to 4 KiB and `to_string` would grow the buffer several times.
    let mut rendered = String::with_capacity(name.len() + value.len() + RENDERED_ATTRIBUTES_HINT);
    // Writing into a `String` cannot fail.
    let _ = write!(rendered, "{cookie}");
    rendered
}

/// Room for the attributes of a rendered `Set-Cookie` (path, domain, flags, `Max-Age`).
const RENDERED_ATTRIBUTES_HINT: usize = 128;

fn removal_cookie(config: &CookieConfig, name: &str) -> String {
    cookie_builder(config, name, "")
        .max_age(cookie::time::Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HeaderConfig, SessionConfig, StoreConfig};
    use crate::registry::{Backend, CookieStoreOptions};

    const MAX_AGE: Option<u64> = Some(86_400);

    fn client_session(transport: Transport, max_chunks: usize) -> ConfiguredSession {
        let config = SessionConfig::new(transport, StoreConfig::new("cookie"));
        ConfiguredSession::new(
            "app".into(),
            &config,
            Backend::ClientSide(CookieStoreOptions { max_chunks }),
            &Arc::new(crate::observe::Shared::new(None)),
        )
    }

    fn cookie() -> CookieConfig {
        CookieConfig::new("sid")
    }

    fn emitted(config: &ConfiguredSession, value: String) -> Result<Vec<ResponseHeader>, Error> {
        let mut headers = Vec::new();
        emit_value(config, value, MAX_AGE, &mut headers).map(|()| headers)
    }

    /// The characters of value a cookie named `name` has room for.
    fn room(name: &str) -> usize {
        COOKIE_SIZE_LIMIT - render_cookie(&cookie(), name, "", MAX_AGE).len()
    }

    #[test]
    fn a_header_names_itself_and_debug_shows_no_value() {
        let set_cookie = ResponseHeader::SetCookie("sid=SECRET; Path=/; HttpOnly".into());
        assert_eq!(set_cookie.name(), "set-cookie");
        assert_eq!(set_cookie.value(), "sid=SECRET; Path=/; HttpOnly");
        assert_eq!(
            format!("{set_cookie:?}"),
            "SetCookie(sid=<6 bytes>; Path=/; HttpOnly)"
        );
        assert_eq!(set_cookie.into_value(), "sid=SECRET; Path=/; HttpOnly");

        let header = ResponseHeader::Header {
            name: Arc::from("x-session"),
            value: "SECRET".into(),
        };
        assert_eq!((header.name(), header.value()), ("x-session", "SECRET"));
        let debug = format!("{header:?}");
        assert!(debug.contains("x-session") && debug.contains("<6 bytes>"));
        assert!(!debug.contains("SECRET"), "{debug}");
        assert_eq!(header.into_value(), "SECRET");
    }

    #[test]
    fn the_sealed_capacity_is_every_chunks_room_or_the_header_limit() {
        let header = Transport::Header(HeaderConfig {
            name: "x-session".into(),
        });
        assert_eq!(sealed_capacity(&header, 4), crate::seal::MAX_SEALED_LEN);
        let cookie_transport = Transport::Cookie(cookie());
        let room_of = |name: &str| {
            COOKIE_SIZE_LIMIT - render_cookie(&cookie(), name, "", Some(LONGEST_MAX_AGE)).len()
        };
        assert_eq!(sealed_capacity(&cookie_transport, 1), room_of("sid"));
        assert_eq!(sealed_capacity(&cookie_transport, 3), 3 * room_of("sid.2"));
    }

    #[test]
    fn a_value_that_fills_every_chunk_exactly_is_sent_and_one_more_byte_is_refused() {
        // Ten chunks: the longest name, `sid.9`, is what sizes every chunk's room.
        let config = client_session(Transport::Cookie(cookie()), 10);
        let room = room("sid.9");
        let headers = emitted(&config, "a".repeat(10 * room)).unwrap();
        assert_eq!(headers.len(), 10);
        for (index, header) in headers.iter().enumerate() {
            let ResponseHeader::SetCookie(text) = header else {
                panic!("{header:?}")
            };
            assert!(text.len() <= COOKIE_SIZE_LIMIT, "chunk {index}");
            let parsed = Cookie::parse(text.as_str()).unwrap();
            assert_eq!(parsed.name(), chunk_name("sid", index));
            assert_eq!(parsed.value().len(), room);
        }
        assert!(matches!(
            emitted(&config, "a".repeat(10 * room + 1)),
            Err(Error::CookieTooLarge {
                limit: COOKIE_SIZE_LIMIT,
                ..
            })
        ));
    }

    #[test]
    fn a_value_that_fits_one_cookie_expires_the_other_chunk_names() {
        let config = client_session(Transport::Cookie(cookie()), 3);
        let value = "a".repeat(room("sid"));
        let headers = emitted(&config, value.clone()).unwrap();
        let cookies: Vec<Cookie> = headers
            .iter()
            .map(|header| Cookie::parse(header.value().to_string()).unwrap())
            .collect();
        assert_eq!(headers[0].value().len(), COOKIE_SIZE_LIMIT);
        assert_eq!((cookies[0].name(), cookies[0].value()), ("sid", &*value));
        let expired: Vec<&str> = cookies[1..].iter().map(Cookie::name).collect();
        assert_eq!(expired, ["sid.1", "sid.2"]);
        assert!(cookies[1..].iter().all(|cookie| cookie.value().is_empty()
            && cookie.max_age() == Some(cookie::time::Duration::ZERO)));
    }

    #[test]
    fn one_cookie_too_large_is_refused_with_its_size() {
        let config = client_session(Transport::Cookie(cookie()), 1);
        let value = "a".repeat(room("sid") + 1);
        let Err(Error::CookieTooLarge { name, size, limit }) = emitted(&config, value) else {
            panic!("a value one byte over its cookie was sent")
        };
        assert_eq!(
            (name.as_str(), size, limit),
            ("app", COOKIE_SIZE_LIMIT + 1, COOKIE_SIZE_LIMIT)
        );
    }

    #[test]
    fn a_header_session_sends_its_value_and_ends_with_an_empty_one() {
        let config = client_session(
            Transport::Header(HeaderConfig {
                name: "X-Session".into(),
            }),
            1,
        );
        let headers = emitted(&config, "sealed".into()).unwrap();
        assert_eq!(
            headers,
            [ResponseHeader::Header {
                name: Arc::from("x-session"),
                value: "sealed".into()
            }]
        );
        let mut removal = Vec::new();
        emit_removal(&config, &Incoming::default(), &mut removal);
        assert_eq!(
            removal,
            [ResponseHeader::Header {
                name: Arc::from("x-session"),
                value: String::new()
            }]
        );
    }

    #[test]
    fn a_removal_expires_every_chunk_name_the_client_holds() {
        let config = client_session(Transport::Cookie(cookie()), 2);
        let mut incoming = Incoming::default();
        incoming.offer(0, "x");
        incoming.offer(3, "y");
        let mut removal = Vec::new();
        emit_removal(&config, &incoming, &mut removal);
        let names: Vec<String> = removal
            .iter()
            .map(|header| {
                Cookie::parse(header.value().to_string())
                    .unwrap()
                    .name()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["sid", "sid.1", "sid.2", "sid.3"]);
    }

    #[test]
    fn a_max_age_past_what_cookies_count_is_capped_not_wrapped() {
        let rendered = render_cookie(&cookie(), "sid", "v", Some(u64::MAX));
        let parsed = Cookie::parse(rendered).unwrap();
        assert_eq!(
            parsed.max_age().map(|age| age.whole_seconds()),
            Some(i64::MAX)
        );
    }
}
