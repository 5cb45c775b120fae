//! Sealing: turning a [`Record`] or a [`SessionId`] into a tamper-proof cookie or header value.
//!
//! Three formats, told apart by their first byte (see `docs/WIRE_FORMAT.md` for the byte layout
//! and test vectors):
//!
//! - **Encrypted record** (`0x01`, [`Protection::Encrypted`], the default): AES-256-GCM with a
//!   random 96-bit nonce. The format byte, the key id and the session name are authenticated as
//!   associated data. Guarantees: nobody without the key can read the record or produce a value
//!   that opens; a value sealed for one session name does not open as another.
//! - **Signed record** (`0x02`, [`Protection::Signed`]): the record in clear, followed by an
//!   HMAC-SHA256 over format byte, key id, session name and record. Readable by the client, not
//!   changeable.
//! - **Signed id** (`0x03`): a server-side session id with the same HMAC, so forged or guessed ids
//!   are rejected before any store round trip.
//!
//! The record inside both record formats is the compact binary envelope of the `envelope` module
//! (fixed-width id and deadlines, then length-prefixed keys and raw JSON values), not JSON:
//! smaller cookies and parsing that is mostly slicing.
//!
//! Expiry is inside the sealed record, so the server enforces it whatever the browser does with
//! `Max-Age`. What sealing does not guarantee: a client can replay any value it was once given
//! until that value expires (a client-side session cannot be revoked early except by rotating
//! keys), and the length of an encrypted record is visible.
//!
//! Nonces come from the thread-local CSPRNG (`rand::thread_rng`, ChaCha seeded from the operating
//! system), which costs no system call per seal.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::Nonce;
use base64_simd::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::envelope;
use crate::id::{SessionId, ID_BYTES};
use crate::keys::{Key, KeyRing};
use crate::record::Record;

/// How a session's value is protected in its cookie or header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protection {
    /// Encrypted and authenticated (AES-256-GCM). Server-side sessions get a signed id.
    #[default]
    Encrypted,
    /// Authenticated only (HMAC-SHA256): the client can read but not change the record.
    /// Server-side sessions get a signed id.
    Signed,
}

/// Format byte of an encrypted record.
pub const FORMAT_ENCRYPTED: u8 = 0x01;
/// Format byte of a signed record.
pub const FORMAT_SIGNED: u8 = 0x02;
/// Format byte of a signed session id.
pub const FORMAT_SIGNED_ID: u8 = 0x03;

const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// Bytes of a signed id: header, id, MAC.
const SIGNED_ID_LEN: usize = HEADER_LEN + ID_BYTES + MAC_LEN;
/// Characters of a signed id in unpadded base64url.
const SIGNED_ID_TEXT_LEN: usize = (SIGNED_ID_LEN * 4).div_ceil(3);
/// The longest value (base64 text) [`open_record`] and [`open_id`] look at; longer ones are
/// rejected before decoding.
pub const MAX_SEALED_LEN: usize = 64 * 1024;

/// The length of the text [`seal_record`] gives for an envelope of `envelope_len` bytes.
pub(crate) fn sealed_text_len(protection: Protection, envelope_len: usize) -> usize {
    let sealed = HEADER_LEN
        + envelope_len
        + match protection {
            Protection::Encrypted => NONCE_LEN + GCM_TAG_LEN,
            Protection::Signed => MAC_LEN,
        };
    (sealed * 4).div_ceil(3)
}

/// Why a value could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The session name is too long to be authenticated.
    #[error("session name is longer than 65535 bytes; use a short name")]
    NameTooLong,
    /// AES-GCM refused the plaintext (only possible for absurd sizes).
    #[error("the session record is too large to encrypt")]
    Encrypt,
}

