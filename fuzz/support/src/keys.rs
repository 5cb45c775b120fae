//! The fuzz targets' keys: fixed secrets, so a corpus written once still opens on the next run.
//!
//! Two pairs of these secrets have the same 32-bit key id (found by a birthday search over
//! `collision-NNNNNNNN` secrets), which is what makes the ring interesting:
//!
//! | role | in the ring | key id |
//! | --- | --- | --- |
//! | [`PRIMARY`] | yes, first: it seals | `311639e3` |
//! | [`OLD_COLLIDING`] | yes, an older key | `311639e3`, the primary's |
//! | [`OLD`] | yes, an older key | `3ad7dbc1` |
//! | [`FOREIGN_COLLIDING`] | no | `3ad7dbc1`, [`OLD`]'s |
//! | [`FOREIGN`] | no | its own |
//!
//! So a value sealed under the older colliding key is first tried with the primary (and fails)
//! before it opens, and a value sealed under the foreign colliding key names a listed key id but
//! must not open.

use session_core::{Key, KeyRing};

/// A secret and whether the ring lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// What the key is for, in messages.
    pub label: &'static str,
    /// The secret.
    pub secret: &'static [u8; 32],
    /// Whether [`ring`] holds it.
    pub listed: bool,
    /// Whether it is the ring's primary.
    pub primary: bool,
}

impl Role {
    /// An older key of the ring: listed, not the primary.
    const fn old(label: &'static str, secret: &'static [u8; 32]) -> Role {
        Role {
            label,
            secret,
            listed: true,
            primary: false,
        }
    }

    /// A key the ring does not hold.
    const fn foreign(label: &'static str, secret: &'static [u8; 32]) -> Role {
        Role {
            label,
            secret,
            listed: false,
            primary: false,
        }
    }
}

/// The primary key: it seals.
pub const PRIMARY: Role = Role {
    label: "primary",
    secret: b"collision-00057585..............",
    listed: true,
    primary: true,
};

/// An older key of the ring with the primary's key id.
pub const OLD_COLLIDING: Role = Role::old(
    "old key sharing the primary's key id",
    b"collision-00121438..............",
);

/// An older key of the ring.
pub const OLD: Role = Role::old("old key", b"collision-00087148..............");

/// A key the ring does not hold, with [`OLD`]'s key id.
pub const FOREIGN_COLLIDING: Role = Role::foreign(
    "foreign key sharing an old key's id",
    b"collision-00128344..............",
);

/// A key the ring does not hold, with an id of its own.
pub const FOREIGN: Role = Role::foreign("foreign key", b"a foreign secret, in no key ring");

/// Every role, listed keys first, in ring order.
pub const ROLES: [Role; 5] = [PRIMARY, OLD_COLLIDING, OLD, FOREIGN_COLLIDING, FOREIGN];

/// The key of `role`.
pub fn key(role: Role) -> Key {
    match Key::from_secret(role.secret) {
        Ok(key) => key,
        Err(error) => panic!("the fuzz secrets are 32 bytes: {error}"),
    }
}

/// The ring every target opens with: primary, then the listed older keys.
pub fn ring() -> KeyRing {
    ROLES
        .iter()
        .filter(|role| role.listed && !role.primary)
        .fold(KeyRing::new(key(PRIMARY)), |ring, role| {
            ring.with_old_key(key(*role))
        })
}

/// A ring that seals under `role` (and holds nothing else).
pub fn sealer(role: Role) -> KeyRing {
    KeyRing::new(key(role))
}

/// The ids collide as the table says: checked by every target once, so a change to key
/// derivation cannot quietly turn the collision cases into ordinary ones.
pub fn assert_collisions() {
    assert_eq!(key(PRIMARY).id(), key(OLD_COLLIDING).id());
    assert_eq!(key(OLD).id(), key(FOREIGN_COLLIDING).id());
    assert_ne!(key(PRIMARY).id(), key(OLD).id());
    assert_ne!(key(FOREIGN).id(), key(PRIMARY).id());
    assert_ne!(key(FOREIGN).id(), key(OLD).id());
}
