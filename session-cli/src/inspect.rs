//! `inspect`: open one cookie or header value the way the application would, and say what it
//! holds or exactly why it does not open.

use session_core::{now_ms, Key, KeyRing, OpenError, Record, SessionId, Transport};
use session_core::{open_id, open_record, FORMAT_ENCRYPTED, FORMAT_SIGNED, FORMAT_SIGNED_ID};

use crate::context::{Context, KEYS_VARIABLE};
use crate::time::{relative, rfc3339};
use crate::Failure;

/// Where the value came from, when the input says.
#[derive(Debug, PartialEq, Eq)]
enum Carrier<'a> {
    Cookie(&'a str),
    Header(&'a str),
}

/// Splits a bare value, `name=value`, `Cookie: name=value`, `Set-Cookie: name=value; attrs`
/// or `header: value` into the carrier (if named) and the sealed value.
fn parse_input(input: &str) -> (Option<Carrier<'_>>, &str) {
    let mut text = input.trim();
    for prefix in ["set-cookie:", "cookie:"] {
        if text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix) {
            text = text[prefix.len()..].trim_start();
        }
    }
    // Cookie attributes (`; Path=/; HttpOnly`) are not part of the value.
    let text = text.split(';').next().unwrap_or_default().trim();
    if let Some((name, value)) = text.split_once(':') {
        return (Some(Carrier::Header(name.trim())), value.trim());
    }
    // Sealed values are unpadded base64url: an `=` can only separate a cookie's name.
    if let Some((name, value)) = text.split_once('=') {
        return (Some(Carrier::Cookie(name.trim())), value.trim());
    }
    (None, text)
}

/// What opening produced: a client-side record, or a server-side id.
enum Opened {
    Record(Record),
    Id(SessionId),
}

pub async fn inspect(context: &Context, input: &str, session: Option<&str>) -> Result<(), Failure> {
    let (carrier, value) = parse_input(input);
    if value.is_empty() {
        return Err(Failure::Usage(
            "no value given; pass it as an argument or on standard input".to_string(),
        ));
    }
    let (ring, keys) = context.keys()?;
    let candidates: Vec<&str> = match (session, &carrier) {
        (Some(name), _) => vec![context.session(name).map(|_| name)?],
        (None, Some(carrier)) => {
            let matching = sessions_carried_by(context, carrier);
            if matching.is_empty() {
                return Err(Failure::Usage(format!(
                    "no configured session uses {}; pass --session to choose one",
                    describe_carrier(carrier)
                )));
            }
            matching
        }
        (None, None) => context.names(),
    };

    let mut failures = Vec::new();
    for name in &candidates {
        match open(context, ring, name, value) {
            Ok(opened) => return report(context, keys, name, value, opened).await,
            Err(error) => failures.push((*name, error)),
        }
    }

    // A value of another session fails with a bad seal (the name is authenticated): say whose
    // it is.
    if candidates.len() < context.config.sessions.len() {
        for name in context.names() {
            if candidates.contains(&name) {
                continue;
            }
            if open(context, ring, name, value).is_ok() {
                return Err(Failure::NotFound(format!(
                    "does not open as session `{}`: it was sealed for session `{name}`",
                    candidates.join("`, `")
                )));
            }
        }
    }

    let reasons: Vec<String> = failures
        .iter()
        .map(|(name, error)| explain(context, keys, name, value, error))
        .collect();
    Err(Failure::NotFound(match reasons.as_slice() {
        [only] => only.clone(),
        _ => format!(
            "does not open as any configured session:\n  {}",
            reasons.join("\n  ")
        ),
    }))
}

