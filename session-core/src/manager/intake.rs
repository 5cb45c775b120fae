//! Intake: a request's `Cookie` headers and session headers in, each session's candidate values
//! out, chunks reassembled.
//!
//! Cookies are scanned as bytes, one `name=value` pair at a time: a pair that is not UTF-8 or
//! has no `=` (a sibling application's `legacy=caf\xe9`) is skipped alone, never the header
//! around it. RFC 6265's quoted values are unquoted. When a name comes more than once (a junk
//! `app_session` from another path or domain before the real one), every value is kept in order,
//! and opening tries each until one opens.

use std::borrow::Cow;

use super::request::RequestSlot;
use super::ConfiguredSession;
use crate::config::Transport;

/// The most distinct values of one cookie name (or one chunk name) a request may offer; the rest
/// are ignored, so a header of thousands of duplicates costs no more than a few verifications.
pub(super) const MAX_CANDIDATES: usize = 8;

/// The most candidate values opened for one session in one request (each a verification, and
/// for a server-side session whose signature verifies, one store lookup); past it the session
/// is new and empty.
pub(super) const MAX_ATTEMPTS: usize = 16;

/// Fills each configured session's slot with the values the request offers for it: its session
/// header, or its cookie and the cookie's chunks. `configured` and `slots` are in the same order.
pub(super) fn scan<'a, 'b, F>(
    configured: &[ConfiguredSession],
    slots: &mut [RequestSlot],
    cookie_headers: impl Iterator<Item = &'b [u8]>,
    header: F,
) where
    F: Fn(&str) -> Option<&'a str>,
{
    let mut any_cookie_session = false;
    for (session, slot) in configured.iter().zip(slots.iter_mut()) {
        match session.transport {
            Transport::Header(_) => {
                if let Some(value) = header(&session.header_name).filter(|v| !v.is_empty()) {
                    slot.incoming.offer(0, value);
                }
            }
            Transport::Cookie(_) => any_cookie_session = true,
        }
    }
    if !any_cookie_session {
        return;
    }
    for cookie_header in cookie_headers {
        for (name, value) in cookie_pairs(cookie_header) {
            // A sibling cookie's value is never looked at, only a session's.
            let Some((index, chunk)) = std::str::from_utf8(name)
                .ok()
                .and_then(|name| session_chunk(configured, name))
            else {
                continue;
            };
            if let Ok(value) = std::str::from_utf8(value) {
                slots[index].incoming.offer(chunk, value);
            }
        }
    }
}

/// Which configured cookie session (its index) and which chunk of its value a cookie name is.
fn session_chunk(configured: &[ConfiguredSession], cookie_name: &str) -> Option<(usize, usize)> {
    configured.iter().enumerate().find_map(|(index, session)| {
        if !matches!(session.transport, Transport::Cookie(_)) {
            return None;
        }
        let base: &str = &session.header_name;
        let rest = cookie_name.strip_prefix(base)?;
        if rest.is_empty() {
            return Some((index, 0));
        }
        // Only the names this library writes (`name.1` ... `name.7`): `name.01` or
        // `name.+1` would be taken for chunk 1 but never expired as one.
        let digits = rest.strip_prefix('.')?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let chunk: usize = digits.parse().ok()?;
        (1..session.max_chunks)
            .contains(&chunk)
            .then_some((index, chunk))
    })
}

/// The `name=value` pairs of one `Cookie` header value, as bytes: split at `;`, trimmed of
/// spaces and tabs, pairs without `=` or with an empty name skipped, one pair of surrounding
/// double quotes removed from the value. The separators are found with a vectorized search: a
/// sealed session value is hundreds of bytes long.
pub(super) fn cookie_pairs(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = Some(header);
    std::iter::from_fn(move || loop {
        let remaining = rest?;
        let pair = match memchr::memchr(b';', remaining) {
            Some(end) => {
                rest = Some(&remaining[end + 1..]);
                &remaining[..end]
            }
            None => {
                rest = None;
                remaining
            }
        };
        if let Some(found) = split_pair(pair) {
            return Some(found);
        }
    })
}

fn split_pair(pair: &[u8]) -> Option<(&[u8], &[u8])> {
    let pair = trim(pair);
    let split = memchr::memchr(b'=', pair)?;
    let (name, value) = (trim(&pair[..split]), trim(&pair[split + 1..]));
    if name.is_empty() {
        return None;
    }
    let value = match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    Some((name, value))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |last| last + 1);
    &bytes[start..end.max(start)]
}

/// A list that holds one item inline: a request offers one value per session, and a manager
/// has one session, almost always; then neither allocates a list.
#[derive(Default)]
pub(super) enum Few<T> {
    #[default]
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> Few<T> {
    pub(super) fn push(&mut self, item: T) {
        *self = match std::mem::take(self) {
            Few::Empty => Few::One(item),
            Few::One(first) => Few::Many(vec![first, item]),
            Few::Many(mut items) => {
                items.push(item);
                Few::Many(items)
            }
        };
    }
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Few::Empty => &[],
            Few::One(item) => std::slice::from_ref(item),
            Few::Many(items) => items,
        }
    }
}

