//! A session's state: its record, what changed in this request, and where it stands in its
//! lifecycle. Every change goes through a method here, so the legal combinations are the ones
//! these methods make.

use std::collections::BTreeSet;

use super::limit::{entry_bytes, owner_problem, SizeLimit};
use crate::device::{Device, DEVICE_KEY};
use crate::error::Error;
use crate::expiry::{Expiry, ExpiryPolicy};
use crate::flash::{Flash, FLASH_KEY};
use crate::id::{SessionId, ID_BYTES};
use crate::record::{Data, DataKey, Delta, RawJson, Record};

/// Where a session stands between the store (or the client's sealed value) and this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Never stored: a new session, or one whose stored record is gone.
    New,
    /// Stored under the record's id, as loaded or last saved.
    Stored,
    /// Stored under `old` until the request ends, when it moves to a fresh id.
    Regenerated {
        /// The id the store holds it under.
        old: SessionId,
    },
    /// Ended in this request: `retired` (the id the store holds it under, if any) is deleted
    /// when the request ends. Values written afterwards are a new session.
    Destroyed {
        /// The id the store holds it under, if any.
        retired: Option<SessionId>,
    },
}

#[derive(Debug)]
pub(crate) struct State {
    record: Record,
    /// What the values take, as [`SizeLimit`] counts them.
    data_bytes: usize,
    limit: SizeLimit,
    lifecycle: Lifecycle,
    /// The values set in this request, as they are in `record.data`: the delta reads them here
    /// without searching the record's values again.
    changed: Data,
    removed: BTreeSet<DataKey>,
    expiry_changed: bool,
    /// The owner was bound or unbound in this request.
    owner_changed: bool,
    /// The value this session came from was sealed under an older key.
    stale_key: bool,
    /// The request that opened the session has saved it: a later change (from a task the
    /// handler spawned) would be lost, so it is refused.
    saved_with_response: bool,
    /// `record.id` is a placeholder: the session has no id yet. One is drawn from the OS CSPRNG
    /// when asked for or saved, so a request that only reads an empty session costs no system
    /// call.
    id_pending: bool,
}

impl State {
    fn fresh(record: Record, lifecycle: Lifecycle, stale_key: bool, id_pending: bool) -> Self {
        let data_bytes = record
            .data
            .iter()
            .map(|(key, value)| entry_bytes(key, value))
            .sum();
        State {
            record,
            data_bytes,
            limit: SizeLimit::unlimited(),
            lifecycle,
            changed: Data::new(),
            removed: BTreeSet::new(),
            expiry_changed: false,
            owner_changed: false,
            stale_key,
            saved_with_response: false,
            id_pending,
        }
    }

    /// A new, empty session whose deadlines follow `expiry` from `now`, with no id yet.
    pub(crate) fn unsaved(expiry: &Expiry, now: u64) -> Self {
        let placeholder = SessionId::from_bytes([0; ID_BYTES]);
        State::fresh(
            Record::new(placeholder, expiry, now),
            Lifecycle::New,
            false,
            true,
        )
    }

    /// A session loaded from its store or opened from its sealed value; `stale_key` when that
    /// value was sealed under an older key.
    pub(crate) fn loaded(record: Record, stale_key: bool) -> Self {
        State::fresh(record, Lifecycle::Stored, stale_key, false)
    }

    /// The state under the size limit `limit`.
    pub(crate) fn with_limit(mut self, limit: SizeLimit) -> Self {
        self.limit = limit;
        self
    }

    // ---- reading ----

    pub(crate) fn record(&self) -> &Record {
        &self.record
    }

    pub(crate) fn data(&self) -> &Data {
        &self.record.data
    }

    pub(crate) fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    pub(crate) fn is_stored(&self) -> bool {
        self.lifecycle == Lifecycle::Stored
    }

