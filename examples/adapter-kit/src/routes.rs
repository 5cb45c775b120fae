//! What the routes do, written once over the core's session handle: each test app's handler
//! extracts its framework's sessions (which dereference to [`Session`]), calls one of these and
//! returns the text, or the error through its adapter's error type with `?`.

use serde::{Deserialize, Serialize};
use session_core::{Error, Session};

/// The default session's `user`, or nothing.
pub fn whoami(app: &Session) -> Result<String, Error> {
    Ok(app.get::<String>("user")?.unwrap_or_default())
}

/// Writes `user = "alice"`, gives the session a new id and binds it to `alice`.
pub fn login(app: &Session) -> Result<String, Error> {
    app.insert("user", "alice")?;
    app.regenerate_id();
    app.set_owner("alice")?;
    Ok(String::new())
}

/// Ends the session.
pub fn logout(app: &Session) -> String {
    app.destroy();
    String::new()
}

/// Writes `visited = true` (an anonymous session with a record).
pub fn visit(app: &Session) -> Result<String, Error> {
    app.insert("visited", true)?;
    Ok(String::new())
}

/// `true` when two extractions of the default session, and two of the cart, are one handle
/// each: what the first writes, the second reads.
pub fn twice(
    first: &Session,
    second: &Session,
    cart: &Session,
    cart_again: &Session,
) -> Result<String, Error> {
    first.insert("seen", true)?;
    cart.insert("items", ["apple"])?;
    let same = second.id() == first.id()
        && second.get::<bool>("seen")? == Some(true)
        && cart_again.get::<Vec<String>>("items")?.is_some();
    Ok(same.to_string())
}

/// Adds `apple` to the cart's `items` and answers them as JSON.
pub fn add_to_cart(cart: &Session) -> Result<String, Error> {
    let mut items: Vec<String> = cart.get("items")?.unwrap_or_default();
    items.push("apple".to_string());
    cart.insert("items", &items)?;
    Ok(serde_json::json!(items).to_string())
}

/// `[user, cart items, items of the default session]` as JSON.
pub fn both(app: &Session, cart: &Session) -> Result<String, Error> {
    let user: Option<String> = app.get("user")?;
    let items: Option<Vec<String>> = cart.get("items")?;
    let in_app: Option<Vec<String>> = app.get("items")?;
    Ok(serde_json::json!([user, items, in_app]).to_string())
}

/// Writes `token_user = "bob"` in the header session.
pub fn api_login(api: &Session) -> Result<String, Error> {
    api.insert("token_user", "bob")?;
    Ok(String::new())
}

/// The header session's `token_user`, or nothing.
pub fn api_me(api: &Session) -> Result<String, Error> {
    Ok(api.get::<String>("token_user")?.unwrap_or_default())
}

/// Ends the header session.
pub fn api_logout(api: &Session) -> String {
    api.destroy();
    String::new()
}

/// Writes text and reads it back as a number: always a session error.
pub fn wrong_type(app: &Session) -> Result<String, Error> {
    app.insert("n", "text")?;
    let number: Option<u32> = app.get("n")?;
    Ok(format!("{number:?}"))
}

/// `[cart shared, default shared]` as JSON: whether what `cart_by_name`
/// (`sessions.get("cart")`) writes, `cart` reads, and whether `default_by_name`
/// (`sessions.default_session()`) is `app`.
pub fn by_name(
    cart_by_name: &Session,
    default_by_name: &Session,
    app: &Session,
    cart: &Session,
) -> Result<String, Error> {
    cart_by_name.insert("items", ["plum"])?;
    let shared = cart.get::<Vec<String>>("items")?.is_some();
    let default = default_by_name.id() == app.id();
    Ok(serde_json::json!([shared, default]).to_string())
}

/// Writes a value past the default session's 16 KiB limit.
pub fn huge(app: &Session) -> Result<String, Error> {
    app.insert("blob", "x".repeat(20_000))?;
    Ok(String::new())
}

/// Writes a value past what the cart's cookies can hold.
pub fn cart_huge(cart: &Session) -> Result<String, Error> {
    cart.insert("blob", "y".repeat(5_000))?;
    Ok(String::new())
}

/// The typed session of [`typed`].
#[derive(Serialize, Deserialize, Default)]
pub struct Visit {
    /// Pages seen.
    pub visits: u32,
    /// The last page seen.
    pub last: String,
}

/// Reads the whole session as a [`Visit`], counts `page` and writes it back: `"{visits} {last}"`.
pub fn typed(app: &Session, page: &str) -> Result<String, Error> {
    let mut visit: Visit = app.get_as().unwrap_or_default();
    visit.visits += 1;
    visit.last = page.to_string();
    app.set_as(&visit)?;
    Ok(format!("{} {}", visit.visits, visit.last))
}

/// Writes `user = "mallory"`, for a handler that then answers another status, or panics.
pub fn write_mallory(app: &Session) -> Result<String, Error> {
    app.insert("user", "mallory")?;
    Ok(String::from("written"))
}

/// A login that goes wrong late: writes `user = "mallory"`, gives the session a new id, then
/// writes a value past the size limit, whose error the handler returns with `?` (a 413).
pub fn login_huge(app: &Session) -> Result<String, Error> {
    app.insert("user", "mallory")?;
    app.regenerate_id();
    app.insert("blob", "x".repeat(20_000))?;
    Ok(String::new())
}

/// The owner bound to the session (for the login guard's routes): binds `alice`.
pub fn bind_alice(app: &Session) -> Result<String, Error> {
    app.set_owner("alice")?;
    app.regenerate_id();
    Ok(String::new())
}
