//! The types every adapter exposes, defined once: `Session` (the default session) and
//! `NamedSession<N>` (the session named by a marker type), newtypes over [`Session`](crate::Session)
//! that an adapter implements its framework's extractor trait for (the orphan rule forbids that
//! for a core type); `Sessions` (any session by name) for adapters that keep the request's
//! sessions in an `Arc`; `SessionRejection`, why an extractor failed; and `Error`, the core error
//! a handler returns with `?`. Each adapter then adds only its framework's traits. Not for
//! applications.

/// Defines the two handle types in the calling adapter crate, named at the call site:
/// `__define_session_handles!(session_axum: Session, NamedSession<N>);` (the adapter crate's
/// name first, for the examples in the docs) defines `Session` and
/// `NamedSession<N>`, with `Deref` to `session_core::Session`, `Clone`, `Debug`, `into_inner`,
/// `From` into the core handle, and crate-private constructors `Session::wrap` /
/// `NamedSession::wrap`.
#[doc(hidden)]
#[macro_export]
macro_rules! __define_session_handles {
    ($krate:ident: $session:ident, $named:ident<N>) => {
        /// The default session of the request (the configuration's `default`, or its only
        /// session).
        ///
        /// Dereferences to [`session_core::Session`], so every session method is available on
        /// it: `session.get::<String>("user")?`, `session.insert("user", "alice")?`,
        /// `session.flash(..)?`, `session.regenerate_id()`, `session.destroy()`, and the whole
        /// session as one typed value with `get_as` / `set_as`.
        #[derive(Clone)]
        pub struct $session($crate::Session);

        impl $session {
            #[allow(dead_code)]
            pub(crate) fn wrap(session: $crate::Session) -> Self {
                $session(session)
            }

            /// The session handle itself, e.g. to move it into a spawned task.
            ///
            #[doc = concat!("```\n# fn handler(session: ", stringify!($krate), "::Session) {")]
            /// let core = session.into_inner();
            /// // The core handle is `Send + 'static`: a task can hold it past the extractor
            /// // (its changes count only while the request has not been saved).
            /// std::thread::spawn(move || core.get::<String>("user"));
            /// # }
            /// ```
            pub fn into_inner(self) -> $crate::Session {
                self.0
            }
        }

        impl ::std::ops::Deref for $session {
            type Target = $crate::Session;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl ::std::convert::From<$session> for $crate::Session {
            fn from(session: $session) -> Self {
                session.0
            }
        }

        impl ::std::fmt::Debug for $session {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($session)).field(&self.0).finish()
            }
        }

        /// The session named by `N` ([`SessionName::NAME`](session_core::SessionName::NAME)),
        /// for applications with several sessions: `NamedSession<Cart>` in a handler's
        /// arguments is the `cart` session. Dereferences to [`session_core::Session`]. A name
        /// that is not configured is a 500 whose body says which `[sessions.<name>]` table to
        /// add.
        pub struct $named<N: $crate::SessionName> {
            session: $crate::Session,
            name: ::std::marker::PhantomData<fn() -> N>,
        }

        impl<N: $crate::SessionName> $named<N> {
            #[allow(dead_code)]
            pub(crate) fn wrap(session: $crate::Session) -> Self {
                $named {
                    session,
                    name: ::std::marker::PhantomData,
                }
            }

            /// The session handle itself.
            ///
            #[doc = concat!("```\n", stringify!($krate), "::session_name! { Cart = \"cart\"; }")]
            #[doc = concat!("# fn handler(cart: ", stringify!($krate), "::NamedSession<Cart>) {")]
            /// let core = cart.into_inner();
            /// std::thread::spawn(move || core.get::<Vec<String>>("items"));
            /// # }
            /// ```
            pub fn into_inner(self) -> $crate::Session {
                self.session
            }
        }

        impl<N: $crate::SessionName> ::std::clone::Clone for $named<N> {
            fn clone(&self) -> Self {
                $named::wrap(self.session.clone())
            }
        }

        impl<N: $crate::SessionName> ::std::ops::Deref for $named<N> {
            type Target = $crate::Session;

            fn deref(&self) -> &Self::Target {
                &self.session
            }
        }

        impl<N: $crate::SessionName> ::std::convert::From<$named<N>> for $crate::Session {
            fn from(session: $named<N>) -> Self {
                session.session
            }
        }

        impl<N: $crate::SessionName> ::std::fmt::Debug for $named<N> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($named))
                    .field(&N::NAME)
                    .field(&self.session)
                    .finish()
            }
        }
    };
}

