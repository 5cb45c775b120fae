//! `schema`: the SQL stores' table as statements to review, or applied to the configured
//! database, for deployments where the application itself may not create tables
//! (`create_table = false`).

use session_core::{Backend, ConfigError, StoreConfig};

use crate::context::{start_failure, Context};
use crate::Failure;

/// The SQL store types, as `--dialect` and a store's `type` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// PostgreSQL (store type `postgres`).
    Postgres,
    /// MySQL or MariaDB (store type `mysql`; `mariadb` is accepted too).
    #[value(alias = "mariadb")]
    Mysql,
    /// SQLite (store type `sqlite`).
    Sqlite,
}

impl Dialect {
    fn of_store(kind: &str) -> Option<Dialect> {
        match kind {
            "postgres" => Some(Dialect::Postgres),
            "mysql" => Some(Dialect::Mysql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    fn store_type(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    fn engine(self) -> &'static str {
        match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
        }
    }

    /// The statements of the store itself, or a usage failure when this build left the
    /// store's feature out.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
        allow(unused_variables)
    )]
    fn statements(self, table: &str) -> Result<String, Failure> {
        match self {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => Ok(session_stores::sql::postgres::schema(table)),
            #[cfg(feature = "mysql")]
            Dialect::Mysql => Ok(session_stores::sql::mysql::schema(table)),
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => Ok(session_stores::sql::sqlite::schema(table)),
            #[allow(unreachable_patterns)]
            other => Err(Failure::Usage(format!(
                "this session-cli was built without the `{0}` feature; build it with `--features {0}`",
                other.store_type()
            ))),
        }
    }
}

/// The table option's default in the SQL stores.
const DEFAULT_TABLE: &str = "sessions";

/// Whether `table` is an identifier the stores accept: `[A-Za-z_][A-Za-z0-9_]*`, at most 63
/// characters. Only such a name is ever spliced into a statement.
fn is_identifier(table: &str) -> bool {
    let mut chars = table.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && table.len() <= 63
}

fn checked_table(table: &str) -> Result<(), Failure> {
    if is_identifier(table) {
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "`table` must be 1 to 63 letters, digits and underscores, not starting with a digit; got {table:?}"
        )))
    }
}

/// The statements for `dialect` and `table`, headed by a comment saying what they are for.
fn migration(dialect: Dialect, table: &str, session: Option<&str>) -> Result<String, Failure> {
    checked_table(table)?;
    let statements = dialect.statements(table)?;
    let of = session.map_or(String::new(), |name| format!(" of session `{name}`"));
    Ok(format!(
        "-- {}: the sessions table `{table}`{of} and its indexes (created only where missing).\n{statements}",
        dialect.engine()
    ))
}

/// `schema --dialect D [--table T]`: the statements alone, without any configuration.
pub fn print_dialect(dialect: Dialect, table: Option<&str>) -> Result<(), Failure> {
    print!(
        "{}",
        migration(dialect, table.unwrap_or(DEFAULT_TABLE), None)?
    );
    Ok(())
}

/// `schema [SESSION] [--apply]`: the statements for the table of a configured session, and with
/// `apply` run against its database.
pub async fn schema(context: &Context, session: Option<&str>, apply: bool) -> Result<(), Failure> {
    let name = context.session_or_default(session)?;
    let store = &context.session(name)?.store;
    let dialect = Dialect::of_store(&store.kind).ok_or_else(|| {
        Failure::Usage(format!(
            "session `{name}` uses the `{}` store, which has no table; `schema` is for the postgres, mysql and sqlite stores",
            store.kind
        ))
    })?;
    let table = match store.options.get("table") {
        None => DEFAULT_TABLE,
        Some(table) => table.as_str().ok_or_else(|| {
            Failure::Usage(format!(
                "session `{name}`: store option `table` must be a string"
            ))
        })?,
    };
    print!("{}", migration(dialect, table, Some(name))?);
    if apply {
        println!("-- {}", apply_to(name, store, table).await?);
    }
    Ok(())
}

/// Runs the statements through the store itself (`create_table = true`, so that PostgreSQL's
/// servers starting at once are serialized as the application's are), and says what changed:
/// the table is looked for before and checked after.
async fn apply_to(name: &str, store: &StoreConfig, table: &str) -> Result<String, Failure> {
    let existed = match open(name, store, false).await {
        Ok(()) => true,
        // Missing, or there without every column the store uses.
        Err(error) if is_missing_table(&error) => false,
        Err(error) => return Err(start_failure(error)),
    };
    // The statements create only what is missing and alter no existing table, so a table of
    // another layout makes them fail (an index on a column it lacks) or leaves it unusable.
    let another_layout = |failure: Failure| {
        match failure {
        Failure::Store(message) => Failure::Store(format!(
            "{message}\n(table `{table}` may already exist with other columns: the statements never alter an existing table, so compare it with the statements above and migrate it by hand)"
        )),
        other => other,
    }
    };
    open(name, store, true)
        .await
        .map_err(|error| another_layout(start_failure(error)))?;
    open(name, store, false)
        .await
        .map_err(|error| another_layout(start_failure(error)))?;
    Ok(if existed {
        format!(
            "applied: table `{table}` was already there with every column the store uses; nothing existing was changed"
        )
    } else {
        format!("applied: created table `{table}` and its indexes")
    })
}

/// Starts the store of session `name` with `create_table` set as given, and closes it.
async fn open(name: &str, store: &StoreConfig, create_table: bool) -> Result<(), ConfigError> {
    let mut store = store.clone();
    store
        .options
        .insert("create_table".into(), create_table.into());
    match session_stores::registry().build(name, &store).await? {
        Backend::Server(_) | Backend::ClientSide(_) => Ok(()),
    }
}

/// Whether the store refused to start only because its table is missing or incomplete.
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
fn is_missing_table(error: &ConfigError) -> bool {
    use session_core::StoreError;
    use session_stores::sql::SqlStoreError;
    let ConfigError::Store { source, .. } = error else {
        return false;
    };
    matches!(
        source.downcast_ref::<StoreError>(),
        Some(StoreError::Backend(inner))
            if matches!(inner.downcast_ref::<SqlStoreError>(), Some(SqlStoreError::MissingTable { .. }))
    )
}

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
fn is_missing_table(_: &ConfigError) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_identifiers_are_tables() {
        for good in ["sessions", "_s", "S_2", &"a".repeat(63)] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", "2s", "a-b", "a\"b", "a b", &"a".repeat(64), "é"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