/// Why a value did not open. Every variant means "no session" to the adapters; the distinction is
/// for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Longer than [`MAX_SEALED_LEN`].
    #[error("sealed value is over {MAX_SEALED_LEN} bytes")]
    TooLarge,
    /// Not canonical unpadded base64url, or too short to hold a sealed value.
    #[error("sealed value is not well-formed (bad encoding or truncated)")]
    Malformed,
    /// The format byte is not the one this session uses.
    #[error("sealed value has format {found:#04x}, expected {expected:#04x}")]
    WrongFormat {
        /// The format byte found.
        found: u8,
        /// The format byte expected.
        expected: u8,
    },
    /// No key in the ring has the value's key id (sealed under a removed or foreign key).
    #[error("sealed value names a key that is not in the key ring (removed or foreign)")]
    UnknownKey,
    /// The tag or MAC does not verify.
    #[error("sealed value does not verify: tampered, truncated, extended, or sealed for another session name")]
    BadSeal,
    /// Verified, but the payload is not a record (a bug or an incompatible version).
    #[error("sealed payload is not a session record")]
    BadPayload,
    /// Verified, but past its idle or absolute deadline.
    #[error("sealed session has expired")]
    Expired,
}

/// A record that opened, and whether it was sealed under an older key (then the adapter reseals
/// it under the primary key).
#[derive(Debug)]
pub struct Opened {
    /// The record.
    pub record: Record,
    /// `true` when sealed under a key other than the primary.
    pub stale_key: bool,
}

/// Seals `record` for the session `name`.
pub fn seal_record(
    keys: &KeyRing,
    protection: Protection,
    name: &str,
    record: &Record,
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    if protection == Protection::Encrypted {
        rand::thread_rng().fill_bytes(&mut nonce);
    }
    seal_record_with_nonce(keys.primary(), protection, name, record, nonce)
}

pub(crate) fn seal_record_with_nonce(
    key: &Key,
    protection: Protection,
    name: &str,
    record: &Record,
    nonce: [u8; NONCE_LEN],
) -> Result<String, SealError> {
    let mut buf = Vec::with_capacity(512);
    match protection {
        Protection::Encrypted => {
            buf.push(FORMAT_ENCRYPTED);
            buf.extend_from_slice(&key.id());
            buf.extend_from_slice(&nonce);
            envelope::encode(record, &mut buf);
            let aad = AssociatedData::new(FORMAT_ENCRYPTED, key.id(), name)?;
            let tag = key
                .cipher()
                .encrypt_in_place_detached(
                    Nonce::from_slice(&nonce),
                    aad.as_slice(),
                    &mut buf[HEADER_LEN + NONCE_LEN..],
                )
                .map_err(|_| SealError::Encrypt)?;
            buf.extend_from_slice(&tag);
        }
        Protection::Signed => {
            buf.push(FORMAT_SIGNED);
            buf.extend_from_slice(&key.id());
            envelope::encode(record, &mut buf);
            let tag = mac_over(key, name, &buf)?;
            buf.extend_from_slice(&tag);
        }
    }
    Ok(URL_SAFE_NO_PAD.encode_type::<String>(&buf))
}

