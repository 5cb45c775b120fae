//! `count`, `list`, `revoke` and `gc`: the server-side stores, through the session manager.
//!
//! Each command resolves its sessions and builds a manager over their stores; the work itself
//! is a function of the manager that returns the lines to print, so that it reads (and is
//! tested) apart from where the stores come from.

use session_core::{Backend, Error, OwnerSession, SessionManager, StoreError};

use crate::context::Context;
use crate::time::{relative, rfc3339};
use crate::Failure;

fn store_failure(name: &str, error: Error) -> Failure {
    match error {
        Error::UnknownSession(_) | Error::NotServerSide(_) => {
            Failure::Usage(format!("session `{name}`: {error}"))
        }
        other => Failure::Store(format!("session `{name}`: {other}")),
    }
}

fn print(lines: Vec<String>) {
    for line in lines {
        println!("{line}");
    }
}

/// The sessions whose stores this process can reach.
fn reachable(context: &Context) -> Vec<&str> {
    context
        .names()
        .into_iter()
        .filter(|name| context.reachable_store(name).is_ok())
        .collect()
}

pub async fn count(context: &Context, session: Option<&str>) -> Result<(), Failure> {
    let names = match session {
        Some(name) => {
            context.reachable_store(name)?;
            vec![name]
        }
        None => reachable(context),
    };
    if names.is_empty() {
        return Err(Failure::Usage(
            "no session uses a store this tool can reach (file, redis, postgres, mysql or sqlite); cookie and memory sessions cannot be counted from outside the application".to_string(),
        ));
    }
    let manager = context.manager(&names).await?;
    print(count_sessions(&manager, &names).await?);
    Ok(())
}

pub async fn list(
    context: &Context,
    owner: &str,
    session: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let name = context.session_or_default(session)?;
    context.reachable_store(name)?;
    let manager = context.manager(&[name]).await?;
    let sessions = owner_sessions(&manager, name, owner).await?;
    if json {
        // Scripts get a document to parse even when there is nothing; the exit code says so.
        println!("{}", sessions_json(&sessions));
    }
    if sessions.is_empty() {
        return Err(Failure::NotFound(format!(
            "`{owner}` has no live sessions in session `{name}`"
        )));
    }
    if !json {
        print(sessions_table(&sessions, session_core::now_ms()));
    }
    Ok(())
}

pub async fn revoke(
    context: &Context,
    owner: &str,
    session: Option<&str>,
    which: Revoke<'_>,
) -> Result<(), Failure> {
    let name = context.session_or_default(session)?;
    context.reachable_store(name)?;
    let manager = context.manager(&[name]).await?;
    print(revoke_sessions(&manager, name, owner, which).await?);
    Ok(())
}

pub async fn gc(context: &Context) -> Result<(), Failure> {
    let names = reachable(context);
    if names.is_empty() {
        println!(
            "removed 0 expired sessions (no session uses a store that needs cleaning from here)"
        );
        return Ok(());
    }
    let manager = context.manager(&names).await?;
    print(collect_garbage(&manager).await?);
    Ok(())
}

/// `name: count` for each of `names`.
pub async fn count_sessions(
    manager: &SessionManager,
    names: &[&str],
) -> Result<Vec<String>, Failure> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let count = manager
            .count(name)
            .await
            .map_err(|error| store_failure(name, error))?;
        lines.push(format!("{name}: {count}"));
    }
    Ok(lines)
}

/// The live sessions of `owner` in `name`, most recently seen first.
pub async fn owner_sessions(
    manager: &SessionManager,
    name: &str,
    owner: &str,
) -> Result<Vec<OwnerSession>, Failure> {
    manager
        .owner_sessions(name, owner, None)
        .await
        .map_err(|error| store_failure(name, error))
}