/// Defines the adapter's `Sessions` extractor type (any session by name, chosen at run time) over
/// the request's `Arc<RequestSessions>`, failing with the adapter's `SessionRejection`. The call
/// site gives the documentation of the type and of each method, whose examples are the
/// framework's:
///
/// ```text
/// __define_sessions_extractor! {
///     /// …
///     pub struct Sessions(SessionRejection) {
///         /// …
///         get,
///         /// …
///         default_session,
///         /// …
///         request_sessions,
///     }
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __define_sessions_extractor {
    (
        $(#[$doc:meta])*
        pub struct $sessions:ident($rejection:ident) {
            $(#[$get_doc:meta])*
            get,
            $(#[$default_doc:meta])*
            default_session,
            $(#[$core_doc:meta])*
            request_sessions,
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $sessions(::std::sync::Arc<$crate::RequestSessions>);

        impl $sessions {
            $(#[$get_doc])*
            pub async fn get(
                &self,
                name: &str,
            ) -> ::std::result::Result<$crate::Session, $rejection> {
                self.0.session(name).await.map_err($rejection::Open)
            }

            $(#[$default_doc])*
            pub async fn default_session(
                &self,
            ) -> ::std::result::Result<$crate::Session, $rejection> {
                self.0.default_session().await.map_err($rejection::Open)
            }

            $(#[$core_doc])*
            pub fn request_sessions(&self) -> &$crate::RequestSessions {
                &self.0
            }
        }

        impl ::std::fmt::Debug for $sessions {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($sessions)).field(&self.0).finish()
            }
        }
    };
}

/// Defines the adapter's `SessionRejection`, why a session extractor failed: `NotInstalled`
/// (whose message, the call site's constant, says what to install) or `Open` (the core error),
/// with `status()`, the framework's 500 named at the call site, and `body_text()`. The call site
/// gives the documentation; the adapter adds its framework's response trait.
///
/// ```text
/// __define_session_rejection! {
///     /// …
///     pub enum SessionRejection: StatusCode = StatusCode::INTERNAL_SERVER_ERROR {
///         /// …
///         NotInstalled = NOT_INSTALLED_MESSAGE,
///         /// …
///         Open,
///     }
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __define_session_rejection {
    (
        $(#[$doc:meta])*
        pub enum $rejection:ident: $status:ty = $internal:path {
            $(#[$not_installed_doc:meta])*
            NotInstalled = $message:expr,
            $(#[$open_doc:meta])*
            Open,
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum $rejection {
            $(#[$not_installed_doc])*
            NotInstalled,
            $(#[$open_doc])*
            Open($crate::Error),
        }

        impl ::std::fmt::Display for $rejection {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self {
                    $rejection::NotInstalled => f.write_str($message),
                    $rejection::Open(error) => write!(f, "could not open the session: {error}"),
                }
            }
        }

        impl ::std::error::Error for $rejection {
            fn source(&self) -> ::std::option::Option<&(dyn ::std::error::Error + 'static)> {
                match self {
                    $rejection::NotInstalled => None,
                    $rejection::Open(error) => Some(error),
                }
            }
        }

        impl $rejection {
            /// The status the rejection answers with: 500.
            pub fn status(&self) -> $status {
                $internal
            }

            /// The body the rejection answers with: what to install for a missing adapter
            /// (layer, middleware or fairing), what to add to the configuration for an unknown
            /// session name, the detail-free JSON of a store failure otherwise.
            pub fn body_text(&self) -> ::std::string::String {
                match self {
                    $rejection::NotInstalled => ::std::string::ToString::to_string($message),
                    $rejection::Open(error @ $crate::Error::UnknownSession(_)) => {
                        error.to_string()
                    }
                    $rejection::Open(error) => error.public_body().to_string(),
                }
            }
        }
    };
}

/// Defines the adapter's `Error`: a [`crate::Error`] a handler returns with `?`, converted from it
/// and displayed as it is (its source is the core error's source), with `into_inner`. The call
/// site gives the documentation (what the response is); the adapter adds its framework's
/// response trait.
#[doc(hidden)]
#[macro_export]
macro_rules! __define_handler_error {
    ($(#[$doc:meta])* pub struct $error:ident;) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $error(pub $crate::Error);

        impl $error {
            /// The core error.
            pub fn into_inner(self) -> $crate::Error {
                self.0
            }
        }

        impl ::std::convert::From<$crate::Error> for $error {
            fn from(error: $crate::Error) -> Self {
                $error(error)
            }
        }

        impl ::std::fmt::Display for $error {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::error::Error for $error {
            fn source(&self) -> ::std::option::Option<&(dyn ::std::error::Error + 'static)> {
                ::std::error::Error::source(&self.0)
            }
        }
    };
}

/// Defines an adapter's login guard, the same in every adapter: the `LoggedIn` value (the owner
/// bound to the default session, with the session) and the `LoginRejection` it fails with (no
/// owner, or the session's own rejection). The adapter adds its framework's extractor and
/// response impls, building the guard with `LoggedIn::of`.
#[doc(hidden)]
#[macro_export]
macro_rules! __define_login_guard {
    (
        $(#[$doc:meta])*
        pub struct LoggedIn($session:ty);
        pub enum LoginRejection($rejection:ty);
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct LoggedIn {
            owner: ::std::string::String,
            session: $session,
        }

        impl LoggedIn {
            /// The logged-in owner.
            pub fn owner(&self) -> &str {
                &self.owner
            }

            /// The default session, bound to [`owner`](Self::owner).
            pub fn session(&self) -> &$session {
                &self.session
            }

            /// The owner and the session.
            pub fn into_parts(self) -> (::std::string::String, $session) {
                (self.owner, self.session)
            }

            /// The guard for `session`, or [`LoginRejection::NotLoggedIn`] when no owner is bound.
            #[allow(dead_code)]
            pub(crate) fn of(session: $session) -> ::std::result::Result<Self, LoginRejection> {
                match session.owner() {
                    ::std::option::Option::Some(owner) => {
                        ::std::result::Result::Ok(LoggedIn { owner, session })
                    }
                    ::std::option::Option::None => {
                        ::std::result::Result::Err(LoginRejection::NotLoggedIn)
                    }
                }
            }
        }

        /// Why [`LoggedIn`] rejected a request.
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum LoginRejection {
            /// The default session has no owner: `401 {"error":"not logged in"}`
            /// ([`NOT_LOGGED_IN_BODY`](crate::NOT_LOGGED_IN_BODY)).
            NotLoggedIn,
            /// The session did not open: the session's own rejection (a 500).
            Session($rejection),
        }

        impl ::std::fmt::Display for LoginRejection {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self {
                    LoginRejection::NotLoggedIn => f.write_str("not logged in"),
                    LoginRejection::Session(rejection) => ::std::fmt::Display::fmt(rejection, f),
                }
            }
        }

        impl ::std::error::Error for LoginRejection {
            fn source(&self) -> ::std::option::Option<&(dyn ::std::error::Error + 'static)> {
                match self {
                    LoginRejection::NotLoggedIn => ::std::option::Option::None,
                    LoginRejection::Session(rejection) => ::std::error::Error::source(rejection),
                }
            }
        }

        impl ::std::convert::From<$rejection> for LoginRejection {
            fn from(rejection: $rejection) -> Self {
                LoginRejection::Session(rejection)
            }
        }
    };
}

/// Defines an adapter's entry type (its layer, middleware or fairing), named at the call site:
/// the struct holding the [`SessionManager`](crate::SessionManager) and the
/// [`CrossOriginGuard`](crate::CrossOriginGuard) it judges writes with (private fields `manager`
/// and `cross_origin`, for the adapter's request path), with `new`, `cross_origin`, `manager` and
/// `From<SessionManager>`. The call site gives the type's documentation, the adapter crate's name
/// and what the type is called in prose (for the docs and the example), the example's runtime
/// attribute, what a refused write does in that framework, and the example's last lines.
///
/// ```text
/// __define_adapter_entry! {
///     /// …
///     pub struct SessionLayer in session_axum, "layer", "#[tokio::main]";
///     /// A refused write answers …
///     cross_origin { "# drop(layer);" }
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __define_adapter_entry {
    (
        $(#[$doc:meta])*
        pub struct $entry:ident in $krate:ident, $noun:literal, $main:literal;
        $(#[$refused_doc:meta])*
        cross_origin { $($example_end:literal)+ }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $entry {
            manager: $crate::SessionManager,
            cross_origin: ::std::sync::Arc<$crate::CrossOriginGuard>,
        }

        impl $entry {
            #[doc = concat!("A ", $noun, " serving the sessions of `manager`.")]
            pub fn new(manager: $crate::SessionManager) -> Self {
                $entry {
                    cross_origin: ::std::sync::Arc::clone(manager.cross_origin()),
                    manager,
                }
            }

            /// Judges writes with `guard` instead of the manager's (the configuration's
            /// `[cross_origin]` table,
            /// [`SessionManager::cross_origin`](session_core::SessionManager::cross_origin)):
            /// e.g. [`CrossOriginGuard::disabled`](session_core::CrossOriginGuard::disabled) to
            /// turn the check off.
            ///
            $(#[$refused_doc])*
            ///
            /// ```
            #[doc = concat!(
                "# use ", stringify!($krate), "::{", stringify!($entry),
                ", CrossOriginGuard, KeyRing, SessionManager, SessionsConfig, StoreRegistry};"
            )]
            #[doc = concat!("# ", $main)]
            /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
            /// let config = SessionsConfig::from_toml(r#"
            ///     [sessions.app]
            ///     transport = { type = "cookie", name = "app_session" }
            ///     store = { type = "cookie" }
            ///     [cross_origin]
            ///     trusted_origins = ["https://partner.example"]
            ///     exempt_paths = ["/auth/callback"]
            /// "#)?;
            /// let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
            #[doc = concat!(
                "let ", $noun, " = ", stringify!($entry),
                "::new(manager).cross_origin(CrossOriginGuard::new(&config.cross_origin)?);"
            )]
            $(#[doc = $example_end])+
            /// # Ok(())
            /// # }
            /// ```
            pub fn cross_origin(mut self, guard: $crate::CrossOriginGuard) -> Self {
                self.cross_origin = ::std::sync::Arc::new(guard);
                self
            }

            #[doc = concat!("The manager this ", $noun, " serves.")]
            pub fn manager(&self) -> &$crate::SessionManager {
                &self.manager
            }
        }

        impl ::std::convert::From<$crate::SessionManager> for $entry {
            fn from(manager: $crate::SessionManager) -> Self {
                $entry::new(manager)
            }
        }
    };
}
