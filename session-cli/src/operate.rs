//! `count`, `list`, `revoke` and `gc`: the server-side stores, through the session manager.
//!
//! Each command resolves its sessions and builds a manager over their stores; the work itself
//! is a function of the manager that returns the lines to print, so that it reads (and is
//! tested) apart from where the stores come from.

use session_core::{Error, SessionManager, StoreError};

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

pub async fn list(context: &Context, owner: &str, session: Option<&str>) -> Result<(), Failure> {
    let name = context.session_or_default(session)?;
    context.reachable_store(name)?;
    let manager = context.manager(&[name]).await?;
    print(list_sessions(&manager, name, owner).await?);
    Ok(())
}

pub async fn revoke(context: &Context, owner: &str, session: Option<&str>) -> Result<(), Failure> {
    let name = context.session_or_default(session)?;
    context.reachable_store(name)?;
    let manager = context.manager(&[name]).await?;
    print(revoke_sessions(&manager, name, owner).await?);
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

/// One line per live session of `owner` in `name`; not found when there is none.
pub async fn list_sessions(
    manager: &SessionManager,
    name: &str,
    owner: &str,
) -> Result<Vec<String>, Failure> {
    let sessions = manager
        .owner_sessions(name, owner)
        .await
        .map_err(|error| store_failure(name, error))?;
    if sessions.is_empty() {
        return Err(Failure::NotFound(format!(
            "`{owner}` has no live sessions in session `{name}`"
        )));
    }
    let now = session_core::now_ms();
    Ok(sessions
        .into_iter()
        .map(|entry| {
            format!(
                "{}  created {}  expires {} ({})",
                entry.key,
                rfc3339(entry.created_at),
                rfc3339(entry.expires_at),
                relative(entry.expires_at, now)
            )
        })
        .collect())
}

/// Ends every session of `owner` in `name`; not found when there was none.
pub async fn revoke_sessions(
    manager: &SessionManager,
    name: &str,
    owner: &str,
) -> Result<Vec<String>, Failure> {
    let revoked = manager
        .revoke_owner(name, owner)
        .await
        .map_err(|error| store_failure(name, error))?;
    if revoked == 0 {
        return Err(Failure::NotFound(format!(
            "`{owner}` had no live sessions in session `{name}`; nothing revoked"
        )));
    }
    Ok(vec![format!(
        "revoked {revoked} session(s) of `{owner}` in session `{name}`"
    )])
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

    use session_core::{KeyRing, SessionsConfig};

    use super::*;

    async fn manager_with_sessions_of(owners: &[&str]) -> SessionManager {
        let config = SessionsConfig::from_toml(
            r#"
            [sessions.app]
            transport = { type = "cookie", name = "app_session" }
            store = { type = "memory" }
            "#,
        )
        .unwrap();
        let manager =
            SessionManager::from_config(&config, &session_stores::registry(), KeyRing::generate())
                .await
                .unwrap();
        for owner in owners {
            let request = manager.request(None, |_| None);
            let session = request.default_session().await.unwrap();
            session.insert("user", owner).unwrap();
            session.set_owner(*owner).unwrap();
            manager.save_request(request).await.unwrap();
        }
        manager
    }

    #[tokio::test]
    async fn list_shows_each_session_of_the_owner_by_storage_key() {
        let manager = manager_with_sessions_of(&["alice", "alice", "bob"]).await;
        let lines = list_sessions(&manager, "app", "alice").await.unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines.iter().all(|line| line.contains("created 20")),
            "{lines:?}"
        );
        assert_eq!(
            count_sessions(&manager, &["app"]).await.unwrap(),
            ["app: 3"]
        );
    }

    #[tokio::test]
    async fn revoke_ends_the_owners_sessions_only() {
        let manager = manager_with_sessions_of(&["alice", "alice", "bob"]).await;
        assert_eq!(
            revoke_sessions(&manager, "app", "alice").await.unwrap(),
            ["revoked 2 session(s) of `alice` in session `app`"]
        );
        assert!(matches!(
            list_sessions(&manager, "app", "alice").await,
            Err(Failure::NotFound(_))
        ));
        assert!(matches!(
            revoke_sessions(&manager, "app", "alice").await,
            Err(Failure::NotFound(_))
        ));
        assert_eq!(
            list_sessions(&manager, "app", "bob").await.unwrap().len(),
            1
        );
        assert_eq!(
            count_sessions(&manager, &["app"]).await.unwrap(),
            ["app: 1"]
        );
    }

    #[tokio::test]
    async fn an_owner_without_sessions_is_not_found() {
        let manager = manager_with_sessions_of(&["bob"]).await;
        let error = list_sessions(&manager, "app", "carol").await.unwrap_err();
        assert_eq!(error.exit_code(), 1);
        assert!(
            error.to_string().contains("`carol` has no live sessions"),
            "{error}"
        );
    }
}
