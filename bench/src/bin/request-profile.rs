//! Whole requests in process, repeated, for counting the instructions a session layer adds to a
//! framework: run it under `valgrind --tool=callgrind` at two request counts and take the
//! difference, once per variant, as `bench/run.sh profile` does; a variant's count less the bare
//! server's (`none`) is the layer's addition, the figure the wrk runs' `+CPU µs` estimates.
//!
//! Usage: `request-profile <framework> <variant> <route> <requests>`, with the applications of
//! `session_bench::http`:
//!
//! - `axum`: `none`, `pass-through`, `ours`, `ours-cookie`, `tower-sessions`, served by
//!   `tower::ServiceExt::oneshot`;
//! - `actix`: `none`, `pass-through`, `ours`, `ours-cookie`, `actix-session`, served by
//!   `actix_web::test`;
//! - `rocket`: `none`, `pass-through`, `ours`, `ours-cookie`, served by
//!   `rocket::local::asynchronous::Client`;
//!
//! and in every framework `ours-prometheus` (`ours` with `metrics-exporter-prometheus`'s
//! recorder installed before the manager is built, as the demos do) and `ours-hook` (`ours` with
//! an event hook that does nothing): what a recorder and a hook add per request. The route is
//! `rw` or `plain`. Cookies are sent as `bench/wrk/session.lua` sends them: a pool
//! of 32 sessions started by the first `/rw` requests, used round robin (a resealing store's first
//! cookie of each session kept), and for a server that sets none a placeholder of a signed id's
//! length. No network and no kernel: what is counted is the framework's and the layer's own work.
//!
//! Outside valgrind, the last line's `ns each` is the process's CPU time per measured request,
//! where the CPU's SHA and AES extensions do count (`bench/run.sh profile` takes the median of
//! several runs).

use std::future::Future;
use std::hint::black_box;

use session_bench::http::{
    actix_app::ActixApp, axum_app, current_thread_runtime, observe_with, rocket_app, variant,
    Observers, Variant,
};

const POOL: usize = 32;
const PLACEHOLDER_AFTER: usize = 64;

/// Fills the cookie pool through `/rw`, then sends `requests` requests to `path` round robin.
async fn drive<F, Fut>(mut send: F, path: &'static str, requests: usize)
where
    F: FnMut(&'static str, Option<String>) -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let mut pool: Vec<String> = Vec::with_capacity(POOL);
    let mut without_cookie = 0;
    while pool.len() < POOL {
        match send("/rw", None).await {
            Some(set_cookie) => {
                let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
                if !pool.contains(&cookie) {
                    pool.push(cookie);
                }
            }
            None => {
                without_cookie += 1;
                if without_cookie >= PLACEHOLDER_AFTER {
                    pool = vec![format!("id={}", "A".repeat(92)); POOL];
                }
            }
        }
    }
    // Warm up: the first requests grow buffers and caches that later ones reuse.
    for round in 0..POOL * 2 {
        black_box(send(path, Some(pool[round % POOL].clone())).await);
    }
    let mut set_cookies = 0;
    let started = session_bench::cpu_time_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
    for round in 0..requests {
        set_cookies += usize::from(send(path, Some(pool[round % POOL].clone())).await.is_some());
    }
    let cpu = session_bench::cpu_time_ns(libc::CLOCK_PROCESS_CPUTIME_ID) - started;
    let nanos_each = cpu / requests.max(1) as u64;
    // What shows the sessions were carried: a server-side store sets no cookie once a session
    // exists, a resealing one sets one on every `/rw`. The time is the process's CPU time, for
    // runs outside valgrind.
    println!("{path}: {requests} requests, {set_cookies} set a cookie, {nanos_each} ns each");
}

/// Asserts that a response's `status` is a success and returns its `Set-Cookie` value, if it has
/// one that is text: the common tail of the axum and actix `send`s, whose header types differ.
fn checked_set_cookie<E>(status: u16, set_cookie: Option<Result<&str, E>>) -> Option<String> {
    assert!((200..300).contains(&status), "{status}");
    set_cookie.and_then(Result::ok).map(String::from)
}

fn axum(variant: Variant, path: &'static str, requests: usize) {
    use axum::body::Body;
    use axum::http::{HeaderValue, Request};
    use tower::ServiceExt;

    current_thread_runtime().block_on(async move {
        let app = axum_app::build(variant).await;
        let send = |path: &'static str, cookie: Option<String>| {
            let app = app.clone();
            async move {
                let mut request = Request::get(path);
                if let Some(cookie) = cookie {
                    request = request.header("cookie", cookie);
                }
                let request = request.body(Body::empty()).expect("request");
                let response = app.oneshot(request).await.expect("infallible");
                let status = response.status().as_u16();
                let set_cookie = response.headers().get("set-cookie");
                let set_cookie = checked_set_cookie(status, set_cookie.map(HeaderValue::to_str));
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
                black_box(body.expect("body"));
                set_cookie
            }
        };
        drive(send, path, requests).await;
    });
}

