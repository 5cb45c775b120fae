//! `session-cli`: the operator's side of a `session-core` application.
//!
//! It reads the application's own configuration file (`--config`, `SESSIONS_CONFIG`, or
//! `sessions.toml`) and keys (`SESSION_KEYS`), so what it opens, counts and revokes is what the
//! application sees. Exit codes, for scripts:
//!
//! - `0`: done;
//! - `1`: not found: the value does not open, no live session, nothing to list or revoke;
//! - `2`: usage, configuration or key error (clap's own usage errors are 2 as well);
//! - `3`: a store failed (unreachable server, unreadable directory).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod context;
mod inspect;
mod operate;
mod schema;
mod time;

/// Operate the sessions of an application built on session-core.
///
/// Reads the application's configuration file and its keys from `SESSION_KEYS` (comma-separated
/// base64 secrets, primary first). Exit codes: 0 done; 1 not found (does not open, no live
/// session, nothing listed or revoked); 2 usage, configuration or key error; 3 a store failed.
#[derive(Debug, Parser)]
#[command(name = "session-cli", version)]
struct Cli {
    /// The sessions configuration file (TOML, or JSON when it ends in `.json`).
    #[arg(
        long,
        short,
        global = true,
        env = "SESSIONS_CONFIG",
        default_value = "sessions.toml"
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a fresh base64 key of 32 random bytes from the operating system's CSPRNG.
    ///
    /// Use it as `SESSION_KEYS`; to rotate, put the new key first and keep the old ones after
    /// it, comma-separated, until the sessions sealed under them have expired.
    Keygen,
    /// Open a session cookie or header value and show what it holds, or why it does not open.
    ///
    /// Accepts a bare value, a `name=value` cookie pair, a `Set-Cookie:`/`Cookie:` line or a
    /// `header: value` line. The cookie or header name picks the session; without one, every
    /// configured session is tried. For a server-side session the signed id is verified and
    /// its record loaded from the store. The id itself is never printed (it is a live token);
    /// its storage key is.
    Inspect {
        /// The value; `-` or nothing reads it from standard input.
        // A bare base64url value starts with `-` one time in 64.
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
        /// The session name (a `[sessions.<name>]` table) to open it as.
        #[arg(long, short)]
        session: Option<String>,
    },
    /// Count the live sessions of each server-side session, or of one.
    Count {
        /// The session name; all server-side sessions when left out.
        session: Option<String>,
    },
    /// List an owner's live sessions (bound with `Session::set_owner`), most recently seen
    /// first: handle, created, last seen, logged in, expires, the client's address when the
    /// configuration records it (`owners.record_ip`) and its `User-Agent`.
    ///
    /// The handle is the session's storage key (as `inspect` shows it), never its id: it opens
    /// nothing, and `revoke --handle` or `--keep` takes it.
    List {
        /// The owner, e.g. a user id.
        #[arg(long, short)]
        owner: String,
        /// The session name; the configuration's default session when left out.
        #[arg(long, short)]
        session: Option<String>,
        /// Print a JSON array for scripts instead of a table: one object per session with
        /// `handle`, `created_at`, `last_seen_at`, `logged_in_at`, `expires_at` (milliseconds
        /// since the Unix epoch), `user_agent` and `ip` (`null` when not recorded). An owner
        /// without sessions prints `[]` and exits 1.
        #[arg(long)]
        json: bool,
    },
    /// End sessions of an owner and print how many: every one ("log out everywhere"), the one
    /// `--handle` names, or all but the one `--keep` names ("log out the other devices").
    /// Their cookies stop opening at once.
    Revoke {
        /// The owner, e.g. a user id.
        #[arg(long, short)]
        owner: String,
        /// The session name; the configuration's default session when left out.
        #[arg(long, short)]
        session: Option<String>,
        /// End only the session with this handle (from `list`), if it is one of the owner's.
        // A handle is base64url: one in 64 starts with `-`.
        #[arg(long, conflicts_with = "keep", allow_hyphen_values = true)]
        handle: Option<String>,
        /// End every session of the owner but the one with this handle (from `list`); nothing
        /// is ended when it is not one of the owner's live sessions.
        #[arg(long, allow_hyphen_values = true)]
        keep: Option<String>,
    },
    /// Remove expired sessions from every store that needs cleaning, once, and report how many
    /// went.
    Gc,
    /// Print the statements that create the table of a SQL store (postgres, mysql, sqlite) and
    /// its indexes: a migration to review, for applications run with `create_table = false`.
    ///
    /// The session's store type and `table` come from the configuration; `--dialect` (with
    /// `--table`) prints them without one. `--apply` runs them against the session's database,
    /// which is idempotent (`IF NOT EXISTS`), and says whether the table was created or already
    /// there.
    Schema {
        /// The session name; the configuration's default session when left out.
        #[arg(conflicts_with = "dialect")]
        session: Option<String>,
        /// Run the statements against the session's database (its `url`, or
        /// `SESSIONS_<NAME>_STORE_URL`).
        #[arg(long, conflicts_with = "dialect")]
        apply: bool,
        /// Print the statements of this database without reading any configuration.
        #[arg(long, value_enum)]
        dialect: Option<schema::Dialect>,
        /// The table, with `--dialect` [default: sessions].
        #[arg(long, requires = "dialect")]
        table: Option<String>,
    },
}

/// Why a command did not succeed; each maps to one exit code.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// Not found: the value does not open, no live session, nothing listed or revoked.
    #[error("{0}")]
    NotFound(String),
    /// The configuration, the keys or the arguments are wrong.
    #[error("{0}")]
    Usage(String),
    /// A store failed.
    #[error("{0}")]
    Store(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::NotFound(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Store(_) => 3,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen => {
            println!("{}", session_core::Key::generate_secret_base64());
            Ok(())
        }
        Command::Schema {
            dialect: Some(dialect),
            table,
            ..
        } => schema::print_dialect(dialect, table.as_deref()),
        command => run(&cli.config, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("session-cli: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn run(config: &std::path::Path, command: Command) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::Store(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(async {
        let context = context::Context::load(config)?;
        match command {
            Command::Keygen => Ok(()),
            Command::Inspect { value, session } => {
                let value = match value.as_deref() {
                    None | Some("-") => read_stdin()?,
                    Some(value) => value.to_string(),
                };
                inspect::inspect(&context, &value, session.as_deref()).await
            }
            Command::Count { session } => operate::count(&context, session.as_deref()).await,
            Command::List {
                owner,
                session,
                json,
            } => operate::list(&context, &owner, session.as_deref(), json).await,
            Command::Revoke {
                owner,
                session,
                handle,
                keep,
            } => {
                let which = match (handle.as_deref(), keep.as_deref()) {
                    (Some(handle), _) => operate::Revoke::One(handle),
                    (None, Some(keep)) => operate::Revoke::AllBut(keep),
                    (None, None) => operate::Revoke::All,
                };
                operate::revoke(&context, &owner, session.as_deref(), which).await
            }
            Command::Gc => operate::gc(&context).await,
            Command::Schema { session, apply, .. } => {
                schema::schema(&context, session.as_deref(), apply).await
            }
        }
    })
}

fn read_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|error| {
        Failure::Usage(format!(
            "cannot read the value from standard input: {error}"
        ))
    })?;
    Ok(text)
}
