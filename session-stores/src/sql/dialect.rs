//! What differs between the SQL databases: the [`Dialect`] that [`SqlStore`](super::SqlStore) is
//! generic over. Everything else (the operations, their error handling, the rows' encoding) is
//! written once, in [`store`](super::store) and the parent module.

use session_core::{Delta, StoreError};
use sqlx::query::Query;
use sqlx::{Connection, Database, Decode, Encode, Type};

use super::SqlOptions;

/// One SQL database's part of a store: its sqlx driver, its statements and table, how it binds
/// and reads keys. Implemented by [`Postgres`](super::postgres::Postgres),
/// [`MySql`](super::mysql::MySql) and [`Sqlite`](super::sqlite::Sqlite), and sealed: the
/// operations' atomicity rests on each statement, so a new database belongs in this crate.
pub trait Dialect: sealed::Sealed + Send + Sync + 'static {
    /// The sqlx driver.
    type Database: Database;
    /// How the `id` and `owner` columns are bound and read back.
    #[doc(hidden)]
    type Key: Column<Self::Database>;
    /// The database's name in messages: `PostgreSQL`, `MySQL` or `SQLite`.
    const ENGINE: &'static str;
    /// What `url` must start with.
    #[doc(hidden)]
    const URL_SCHEMES: &'static [&'static str];
    /// A URL of the right shape, for messages.
    #[doc(hidden)]
    const URL_EXAMPLE: &'static str;

    /// The statements that create the table `table` and its indexes when they are missing (a
    /// migration to review, or to run where the application may not create tables), as
    /// `create_table = true` runs them. `table` must be an identifier
    /// (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters), as [`SqlOptions::validate`] checks.
    fn schema(table: &str) -> String;

    /// What `create_table` runs: [`Dialect::schema`], made safe for servers starting at once.
    #[doc(hidden)]
    fn create_table(table: &str) -> String {
        Self::schema(table)
    }

    /// The statements of every operation on `table`.
    #[doc(hidden)]
    fn statements(table: &str) -> Statements;

    /// The connection options of `options.url` (its scheme already checked), with what the
    /// store needs set.
    #[doc(hidden)]
    fn connect_options(options: &SqlOptions) -> Result<ConnectOptions<Self>, sqlx::Error>;

    /// Refuses a URL the store cannot serve correctly, saying why and what to use instead.
    #[doc(hidden)]
    fn refuse_url(_url: &str) -> Option<&'static str> {
        None
    }

    /// An `id` or `owner` column's value for `text`.
    #[doc(hidden)]
    fn key(text: &str) -> Self::Key;

    /// The text of an `id` or `owner` column ([`StoreError::Corrupt`] when it holds none).
    #[doc(hidden)]
    fn key_text(column: &str, key: Self::Key) -> Result<String, StoreError>;

    /// Whether the database's text can hold `text` at all (an id, an owner, a value's key).
    /// Text it cannot hold is in no row: a lookup by it matches nothing and a write of it is
    /// refused, neither sent (the database would fail it with an error of its own).
    #[doc(hidden)]
    fn can_hold(_text: &str) -> bool {
        true
    }

    /// `statement` (the dialect's `update` or `regenerate`) bound for `change`.
    #[doc(hidden)]
    fn apply<'q>(
        statement: &'q str,
        change: Change<'q>,
    ) -> Query<'q, Self::Database, <Self::Database as Database>::Arguments<'q>>;

    /// How many rows a statement changed.
    #[doc(hidden)]
    fn rows_affected(done: &<Self::Database as Database>::QueryResult) -> u64;

    /// Whether opening the store failed only because another process held the database for a
    /// moment, so that opening again is worth it.
    #[doc(hidden)]
    fn is_busy(_error: &sqlx::Error) -> bool {
        false
    }

    /// Whether a write failed only because it met a concurrent one (a deadlock, a lock wait
    /// that timed out) and the database rolled it back whole, so that running it again is safe
    /// and likely to succeed.
    #[doc(hidden)]
    fn is_conflict(_error: &sqlx::Error) -> bool {
        false
    }
}

/// The connection options of a dialect's driver.
pub type ConnectOptions<D> =
    <<<D as Dialect>::Database as Database>::Connection as Connection>::Options;

/// A type a column holds: bound, read back and typed by the driver `DB`.
#[doc(hidden)]
pub trait Column<DB: Database>:
    for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + Unpin + 'static
{
}

impl<DB: Database, T> Column<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send + Sync + Unpin + 'static
{
}

/// One dialect's statements, for one table.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Statements {
    pub(crate) table: String,
    pub(crate) load: String,
    pub(crate) insert: String,
    pub(crate) delete_dead: String,
    pub(crate) update: String,
    pub(crate) regenerate: String,
    pub(crate) delete: String,
    pub(crate) owner_sessions: String,
    pub(crate) delete_owner: String,
    /// `delete_owner` sparing one id.
    pub(crate) delete_owner_except: String,
    pub(crate) delete_owned: String,
    pub(crate) count: String,
    pub(crate) cleanup: String,
    pub(crate) sweep: String,
    /// Reads every column the store uses and no row: fails when the table or a column is
    /// missing.
    pub(crate) probe: String,
}

