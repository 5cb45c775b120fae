//! The kit's scenarios on session-axum, through `tower::ServiceExt::oneshot`.

use adapter_kit::{routes, Api, Cart, Missing};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use session_axum::{
    DiscardSessions, Error, LoggedIn, LoginRejection, NamedSession, Session, SessionLayer,
    SessionRejection, Sessions,
};

type Answer = Result<String, Error>;

adapter_kit::twice_handler!(Session, NamedSession<Cart>, Error);

async fn by_name(
    sessions: Sessions,
    app: Session,
    cart: NamedSession<Cart>,
) -> Result<String, Response> {
    let cart_by_name = sessions
        .get("cart")
        .await
        .map_err(IntoResponse::into_response)?;
    let default_by_name = sessions
        .default_session()
        .await
        .map_err(IntoResponse::into_response)?;
    routes::by_name(&cart_by_name, &default_by_name, &app, &cart)
        .map_err(|error| Error::from(error).into_response())
}

/// The kit's routes with axum's extractors.
fn routes() -> Router {
    Router::new()
        .route("/whoami", get(|s: Session| async move { Answer::Ok(routes::whoami(&s)?) }))
        .route("/login", post(|s: Session| async move { Answer::Ok(routes::login(&s)?) }))
        .route("/logout", post(|s: Session| async move { routes::logout(&s) }))
        .route("/visit", post(|s: Session| async move { Answer::Ok(routes::visit(&s)?) }))
        .route("/plain", get(|| async { "plain" }))
        .route("/twice", get(twice))
        .route("/missing", get(|_: NamedSession<Missing>| async { "unreachable" }))
        .route(
            "/cart",
            post(|c: NamedSession<Cart>| async move { Answer::Ok(routes::add_to_cart(&c)?) }),
        )
        .route(
            "/both",
            get(|s: Session, c: NamedSession<Cart>| async move { Answer::Ok(routes::both(&s, &c)?) }),
        )
        .route(
            "/api/login",
            post(|a: NamedSession<Api>| async move { Answer::Ok(routes::api_login(&a)?) }),
        )
        .route(
            "/api/me",
            get(|a: NamedSession<Api>| async move { Answer::Ok(routes::api_me(&a)?) }),
        )
        .route(
            "/api/logout",
            post(|a: NamedSession<Api>| async move { routes::api_logout(&a) }),
        )
        .route(
            "/wrong-type",
            get(|s: Session| async move { Answer::Ok(routes::wrong_type(&s)?) }),
        )
        .route("/by-name", get(by_name))
        .route(
            "/by-name/nope",
            get(|sessions: Sessions| async move {
                sessions.get("nope").await?;
                Ok::<_, SessionRejection>("unreachable")
            }),
        )
        .route("/huge", post(|s: Session| async move { Answer::Ok(routes::huge(&s)?) }))
        .route(
            "/cart-huge",
            post(|c: NamedSession<Cart>| async move { Answer::Ok(routes::cart_huge(&c)?) }),
        )
        .route("/hooks/visit", post(|s: Session| async move { Answer::Ok(routes::visit(&s)?) }))
        .route(
            "/owner-login",
            post(|s: Session| async move { Answer::Ok(routes::bind_alice(&s)?) }),
        )
        .route("/me", get(|user: LoggedIn| async move { user.owner().to_string() }))
        .route(
            "/me-page",
            get(|user: Result<LoggedIn, LoginRejection>| async move {
                match user {
                    Ok(user) => format!("page of {}", user.owner()).into_response(),
                    Err(rejection) => rejection.redirect_to("/login-page"),
                }
            }),
        )
        .route(
            "/write-then/{status}",
            post(|s: Session, Path(status): Path<u16>| async move {
                let body = routes::write_mallory(&s)?;
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
                Ok::<_, Error>((status, body))
            }),
        )
        .route(
            "/write-then-discard",
            post(|s: Session| async move {
                let body = routes::write_mallory(&s)?;
                let mut response = (StatusCode::UNPROCESSABLE_ENTITY, body).into_response();
                response.extensions_mut().insert(DiscardSessions);
                Ok::<_, Error>(response)
            }),
        )
        .route(
            "/write-then-panic",
            post(|s: Session| async move {
                routes::write_mallory(&s)?;
                if s.get::<String>("user")?.is_some() {
                    panic!("the handler panics after writing");
                }
                Answer::Ok(String::new())
            }),
        )
        .route(
            "/login-huge",
            post(|s: Session| async move { Answer::Ok(routes::login_huge(&s)?) }),
        )
        .route(
            "/typed/{page}",
            get(|s: Session, Path(page): Path<String>| async move {
                Answer::Ok(routes::typed(&s, &page)?)
            }),
        )
}

adapter_kit::adapter_app!(
    AxumApp,
    |manager| demo_contract::clients::axum(match manager {
        Some(manager) => routes().layer(SessionLayer::new(manager)),
        None => routes(),
    }),
    |manager, guard| demo_contract::clients::axum(
        routes().layer(SessionLayer::new(manager).cross_origin(guard))
    ),
    "SessionLayer",
    SessionRejection::NotInstalled.body_text()
);

adapter_kit::adapter_tests!(
    #[tokio::test]
    AxumApp
);
