//! Session identifiers.
//!
//! A [`SessionId`] is 256 bits from the operating system's CSPRNG, written as 43 characters of
//! unpadded base64url. Parsing is strict (exact length, URL-safe alphabet, canonical encoding), so
//! every id that reaches a store — as a file name, a Redis key or a map key — is one this library
//! could have produced: attacker-chosen bytes never get that far.
//!
//! Stores should not persist the raw id as their key: [`SessionId::storage_key`] is a SHA-256
//! digest of it, so a copy of the store (a backup, a `KEYS *`) does not hand out live session tokens.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Number of random bytes in a session id.
pub const ID_BYTES: usize = 32;
/// Length of a session id in its text form.
pub const ID_LEN: usize = 43;

/// A session identifier: 256 random bits, shown as unpadded base64url.
///
/// `Debug` shows only a short prefix, so ids do not leak whole into logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; ID_BYTES]);

impl SessionId {
    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ID_BYTES];
        OsRng.fill_bytes(&mut bytes);
        SessionId(bytes)
    }

    /// The id's raw bytes.
    pub fn as_bytes(&self) -> &[u8; ID_BYTES] {
        &self.0
    }

    /// Builds an id from raw bytes (e.g. after verifying a signed id).
    pub fn from_bytes(bytes: [u8; ID_BYTES]) -> Self {
        SessionId(bytes)
    }

    /// The key under which stores persist this session: base64url of SHA-256 of the id bytes.
    ///
    /// One-way, so reading a store's keys does not reveal the ids browsers present.
    pub fn storage_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0))
    }
}

/// Why a string is not a session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session id: expected {ID_LEN} characters of unpadded base64url")]
pub struct InvalidSessionId;

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // An early answer only: the decoder below rejects every byte outside this alphabet, and
        // only 43 characters decode to 32 bytes (longer input is refused up front for want of
        // room), so `&&` for the `||` changes no result and is an equivalent mutant.
        if s.len() != ID_LEN
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidSessionId);
        }
        let mut bytes = [0u8; ID_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut bytes) {
            Ok(ID_BYTES) => Ok(SessionId(bytes)),
            _ => Err(InvalidSessionId),
        }
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; ID_LEN];
        let written = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..written]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_string();
        write!(f, "SessionId({}…)", &text[..6])
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_through_text() {
        let id = SessionId::generate();
        let text = id.to_string();
        assert_eq!(text.len(), ID_LEN);
        assert_eq!(text.parse::<SessionId>().unwrap(), id);
        assert_ne!(SessionId::generate(), id);
    }

    #[test]
    fn hostile_strings_are_not_ids() {
        let valid = SessionId::generate().to_string();
        let hostile = [
            String::new(),
            "../../etc/passwd".to_string(),
            format!("{}/", &valid[..42]),
            format!("{}.", &valid[..42]),
            format!("{}\0", &valid[..42]),
            format!("{}=", &valid[..42]),
            format!("{valid}A"),
            valid[..42].to_string(),
            "A".repeat(10_000),
            format!("{}+", &valid[..42]),
            format!("{}é", &valid[..41]),
        ];
        for text in hostile {
            assert!(text.parse::<SessionId>().is_err(), "accepted {text:?}");
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_rejected() {
        // 43 chars encode 258 bits; the last character's low 2 bits must be zero.
        let mut text = SessionId::from_bytes([0; ID_BYTES]).to_string();
        text.pop();
        text.push('B');
        assert!(text.parse::<SessionId>().is_err());
    }

    #[test]
    fn debug_does_not_print_the_whole_id() {
        let id = SessionId::generate();
        assert!(!format!("{id:?}").contains(&id.to_string()));
    }

    #[test]
    fn storage_key_is_stable_and_not_the_id() {
        let id = SessionId::generate();
        assert_eq!(id.storage_key(), id.storage_key());
        assert_ne!(id.storage_key(), id.to_string());
    }

    #[test]
    fn storage_key_is_the_base64url_sha256_of_the_id_bytes() {
        // SHA-256 of 32 zero bytes is 66687aad…5f2925; of the bytes 0x40..=0x5f, ca2a4fe7…55fd42.
        assert_eq!(
            SessionId::from_bytes([0; ID_BYTES]).storage_key(),
            "Zmh6rfhivXdsj8GLjp-OIAiXFIVu4jOzkCpZHQ1fKSU"
        );
        let mut counting = [0u8; ID_BYTES];
        for (byte, value) in counting.iter_mut().zip(0x40..) {
            *byte = value;
        }
        assert_eq!(
            SessionId::from_bytes(counting).storage_key(),
            "yipP5yf6rs8W7NEwqG4IhcVUDAU3U0BEUHHAZXVV_UI"
        );
    }

    #[test]
    fn debug_shows_only_the_first_six_characters() {
        let id = SessionId::generate();
        let text = id.to_string();
        assert_eq!(format!("{id:?}"), format!("SessionId({}…)", &text[..6]));
    }

    #[test]
    fn ids_whose_text_holds_dash_and_underscore_parse() {
        // 0xfb 0xef 0xbe encode as `----` and 0xff bytes as `_`: the two characters of the
        // alphabet that are neither letters nor digits.
        let mut bytes = [0xff; ID_BYTES];
        bytes[..3].copy_from_slice(&[0xfb, 0xef, 0xbe]);
        let id = SessionId::from_bytes(bytes);
        let text = id.to_string();
        assert!(text.starts_with("----_"), "{text}");
        assert_eq!(text.parse::<SessionId>().unwrap(), id);
    }
}
