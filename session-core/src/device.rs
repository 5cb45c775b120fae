//! The device layer: what a session bound to an owner records about the client that holds it,
//! and the per-owner policy (a cap on live sessions, whether to record the client's address).
//!
//! The record lives inside the session's own values, under the reserved key [`DEVICE_KEY`], so
//! every store keeps it atomically with the rest of the session and no store needs a column or
//! field of its own for it. Handlers cannot read or write that key; they see it through
//! [`SessionManager::owner_sessions`](crate::SessionManager::owner_sessions).

use serde::{Deserialize, Serialize};

use crate::record::{Data, RawJson};

/// The reserved session key that holds the [`Device`] record. Handlers cannot write it.
pub const DEVICE_KEY: &str = "__device";

/// The most characters of a `User-Agent` a device record keeps.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// What a session bound to an owner records about its client.
///
/// Times are milliseconds since the Unix epoch. Field names are short because the record travels
/// with the session's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// When the owner was bound to this session (the login).
    #[serde(rename = "l")]
    pub logged_in_at: u64,
    /// When the session was last used, moved at most once per `expiry.touch_after_secs`.
    #[serde(rename = "s")]
    pub last_seen_at: u64,
    /// The client's `User-Agent` at login, cut to [`MAX_USER_AGENT_CHARS`] characters.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client's address at login, recorded only with `owners.record_ip = true`.
    #[serde(rename = "ip", default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl Device {
    /// A record for a login at `now` by `client`; the address is kept only when `record_ip`.
    pub fn at_login(now: u64, client: &ClientInfo, record_ip: bool) -> Self {
        Device {
            logged_in_at: now,
            last_seen_at: now,
            user_agent: client.user_agent.as_deref().map(cut_user_agent),
            ip: if record_ip { client.ip.clone() } else { None },
        }
    }

    /// The record held in `data`, if any. A value that does not decode is no record: it was not
    /// written by this library, and a listing must not fail because of one session.
    pub fn from_data(data: &Data) -> Option<Device> {
        Self::from_json(data.get(DEVICE_KEY)?.get())
    }

    /// Decodes a record from its JSON text (as stored under [`DEVICE_KEY`]).
    pub fn from_json(json: &str) -> Option<Device> {
        match serde_json::from_str(json) {
            Ok(device) => Some(device),
            Err(error) => {
                tracing::debug!(%error, "a session's device record does not decode; ignored");
                None
            }
        }
    }

    /// The record as the session value stored under [`DEVICE_KEY`].
    pub fn to_value(&self) -> RawJson {
        // A struct of integers and strings always serializes.
        RawJson::to_json(self).unwrap_or_else(|_| RawJson::written("null"))
    }
}

/// Cuts a `User-Agent` to [`MAX_USER_AGENT_CHARS`] characters, control characters dropped.
fn cut_user_agent(user_agent: &str) -> String {
    user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect()
}

/// What an adapter tells the manager about the request's client, read only when a session of
/// the request is bound to an owner (a login).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The `User-Agent` header, when it is text.
    pub user_agent: Option<String>,
    /// The peer address the framework reports. Behind a reverse proxy that is the proxy's
    /// address, unless the application configures its framework to take it from a forwarded
    /// header.
    pub ip: Option<String>,
}

/// What binding one more session to an owner who already has `max_sessions` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Ends the owner's least recently seen other session (the default).
    #[default]
    EndLeastRecent,
    /// Refuses the login with [`Error::TooManySessions`](crate::Error::TooManySessions) (409).
    Refuse,
}

/// The owner policy of one named session: `owners = { max_sessions = 5, when_full = "refuse" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnersConfig {
    /// The most live sessions one owner may have; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<u32>,
    /// What a login past `max_sessions` does.
    #[serde(default)]
    pub when_full: WhenFull,
    /// Whether device records keep the client's address (off by default).
    #[serde(default)]
    pub record_ip: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_round_trips_through_the_session_value() {
        let client = ClientInfo {
            user_agent: Some("Mozilla/5.0\u{0}".into()),
            ip: Some("192.0.2.7".into()),
        };
        let device = Device::at_login(42, &client, false);
        assert_eq!(device.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(device.ip, None);
        let mut data = Data::new();
        data.insert(DEVICE_KEY.into(), device.to_value());
        assert_eq!(Device::from_data(&data), Some(device));
        assert_eq!(
            Device::at_login(1, &client, true).ip.as_deref(),
            Some("192.0.2.7")
        );
    }

    #[test]
    fn a_long_user_agent_is_cut_and_a_foreign_value_is_no_device() {
        let client = ClientInfo {
            user_agent: Some("é".repeat(1000)),
            ip: None,
        };
        let device = Device::at_login(1, &client, false);
        assert_eq!(
            device.user_agent.map(|ua| ua.chars().count()),
            Some(MAX_USER_AGENT_CHARS)
        );
        let mut data = Data::new();
        data.insert(DEVICE_KEY.into(), RawJson::to_json("not a device").unwrap());
        assert_eq!(Device::from_data(&data), None);
    }
}
