//! The handle types every adapter exposes, defined once: `Session` (the default session) and
//! `NamedSession<N>` (the session named by a marker type), newtypes over [`Session`](crate::Session)
//! that an adapter implements its framework's extractor trait for (the orphan rule forbids that
//! for a core type). Not for applications.

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
