//! The full-request applications of every framework and variant, each with a `GET /rw` route that
//! reads the `visits` key and writes it back incremented (under `none`, the same response without
//! a session) and a `GET /plain` route that extracts no session. The `http-*` servers serve them
//! under wrk; `request-profile` drives them in process through each framework's own test client.

use session_core::{KeyRing, SessionManager, SessionsConfig};

/// Which server a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Our adapter with the memory store.
    Ours,
    /// Our adapter with the client-side cookie store.
    OursCookie,
    /// Our adapter with the Redis store, on the server `REDIS_URL` names.
    OursRedis,
    /// The framework's usual peer session crate.
    Peer,
    /// The peer session crate with its Redis store, on the server `REDIS_URL` names.
    PeerRedis,
    /// No session layer at all.
    None,
    /// A layer that does nothing, the framework's cheapest (axum: a `MapRequest` of the identity;
    /// actix-web: `middleware::Identity`; Rocket: a fairing with empty request and response
    /// callbacks): what the framework charges for any layer at that place.
    PassThrough,
}

/// Parses `<variant> <port>`; `known` lists the variant names this binary accepts (see
/// [`variant`]).
pub fn args(known: &[&str]) -> (Variant, u16) {
    let mut args = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!("usage: <{}> <port>", known.join("|"));
        std::process::exit(2)
    };
    let variant = args
        .next()
        .and_then(|name| variant(&name, known))
        .unwrap_or_else(|| usage());
    let port = args
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| usage());
    (variant, port)
}

/// The variant `name` names, if `known` lists it: `ours`, `ours-cookie`, `ours-redis`, `none`,
/// `pass-through`, or
/// else a peer's name, one ending in `-redis` naming the peer's Redis store.
pub fn variant(name: &str, known: &[&str]) -> Option<Variant> {
    Some(match name {
        _ if !known.contains(&name) => return None,
        "ours" => Variant::Ours,
        "ours-cookie" => Variant::OursCookie,
        "ours-redis" => Variant::OursRedis,
        "none" => Variant::None,
        "pass-through" => Variant::PassThrough,
        _ if name.ends_with("-redis") => Variant::PeerRedis,
        _ => Variant::Peer,
    })
}

/// A Tokio runtime on the calling thread alone, timers and I/O enabled.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The Redis server of the `-redis` variants, from `REDIS_URL`; exits with a message when it
/// is not set.
pub fn redis_url() -> String {
    let url = std::env::var("REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty());
    url.unwrap_or_else(|| {
        eprintln!(
            "REDIS_URL is not set: the -redis variants need a Redis server, e.g. \
             REDIS_URL=redis://127.0.0.1:6379/ (scripts/with-redis.sh starts a private one \
             and sets it)"
        );
        std::process::exit(2)
    })
}

/// What `request-profile`'s observability variants install for [`our_manager`]: nothing (the
/// default), the Prometheus recorder, or an event hook that does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observers {
    /// No recorder, no hook (and no `tracing` subscriber: none is ever installed here).
    Nothing,
    /// `metrics-exporter-prometheus`'s recorder, installed globally (as the demos do it).
    Prometheus,
    /// An event hook that does nothing.
    NoOpHook,
}

static OBSERVERS: std::sync::OnceLock<Observers> = std::sync::OnceLock::new();

/// Installs `observers` for the managers built after it: the Prometheus recorder at once (a
/// recorder must be in place before a manager is built), the hook on each manager. Once per
/// process.
pub fn observe_with(observers: Observers) {
    if OBSERVERS.set(observers).is_err() {
        panic!("observe_with is called once per process");
    }
    if observers == Observers::Prometheus {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("the Prometheus recorder");
    }
}