impl<T> std::ops::DerefMut for Few<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Few::Empty => &mut [],
            Few::One(item) => std::slice::from_mut(item),
            Few::Many(items) => items,
        }
    }
}

/// The parts of one session's value seen in a request.
#[derive(Default)]
pub(super) struct Incoming {
    /// Chunk 0 (the whole value unless it was split): every distinct value offered, in order.
    first: Few<String>,
    /// Chunks 1, 2, ...: every distinct value offered for each, in order; empty where one is
    /// missing, and no entries at all unless the request sent a chunk.
    rest: Vec<Few<String>>,
}

impl Incoming {
    /// Keeps `value` as a candidate for `chunk`, unless it is a repeat or the chunk already
    /// holds [`MAX_CANDIDATES`] values.
    pub(super) fn offer(&mut self, chunk: usize, value: &str) {
        let values = match chunk.checked_sub(1) {
            None => &mut self.first,
            Some(index) => {
                if self.rest.len() <= index {
                    self.rest.resize_with(index + 1, Few::default);
                }
                &mut self.rest[index]
            }
        };
        // A value offered twice would be opened (and looked up) twice for nothing.
        if values.len() < MAX_CANDIDATES && !values.iter().any(|kept| kept == value) {
            values.push(value.to_string());
        }
    }

    /// The values to try, in order, at most [`MAX_ATTEMPTS`] of them, none twice: for each
    /// offered chunk 0, joined with every combination of the consecutive chunks from 1 (the
    /// longest first), down to chunk 0 alone, so that a stray chunk cookie beside a value
    /// (before it, among its chunks, or after its last) never hides it.
    pub(super) fn candidates(&self) -> Candidates<'_> {
        if self.rest.is_empty() {
            // The usual case: no chunk cookie, no allocation.
            return Candidates::Whole(self.first.iter());
        }
        let consecutive = self
            .rest
            .iter()
            .take_while(|values| !values.is_empty())
            .count();
        let mut joined: Vec<String> = Vec::new();
        'firsts: for first in self.first.iter() {
            for used in (0..=consecutive).rev() {
                let chunks = &self.rest[..used];
                // An odometer over the chunks' candidates.
                let mut choice = vec![0usize; used];
                loop {
                    let mut value = first.clone();
                    for (values, &index) in chunks.iter().zip(&choice) {
                        value.push_str(&values[index]);
                    }
                    if !joined.contains(&value) {
                        joined.push(value);
                        if joined.len() == MAX_ATTEMPTS {
                            break 'firsts;
                        }
                    }
                    if !advance(&mut choice, chunks) {
                        break;
                    }
                }
            }
        }
        Candidates::Joined(joined.into_iter())
    }

    /// One past the highest chunk index the client holds (so every stale chunk, even one after
    /// a gap, can be expired).
    pub(super) fn chunks_held(&self) -> usize {
        if self.rest.is_empty() {
            usize::from(!self.first.is_empty())
        } else {
            self.rest.len() + 1
        }
    }

    pub(super) fn is_present(&self) -> bool {
        !self.first.is_empty()
    }
}

/// Turns the odometer `choice` (one index into each of `chunks`) to the next combination;
/// `false` once every one was given.
fn advance(choice: &mut [usize], chunks: &[Few<String>]) -> bool {
    for (index, values) in choice.iter_mut().zip(chunks) {
        *index += 1;
        if *index < values.len() {
            return true;
        }
        *index = 0;
    }
    false
}

/// The values [`Incoming::candidates`] gives, borrowed when no chunk was sent.
pub(super) enum Candidates<'a> {
    Whole(std::slice::Iter<'a, String>),
    Joined(std::vec::IntoIter<String>),
}