/// `sessions` as a table: a header line, then one line per session, columns aligned. The
/// `User-Agent` comes last, as it is the longest and the only free text.
pub fn sessions_table(sessions: &[OwnerSession], now: u64) -> Vec<String> {
    let dash = || "-".to_string();
    let mut rows = vec![[
        "HANDLE",
        "CREATED",
        "LAST SEEN",
        "LOGGED IN",
        "EXPIRES",
        "IP",
        "USER AGENT",
    ]
    .map(String::from)];
    for session in sessions {
        let device = session.device.as_ref();
        rows.push([
            session.handle.clone(),
            rfc3339(session.created_at),
            device.map_or_else(dash, |device| {
                format!(
                    "{} ({})",
                    rfc3339(device.last_seen_at),
                    relative(device.last_seen_at, now)
                )
            }),
            device.map_or_else(dash, |device| rfc3339(device.logged_in_at)),
            format!(
                "{} ({})",
                rfc3339(session.expires_at),
                relative(session.expires_at, now)
            ),
            device
                .and_then(|device| device.ip.as_deref())
                .map_or_else(dash, printable),
            device
                .and_then(|device| device.user_agent.as_deref())
                .map_or_else(dash, printable),
        ]);
    }
    aligned(&rows)
}

/// `text` with its control characters shown as `?`. The library drops them from what it
/// records, but a store's contents are not the tool's to trust: text printed to a terminal must
/// not move its cursor or change its colours.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Rows of cells as lines, every column but the last padded to its widest cell.
fn aligned<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
                if index + 1 == N {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// `sessions` as a JSON array, times in milliseconds since the Unix epoch, `null` for what the
/// session did not record (a session bound to its owner before device records has none).
pub fn sessions_json(sessions: &[OwnerSession]) -> String {
    let entries: Vec<serde_json::Value> = sessions
        .iter()
        .map(|session| {
            let device = session.device.as_ref();
            serde_json::json!({
                "handle": session.handle,
                "created_at": session.created_at,
                "last_seen_at": device.map(|device| device.last_seen_at),
                "logged_in_at": device.map(|device| device.logged_in_at),
                "expires_at": session.expires_at,
                "user_agent": device.and_then(|device| device.user_agent.as_deref()),
                "ip": device.and_then(|device| device.ip.as_deref()),
            })
        })
        .collect();
    serde_json::Value::Array(entries).to_string()
}

/// Which of an owner's sessions `revoke` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke<'a> {
    /// Every one ("log out everywhere").
    All,
    /// The one with this handle, if it is the owner's.
    One(&'a str),
    /// Every one but the one with this handle ("log out the other devices").
    AllBut(&'a str),
}

/// Ends the sessions of `owner` in `name` that `which` says; not found when it ended none.
pub async fn revoke_sessions(
    manager: &SessionManager,
    name: &str,
    owner: &str,
    which: Revoke<'_>,
) -> Result<Vec<String>, Failure> {
    let revoked = match which {
        Revoke::All => manager
            .revoke_owner(name, owner)
            .await
            .map_err(|error| store_failure(name, error))?,
        Revoke::One(handle) => {
            let ended = manager
                .revoke_session(name, owner, handle)
                .await
                .map_err(|error| store_failure(name, error))?;
            if !ended {
                return Err(Failure::NotFound(format!(
                    "`{owner}` has no live session with handle `{handle}` in session `{name}`; nothing revoked"
                )));
            }
            1
        }
        Revoke::AllBut(keep) => revoke_all_but(manager, name, owner, keep).await?,
    };
    if revoked == 0 {
        let others = if matches!(which, Revoke::AllBut(_)) {
            " other"
        } else {
            ""
        };
        return Err(Failure::NotFound(format!(
            "`{owner}` had no{others} live sessions in session `{name}`; nothing revoked"
        )));
    }
    let kept = match which {
        Revoke::AllBut(keep) => format!(", kept {keep}"),
        _ => String::new(),
    };
    Ok(vec![format!(
        "revoked {revoked} session(s) of `{owner}` in session `{name}`{kept}"
    )])
}

/// Ends every session of `owner` but `keep`. The operator holds a handle, not the session's id,
/// which [`SessionManager::revoke_others`] takes; the store's own operation takes the handle
/// (the storage key). A handle that is not one of the owner's live sessions, a typo most
/// likely, ends nothing: the store would otherwise keep no session at all.
async fn revoke_all_but(
    manager: &SessionManager,
    name: &str,
    owner: &str,
    keep: &str,
) -> Result<u64, Failure> {
    let sessions = owner_sessions(manager, name, owner).await?;
    if !sessions.iter().any(|session| session.handle == keep) {
        return Err(Failure::NotFound(format!(
            "`{owner}` has no live session with handle `{keep}` in session `{name}` to keep; nothing revoked (`list --owner` shows the handles)"
        )));
    }
    let Some(Backend::Server(store)) = manager.backend(name) else {
        return Err(Failure::Usage(format!(
            "session `{name}` keeps no sessions on the server"
        )));
    };
    store
        .delete_owner(owner, Some(keep))
        .await
        .map_err(|error| Failure::Store(format!("session `{name}`: {error}")))
}

/// One cleanup pass over every store of `manager` that needs one.
pub async fn collect_garbage(manager: &SessionManager) -> Result<Vec<String>, Failure> {
    let removed = manager
        .cleanup()
        .await
        .map_err(|error: StoreError| Failure::Store(error.to_string()))?;
    Ok(vec![format!("removed {removed} expired session(s)")])
}

#[cfg(test)]
mod tests {
    //! The commands' work against the memory store, inside one process: what an application
    //! holding the store would see. The binary's own tests run them against the file store.

    use session_core::{ClientInfo, KeyRing, SessionsConfig};

    use super::*;

    /// A session of each of `owners`, logged in from a client named after its position.
    async fn manager_with_sessions_of(owners: &[&str]) -> SessionManager {
        let config = SessionsConfig::from_toml(
            r#"
            [sessions.app]
            transport = { type = "cookie", name = "app_session" }
            store = { type = "memory" }
            owners = { record_ip = true }
            "#,
        )
        .unwrap();
        let manager =
            SessionManager::from_config(&config, &session_stores::registry(), KeyRing::generate())
                .await
                .unwrap();
        for (index, owner) in owners.iter().enumerate() {
            let request = manager.request(None, |_| None);
            request.set_client_info(ClientInfo {
                user_agent: Some(format!("Agent/{index}")),
                ip: Some(format!("192.0.2.{index}")),
            });
            let session = request.default_session().await.unwrap();
            session.insert("user", owner).unwrap();
            session.set_owner(*owner).unwrap();
            manager.save_request(request).await.unwrap();
        }
        manager
    }

    async fn handles_of(manager: &SessionManager, owner: &str) -> Vec<String> {
        owner_sessions(manager, "app", owner)
            .await
            .unwrap()
            .into_iter()
            .map(|session| session.handle)
            .collect()
    }

    #[tokio::test]
    async fn the_table_has_a_header_and_a_row_per_session_with_its_device() {
        let manager = manager_with_sessions_of(&["alice", "bob", "alice"]).await;
        let sessions = owner_sessions(&manager, "app", "alice").await.unwrap();
        let lines = sessions_table(&sessions, session_core::now_ms() + 5_000);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("HANDLE "), "{lines:?}");
        for (line, session) in lines[1..].iter().zip(&sessions) {
            assert!(line.starts_with(&session.handle), "{line}");
        }
        let rows = lines[1..].join("\n");
        for expected in ["Agent/0", "192.0.2.2", "Agent/2", "s ago)", "(in "] {
            assert!(rows.contains(expected), "expected `{expected}` in: {rows}");
        }
        assert!(
            !rows.contains("Agent/1"),
            "bob's session is not alice's: {rows}"
        );
        // Every row's columns start where the header's do.
        let column = lines[0].find("USER AGENT").unwrap();
        assert!(lines[1..]
            .iter()
            .all(|line| line[column..].starts_with("Agent/")));
    }

    #[test]
    fn stored_text_cannot_drive_the_terminal() {
        let mut session = OwnerSession::from_parts(
            "k",
            0,
            0,
            Some(r#"{"l":0,"s":0,"u":"Evil\u001b[2J\u0007/1","ip":"\r192.0.2.1"}"#),
        );
        assert!(session.device.is_some());
        let lines = sessions_table(std::slice::from_ref(&session), 0);
        assert!(lines[1].ends_with("  ?192.0.2.1  Evil?[2J?/1"), "{lines:?}");
        session.device = None;
        assert!(sessions_table(&[session], 0)[1].ends_with("  -   -"));
    }

    #[tokio::test]
    async fn the_json_has_one_object_per_session_and_null_for_what_is_not_recorded() {
        let manager = manager_with_sessions_of(&["alice"]).await;
        let mut sessions = owner_sessions(&manager, "app", "alice").await.unwrap();
        sessions.push(OwnerSession::from_parts("k", 1, 2, None));
        let json: serde_json::Value = serde_json::from_str(&sessions_json(&sessions)).unwrap();
        assert_eq!(json[0]["handle"], sessions[0].handle.as_str());
        assert_eq!(json[0]["user_agent"], "Agent/0");
        assert_eq!(json[0]["ip"], "192.0.2.0");
        assert!(json[0]["last_seen_at"].as_u64() >= json[0]["created_at"].as_u64());
        assert_eq!(
            json[1],
            serde_json::json!({
                "handle": "k", "created_at": 1, "expires_at": 2, "last_seen_at": null,
                "logged_in_at": null, "user_agent": null, "ip": null
            })
        );
        assert_eq!(sessions_json(&[]), "[]");
    }

    #[tokio::test]
    async fn revoke_ends_the_owners_sessions_only() {
        let manager = manager_with_sessions_of(&["alice", "alice", "bob"]).await;
        assert_eq!(
            revoke_sessions(&manager, "app", "alice", Revoke::All)
                .await
                .unwrap(),
            ["revoked 2 session(s) of `alice` in session `app`"]
        );
        assert!(handles_of(&manager, "alice").await.is_empty());
        assert!(matches!(
            revoke_sessions(&manager, "app", "alice", Revoke::All).await,
            Err(Failure::NotFound(_))
        ));
        assert_eq!(handles_of(&manager, "bob").await.len(), 1);
        assert_eq!(
            count_sessions(&manager, &["app"]).await.unwrap(),
            ["app: 1"]
        );
    }

    #[tokio::test]
    async fn revoke_one_or_all_but_one_goes_by_handle_and_only_the_owners() {
        let manager = manager_with_sessions_of(&["alice", "alice", "alice", "bob"]).await;
        let alice = handles_of(&manager, "alice").await;
        let bob = handles_of(&manager, "bob").await;
        // Another owner's handle, or one that is no session, ends nothing.
        for handle in [bob[0].as_str(), "not-a-handle"] {
            for which in [Revoke::One(handle), Revoke::AllBut(handle)] {
                let error = revoke_sessions(&manager, "app", "alice", which)
                    .await
                    .unwrap_err();
                assert_eq!(error.exit_code(), 1, "{error}");
                assert!(error.to_string().contains("nothing revoked"), "{error}");
            }
        }
        assert_eq!(handles_of(&manager, "alice").await.len(), 3);
        assert_eq!(
            revoke_sessions(&manager, "app", "alice", Revoke::One(&alice[0]))
                .await
                .unwrap(),
            ["revoked 1 session(s) of `alice` in session `app`"]
        );
        assert_eq!(
            revoke_sessions(&manager, "app", "alice", Revoke::AllBut(&alice[2]))
                .await
                .unwrap(),
            [format!(
                "revoked 1 session(s) of `alice` in session `app`, kept {}",
                alice[2]
            )]
        );
        assert_eq!(handles_of(&manager, "alice").await, [alice[2].clone()]);
        let error = revoke_sessions(&manager, "app", "alice", Revoke::AllBut(&alice[2]))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("no other live sessions"),
            "{error}"
        );
        assert_eq!(handles_of(&manager, "bob").await, bob);
    }
}
