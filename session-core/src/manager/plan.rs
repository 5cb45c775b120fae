//! Plan: what a finished session asks of its store and of the client, as pure functions of the
//! session's state, the policy and the clock: [`plan_server`] for server-side sessions (the
//! store operation and the reply), [`plan_client`] for client-side ones (reseal or not, with
//! which deadlines). No store, no keys, no I/O: every case is unit-tested below.

use crate::expiry::{Expiry, ExpiryPolicy};
use crate::id::SessionId;
use crate::record::{Delta, Record};
use crate::session::{Lifecycle, State};

/// The store operation of a finished server-side session.
#[derive(Debug, PartialEq)]
pub(super) enum Write {
    /// Nothing to store.
    None,
    /// A new record (never overwrites).
    Create(Record),
    /// The request's changes to the stored record.
    Update(SessionId, Delta),
    /// The stored record moved to a new id, with the request's changes on top.
    Regenerate {
        old: SessionId,
        new: SessionId,
        delta: Delta,
    },
    /// The stored record removed (destroy).
    Delete(SessionId),
    /// The stored record removed, and a new one created from what the handler wrote after
    /// destroying it.
    Replace(SessionId, Record),
}

/// What the response tells the client.
#[derive(Debug, PartialEq)]
pub(super) enum Reply {
    /// Nothing: the client's value stays as it is.
    Nothing,
    /// The session's (signed) id, with a deadline for `Max-Age`.
    Id(SessionId, u64),
    /// End the client's value (the session was destroyed or never stored).
    Removal,
}

#[derive(Debug, PartialEq)]
pub(super) struct Plan {
    pub(super) write: Write,
    pub(super) reply: Reply,
    /// The lifetime the deadlines were computed from (for `Max-Age`).
    pub(super) lifetime: Expiry,
}

/// The lifetime a session lives by: its own override, or the policy's.
pub(super) fn lifetime_of(state: &State, policy: &ExpiryPolicy) -> Expiry {
    state
        .record()
        .expiry
        .clone()
        .unwrap_or_else(|| policy.lifetime())
}

/// Plans a server-side session's end of request. `incoming` says whether the client sent a
/// value for it; `new_id` draws an id for a session that needs one.
pub(super) fn plan_server(
    state: &State,
    policy: &ExpiryPolicy,
    now: u64,
    incoming: bool,
    new_id: &mut dyn FnMut() -> SessionId,
) -> Plan {
    let lifetime = lifetime_of(state, policy);
    let absolute = lifetime.absolute_deadline(state.record().created_at);
    let next = lifetime.next_expires_at(now, absolute);
    let fresh_id = |new_id: &mut dyn FnMut() -> SessionId| {
        if state.id_pending() {
            new_id()
        } else {
            state.record().id
        }
    };
    let new_record = |id: SessionId| {
        let mut record = state.record().clone();
        record.id = id;
        record.expires_at = next;
        record.absolute_deadline = absolute;
        record
    };
    let delta = || Delta {
        expires_at: next,
        absolute_deadline: absolute,
        ..state.delta()
    };
    // An owner alone is something to keep: a login that records who logged in and no value.
    let holds_something = !state.data().is_empty() || state.record().owner.is_some();
    let (write, reply) = match state.lifecycle() {
        // Destroyed: the stored record goes; what the handler wrote afterwards is a new session.
        Lifecycle::Destroyed { retired } => {
            if holds_something {
                let id = fresh_id(new_id);
                let record = new_record(id);
                let write = match retired {
                    Some(old) => Write::Replace(old, record),
                    None => Write::Create(record),
                };
                (write, Reply::Id(id, next))
            } else {
                let write = retired.map_or(Write::None, Write::Delete);
                let reply = if incoming {
                    Reply::Removal
                } else {
                    Reply::Nothing
                };
                (write, reply)
            }
        }
        // Regenerated: the stored record moves, with this request's changes on top.
        Lifecycle::Regenerated { old } => {
            let new = fresh_id(new_id);
            (
                Write::Regenerate {
                    old,
                    new,
                    delta: delta(),
                },
                Reply::Id(new, next),
            )
        }
        // Loaded and kept: a delta when anything changed or the idle deadline should slide.
        Lifecycle::Stored => {
            let record = state.record();
            let changed = state.has_value_changes()
                || state.expiry_changed()
                || state.owner_changed()
                || policy.wants_touch(&lifetime, record.expires_at, next);
            // A persistent cookie's Max-Age slides with every write; a re-keyed id is resent.
            let resend = state.stale_key() || state.expiry_changed() || lifetime.persistent;
            match (changed, resend) {
                (true, true) => (
                    Write::Update(record.id, delta()),
                    Reply::Id(record.id, next),
                ),
                (true, false) => (Write::Update(record.id, delta()), Reply::Nothing),
                (false, _) if state.stale_key() => {
                    (Write::None, Reply::Id(record.id, record.expires_at))
                }
                (false, _) => (Write::None, Reply::Nothing),
            }
        }
        // New: a record only once it holds something.
        Lifecycle::New => {
            if holds_something {
                let id = fresh_id(new_id);
                (Write::Create(new_record(id)), Reply::Id(id, next))
            } else {
                (Write::None, Reply::Nothing)
            }
        }
    };
    Plan {
        write,
        reply,
        lifetime,
    }
}