/// Our session manager for `variant`: one session named `app`, cookie `id`, with the memory
/// store, the client-side cookie store or the Redis store (default options, server from
/// [`redis_url`]), built through the stores' registry as an application does.
pub async fn our_manager(variant: Variant) -> SessionManager {
    let store = match variant {
        Variant::OursCookie => "type = \"cookie\"".to_string(),
        // A JSON string is also a TOML basic string: the URL is quoted and escaped.
        Variant::OursRedis => format!(
            "type = \"redis\", url = {}",
            serde_json::to_string(&redis_url()).expect("string")
        ),
        _ => "type = \"memory\"".to_string(),
    };
    let config = SessionsConfig::from_toml(&format!(
        "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"id\" }}\nstore = {{ {store} }}\n"
    ))
    .expect("config");
    let manager =
        SessionManager::from_config(&config, &session_stores::registry(), KeyRing::generate())
            .await
            .expect("session manager");
    if OBSERVERS.get() == Some(&Observers::NoOpHook) {
        assert!(manager.set_event_hook(|_| {}), "one hook per manager");
    }
    manager
}

/// The axum application of `variant` (`ours`, `ours-cookie`, `tower-sessions`, `none`,
/// `pass-through`).
pub mod axum_app {
    use super::{our_manager, Variant};
    use axum::routing::get;
    use axum::Router;

    async fn ours_rw(session: session_axum::Session) -> Result<String, session_axum::Error> {
        let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
        session.insert("visits", visits)?;
        Ok(visits.to_string())
    }

    async fn tower_rw(session: tower_sessions::Session) -> Result<String, String> {
        let visits = session
            .get::<u64>("visits")
            .await
            .map_err(|error| error.to_string())?
            .unwrap_or(0)
            + 1;
        session
            .insert("visits", visits)
            .await
            .map_err(|error| error.to_string())?;
        Ok(visits.to_string())
    }

    async fn no_session_rw() -> String {
        1u64.to_string()
    }

    async fn plain() -> &'static str {
        "ok"
    }

    /// The router of `variant`, its session layer built.
    pub async fn build(variant: Variant) -> Router {
        match variant {
            Variant::Ours | Variant::OursCookie => Router::new()
                .route("/rw", get(ours_rw))
                .route("/plain", get(plain))
                .layer(session_axum::SessionLayer::new(our_manager(variant).await)),
            Variant::Peer => Router::new()
                .route("/rw", get(tower_rw))
                .route("/plain", get(plain))
                .layer(tower_sessions::SessionManagerLayer::new(
                    tower_sessions::MemoryStore::default(),
                )),
            Variant::None => Router::new()
                .route("/rw", get(no_session_rw))
                .route("/plain", get(plain)),
            Variant::PassThrough => Router::new()
                .route("/rw", get(no_session_rw))
                .route("/plain", get(plain))
                .layer(tower::util::MapRequestLayer::new(
                    |request: axum::extract::Request| request,
                )),
            Variant::OursRedis | Variant::PeerRedis => {
                unreachable!("no Redis variant for axum")
            }
        }
    }
}

/// The actix-web application of `variant` (`ours`, `ours-cookie`, `ours-redis`, `actix-session`
/// with its encrypted cookie store, `actix-session-redis` with its `RedisSessionStore`, `none`,
/// `pass-through`).
pub mod actix_app {
    use super::{our_manager, redis_url, Variant};
    use actix_web::{web, HttpResponse};
    use session_core::SessionManager;

    async fn ours_rw(
        session: session_actix::Session,
    ) -> Result<HttpResponse, session_actix::Error> {
        let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
        session.insert("visits", visits)?;
        Ok(HttpResponse::Ok().body(visits.to_string()))
    }

    async fn actix_session_rw(session: actix_session::Session) -> actix_web::Result<HttpResponse> {
        let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
        session.insert("visits", visits)?;
        Ok(HttpResponse::Ok().body(visits.to_string()))
    }

    async fn no_session_rw() -> HttpResponse {
        HttpResponse::Ok().body(1u64.to_string())
    }

    async fn plain() -> HttpResponse {
        HttpResponse::Ok().body("ok")
    }

    /// What every worker's `App` is configured from: the variant and its stores, built once.
    #[derive(Clone)]
    pub struct ActixApp {
        variant: Variant,
        manager: Option<SessionManager>,
        redis_store: Option<actix_session::storage::RedisSessionStore>,
        key: actix_web::cookie::Key,
    }