fn actix(variant: Variant, path: &'static str, requests: usize) {
    use actix_web::http::header::HeaderValue;
    use actix_web::{test, App};

    actix_web::rt::System::new().block_on(async move {
        let app = ActixApp::build(variant).await;
        let service =
            test::init_service(App::new().configure(|config| app.configure(config))).await;
        let service = &service;
        let send = |path: &'static str, cookie: Option<String>| async move {
            let mut request = test::TestRequest::get().uri(path);
            if let Some(cookie) = cookie {
                request = request.insert_header(("cookie", cookie));
            }
            let response = test::call_service(service, request.to_request()).await;
            let status = response.status().as_u16();
            let set_cookie = response.headers().get("set-cookie");
            let set_cookie = checked_set_cookie(status, set_cookie.map(HeaderValue::to_str));
            black_box(test::read_body(response).await);
            set_cookie
        };
        drive(send, path, requests).await;
    });
}

fn rocket(variant: Variant, path: &'static str, requests: usize) {
    use rocket::http::Header;
    use rocket::local::asynchronous::Client;

    current_thread_runtime().block_on(async move {
        let config = rocket::Config {
            log_level: rocket::config::LogLevel::Off,
            cli_colors: false,
            ..rocket::Config::release_default()
        };
        let rocket = rocket_app::build(variant, rocket::custom(config)).await;
        let client = Client::untracked(rocket).await.expect("rocket");
        let client = &client;
        let send = |path: &'static str, cookie: Option<String>| async move {
            let mut request = client.get(path);
            if let Some(cookie) = cookie {
                request = request.header(Header::new("Cookie", cookie));
            }
            let response = request.dispatch().await;
            assert_eq!(
                response.status().class(),
                rocket::http::StatusClass::Success
            );
            let set_cookie = response.headers().get_one("Set-Cookie").map(String::from);
            black_box(response.into_bytes().await);
            set_cookie
        };
        drive(send, path, requests).await;
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!(
            "usage: request-profile <axum|actix|rocket> <variant> <rw|plain> <requests> \
             (variants: none, pass-through, ours, ours-cookie, ours-prometheus, ours-hook, and \
             tower-sessions for axum, actix-session for actix)"
        );
        std::process::exit(2)
    };
    let [framework, name, route, requests] = args.as_slice() else {
        usage()
    };
    let known: &[&str] = match framework.as_str() {
        "axum" => &[
            "none",
            "pass-through",
            "ours",
            "ours-cookie",
            "tower-sessions",
            "ours-prometheus",
            "ours-hook",
        ],
        "actix" => &[
            "none",
            "pass-through",
            "ours",
            "ours-cookie",
            "actix-session",
            "ours-prometheus",
            "ours-hook",
        ],
        "rocket" => &[
            "none",
            "pass-through",
            "ours",
            "ours-cookie",
            "ours-prometheus",
            "ours-hook",
        ],
        _ => usage(),
    };
    // The observability variants are `ours` with something installed first.
    let (name, observers) = match name.as_str() {
        "ours-prometheus" if known.contains(&"ours-prometheus") => ("ours", Observers::Prometheus),
        "ours-hook" if known.contains(&"ours-hook") => ("ours", Observers::NoOpHook),
        name => (name, Observers::Nothing),
    };
    observe_with(observers);
    let variant = variant(name, known).unwrap_or_else(|| usage());
    let path = match route.as_str() {
        "rw" => "/rw",
        "plain" => "/plain",
        _ => usage(),
    };
    let requests = requests.parse().unwrap_or_else(|_| usage());
    match framework.as_str() {
        "axum" => axum(variant, path, requests),
        "actix" => actix(variant, path, requests),
        _ => rocket(variant, path, requests),
    }
}
