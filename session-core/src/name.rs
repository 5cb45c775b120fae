//! [`SessionName`]: naming a configured session at compile time.
//!
//! Every adapter's `NamedSession<N>` extractor takes a marker type that names one of the
//! configured sessions, so a handler's signature says which session it uses:
//!
//! ```
//! session_core::session_name! {
//!     /// The client-side `cart` session.
//!     pub Cart = "cart";
//!     /// The header-carried `api` session.
//!     pub Api = "api";
//! }
//! # use session_core::SessionName;
//! assert_eq!(Cart::NAME, "cart");
//! assert_eq!(Api::NAME, "api");
//! ```

/// Names a configured session (`[sessions.<NAME>]`). Implement it on a marker type, or declare
/// markers with [`session_name!`](crate::session_name).
pub trait SessionName: Send + Sync + 'static {
    /// The session's name in the configuration.
    const NAME: &'static str;
}

/// Declares marker types implementing [`SessionName`]: `session_name! { pub Cart = "cart"; }`.
#[macro_export]
macro_rules! session_name {
    ($($(#[$meta:meta])* $vis:vis $marker:ident = $name:literal;)+) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
            $vis struct $marker;

            impl $crate::SessionName for $marker {
                const NAME: &'static str = $name;
            }
        )+
    };
}
