//! What the axum, actix-web and rocket demos share, so they speak exactly the same contract
//! (`docs/DEMO_CONTRACT.md` in the repository):
//!
//! - the browser page of `GET /` ([`PAGE`]), one HTML file with inline style and script;
//! - start-up from the environment ([`manager_from_env`], [`listen_addr`], [`DEFAULT_CONFIG`]):
//!   `SESSIONS_CONFIG` names a TOML file (else the embedded default), `SESSION_KEYS` holds
//!   comma-separated base64 keys (else a random key, announced once), `ADDR` the address;
//! - the request and response bodies and the session and key names ([`LoginRequest`],
//!   [`UserResponse`], [`SessionsResponse`], [`counter_key`], ...), [`parse_body`] for the
//!   contract's 400, [`ErrorResponse::for_status`] for the framework's own rejections,
//!   [`is_json_content_type`] for the contract's 415 and [`MAX_BODY_BYTES`];
//! - with the `scenarios` feature, the contract's HTTP test suite, written once and driven by
//!   each framework's own test client through the `DemoApp` and `DemoClient` traits, and the
//!   hostile-HTTP suite (`hostile`), through the same traits.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), demo_contract::StartupError> {
//! demo_contract::init_logging();
//! let manager = demo_contract::manager_from_env().await?;
//! let addr = demo_contract::listen_addr()?;
//! // ... build the app around `manager`, bind `addr`, then:
//! println!("{}", demo_contract::listening_line(addr));
//! # Ok(()) }
//! ```
//!
//! A demo's tests implement `DemoApp` and generate one test per scenario:
//!
//! ```ignore
//! struct Axum;
//!
//! #[async_trait::async_trait(?Send)]
//! impl demo_contract::DemoApp for Axum {
//!     async fn client(&self, manager: SessionManager) -> Box<dyn demo_contract::DemoClient> {
//!         Box::new(AxumClient(axum_demo::app(manager)))
//!     }
//! }
//!
//! demo_contract::contract_tests!(#[tokio::test] Axum);
//! ```

mod body;
mod metrics;
mod startup;

#[cfg(feature = "scenarios")]
pub mod binary;
#[cfg(feature = "scenarios")]
mod client;
#[cfg(feature = "scenarios")]
pub mod clients;
#[cfg(feature = "scenarios")]
pub mod hostile;
#[cfg(feature = "scenarios")]
pub mod scenarios;
#[cfg(feature = "scenarios")]
mod scenarios_v3;
#[cfg(feature = "scenarios")]
mod stores;

pub use body::{
    counter_key, decode_segment, is_json_content_type, log_in, parse_body, CartItemRequest,
    CartResponse, CounterResponse, ErrorResponse, FlashRequest, FlashesResponse, LoginRequest,
    OkResponse, RevokedResponse, SessionEntry, SessionsResponse, UserResponse, API, APP, CART,
    ITEMS_KEY, MAX_BODY_BYTES, TOKEN_USER_KEY, USER_KEY,
};

/// The headers every demo response carries, whatever the route or status: the page cannot be
/// framed (`X-Frame-Options` for old browsers, CSP `frame-ancestors` for the rest), so a
/// "log out everywhere" button cannot be clickjacked; content types are not sniffed; no
/// `Referer` leaves the demo.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

/// The page `GET /` serves (`text/html; charset=utf-8`): one HTML document with inline CSS and
/// JavaScript, no external assets, that drives every route of the contract with `fetch` and
/// shows each result.
pub const PAGE: &str = include_str!("page.html");
pub use metrics::{audit, audit_log, install_metrics, metrics_text, METRICS_CONTENT_TYPE};
pub use startup::{
    add_trusted_origins, config_from_env, exit_code, init_logging, keys_from_env, listen_addr,
    listening_line, manager_from_env, registry, run_demo, StartupError, DEFAULT_ADDR,
    DEFAULT_CONFIG,
};

#[cfg(feature = "scenarios")]
pub use async_trait::async_trait;
#[cfg(feature = "scenarios")]
pub use client::{
    Browser, DemoApp, DemoClient, RawRequest, SetCookie, TestRequest, TestResponse, SESSION_HEADER,
};
#[cfg(feature = "scenarios")]
pub use session_stores::testing::{TestStore, FAILURE_DETAIL};

/// What [`demo_tests!`] expands to names through `$crate`, whichever adapter the demo uses.
#[cfg(feature = "scenarios")]
#[doc(hidden)]
pub mod __private {
    pub use session_core::SessionManager;
}
#[cfg(feature = "scenarios")]
pub use stores::{
    config_with_store, config_with_stores, redis_url, test_manager, test_registry, toml_string,
};

