//! Request guards: [`Session`] for the default session, [`NamedSession`] for any other,
//! [`Sessions`] for names chosen at run time.
//!
//! A guard opens its session on first use in a request (verifies or decrypts a client-side
//! value, or loads the record from the store); every later guard for the same name in that
//! request gets the same handle. Guards fail with a 500 and a [`SessionRejection`] when the
//! [`SessionFairing`](crate::SessionFairing) is not attached or the store fails; take
//! `Result<Session, SessionRejection>` to handle that yourself.

use std::fmt;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};

use crate::fairing::RequestState;
use crate::SessionRejection;
use session_core::SessionName;

session_core::__define_session_handles!(session_rocket: Session, NamedSession<N>);

/// Opens the session `name` (the default one for `None`), failing the guard on error.
async fn open(
    request: &Request<'_>,
    name: Option<&str>,
) -> Outcome<session_core::Session, SessionRejection> {
    match open_session(request, name).await {
        Ok(session) => Outcome::Success(session),
        Err(error) => Outcome::Error((Status::InternalServerError, error)),
    }
}

/// Opens the session `name` (the default one for `None`); a failure is logged and recorded on
/// the request.
async fn open_session(
    request: &Request<'_>,
    name: Option<&str>,
) -> Result<session_core::Session, SessionRejection> {
    let result = match RequestState::of(request) {
        None => Err(SessionRejection::NotInstalled),
        Some(sessions) => match name {
            Some(name) => sessions.session(name).await,
            None => sessions.default_session().await,
        }
        .map_err(SessionRejection::Open),
    };
    if let Err(error) = &result {
        tracing::error!(session = name.unwrap_or("default"), "{error}");
        error.failure().record(request);
    }
    result
}

/// All of the request's sessions, opened by name at run time: `sessions.get("cart").await?`.
/// Prefer [`Session`] and [`NamedSession`] when the name is known at compile time.
///
/// The guard itself only fails without the fairing; opening a session can fail later, and a
/// failure returned from the handler (or dropped) still makes the request save nothing.
#[derive(Clone, Copy)]
pub struct Sessions<'r> {
    request: &'r Request<'r>,
}

impl Sessions<'_> {
    /// The session `name`, opened on first use; the same handle on every later call.
    ///
    /// ```
    /// # use rocket::local::asynchronous::Client;
    /// # use session_rocket::{KeyRing, SessionFairing, SessionManager, SessionsConfig, StoreRegistry};
    /// # /// The body of the answer to `GET /` from an app serving `routes`, with the sessions `app`
    /// # /// (the default) and `cart`.
    /// # async fn call(routes: Vec<rocket::Route>) -> String {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "app"
    /// #         [sessions.app]
    /// #         transport = { type = "cookie", name = "app_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.cart]
    /// #         transport = { type = "cookie", name = "cart" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap();
    /// #     let rocket = rocket::build().attach(SessionFairing::new(manager)).mount("/", routes);
    /// #     let client = Client::tracked(rocket).await.unwrap();
    /// #     client.get("/").dispatch().await.into_string().await.unwrap_or_default()
    /// # }
    /// use session_rocket::{Error, Sessions};
    /// #[rocket::get("/")]
    /// async fn add_to_cart(sessions: Sessions<'_>) -> Result<String, Error> {
    ///     let cart = sessions.get("cart").await?; // a name known only at run time
    ///     cart.insert("book", 1)?; // `Error` takes both the guard's and the session's errors
    ///     Ok(cart.keys().join(","))
    /// }
    /// # #[rocket::main]
    /// # async fn main() {
    /// assert_eq!(call(rocket::routes![add_to_cart]).await, "book");
    /// # }
    /// ```
    pub async fn get(&self, name: &str) -> Result<session_core::Session, SessionRejection> {
        open_session(self.request, Some(name)).await
    }

    /// The default session.
    ///
    /// ```
    /// # use rocket::local::asynchronous::Client;
    /// # use session_rocket::{KeyRing, SessionFairing, SessionManager, SessionsConfig, StoreRegistry};
    /// # /// The body of the answer to `GET /` from an app serving `routes`, with the sessions `app`
    /// # /// (the default) and `cart`.
    /// # async fn call(routes: Vec<rocket::Route>) -> String {
    /// #     let config = SessionsConfig::from_toml(r#"
    /// #         default = "app"
    /// #         [sessions.app]
    /// #         transport = { type = "cookie", name = "app_session" }
    /// #         store = { type = "cookie" }
    /// #         [sessions.cart]
    /// #         transport = { type = "cookie", name = "cart" }
    /// #         store = { type = "cookie" }
    /// #     "#).unwrap();
    /// #     let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap();
    /// #     let rocket = rocket::build().attach(SessionFairing::new(manager)).mount("/", routes);
    /// #     let client = Client::tracked(rocket).await.unwrap();
    /// #     client.get("/").dispatch().await.into_string().await.unwrap_or_default()
    /// # }
    /// use session_rocket::{Error, Sessions};
    ///
    /// #[rocket::get("/")]
    /// async fn whoami(sessions: Sessions<'_>) -> Result<String, Error> {
    ///     let session = sessions.default_session().await?; // `app`
    ///     Ok(session.owner().unwrap_or_else(|| "nobody".into()))
    /// }
    /// # #[rocket::main]
    /// # async fn main() {
    /// assert_eq!(call(rocket::routes![whoami]).await, "nobody");
    /// # }
    /// ```
    pub async fn default_session(&self) -> Result<session_core::Session, SessionRejection> {
        open_session(self.request, None).await
    }
}

impl fmt::Debug for Sessions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sessions")
            .field(&RequestState::of(self.request))
            .finish()
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Sessions<'r> {
    type Error = SessionRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        if RequestState::of(request).is_none() {
            let error = SessionRejection::NotInstalled;
            tracing::error!("{error}");
            error.failure().record(request);
            return Outcome::Error((Status::InternalServerError, error));
        }
        Outcome::Success(Sessions { request })
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Session {
    type Error = SessionRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        open(request, None).await.map(Session::wrap)
    }
}

#[rocket::async_trait]
impl<'r, N: SessionName> FromRequest<'r> for NamedSession<N> {
    type Error = SessionRejection;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        open(request, Some(N::NAME)).await.map(NamedSession::wrap)
    }
}
