//! Keys and key rotation.
//!
//! A [`Key`] is made from a secret of at least 32 bytes. HKDF-SHA256 derives from it three
//! independent values: the AES-256-GCM key, the HMAC-SHA256 key and a 4-byte key id that every
//! sealed value carries, so opening picks the right key without trying each one.
//!
//! A [`KeyRing`] holds one primary key (used to seal) and any number of older keys (still accepted
//! when opening). Rotation is: put a new secret first, keep the old one after it until every
//! session sealed under it has expired or been resealed, then drop it. Values sealed under a key
//! no longer in the ring do not open.
//!
//! Key material is zeroized on drop (by the RustCrypto types) and never printed: `Debug` shows only
//! the key id.

use std::fmt;

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The shortest secret a [`Key`] accepts, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

const HKDF_SALT: &[u8] = b"session-core key derivation v1";

/// Why a key or key ring could not be built.
///
/// `Debug` prints the same message as `Display`, so that a `main` returning this error (or a
/// `Box<dyn Error>` holding it) tells the user what to do.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The environment variable [`KeyRing::from_env`] reads is not set (or not UTF-8).
    #[error("the environment variable `{0}` is not set; set it to a base64 secret of at least {MIN_SECRET_LEN} bytes, e.g. `export {0}=$(session-cli keygen)` (or `$(openssl rand -base64 32)`); to rotate keys, put the new one first and keep the older ones after it, comma-separated")]
    MissingVariable(String),
    /// The environment variable [`KeyRing::from_env`] reads is set, but empty or only
    /// whitespace: typically `export VAR=$(command)` where the command failed and printed
    /// nothing.
    #[error("the environment variable `{0}` is set but empty (if it was set from a command's output, that command printed nothing: check that it runs); set it to a base64 secret of at least {MIN_SECRET_LEN} bytes, e.g. `export {0}=$(head -c 32 /dev/urandom | base64)`")]
    EmptyVariable(String),
    /// The environment variable [`KeyRing::from_env`] reads holds an invalid key list.
    #[error("the environment variable `{variable}`: {source}")]
    InVariable {
        /// The variable.
        variable: String,
        /// What is wrong with its value.
        source: Box<KeyError>,
    },
    /// The secret is too short.
    #[error("a session key secret needs at least {MIN_SECRET_LEN} bytes, got {0}; generate one with `session-cli keygen` (or `openssl rand -base64 32`)")]
    TooShort(usize),
    /// An entry of a key list is not base64.
    #[error("session key #{0} is not valid base64; keys are comma-separated base64 secrets, primary first")]
    NotBase64(usize),
    /// The key list is empty.
    #[error("no session keys given; set at least one base64 secret of 32 bytes or more")]
    Empty,
}

impl fmt::Debug for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One sealing key: derived AES-256-GCM and HMAC-SHA256 keys plus a key id.
#[derive(Clone)]
pub struct Key {
    id: [u8; 4],
    cipher: Aes256Gcm,
    mac: Hmac<Sha256>,
}

impl Key {
    /// Derives a key from `secret`, which must be at least 32 bytes of high-entropy data.
    pub fn from_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort(secret.len()));
        }
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let mut encryption = Zeroizing::new([0u8; 32]);
        let mut signing = Zeroizing::new([0u8; 32]);
        let mut id = [0u8; 4];
        // HKDF-SHA256 can expand up to 8160 bytes, so these lengths cannot fail.
        for (info, out) in [
            (&b"aes-256-gcm"[..], &mut encryption[..]),
            (&b"hmac-sha256"[..], &mut signing[..]),
            (&b"key-id"[..], &mut id[..]),
        ] {
            hkdf.expand(info, out)
                .map_err(|_| KeyError::TooShort(secret.len()))?;
        }
        let cipher = Aes256Gcm::new_from_slice(&encryption[..])
            .map_err(|_| KeyError::TooShort(secret.len()))?;
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&signing[..])
            .map_err(|_| KeyError::TooShort(secret.len()))?;
        Ok(Key { id, cipher, mac })
    }

    /// Parses a base64 secret (standard or URL-safe alphabet, padded or not).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let secret = decode_any_base64(text.trim()).ok_or(KeyError::NotBase64(0))?;
        Key::from_secret(&secret)
    }

    /// A random key, for development and tests. Sessions sealed with it do not survive a restart.
    pub fn generate() -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut secret[..]);
        // 32 bytes always satisfies the length check.
        match Key::from_secret(&secret[..]) {
            Ok(key) => key,
            Err(_) => unreachable!("a 32-byte secret is long enough"),
        }
    }

    /// A random secret encoded as base64, suitable for a key list (e.g. `SESSION_KEYS`).
    pub fn generate_secret_base64() -> String {
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut secret[..]);
        STANDARD.encode(&secret[..])
    }

    /// The 4-byte id every value sealed with this key carries.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    pub(crate) fn cipher(&self) -> &Aes256Gcm {
        &self.cipher
    }

    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(id={:02x?}, ..)", self.id)
    }
}

fn decode_any_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(Zeroizing::new)
}