impl<'a> Iterator for Candidates<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Candidates::Whole(values) => values.next().map(|value| Cow::Borrowed(value.as_str())),
            Candidates::Joined(values) => values.next().map(Cow::Owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(header: &[u8]) -> Vec<(String, String)> {
        cookie_pairs(header)
            .map(|(name, value)| {
                (
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn pairs_are_split_trimmed_and_unquoted() {
        assert_eq!(
            pairs(b" a=1;b = 2 ;\tc=\"quoted\"; d=; =e; novalue; f=\"half"),
            [
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("c".into(), "quoted".into()),
                ("d".into(), "".into()),
                ("f".into(), "\"half".into()),
            ]
        );
    }

    #[test]
    fn empty_pairs_and_trailing_separators_are_skipped() {
        assert!(pairs(b"").is_empty());
        assert!(pairs(b";; ;").is_empty());
        assert_eq!(
            pairs(b";;a=1;;b=x=y;"),
            [("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
    }

    #[test]
    fn a_pair_that_is_not_utf8_does_not_hide_its_neighbours() {
        let header = b"legacy=caf\xe9; app_session=abc";
        let found: Vec<_> = cookie_pairs(header)
            .filter_map(|(name, value)| {
                Some((
                    std::str::from_utf8(name).ok()?,
                    std::str::from_utf8(value).ok()?,
                ))
            })
            .collect();
        assert_eq!(found, [("app_session", "abc")]);
    }

    #[test]
    fn duplicates_are_all_candidates_in_order_up_to_the_bound() {
        let mut incoming = Incoming::default();
        for n in 0..20 {
            incoming.offer(0, &n.to_string());
        }
        let candidates: Vec<_> = incoming.candidates().map(Cow::into_owned).collect();
        assert_eq!(candidates.len(), MAX_CANDIDATES);
        assert_eq!(candidates[0], "0");
        assert_eq!(candidates[1], "1");
    }

    #[test]
    fn chunks_join_behind_each_candidate() {
        let mut incoming = Incoming::default();
        incoming.offer(0, "a");
        incoming.offer(2, "c");
        incoming.offer(1, "b");
        incoming.offer(1, "other");
        incoming.offer(0, "x");
        incoming.offer(0, "a");
        let candidates: Vec<_> = incoming.candidates().map(Cow::into_owned).collect();
        assert_eq!(
            candidates,
            ["abc", "aotherc", "ab", "aother", "a", "xbc", "xotherc", "xb", "xother", "x"]
        );
        assert_eq!(incoming.chunks_held(), 3);
    }

    /// A manager with a header session `api` (header `x-api`) and a cookie session `app` (cookie
    /// `app`, up to four chunks).
    fn manager() -> super::super::SessionManager {
        use crate::config::{CookieConfig, HeaderConfig, SessionConfig, StoreConfig};
        use crate::expiry::ExpiryPolicy;
        use crate::keys::{Key, KeyRing};
        use crate::registry::{Backend, CookieStoreOptions};
        use crate::seal::Protection;
        let config = |transport| SessionConfig {
            transport,
            store: StoreConfig::new("cookie"),
            expiry: ExpiryPolicy::default(),
            protection: Protection::Encrypted,
            max_bytes: None,
            owners: Default::default(),
        };
        let backend = || Backend::ClientSide(CookieStoreOptions { max_chunks: 4 });
        let key = Key::from_secret(&[1; 32]).unwrap();
        super::super::SessionManager::builder(KeyRing::new(key))
            .session(
                "api",
                config(Transport::Header(HeaderConfig {
                    name: "X-Api".into(),
                })),
                backend(),
            )
            .session(
                "app",
                config(Transport::Cookie(CookieConfig::new("app"))),
                backend(),
            )
            .default("app")
            .build()
            .unwrap()
    }

    /// Scans one request for `manager`'s sessions; the candidates of `api` and of `app`.
    fn scanned(
        manager: &super::super::SessionManager,
        cookie_headers: &[&str],
        header: Option<&'static str>,
    ) -> [Vec<String>; 2] {
        let configured = &manager.inner.sessions;
        let mut slots: Vec<RequestSlot> =
            configured.iter().map(|_| RequestSlot::default()).collect();
        scan(
            configured,
            &mut slots,
            cookie_headers.iter().map(|h| h.as_bytes()),
            |name| (name == "x-api").then_some(header).flatten(),
        );
        ["api", "app"].map(|name| {
            let index = configured.iter().position(|s| s.name == name).unwrap();
            slots[index]
                .incoming
                .candidates()
                .map(Cow::into_owned)
                .collect()
        })
    }

    #[test]
    fn each_session_takes_only_its_own_header_cookie_and_chunk_names() {
        let manager = manager();
        let [api, app] = scanned(
            &manager,
            &[
                "x-api=from-cookie; app=a; app.1=b; other=o; app.01=z; app.+1=z; app.1x=z; app.4=z; appx=z",
                "app=a2; app.=z; app.2=c",
            ],
            Some("from-header"),
        );
        // The header session reads its header, never a cookie of its header's name; the cookie
        // session reads `app` and `app.1` to `app.3`, never `app.01`, `app.+1`, `app.4`, `appx`.
        assert_eq!(api, ["from-header"]);
        assert_eq!(app, ["abc", "ab", "a", "a2bc", "a2b", "a2"]);
    }

    #[test]
    fn an_empty_session_header_or_no_cookie_offers_nothing() {
        let manager = manager();
        let [api, app] = scanned(&manager, &[], Some(""));
        assert!(api.is_empty() && app.is_empty());
        let [api, app] = scanned(&manager, &["other=1"], None);
        assert!(api.is_empty() && app.is_empty());
    }

    #[test]
    fn chunks_held_counts_a_lone_value_and_nothing() {
        let mut incoming = Incoming::default();
        assert_eq!(incoming.chunks_held(), 0);
        assert!(!incoming.is_present());
        incoming.offer(0, "a");
        assert_eq!(incoming.chunks_held(), 1);
        assert!(incoming.is_present());
        // A stray chunk alone: nothing to open, but the chunk is held and must be expired.
        let mut stray = Incoming::default();
        stray.offer(2, "c");
        assert!(!stray.is_present());
        assert_eq!(stray.chunks_held(), 3);
        assert_eq!(stray.candidates().count(), 0);
    }
}