/// What a finished client-side session sends.
#[derive(Debug, PartialEq)]
pub(super) enum ClientPlan {
    /// Nothing: the client's value stays as it is.
    Nothing,
    /// End the client's value (the session was emptied or destroyed).
    Removal,
    /// A new sealed value with these deadlines.
    Reseal {
        expires_at: u64,
        absolute_deadline: Option<u64>,
        /// The lifetime the deadlines were computed from (for `Max-Age`).
        lifetime: Expiry,
    },
}

/// Plans a client-side session's end of request. `incoming` says whether the client sent a
/// value for it. A session is resealed when it changed, was opened under an older key, was never
/// sealed, or its idle deadline should slide; an empty one is removed from a client that holds
/// it.
pub(super) fn plan_client(
    state: &State,
    policy: &ExpiryPolicy,
    now: u64,
    incoming: bool,
) -> ClientPlan {
    let stored = state.is_stored();
    // An owner alone is something to keep, as for a server-side session: a login with no value.
    if state.data().is_empty() && state.record().owner.is_none() {
        return if incoming && (state.is_modified() || stored) {
            ClientPlan::Removal
        } else {
            ClientPlan::Nothing
        };
    }
    let lifetime = lifetime_of(state, policy);
    let absolute_deadline = lifetime.absolute_deadline(state.record().created_at);
    let expires_at = lifetime.next_expires_at(now, absolute_deadline);
    let needs_seal = state.is_modified()
        || state.stale_key()
        || !stored
        || policy.wants_touch(&lifetime, state.record().expires_at, expires_at);
    if needs_seal {
        ClientPlan::Reseal {
            expires_at,
            absolute_deadline,
            lifetime,
        }
    } else {
        ClientPlan::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RawJson;
    use std::time::Duration;

    const NOW: u64 = 1_000_000_000;
    const HOUR: u64 = 3_600_000;

    fn policy() -> ExpiryPolicy {
        ExpiryPolicy {
            idle_timeout_secs: 3600,
            absolute_timeout_secs: None,
            touch_after_secs: 60,
            ..ExpiryPolicy::default()
        }
    }

    /// [`policy`] with a two-hour absolute window.
    fn windowed() -> ExpiryPolicy {
        ExpiryPolicy {
            absolute_timeout_secs: Some(7_200),
            ..policy()
        }
    }

    fn loaded(expires_at: u64) -> State {
        let mut record = Record::new(SessionId::generate(), &policy().lifetime(), NOW - HOUR);
        record.expires_at = expires_at;
        record.data.insert(
            "user".into(),
            RawJson::from_string("\"alice\"".into()).unwrap(),
        );
        State::loaded(record, false)
    }

    fn plan(state: &State, incoming: bool) -> (Plan, Vec<SessionId>) {
        let mut drawn = Vec::new();
        let plan = plan_server(state, &policy(), NOW, incoming, &mut || {
            let id = SessionId::generate();
            drawn.push(id);
            id
        });
        (plan, drawn)
    }

    fn set(state: &mut State, key: &str, json: &str) {
        state
            .set_raw(key.into(), RawJson::from_string(json.into()).unwrap())
            .unwrap();
    }

    #[test]
    fn an_untouched_session_writes_and_sends_nothing() {
        let state = loaded(NOW + HOUR - 1_000);
        let (plan, drawn) = plan(&state, true);
        assert_eq!((plan.write, plan.reply), (Write::None, Reply::Nothing));
        assert!(drawn.is_empty());
    }

    #[test]
    fn a_read_past_the_touch_threshold_slides_the_deadline_by_a_delta() {
        let state = loaded(NOW + HOUR - 61_000);
        let (plan, _) = plan(&state, true);
        let Write::Update(id, delta) = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!(id, state.record().id);
        assert!(delta.touches_no_values());
        assert_eq!(delta.expires_at, NOW + HOUR);
        assert_eq!(plan.reply, Reply::Nothing);
    }

    #[test]
    fn a_change_is_a_delta_of_the_changed_keys_only() {
        let mut state = loaded(NOW + HOUR);
        set(&mut state, "theme", "\"dark\"");
        let (plan, _) = plan(&state, true);
        let Write::Update(_, delta) = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!(delta.changed.len(), 1);
        assert_eq!(delta.changed[0].0, "theme");
        assert_eq!(delta.owner, None);
    }

    #[test]
    fn a_persistent_session_resends_its_cookie_with_every_write() {
        let mut state = loaded(NOW + HOUR);
        state
            .set_expiry(Expiry::persistent(Duration::from_secs(86_400)))
            .unwrap();
        set(&mut state, "n", "1");
        let (plan, _) = plan(&state, true);
        // The idle window would reach a day from now; the absolute end, a day after creation
        // (an hour ago), comes first.
        assert_eq!(
            plan.reply,
            Reply::Id(state.record().id, NOW - HOUR + 86_400_000)
        );
    }

    #[test]
    fn a_regenerated_session_moves_with_its_changes_under_a_new_id() {
        let mut state = loaded(NOW + HOUR);
        let old = state.record().id;
        state.regenerate();
        set(&mut state, "role", "\"admin\"");
        state.set_owner("alice".into()).unwrap();
        let (plan, drawn) = plan(&state, true);
        let Write::Regenerate {
            old: from,
            new,
            delta,
        } = plan.write
        else {
            panic!("{:?}", plan.write)
        };
        assert_eq!((from, vec![new]), (old, drawn));
        assert_eq!(delta.changed[0].0, "role");
        assert_eq!(delta.owner, Some(Some("alice".into())));
        assert_eq!(plan.reply, Reply::Id(new, NOW + HOUR));
    }

    #[test]
    fn a_destroyed_session_is_deleted_and_its_cookie_expired() {
        let mut state = loaded(NOW + HOUR);
        let old = state.record().id;
        state.destroy(NOW);
        let (with_cookie, _) = plan(&state, true);
        assert_eq!(
            (with_cookie.write, with_cookie.reply),
            (Write::Delete(old), Reply::Removal)
        );
        let (without, _) = plan(&state, false);
        assert_eq!(without.reply, Reply::Nothing);
    }

    #[test]
    fn values_written_after_destroy_are_a_new_session() {
        let mut state = loaded(NOW + HOUR);
        let old = state.record().id;
        state.destroy(NOW);
        set(&mut state, "note", "\"bye\"");
        let (plan, drawn) = plan(&state, true);
        let Write::Replace(deleted, record) = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!((deleted, record.id), (old, drawn[0]));
        assert_eq!(record.data.len(), 1);
    }

    #[test]
    fn a_new_session_is_created_only_once_it_holds_something() {
        let mut state = State::unsaved(&policy().lifetime(), NOW);
        let (empty, drawn) = plan(&state, false);
        assert_eq!((empty.write, empty.reply), (Write::None, Reply::Nothing));
        assert!(drawn.is_empty(), "an empty session draws no id");
        set(&mut state, "n", "1");
        let (plan, drawn) = plan(&state, false);
        let Write::Create(record) = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!(record.id, drawn[0]);
        assert_eq!(record.expires_at, NOW + HOUR);
        assert_eq!(plan.reply, Reply::Id(drawn[0], NOW + HOUR));
    }

    #[test]
    fn a_stale_key_resends_the_id_without_a_write() {
        let state = State::loaded(loaded(NOW + HOUR).record().clone(), true);
        let (plan, _) = plan(&state, true);
        assert_eq!(plan.write, Write::None);
        assert_eq!(plan.reply, Reply::Id(state.record().id, NOW + HOUR));
    }

    #[test]
    fn an_untouched_client_session_is_not_resealed() {
        let state = loaded(NOW + HOUR - 1_000);
        assert_eq!(
            plan_client(&state, &policy(), NOW, true),
            ClientPlan::Nothing
        );
    }

    #[test]
    fn a_changed_client_session_is_resealed_with_fresh_deadlines() {
        let mut state = loaded(NOW + HOUR - 1_000);
        set(&mut state, "theme", "\"dark\"");
        assert_eq!(
            plan_client(&state, &policy(), NOW, true),
            ClientPlan::Reseal {
                expires_at: NOW + HOUR,
                absolute_deadline: None,
                lifetime: policy().lifetime(),
            }
        );
    }

    #[test]
    fn a_client_session_past_the_touch_threshold_or_under_an_old_key_is_resealed() {
        let sliding = loaded(NOW + HOUR - 61_000);
        assert!(matches!(
            plan_client(&sliding, &policy(), NOW, true),
            ClientPlan::Reseal { expires_at, .. } if expires_at == NOW + HOUR
        ));
        let record = loaded(NOW + HOUR).record().clone();
        let rekeyed = State::loaded(record, true);
        assert!(matches!(
            plan_client(&rekeyed, &policy(), NOW, true),
            ClientPlan::Reseal { .. }
        ));
    }

    #[test]
    fn an_emptied_client_session_is_removed_only_from_a_client_that_holds_it() {
        let mut record = loaded(NOW + HOUR).record().clone();
        record.data.clear();
        let state = State::loaded(record, false);
        assert_eq!(
            plan_client(&state, &policy(), NOW, true),
            ClientPlan::Removal
        );
        assert_eq!(
            plan_client(&state, &policy(), NOW, false),
            ClientPlan::Nothing
        );
        let new = State::unsaved(&policy().lifetime(), NOW);
        assert_eq!(plan_client(&new, &policy(), NOW, true), ClientPlan::Nothing);
    }

    #[test]
    fn a_new_client_session_with_values_is_sealed() {
        let mut state = State::unsaved(&policy().lifetime(), NOW);
        set(&mut state, "n", "1");
        assert!(matches!(
            plan_client(&state, &policy(), NOW, false),
            ClientPlan::Reseal { expires_at, .. } if expires_at == NOW + HOUR
        ));
    }

    fn plan_under(policy: &ExpiryPolicy, state: &State) -> Plan {
        plan_server(state, policy, NOW, true, &mut SessionId::generate)
    }

    #[test]
    fn a_delta_carries_the_current_policys_absolute_deadline() {
        // The record was issued without an absolute window; the policy has one now, so the
        // store must learn the deadline it implies rather than keep the record's `None`.
        let windowed = windowed();
        let mut state = loaded(NOW + HOUR);
        set(&mut state, "theme", "\"dark\"");
        let plan = plan_under(&windowed, &state);
        let Write::Update(_, delta) = plan.write else {
            panic!("{:?}", plan.write)
        };
        let deadline = NOW - HOUR + 2 * HOUR;
        assert_eq!(delta.absolute_deadline, Some(deadline));
        assert_eq!(
            delta.expires_at, deadline,
            "the idle deadline is capped by it"
        );
    }

    #[test]
    fn a_regenerated_delta_carries_the_absolute_deadline_too() {
        let windowed = windowed();
        let mut state = loaded(NOW + HOUR);
        state.regenerate();
        let plan = plan_under(&windowed, &state);
        let Write::Regenerate { delta, .. } = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!(delta.absolute_deadline, Some(NOW + HOUR));
    }

    #[test]
    fn an_owner_change_alone_is_written_without_resending_the_id() {
        let mut state = loaded(NOW + HOUR);
        state.set_owner("alice".into()).unwrap();
        let (plan, _) = plan(&state, true);
        let Write::Update(id, delta) = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!(id, state.record().id);
        assert_eq!(delta.owner, Some(Some("alice".into())));
        assert_eq!(plan.reply, Reply::Nothing);
    }

    #[test]
    fn an_expiry_change_alone_is_written_and_the_id_resent() {
        let mut state = loaded(NOW + HOUR);
        let shorter = Expiry::browser_session(Duration::from_secs(600), None);
        state.set_expiry(shorter.clone()).unwrap();
        let (plan, _) = plan(&state, true);
        let Write::Update(id, delta) = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!(delta.expiry, Some(shorter));
        assert_eq!(delta.expires_at, NOW + 600_000);
        assert_eq!(plan.reply, Reply::Id(id, NOW + 600_000));
    }

    #[test]
    fn a_change_under_an_old_key_is_written_and_the_id_resent() {
        let mut state = State::loaded(loaded(NOW + HOUR).record().clone(), true);
        set(&mut state, "theme", "\"dark\"");
        let (plan, _) = plan(&state, true);
        let id = state.record().id;
        assert!(matches!(plan.write, Write::Update(written, _) if written == id));
        assert_eq!(plan.reply, Reply::Id(id, NOW + HOUR));
    }

    #[test]
    fn a_persistent_policy_resends_the_id_with_every_write() {
        let persistent = ExpiryPolicy {
            persistent: true,
            ..policy()
        };
        let mut state = loaded(NOW + HOUR);
        set(&mut state, "n", "1");
        let plan = plan_under(&persistent, &state);
        assert!(!state.expiry_changed());
        assert_eq!(plan.reply, Reply::Id(state.record().id, NOW + HOUR));
    }

    #[test]
    fn a_new_session_destroyed_then_written_is_created_not_replaced() {
        let mut state = State::unsaved(&policy().lifetime(), NOW);
        state.destroy(NOW);
        set(&mut state, "n", "1");
        let (plan, drawn) = plan(&state, true);
        let Write::Create(record) = plan.write else {
            panic!("{:?}", plan.write)
        };
        assert_eq!(record.id, drawn[0]);
        assert_eq!(plan.reply, Reply::Id(drawn[0], NOW + HOUR));
    }

    #[test]
    fn a_client_session_emptied_before_it_was_ever_stored_is_removed_from_the_client() {
        // The client sent a value that did not open; the handler wrote and removed a key.
        let mut state = State::unsaved(&policy().lifetime(), NOW);
        set(&mut state, "n", "1");
        state.remove_key("n");
        assert_eq!(
            plan_client(&state, &policy(), NOW, true),
            ClientPlan::Removal
        );
    }

    #[test]
    fn a_client_session_resealed_under_a_new_policy_carries_its_absolute_deadline() {
        let windowed = windowed();
        let mut state = loaded(NOW + HOUR);
        set(&mut state, "theme", "\"dark\"");
        assert_eq!(
            plan_client(&state, &windowed, NOW, true),
            ClientPlan::Reseal {
                expires_at: NOW + HOUR,
                absolute_deadline: Some(NOW + HOUR),
                lifetime: windowed.lifetime(),
            }
        );
    }
}