    impl ActixApp {
        /// Builds the stores of `variant` (the `-redis` ones on the server of [`redis_url`]).
        pub async fn build(variant: Variant) -> Self {
            let manager = match variant {
                Variant::Ours | Variant::OursCookie | Variant::OursRedis => {
                    Some(our_manager(variant).await)
                }
                _ => None,
            };
            let redis_store = match variant {
                Variant::PeerRedis => Some(
                    actix_session::storage::RedisSessionStore::new(redis_url())
                        .await
                        .expect("actix-session Redis store"),
                ),
                _ => None,
            };
            ActixApp {
                variant,
                manager,
                redis_store,
                key: actix_web::cookie::Key::generate(),
            }
        }

        /// Adds the routes, wrapped in the variant's session middleware: `App::new().configure(|c| app.configure(c))`.
        pub fn configure(&self, config: &mut web::ServiceConfig) {
            let routes = |rw| {
                web::scope("")
                    .route("/rw", rw)
                    .route("/plain", web::get().to(plain))
            };
            match self.variant {
                Variant::Ours | Variant::OursCookie | Variant::OursRedis => {
                    let manager = self.manager.clone().expect("manager");
                    config.service(
                        routes(web::get().to(ours_rw))
                            .wrap(session_actix::SessionMiddleware::new(manager)),
                    );
                }
                Variant::Peer => {
                    config.service(routes(web::get().to(actix_session_rw)).wrap(
                        actix_session::SessionMiddleware::new(
                            actix_session::storage::CookieSessionStore::default(),
                            self.key.clone(),
                        ),
                    ));
                }
                Variant::PeerRedis => {
                    let store = self.redis_store.clone().expect("redis store");
                    config.service(routes(web::get().to(actix_session_rw)).wrap(
                        actix_session::SessionMiddleware::new(store, self.key.clone()),
                    ));
                }
                Variant::None => {
                    config.service(routes(web::get().to(no_session_rw)));
                }
                Variant::PassThrough => {
                    config.service(
                        routes(web::get().to(no_session_rw))
                            .wrap(actix_web::middleware::Identity::default()),
                    );
                }
            }
        }
    }
}

/// The Rocket application of `variant` (`ours`, `ours-cookie`, `none`, `pass-through`).
pub mod rocket_app {
    use super::{our_manager, Variant};
    use rocket::fairing::{Fairing, Info, Kind};
    use rocket::{Build, Data, Request, Response, Rocket};

    /// A fairing that runs on every request and response and does nothing.
    struct PassThrough;

    #[rocket::async_trait]
    impl Fairing for PassThrough {
        fn info(&self) -> Info {
            Info {
                name: "pass-through",
                kind: Kind::Request | Kind::Response,
            }
        }

        async fn on_request(&self, _request: &mut Request<'_>, _data: &mut Data<'_>) {}

        async fn on_response<'r>(&self, _request: &'r Request<'_>, _response: &mut Response<'r>) {}
    }

    #[rocket::get("/rw")]
    fn ours_rw(session: session_rocket::Session) -> Result<String, session_rocket::Error> {
        let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
        session.insert("visits", visits)?;
        Ok(visits.to_string())
    }

    #[rocket::get("/rw")]
    fn no_session_rw() -> String {
        1u64.to_string()
    }

    #[rocket::get("/plain")]
    fn plain() -> &'static str {
        "ok"
    }

    /// `rocket` with the routes of `variant` mounted and, for ours, our fairing attached.
    pub async fn build(variant: Variant, rocket: Rocket<Build>) -> Rocket<Build> {
        match variant {
            Variant::Ours | Variant::OursCookie => rocket
                .attach(session_rocket::SessionFairing::new(
                    our_manager(variant).await,
                ))
                .mount("/", rocket::routes![ours_rw, plain]),
            Variant::PassThrough => rocket
                .attach(PassThrough)
                .mount("/", rocket::routes![no_session_rw, plain]),
            _ => rocket.mount("/", rocket::routes![no_session_rw, plain]),
        }
    }
}