    pub(crate) fn is_destroyed(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Destroyed { .. })
    }

    /// The configured name of the session (empty outside a manager).
    pub(crate) fn name(&self) -> &str {
        self.limit.name()
    }

    /// The id the store (or the client's value) holds the session under now, if any: until the
    /// request ends, a regenerated or destroyed session is still stored under its old id.
    pub(crate) fn stored_id(&self) -> Option<SessionId> {
        match self.lifecycle {
            Lifecycle::New => None,
            Lifecycle::Stored => Some(self.record.id),
            Lifecycle::Regenerated { old } => Some(old),
            Lifecycle::Destroyed { retired } => retired,
        }
    }

    pub(crate) fn stale_key(&self) -> bool {
        self.stale_key
    }

    pub(crate) fn expiry_changed(&self) -> bool {
        self.expiry_changed
    }

    pub(crate) fn owner_changed(&self) -> bool {
        self.owner_changed
    }

    /// Whether the session has no id yet (one is drawn when needed).
    pub(crate) fn id_pending(&self) -> bool {
        self.id_pending
    }

    pub(crate) fn has_value_changes(&self) -> bool {
        !self.changed.is_empty() || !self.removed.is_empty()
    }

    pub(crate) fn is_modified(&self) -> bool {
        self.has_value_changes()
            || self.expiry_changed
            || self.owner_changed
            || matches!(
                self.lifecycle,
                Lifecycle::Regenerated { .. } | Lifecycle::Destroyed { .. }
            )
    }

    /// The changes since load, for a store's delta update.
    pub(crate) fn delta(&self) -> Delta {
        Delta {
            changed: self
                .changed
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            removed: self.removed.iter().cloned().collect(),
            expires_at: self.record.expires_at,
            absolute_deadline: self.record.absolute_deadline,
            expiry: self.record.expiry.clone(),
            owner: self.owner_changed.then(|| self.record.owner.clone()),
        }
    }

    pub(crate) fn flashes(&self) -> Vec<Flash> {
        let Some(raw) = self.record.data.get(FLASH_KEY) else {
            return Vec::new();
        };
        serde_json::from_str(raw.get()).unwrap_or_else(|error| {
            tracing::debug!(%error, "ignoring an unreadable flash queue");
            Vec::new()
        })
    }

    // ---- changed by the handler ----

    /// `Ok` while the session may still change; once its request was saved, the error to
    /// return (and a warning in the log), since the change would be lost.
    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if !self.saved_with_response {
            return Ok(());
        }
        let error = Error::AlreadySaved(self.limit.name().to_string());
        tracing::warn!(%error, "a session change after its request was saved is refused");
        Err(error)
    }

    /// The session's id, drawn now if it has none yet.
    pub(crate) fn assign_id(&mut self) -> SessionId {
        if self.id_pending {
            self.record.id = SessionId::generate();
            self.id_pending = false;
        }
        self.record.id
    }

    /// Sets `key`, unless that would take the session past its limit: then nothing changes.
    pub(crate) fn set_raw(&mut self, key: DataKey, value: RawJson) -> Result<(), Error> {
        self.check_open()?;
        let new_bytes = entry_bytes(&key, &value);
        let changed = value.clone();
        // One search of the values: a key already held keeps its entry and swaps its value.
        let (previous, changes) = self.record.data.replace(key.clone(), value);
        if !changes {
            return Ok(());
        }
        let old_bytes = previous.as_ref().map_or(0, |old| entry_bytes(&key, old));
        let data_bytes = self.data_bytes - old_bytes + new_bytes;
        if let Err(error) = self.limit.check(&self.record, data_bytes) {
            match (previous, self.record.data.get_mut(key.as_str())) {
                (Some(previous), Some(slot)) => *slot = previous,
                _ => {
                    self.record.data.remove(key.as_str());
                }
            }
            return Err(error);
        }
        self.data_bytes = data_bytes;
        self.removed.remove(key.as_str());
        self.changed.insert(key, changed);
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub(crate) fn remove_key(&mut self, key: &str) -> bool {
        if self.check_open().is_err() {
            return false;
        }
        let Some(old) = self.record.data.remove(key) else {
            return false;
        };
        self.data_bytes -= entry_bytes(key, &old);
        self.changed.remove(key);
        self.removed.insert(DataKey::from(key));
        true
    }

    /// Runs `change`, and when it fails, puts the values back as they were before it.
    pub(crate) fn all_or_nothing(
        &mut self,
        change: impl FnOnce(&mut State) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let before = (
            self.record.data.clone(),
            self.changed.clone(),
            self.removed.clone(),
            self.data_bytes,
        );
        let result = change(self);
        if result.is_err() {
            (
                self.record.data,
                self.changed,
                self.removed,
                self.data_bytes,
            ) = before;
        }
        result
    }

    /// The transition to [`Lifecycle::Regenerated`]: a fresh id is drawn when needed; the
    /// stored one is retired when the request ends.
    pub(crate) fn regenerate(&mut self) {
        if self.check_open().is_err() {
            return;
        }
        if self.lifecycle == Lifecycle::Stored {
            self.lifecycle = Lifecycle::Regenerated {
                old: self.record.id,
            };
        }
        self.id_pending = true;
    }

    /// The transition to [`Lifecycle::Destroyed`] at `now`: every value gone, the stored id
    /// retired; what is written afterwards starts a new session created at `now`.
    pub(crate) fn destroy(&mut self, now: u64) {
        if self.check_open().is_err() {
            return;
        }
        let retired = match self.lifecycle {
            Lifecycle::New => None,
            Lifecycle::Stored => Some(self.record.id),
            Lifecycle::Regenerated { old } => Some(old),
            Lifecycle::Destroyed { retired } => retired,
        };
        self.lifecycle = Lifecycle::Destroyed { retired };
        self.id_pending = true;
        self.record.data.clear();
        self.data_bytes = 0;
        self.record.created_at = now;
        self.record.expiry = None;
        self.record.owner = None;
        self.owner_changed = false;
        self.record.version = 0;
        self.changed.clear();
        self.removed.clear();
    }

    /// Overrides the configured lifetime for this session, unless the session would then not
    /// fit its limit when saved: then nothing changes.
    pub(crate) fn set_expiry(&mut self, expiry: Expiry) -> Result<(), Error> {
        self.check_open()?;
        if self.record.expiry.as_ref() == Some(&expiry) {
            return Ok(());
        }
        // Measured as it will be saved: the override, and the absolute deadline it gives.
        let deadline = expiry.absolute_deadline(self.record.created_at);
        let previous = self.record.expiry.replace(expiry);
        let kept_deadline = std::mem::replace(&mut self.record.absolute_deadline, deadline);
        let fits = self.limit.check(&self.record, self.data_bytes);
        self.record.absolute_deadline = kept_deadline;
        if let Err(error) = fits {
            self.record.expiry = previous;
            return Err(error);
        }
        self.expiry_changed = true;
        Ok(())
    }

    /// Returns the session to the configured lifetime.
    pub(crate) fn reset_expiry(&mut self) {
        if self.check_open().is_err() {
            return;
        }
        if self.record.expiry.take().is_some() {
            self.expiry_changed = true;
        }
    }

    /// Binds the session to `owner`, unless that would take it past its limit: then nothing
    /// changes.
    pub(crate) fn set_owner(&mut self, owner: String) -> Result<(), Error> {
        self.check_open()?;
        if let Some(problem) = owner_problem(&owner) {
            return Err(Error::InvalidOwner(problem));
        }
        if self.record.owner.as_deref() == Some(owner.as_str()) {
            return Ok(());
        }
        let previous = self.record.owner.replace(owner);
        if let Err(error) = self.limit.check(&self.record, self.data_bytes) {
            self.record.owner = previous;
            return Err(error);
        }
        self.owner_changed = true;
        Ok(())
    }

    /// A login of `owner` at `now`: a fresh id, the owner bound (its device recorded when
    /// saved). A session bound to another owner is destroyed first, so nothing of the previous
    /// user's (values, flash messages, device record, own expiry) reaches the new one, and its
    /// record leaves the previous owner's list; an anonymous session keeps its values. A login
    /// of the owner already bound only regenerates: it is the same device, already counted
    /// toward the owner's cap. All or nothing: on an error the session is unchanged.
    pub(crate) fn login(&mut self, owner: String, now: u64) -> Result<(), Error> {
        self.check_open()?;
        if let Some(problem) = owner_problem(&owner) {
            return Err(Error::InvalidOwner(problem));
        }
        match self.record.owner.as_deref() {
            Some(bound) if bound == owner => self.regenerate(),
            Some(_) => {
                // Measured as it will be saved: the new owner and nothing else.
                let probe = Record {
                    id: self.record.id,
                    data: Data::new(),
                    created_at: now,
                    expires_at: self.record.expires_at,
                    absolute_deadline: self.record.absolute_deadline,
                    version: 0,
                    expiry: None,
                    owner: Some(owner.clone()),
                };
                self.limit.check(&probe, 0)?;
                self.destroy(now);
                self.record.owner = Some(owner);
                self.owner_changed = true;
            }
            None => {
                self.record.owner = Some(owner);
                if let Err(error) = self.limit.check(&self.record, self.data_bytes) {
                    self.record.owner = None;
                    return Err(error);
                }
                self.regenerate();
                self.owner_changed = true;
            }
        }
        Ok(())
    }

    /// "Remember me": the lifetime `policy` gives remembered sessions, its absolute end counted
    /// from the login (a login in this request is at `now`; an earlier one is in the device
    /// record; a session without either counts from its creation), and a fresh id.
    pub(crate) fn remember(&mut self, policy: &ExpiryPolicy, now: u64) -> Result<(), Error> {
        self.check_open()?;
        let login_at = if self.binds_owner() {
            now
        } else {
            self.device()
                .map_or(self.record.created_at, |device| device.logged_in_at)
        };
        self.set_expiry(policy.remembered(self.record.created_at, login_at))?;
        self.regenerate();
        Ok(())
    }

    /// Unbinds the session from its owner; its device record goes with it.
    pub(crate) fn clear_owner(&mut self) {
        if self.check_open().is_err() {
            return;
        }
        if self.record.owner.take().is_some() {
            self.owner_changed = true;
            self.remove_key(DEVICE_KEY);
        }
    }

    /// The device record the session holds, if any.
    pub(crate) fn device(&self) -> Option<Device> {
        Device::from_data(&self.record.data)
    }

    /// When the device record says the session was last seen, if it holds one. Read from the
    /// record's text without decoding it: every request of a bound session asks, and only one
    /// per `touch_after_secs` goes on to rewrite the record.
    pub(crate) fn device_last_seen_at(&self) -> Option<u64> {
        let raw = self.record.data.get(DEVICE_KEY)?.get();
        last_seen_at(raw).or_else(|| Device::from_json(raw).map(|device| device.last_seen_at))
    }

    /// Whether this request bound the session to an owner: saving it records a device.
    pub(crate) fn binds_owner(&self) -> bool {
        self.owner_changed && self.record.owner.is_some()
    }

    /// Records `device` under [`DEVICE_KEY`], outside the size limit: the record is small and
    /// bounded ([`MAX_USER_AGENT_CHARS`](crate::device::MAX_USER_AGENT_CHARS)), and it is written
    /// while saving, where a refusal could no longer reach the handler.
    pub(crate) fn set_device(&mut self, device: &Device) {
        let value = device.to_value();
        let old_bytes = self
            .record
            .data
            .get(DEVICE_KEY)
            .map_or(0, |old| entry_bytes(DEVICE_KEY, old));
        self.data_bytes = self.data_bytes - old_bytes + entry_bytes(DEVICE_KEY, &value);
        self.record.data.insert(DEVICE_KEY.into(), value.clone());
        self.removed.remove(DEVICE_KEY);
        self.changed.insert(DEVICE_KEY.into(), value);
    }

    // ---- changed by saving ----

    /// The request that opened the session is saving it: from now on a change would be lost.
    pub(crate) fn close_for_save(&mut self) {
        self.saved_with_response = true;
    }

    /// Readies a client-side session to be sealed again: the new deadlines, the next version,
    /// and an id if it had none.
    pub(crate) fn prepare_reseal(&mut self, expires_at: u64, absolute_deadline: Option<u64>) {
        self.record.expires_at = expires_at;
        self.record.absolute_deadline = absolute_deadline;
        self.record.version = self.record.version.wrapping_add(1);
        self.assign_id();
    }

    /// The store no longer holds the session (another request destroyed or moved it before this
    /// one saved): this request's changes are dropped.
    pub(crate) fn mark_gone(&mut self) {
        self.lifecycle = match self.lifecycle {
            Lifecycle::Destroyed { .. } => Lifecycle::Destroyed { retired: None },
            _ => Lifecycle::New,
        };
    }

    /// Saved under `id` (which may differ from the planned one after an id collision), to
    /// expire at `expires_at`.
    pub(crate) fn mark_saved_as(&mut self, id: SessionId, expires_at: u64) {
        self.record.id = id;
        self.record.expires_at = expires_at;
        self.id_pending = false;
        self.mark_saved();
    }

    /// Nothing was stored under a new id, and the retired one (if any) is gone from the store:
    /// a destroyed or regenerated session is new again.
    pub(crate) fn mark_retired(&mut self) {
        if let Lifecycle::Regenerated { .. } | Lifecycle::Destroyed { .. } = self.lifecycle {
            self.lifecycle = Lifecycle::New;
        }
    }

    /// Saved as it is: stored, nothing left to save.
    pub(crate) fn mark_saved(&mut self) {
        self.lifecycle = Lifecycle::Stored;
        self.changed.clear();
        self.removed.clear();
        self.expiry_changed = false;
        self.owner_changed = false;
        self.stale_key = false;
    }
}