/// Calls `$crate::$callback!` with `$args` and the names of every scenario.
#[cfg(feature = "scenarios")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_scenarios {
    ($callback:ident ($($args:tt)*)) => {
        $crate::$callback! {
            ($($args)*);
            health_is_ok_and_sets_no_cookie,
            unknown_route_is_404,
            malformed_bodies_are_400_with_an_error,
            me_without_login_is_401,
            login_then_me_returns_the_user,
            login_regenerates_the_session_id,
            logout_removes_the_record_and_expires_the_cookie,
            flash_messages_show_exactly_once,
            counters_increment_from_zero,
            cart_lives_in_its_own_sealed_cookie,
            header_session_travels_in_x_session,
            named_and_header_sessions_are_independent,
            routes_without_sessions_touch_no_store_and_set_no_cookie,
            tampered_cookies_are_no_session,
            cookies_sealed_with_another_key_are_no_session,
            values_of_other_sessions_are_no_session,
            store_failure_is_500_without_set_cookie,
            page_drives_every_route_and_touches_no_session,
            remember_me_gives_the_cookie_thirty_days,
            two_devices_are_listed_then_logged_out_everywhere,
            session_too_large_is_413_and_keeps_the_session,
            framework_rejections_are_json,
            security_headers_on_every_response,
            session_flow_on_memory_store,
            session_flow_on_file_store,
            session_flow_on_redis_store,
            session_flow_on_redis_cluster_store,
            session_flow_on_postgres_store,
            session_flow_on_mysql_store,
            session_flow_on_sqlite_store,
            concurrent_counters_persist_on_memory_store,
            concurrent_counters_persist_on_file_store,
            concurrent_counters_persist_on_redis_store,
            devices_are_listed_with_what_they_are,
            one_device_is_ended_by_its_id,
            logout_others_keeps_this_device,
            logout_everywhere_ends_this_device_too,
            login_keeps_a_visitors_values_but_not_another_users,
            the_eleventh_login_ends_the_least_recent_device,
            the_cap_ends_the_least_recently_used_device,
            a_refusing_cap_answers_409,
            remember_me_has_a_new_id_and_an_end,
            json_routes_refuse_other_content_types,
            page_drives_the_device_routes,
            device_flow_on_memory_store,
            device_flow_on_file_store,
            device_flow_on_redis_store,
            device_flow_on_redis_cluster_store,
            device_flow_on_postgres_store,
            device_flow_on_mysql_store,
            device_flow_on_sqlite_store,
        }
    };
}

#[cfg(feature = "scenarios")]
#[doc(hidden)]
#[macro_export]
macro_rules! __run_scenarios {
    (($app:expr); $($name:ident,)*) => {
        $( $crate::scenarios::$name($app).await; )*
    };
}

/// One test function per name, each running `$crate::$module::$name` on `$app` under the
/// framework's async test attribute `$test`.
#[cfg(feature = "scenarios")]
#[doc(hidden)]
#[macro_export]
macro_rules! __tests_of {
    ((#[$test:meta] $app:expr, $module:ident); $($name:ident,)*) => {
        $(
            #[$test]
            async fn $name() {
                $crate::$module::$name(&$app).await;
            }
        )*
    };
}

/// Generates one test function per scenario, named after it, for the [`DemoApp`] `$app`, with
/// the framework's async test attribute:
///
/// ```ignore
/// demo_contract::contract_tests!(#[tokio::test] AxumDemo);          // axum
/// demo_contract::contract_tests!(#[actix_web::test] ActixDemo);     // actix-web
/// demo_contract::contract_tests!(#[rocket::async_test] RocketDemo); // rocket
/// ```
#[cfg(feature = "scenarios")]
#[macro_export]
macro_rules! contract_tests {
    (#[$test:meta] $app:expr) => {
        $crate::__with_scenarios!(__tests_of(
            #[$test]
            $app,
            scenarios
        ));
    };
}

/// Every test a demo runs against the contract: defines the [`DemoApp`] `$app` whose client for
/// a scenario's `manager` is `$client` (run in an async function, so it may `.await`), then one
/// test per scenario ([`contract_tests!`]) and per hostile-HTTP group
/// ([`hostile_tests!`](crate::hostile_tests)), with the framework's async test attribute:
///
/// ```ignore
/// demo_contract::demo_tests!(
///     #[tokio::test]
///     AxumDemo,
///     |manager| demo_contract::clients::axum(axum_demo::app(manager))
/// );
/// ```
#[cfg(feature = "scenarios")]
#[macro_export]
macro_rules! demo_tests {
    (#[$test:meta] $app:ident, |$manager:ident| $client:expr) => {
        /// Builds the demo around each scenario's manager.
        struct $app;

        #[$crate::async_trait(?Send)]
        impl $crate::DemoApp for $app {
            async fn client(
                &self,
                $manager: $crate::__private::SessionManager,
            ) -> Box<dyn $crate::DemoClient> {
                $client
            }
        }

        $crate::contract_tests!(
            #[$test]
            $app
        );

        $crate::hostile_tests!(
            #[$test]
            $app
        );
    };
}