/// The statements that differ between dialects beyond their quoting and parameters.
pub(crate) struct Specific {
    /// An expression of a row's `data` giving the value under
    /// [`DEVICE_KEY`](session_core::DEVICE_KEY) as JSON text (a JSON string, since values are
    /// stored as strings holding their text), or `NULL` when there is none or `data` is not JSON.
    pub(crate) device: String,
    pub(crate) load: String,
    pub(crate) insert: String,
    pub(crate) update: String,
    pub(crate) regenerate: String,
    pub(crate) cleanup: String,
    pub(crate) sweep: String,
}

impl Statements {
    /// The statements for `table`, quoted as `quoted`, whose `n`th parameter is `param(n)`: those
    /// every dialect writes alike, and `specific`.
    pub(crate) fn new(
        table: &str,
        quoted: &str,
        param: impl Fn(usize) -> String,
        specific: Specific,
    ) -> Self {
        let (t, p1, p2, p3) = (quoted, param(1), param(2), param(3));
        Statements {
            table: table.to_string(),
            load: specific.load,
            insert: specific.insert,
            delete_dead: format!("DELETE FROM {t} WHERE id = {p1} AND live_until <= {p2}"),
            update: specific.update,
            regenerate: specific.regenerate,
            delete: format!("DELETE FROM {t} WHERE id = {p1}"),
            owner_sessions: format!(
                "SELECT id, created_at, expires_at, {device} FROM {t} \
                 WHERE owner = {p1} AND live_until > {p2}",
                device = specific.device
            ),
            delete_owner: format!("DELETE FROM {t} WHERE owner = {p1} AND live_until > {p2}"),
            delete_owner_except: format!(
                "DELETE FROM {t} WHERE owner = {p1} AND live_until > {p2} AND id <> {p3}"
            ),
            delete_owned: format!(
                "DELETE FROM {t} WHERE id = {p1} AND owner = {p2} AND live_until > {p3}"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE live_until > {p1}"),
            cleanup: specific.cleanup,
            sweep: specific.sweep,
            probe: format!(
                "SELECT id, data, created_at, expires_at, absolute_deadline, live_until, version, \
                 expiry, owner FROM {t} WHERE 1 = 0"
            ),
        }
    }
}

/// One `update` or `regenerate` of a row, as [`Dialect::apply`] binds it.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Change<'q> {
    /// The row's key.
    pub(crate) id: &'q str,
    pub(crate) delta: &'q Delta,
    /// `delta`'s columns.
    pub(crate) columns: &'q DeltaColumns,
    pub(crate) now: i64,
    /// For a regenerate, the row's new key.
    pub(crate) new: Option<&'q str>,
}

/// A delta's columns, ready to bind.
#[doc(hidden)]
pub struct DeltaColumns {
    pub(crate) expires_at: i64,
    pub(crate) absolute_deadline: Option<i64>,
    pub(crate) live_until: i64,
    pub(crate) expiry: Option<String>,
    /// Whether the delta rebinds the owner (to `owner`).
    pub(crate) set_owner: bool,
    pub(crate) owner: Option<String>,
}

/// Binding a [`Change`] to a query of the driver `DB`, in the orders the dialects' statements
/// take their parameters.
pub(crate) trait BindChange<'q>: Sized {
    /// The delta's columns: the deadlines, the expiry and whether to rebind the owner, in that
    /// order (every dialect's `apply` binds them so).
    fn bind_columns(self, columns: &'q DeltaColumns) -> Self;

    /// The delta's columns, the owner and now, then the new key for a regenerate: the order of
    /// the dialects that number their parameters (PostgreSQL and SQLite), after the id and the
    /// values.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    fn bind_numbered(self, change: Change<'q>) -> Self;
}

impl<'q, DB: Database> BindChange<'q> for Query<'q, DB, DB::Arguments<'q>>
where
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    Option<String>: Column<DB>,
    bool: Column<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
{
    fn bind_columns(self, columns: &'q DeltaColumns) -> Self {
        self.bind(columns.expires_at)
            .bind(columns.absolute_deadline)
            .bind(columns.live_until)
            .bind(&columns.expiry)
            .bind(columns.set_owner)
    }

    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    fn bind_numbered(self, change: Change<'q>) -> Self {
        let query = self
            .bind_columns(change.columns)
            .bind(&change.columns.owner)
            .bind(change.now);
        match change.new {
            Some(new) => query.bind(new),
            None => query,
        }
    }
}

pub(crate) mod sealed {
    /// Keeps [`Dialect`](super::Dialect) to this crate's databases, the ones listed here.
    pub trait Sealed {}

    #[cfg(feature = "mysql")]
    impl Sealed for super::super::mysql::MySql {}
    #[cfg(feature = "postgres")]
    impl Sealed for super::super::postgres::Postgres {}
    #[cfg(feature = "sqlite")]
    impl Sealed for super::super::sqlite::Sqlite {}
}
