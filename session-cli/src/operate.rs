//! `count`, `list`, `revoke` and `gc`: the server-side stores, through the session manager.

use session_core::{Error, StoreError};

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

pub async fn count(context: &Context, session: Option<&str>) -> Result<(), Failure> {
    let names: Vec<&str> = match session {
        Some(name) => {
            context.reachable_store(name)?;
            vec![name]
        }
        None => {
            let names: Vec<&str> = context
                .names()
                .into_iter()
                .filter(|name| context.reachable_store(name).is_ok())
                .collect();
            if names.is_empty() {
                return Err(Failure::Usage(
                    "no session uses a store this tool can reach (file, redis, or one of your own); cookie and memory sessions cannot be counted from outside the application".to_string(),
                ));
            }
            names
        }
    };
    let manager = context.manager(&names).await?;
    for name in names {
        let count = manager
            .count(name)
            .await
            .map_err(|error| store_failure(name, error))?;
        println!("{name}: {count}");
    }
    Ok(())
}

pub async fn list(context: &Context, owner: &str, session: Option<&str>) -> Result<(), Failure> {
    let name = context.session_or_default(session)?;
    context.reachable_store(name)?;
    let manager = context.manager(&[name]).await?;
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
    for entry in sessions {
        println!(
            "{}  created {}  expires {} ({})",
            entry.key,
            rfc3339(entry.created_at),
            rfc3339(entry.expires_at),
            relative(entry.expires_at, now)
        );
    }
    Ok(())
}

pub async fn revoke(context: &Context, owner: &str, session: Option<&str>) -> Result<(), Failure> {
    let name = context.session_or_default(session)?;
    context.reachable_store(name)?;
    let manager = context.manager(&[name]).await?;
    let revoked = manager
        .revoke_owner(name, owner)
        .await
        .map_err(|error| store_failure(name, error))?;
    if revoked == 0 {
        return Err(Failure::NotFound(format!(
            "`{owner}` had no live sessions in session `{name}`; nothing revoked"
        )));
    }
    println!("revoked {revoked} session(s) of `{owner}` in session `{name}`");
    Ok(())
}

pub async fn gc(context: &Context) -> Result<(), Failure> {
    let names: Vec<&str> = context
        .names()
        .into_iter()
        .filter(|name| context.reachable_store(name).is_ok())
        .collect();
    if names.is_empty() {
        println!(
            "removed 0 expired sessions (no session uses a store that needs cleaning from here)"
        );
        return Ok(());
    }
    let manager = context.manager(&names).await?;
    let removed = manager
        .cleanup()
        .await
        .map_err(|error: StoreError| Failure::Store(error.to_string()))?;
    println!("removed {removed} expired session(s)");
    Ok(())
}