/// `last_seen_at` of a device record in the shape this library writes it (`{"l":…,"s":…`, the
/// fields in declaration order); `None` for any other shape, which the caller decodes in full.
fn last_seen_at(raw: &str) -> Option<u64> {
    fn number(text: &str) -> Option<(u64, &str)> {
        let end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        Some((text[..end].parse().ok()?, &text[end..]))
    }
    let (_, rest) = number(raw.strip_prefix(r#"{"l":"#)?)?;
    let (seen, rest) = number(rest.strip_prefix(r#","s":"#)?)?;
    rest.starts_with([',', '}']).then_some(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::ClientInfo;

    #[test]
    fn last_seen_is_read_from_the_record_as_written_and_other_shapes_are_left_to_the_decoder() {
        let client = ClientInfo {
            user_agent: Some(r#"agent ,"s":1}"#.to_string()),
            ip: Some("192.0.2.1".to_string()),
        };
        let mut device = Device::at_login(1_000, &client, true);
        device.last_seen_at = 2_000;
        assert_eq!(last_seen_at(device.to_value().get()), Some(2_000));
        assert_eq!(last_seen_at(r#"{"s":5,"l":1}"#), None);
        assert_eq!(last_seen_at(r#"{"l":1,"s":5x}"#), None);
        assert_eq!(last_seen_at(r#"{"l":1,"s":}"#), None);
    }

    #[test]
    fn a_device_record_replaced_counts_once_toward_the_values_bytes() {
        let mut state = State::unsaved(&Expiry::default(), 1_000);
        state
            .set_raw("user".into(), RawJson::written(r#""alice""#))
            .unwrap();
        let client = ClientInfo {
            user_agent: Some("agent".to_string()),
            ip: None,
        };
        let mut device = Device::at_login(1_000, &client, false);
        state.set_device(&device);
        device.last_seen_at = 123_456_789;
        state.set_device(&device);
        let counted: usize = state
            .data()
            .iter()
            .map(|(key, value)| entry_bytes(key, value))
            .sum();
        assert_eq!(state.data_bytes(), counted);
        assert_eq!(state.delta().changed.len(), 2);
    }
}