fn sessions_carried_by<'a>(context: &'a Context, carrier: &Carrier<'_>) -> Vec<&'a str> {
    context
        .config
        .sessions
        .iter()
        .filter(|(_, session)| match (&session.transport, carrier) {
            (Transport::Cookie(cookie), Carrier::Cookie(name)) => cookie.name == *name,
            (Transport::Header(header), Carrier::Header(name)) => {
                header.name.eq_ignore_ascii_case(name)
            }
            _ => false,
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

fn describe_carrier(carrier: &Carrier<'_>) -> String {
    match carrier {
        Carrier::Cookie(name) => format!("cookie `{name}`"),
        Carrier::Header(name) => format!("header `{name}`"),
    }
}

fn is_client_side(context: &Context, name: &str) -> bool {
    context
        .config
        .sessions
        .get(name)
        .is_some_and(|session| session.store.kind == "cookie")
}

fn open(context: &Context, ring: &KeyRing, name: &str, value: &str) -> Result<Opened, OpenError> {
    let protection = context
        .config
        .sessions
        .get(name)
        .map(|session| session.protection)
        .unwrap_or_default();
    if is_client_side(context, name) {
        open_record(ring, protection, name, value, now_ms())
            .map(|opened| Opened::Record(opened.record))
    } else {
        open_id(ring, name, value).map(|(id, _)| Opened::Id(id))
    }
}

/// The position (0 = primary) of the key that verifies `value` for `name`, found by trying
/// each key alone. An expired value still verifies first, so it has a key too.
fn key_position(context: &Context, keys: &[Key], name: &str, value: &str) -> Option<usize> {
    keys.iter().position(|key| {
        let ring = KeyRing::new(key.clone());
        matches!(
            open(context, &ring, name, value),
            Ok(_) | Err(OpenError::Expired)
        )
    })
}

fn describe_key(position: usize, total: usize) -> String {
    if position == 0 {
        format!("#1 of {total} (primary)")
    } else {
        format!(
            "#{} of {total} (old: the application reseals the session under the primary key when it next writes it)",
            position + 1
        )
    }
}

fn format_name(format: u8) -> Option<&'static str> {
    match format {
        FORMAT_ENCRYPTED => Some("an encrypted client-side record"),
        FORMAT_SIGNED => Some("a signed client-side record"),
        FORMAT_SIGNED_ID => Some("a signed server-side id"),
        _ => None,
    }
}

fn explain(context: &Context, keys: &[Key], name: &str, value: &str, error: &OpenError) -> String {
    let why = match error {
        OpenError::TooLarge => "is over 65536 characters: not a session value".to_string(),
        OpenError::Malformed => "is not a sealed value: bad base64url, truncated, or one piece of a chunked cookie (join the pieces `name`, `name.1`, ... first)".to_string(),
        OpenError::WrongFormat { found, expected } => match format_name(*found) {
            Some(found) => format!(
                "is {found}, but this session uses {}",
                format_name(*expected).unwrap_or("another format")
            ),
            None => format!("is not a sealed session value (its format byte is {found:#04x})"),
        },
        OpenError::UnknownKey => format!(
            "was sealed under a key that is not in {KEYS_VARIABLE} (removed from the ring, or another application's key)"
        ),
        OpenError::BadSeal => "does not verify: tampered, truncated or extended".to_string(),
        OpenError::BadPayload => {
            "verifies, but holds no session record this version can read".to_string()
        }
        OpenError::Expired => match key_position(context, keys, name, value) {
            Some(position) => format!(
                "verifies (key {}), but has expired",
                describe_key(position, keys.len())
            ),
            None => "has expired".to_string(),
        },
        other => other.to_string(),
    };
    format!("session `{name}`: the value {why}")
}

async fn report(
    context: &Context,
    keys: &[Key],
    name: &str,
    value: &str,
    opened: Opened,
) -> Result<(), Failure> {
    let key = key_position(context, keys, name, value)
        .map(|position| describe_key(position, keys.len()))
        .unwrap_or_else(|| "in the ring".to_string());
    let store_kind = context.session(name)?.store.kind.clone();
    println!("session: {name}");
    match opened {
        Opened::Record(record) => {
            println!(
                "kind: client-side ({:?}, the whole session is in the value)",
                context.session(name)?.protection
            );
            println!("key: {key}");
            print_record(&record);
            Ok(())
        }
        Opened::Id(id) => {
            println!("kind: server-side, store `{store_kind}`");
            println!("key: {key}");
            println!("storage key: {}", id.storage_key());
            if store_kind == "memory" {
                println!("record: not loadable from here (the memory store lives inside the application's process)");
                return Ok(());
            }
            let store = context.store(name).await?;
            match store.load(&id).await {
                Ok(Some(record)) => {
                    print_record(&record);
                    Ok(())
                }
                Ok(None) => Err(Failure::NotFound(format!(
                    "session `{name}`: the signed id verifies, but store `{store_kind}` holds no live session under it (expired, destroyed, regenerated or revoked)"
                ))),
                Err(error) => Err(Failure::Store(format!(
                    "session `{name}`: store `{store_kind}`: {error}"
                ))),
            }
        }
    }
}

fn print_record(record: &Record) {
    let now = now_ms();
    println!(
        "created: {} ({})",
        rfc3339(record.created_at),
        relative(record.created_at, now)
    );
    println!(
        "expires: {} ({})",
        rfc3339(record.expires_at),
        relative(record.expires_at, now)
    );
    match record.absolute_deadline {
        Some(deadline) => println!(
            "absolute deadline: {} ({})",
            rfc3339(deadline),
            relative(deadline, now)
        ),
        None => println!("absolute deadline: none"),
    }
    println!("owner: {}", record.owner.as_deref().unwrap_or("none"));
    let data: serde_json::Map<String, serde_json::Value> = record
        .data
        .iter()
        .map(|(key, raw)| {
            let value = serde_json::from_str(raw.get())
                .unwrap_or_else(|_| serde_json::Value::String(raw.get().to_string()));
            (key.to_string(), value)
        })
        .collect();
    let json = serde_json::to_string_pretty(&serde_json::Value::Object(data))
        .unwrap_or_else(|_| "{}".to_string());
    println!("data: {json}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_name_their_carrier() {
        for (input, expected) in [
            (" abc \n", (None, "abc")),
            (
                "app_session=abc",
                (Some(Carrier::Cookie("app_session")), "abc"),
            ),
            (
                "Set-Cookie: app_session=abc; Path=/; HttpOnly",
                (Some(Carrier::Cookie("app_session")), "abc"),
            ),
            ("cookie: cart=xyz", (Some(Carrier::Cookie("cart")), "xyz")),
            (
                "x-session: abc",
                (Some(Carrier::Header("x-session")), "abc"),
            ),
        ] {
            assert_eq!(parse_input(input), expected, "{input:?}");
        }
    }
}