/// A primary key plus older keys still accepted when opening.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// A ring with only `primary`.
    pub fn new(primary: Key) -> Self {
        KeyRing {
            keys: vec![primary],
        }
    }

    /// Adds an older key, accepted when opening but never used to seal.
    pub fn with_old_key(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Parses a comma-separated list of base64 secrets, primary first, as an application reads
    /// it from an environment variable.
    pub fn from_base64_list(list: &str) -> Result<Self, KeyError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(index, entry)| {
                let secret = decode_any_base64(entry).ok_or(KeyError::NotBase64(index + 1))?;
                Key::from_secret(&secret)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(KeyRing { keys })
    }

    /// Reads the key list of [`from_base64_list`](Self::from_base64_list) from the environment
    /// variable `variable` (applications conventionally use `SESSION_KEYS`). The errors name the
    /// variable and say how to make a key.
    pub fn from_env(variable: &str) -> Result<Self, KeyError> {
        let in_variable = |error| KeyError::InVariable {
            variable: variable.to_string(),
            source: Box::new(error),
        };
        match std::env::var(variable) {
            Ok(list) if list.trim().is_empty() => {
                Err(KeyError::EmptyVariable(variable.to_string()))
            }
            Ok(list) => KeyRing::from_base64_list(&list).map_err(in_variable),
            Err(std::env::VarError::NotPresent) => {
                Err(KeyError::MissingVariable(variable.to_string()))
            }
            // Base64 is ASCII: a value that is not even UTF-8 is no key list.
            Err(std::env::VarError::NotUnicode(_)) => Err(in_variable(KeyError::NotBase64(1))),
        }
    }

    /// A ring with one random key, for development and tests.
    pub fn generate() -> Self {
        KeyRing::new(Key::generate())
    }

    /// The key new values are sealed with.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// The keys whose id is `id`, each with whether it is the primary.
    pub(crate) fn candidates(&self, id: [u8; 4]) -> impl Iterator<Item = (bool, &Key)> {
        self.keys
            .iter()
            .enumerate()
            .filter(move |(_, key)| key.id == id)
            .map(|(index, key)| (index == 0, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_an_error_not_a_panic() {
        assert_eq!(
            Key::from_secret(&[7; 31]).unwrap_err(),
            KeyError::TooShort(31)
        );
        assert!(Key::from_secret(&[7; 32]).is_ok());
    }

    #[test]
    fn key_id_is_derived_from_the_secret() {
        let a = Key::from_secret(&[1; 32]).unwrap();
        let b = Key::from_secret(&[1; 32]).unwrap();
        let c = Key::from_secret(&[2; 32]).unwrap();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
    }

    #[test]
    fn debug_prints_no_key_material() {
        let secret = [0xAB; 32];
        let key = Key::from_secret(&secret).unwrap();
        let printed = format!("{key:?} {:?}", KeyRing::new(key.clone()));
        assert!(!printed.to_lowercase().contains("abab"));
        assert!(printed.contains("Key(id="));
    }

    #[test]
    fn key_list_parses_primary_first() {
        let first = STANDARD.encode([1u8; 32]);
        let second = URL_SAFE_NO_PAD.encode([2u8; 40]);
        let ring = KeyRing::from_base64_list(&format!(" {first} ,{second}")).unwrap();
        assert_eq!(
            ring.primary().id(),
            Key::from_secret(&[1; 32]).unwrap().id()
        );
        assert_eq!(ring.keys.len(), 2);
    }

    #[test]
    fn key_list_errors_name_the_entry() {
        let good = STANDARD.encode([1u8; 32]);
        assert_eq!(
            KeyRing::from_base64_list(&format!("{good},not base64!")).unwrap_err(),
            KeyError::NotBase64(2)
        );
        assert_eq!(
            KeyRing::from_base64_list(&STANDARD.encode([1u8; 8])).unwrap_err(),
            KeyError::TooShort(8)
        );
        assert_eq!(
            KeyRing::from_base64_list(" , ").unwrap_err(),
            KeyError::Empty
        );
    }

    #[test]
    fn an_empty_key_variable_says_how_to_make_a_key() {
        for (variable, value) in [
            ("KEYS_TEST_EMPTY_SESSION_KEYS", ""),
            ("KEYS_TEST_BLANK_SESSION_KEYS", " \n\t"),
        ] {
            std::env::set_var(variable, value);
            let error = KeyRing::from_env(variable).unwrap_err();
            assert_eq!(error, KeyError::EmptyVariable(variable.to_string()));
            let message = error.to_string();
            assert!(
                message.contains(&format!("`{variable}` is set but empty"))
                    && message.contains("head -c 32 /dev/urandom | base64"),
                "{message}"
            );
        }
    }

    #[test]
    fn generated_secret_round_trips() {
        let secret = Key::generate_secret_base64();
        assert!(KeyRing::from_base64_list(&secret).is_ok());
    }

    #[test]
    fn key_errors_debug_as_their_message() {
        // A `main` returning the error prints it with `Debug`: it must say what to do.
        for error in [
            KeyError::TooShort(8),
            KeyError::NotBase64(2),
            KeyError::Empty,
            KeyError::MissingVariable("SESSION_KEYS".into()),
        ] {
            assert_eq!(format!("{error:?}"), error.to_string());
            assert!(!format!("{error:?}").is_empty());
        }
    }
}
