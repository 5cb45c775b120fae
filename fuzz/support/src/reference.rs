//! Opening sealed values the way `docs/WIRE_FORMAT.md` describes it, independently of
//! `session-core`'s codec: HKDF, AES-256-GCM and HMAC-SHA256 called directly, and the `base64`
//! crate's strict decoder. The targets compare the codec's verdict with this one, so "nothing
//! opens that was not sealed under a listed key for that name" is checked by a second
//! implementation rather than by the codec agreeing with itself.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use std::sync::OnceLock;

use crate::keys::{Role, ROLES};

/// The three formats' first byte.
pub const ENCRYPTED: u8 = 0x01;
/// Signed record.
pub const SIGNED: u8 = 0x02;
/// Signed id.
pub const SIGNED_ID: u8 = 0x03;

const MAX_TEXT_LEN: usize = 64 * 1024;
const SIGNED_ID_LEN: usize = 1 + 4 + 32 + 32;

struct Derived {
    aes: [u8; 32],
    mac: [u8; 32],
    id: [u8; 4],
}

fn derive(secret: &[u8]) -> Derived {
    let hkdf = Hkdf::<Sha256>::new(Some(b"session-core key derivation v1"), secret);
    let mut derived = Derived {
        aes: [0; 32],
        mac: [0; 32],
        id: [0; 4],
    };
    for (info, out) in [
        (&b"aes-256-gcm"[..], &mut derived.aes[..]),
        (&b"hmac-sha256"[..], &mut derived.mac[..]),
        (&b"key-id"[..], &mut derived.id[..]),
    ] {
        if hkdf.expand(info, out).is_err() {
            unreachable!("HKDF-SHA256 expands to 32 bytes");
        }
    }
    derived
}

/// Each role's derived keys, computed once: HKDF per input would dominate the fuzzing time.
fn derived(role: Role) -> &'static Derived {
    static DERIVED: OnceLock<Vec<(Role, Derived)>> = OnceLock::new();
    let all = DERIVED.get_or_init(|| {
        ROLES
            .iter()
            .map(|role| (*role, derive(role.secret)))
            .collect()
    });
    match all.iter().find(|(known, _)| *known == role) {
        Some((_, derived)) => derived,
        None => panic!("{} is not one of the fuzz keys", role.label),
    }
}

fn name_bytes(name: &str) -> Option<Vec<u8>> {
    let len = u16::try_from(name.len()).ok()?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(name.as_bytes());
    Some(out)
}

/// What a value sealed under a listed key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentic {
    /// The payload: the record envelope, or the 32 id bytes.
    pub payload: Vec<u8>,
    /// Which role sealed it.
    pub role: Role,
}

/// Opens `value` as format `format` for session `name` with the listed keys of `roles` (in ring
/// order, the first listed one being the primary). `None` when no listed key with the value's
/// key id verifies it.
pub fn open(roles: &[Role], format: u8, name: &str, value: &str) -> Option<Authentic> {
    if value.len() > MAX_TEXT_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    let minimum = match format {
        ENCRYPTED => 1 + 4 + 12 + 16,
        _ => 1 + 4 + 32,
    };
    if bytes.len() < minimum || bytes[0] != format {
        return None;
    }
    if format == SIGNED_ID && bytes.len() != SIGNED_ID_LEN {
        return None;
    }
    let name = name_bytes(name)?;
    for role in roles.iter().filter(|role| role.listed) {
        let derived = derived(*role);
        if bytes[1..5] != derived.id {
            continue;
        }
        let payload = match format {
            ENCRYPTED => {
                let mut aad = bytes[..5].to_vec();
                aad.extend_from_slice(&name);
                let cipher = Aes256Gcm::new_from_slice(&derived.aes).ok()?;
                cipher
                    .decrypt(
                        Nonce::from_slice(&bytes[5..17]),
                        Payload {
                            msg: &bytes[17..],
                            aad: &aad,
                        },
                    )
                    .ok()
            }
            _ => {
                let (body, tag) = bytes.split_at(bytes.len() - 32);
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&derived.mac).ok()?;
                mac.update(&body[..5]);
                mac.update(&name);
                mac.update(&body[5..]);
                mac.verify_slice(tag).ok().map(|()| body[5..].to_vec())
            }
        };
        if let Some(payload) = payload {
            return Some(Authentic {
                payload,
                role: *role,
            });
        }
    }
    None
}