/// Opens a value sealed by [`seal_record`] for the session `name`, rejecting it if it is
/// expired at `now` (milliseconds since the Unix epoch).
pub fn open_record(
    keys: &KeyRing,
    protection: Protection,
    name: &str,
    value: &str,
    now: u64,
) -> Result<Opened, OpenError> {
    let expected = match protection {
        Protection::Encrypted => FORMAT_ENCRYPTED,
        Protection::Signed => FORMAT_SIGNED,
    };
    let mut bytes = decode(value)?;
    let (format, key_id) = header(&bytes, expected)?;
    let mut last_error = OpenError::UnknownKey;
    for (attempt, (is_primary, key)) in keys.candidates(key_id).enumerate() {
        if attempt > 0 && format == FORMAT_ENCRYPTED {
            // A failed attempt may have decrypted in place; start again from the sealed bytes.
            // Only reached when two keys of the ring share a 32-bit key id. aes-gcm 0.10.3 (the
            // locked version) leaves the buffer as it was when the tag fails, which versions
            // before it, still allowed by `aes-gcm = "0.10"`, did not: under the lock file every
            // mutant of this condition only skips or repeats a decode of unchanged bytes, so all
            // five are equivalent. The colliding-key tests pin the fallback itself.
            bytes = decode(value)?;
        }
        let payload = match format {
            FORMAT_ENCRYPTED => decrypt_in_place(key, name, &mut bytes),
            _ => verify_signed(key, name, &bytes).map(|body| &body[HEADER_LEN..]),
        };
        match payload {
            Ok(plaintext) => {
                let record = envelope::decode(plaintext).map_err(|_| OpenError::BadPayload)?;
                if record.is_expired(now) {
                    return Err(OpenError::Expired);
                }
                return Ok(Opened {
                    record,
                    stale_key: !is_primary,
                });
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

/// Seals a server-side session id for the session `name`.
pub fn seal_id(keys: &KeyRing, name: &str, id: &SessionId) -> Result<String, SealError> {
    let key = keys.primary();
    let mut buf = Vec::with_capacity(SIGNED_ID_LEN);
    buf.push(FORMAT_SIGNED_ID);
    buf.extend_from_slice(&key.id());
    buf.extend_from_slice(id.as_bytes());
    let tag = mac_over(key, name, &buf)?;
    buf.extend_from_slice(&tag);
    Ok(URL_SAFE_NO_PAD.encode_type::<String>(&buf))
}

/// Opens a value sealed by [`seal_id`]; returns the id and whether it was sealed under an older
/// key.
pub fn open_id(keys: &KeyRing, name: &str, value: &str) -> Result<(SessionId, bool), OpenError> {
    let mut bytes = [0u8; SIGNED_ID_LEN];
    let bytes: &[u8] = if value.len() == SIGNED_ID_TEXT_LEN {
        // The usual case, decoded on the stack: a signed id is read on every request.
        URL_SAFE_NO_PAD
            .decode(value.as_bytes(), base64_simd::Out::from_slice(&mut bytes))
            .map_err(|_| OpenError::Malformed)?
    } else {
        let other = decode(value)?;
        header(&other, FORMAT_SIGNED_ID)?;
        return Err(OpenError::Malformed);
    };
    let (_, key_id) = header(bytes, FORMAT_SIGNED_ID)?;
    let mut last_error = OpenError::UnknownKey;
    for (is_primary, key) in keys.candidates(key_id) {
        match verify_signed(key, name, bytes) {
            Ok(body) => {
                let mut id = [0u8; ID_BYTES];
                id.copy_from_slice(&body[HEADER_LEN..]);
                return Ok((SessionId::from_bytes(id), !is_primary));
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn decode(value: &str) -> Result<Vec<u8>, OpenError> {
    if value.len() > MAX_SEALED_LEN {
        return Err(OpenError::TooLarge);
    }
    // Strict: the unused bits of the last character must be zero, so each byte string has one
    // encoding and a re-encoded value is not a second valid spelling of the same seal.
    URL_SAFE_NO_PAD
        .decode_type::<Vec<u8>>(value)
        .map_err(|_| OpenError::Malformed)
}

fn header(bytes: &[u8], expected: u8) -> Result<(u8, [u8; 4]), OpenError> {
    let minimum = HEADER_LEN
        + match expected {
            FORMAT_ENCRYPTED => NONCE_LEN + GCM_TAG_LEN,
            _ => MAC_LEN,
        };
    if bytes.len() < minimum {
        return Err(OpenError::Malformed);
    }
    if bytes[0] != expected {
        return Err(OpenError::WrongFormat {
            found: bytes[0],
            expected,
        });
    }
    let mut key_id = [0u8; 4];
    key_id.copy_from_slice(&bytes[1..HEADER_LEN]);
    Ok((bytes[0], key_id))
}

/// Names up to this length build their associated data on the stack (configuration allows 64).
const INLINE_NAME_LEN: usize = 64;

/// `format || key id || name_len (u16 BE) || name`, without an allocation for usual names.
enum AssociatedData {
    Inline([u8; HEADER_LEN + 2 + INLINE_NAME_LEN], usize),
    Heap(Vec<u8>),
}

impl AssociatedData {
    fn new(format: u8, key_id: [u8; 4], name: &str) -> Result<Self, SealError> {
        let name_len = u16::try_from(name.len()).map_err(|_| SealError::NameTooLong)?;
        let len = HEADER_LEN + 2 + name.len();
        let mut head = [0u8; HEADER_LEN + 2];
        head[0] = format;
        head[1..HEADER_LEN].copy_from_slice(&key_id);
        head[HEADER_LEN..].copy_from_slice(&name_len.to_be_bytes());
        if name.len() <= INLINE_NAME_LEN {
            let mut inline = [0u8; HEADER_LEN + 2 + INLINE_NAME_LEN];
            inline[..head.len()].copy_from_slice(&head);
            inline[head.len()..len].copy_from_slice(name.as_bytes());
            Ok(AssociatedData::Inline(inline, len))
        } else {
            let mut heap = Vec::with_capacity(len);
            heap.extend_from_slice(&head);
            heap.extend_from_slice(name.as_bytes());
            Ok(AssociatedData::Heap(heap))
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            AssociatedData::Inline(bytes, len) => &bytes[..*len],
            AssociatedData::Heap(bytes) => bytes,
        }
    }
}

/// The keyed HMAC updated with `body[..5]` (format, key id), the length-prefixed name, then
/// `body[5..]`. Sealing and verifying both go through here, so the MAC layout lives in one place.
fn keyed_mac(key: &Key, name: &str, body: &[u8]) -> Result<Hmac<Sha256>, SealError> {
    let name_len = u16::try_from(name.len()).map_err(|_| SealError::NameTooLong)?;
    let mut mac = key.mac();
    mac.update(&body[..HEADER_LEN]);
    mac.update(&name_len.to_be_bytes());
    mac.update(name.as_bytes());
    mac.update(&body[HEADER_LEN..]);
    Ok(mac)
}

/// The MAC tag of `body` for `name` (see [`keyed_mac`]).
fn mac_over(key: &Key, name: &str, body: &[u8]) -> Result<[u8; MAC_LEN], SealError> {
    Ok(keyed_mac(key, name, body)?.finalize().into_bytes().into())
}

/// Decrypts the ciphertext where it lies in `bytes`; returns the plaintext.
fn decrypt_in_place<'a>(key: &Key, name: &str, bytes: &'a mut [u8]) -> Result<&'a [u8], OpenError> {
    let aad =
        AssociatedData::new(FORMAT_ENCRYPTED, key.id(), name).map_err(|_| OpenError::BadSeal)?;
    let (head, body) = bytes.split_at_mut(HEADER_LEN + NONCE_LEN);
    let nonce = Nonce::from_slice(&head[HEADER_LEN..]);
    let (ciphertext, tag) = body.split_at_mut(body.len() - GCM_TAG_LEN);
    key.cipher()
        .decrypt_in_place_detached(nonce, aad.as_slice(), ciphertext, (&*tag).into())
        .map_err(|_| OpenError::BadSeal)?;
    Ok(ciphertext)
}

/// Verifies the trailing MAC in constant time; returns the body before it.
fn verify_signed<'a>(key: &Key, name: &str, bytes: &'a [u8]) -> Result<&'a [u8], OpenError> {
    let (body, tag) = bytes.split_at(bytes.len() - MAC_LEN);
    keyed_mac(key, name, body)
        .map_err(|_| OpenError::BadSeal)?
        .verify_slice(tag)
        .map_err(|_| OpenError::BadSeal)?;
    Ok(body)
}

#[cfg(test)]
mod tests;
