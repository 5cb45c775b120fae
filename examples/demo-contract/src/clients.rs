//! [`DemoClient`](crate::DemoClient)s over each framework's own test machinery: axum through
//! `tower::ServiceExt::oneshot` (feature `axum`), actix-web through `actix_web::test`
//! (feature `actix`), rocket through its asynchronous local client (feature `rocket`).
//!
//! Each client carries the contract's scenarios and the hostile suite alike: a request the
//! framework's request type cannot represent is `None`, and response header values that are
//! not UTF-8 are read lossily.

#[cfg(any(feature = "axum", feature = "actix", feature = "rocket"))]
use crate::client::{DemoClient, RawRequest, TestResponse};
#[cfg(any(feature = "axum", feature = "actix", feature = "rocket"))]
use async_trait::async_trait;

/// A response's headers as the scenarios read them.
#[cfg(any(feature = "axum", feature = "actix"))]
fn header_pairs<'h, N: std::fmt::Display + 'h>(
    headers: impl Iterator<Item = (N, &'h [u8])>,
) -> Vec<(String, String)> {
    headers
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value).into_owned(),
            )
        })
        .collect()
}

/// The axum client: every request is sent through a clone of the router with `oneshot`.
#[cfg(feature = "axum")]
pub fn axum(router: axum::Router) -> Box<dyn DemoClient> {
    Box::new(AxumClient(router))
}

#[cfg(feature = "axum")]
struct AxumClient(axum::Router);

#[cfg(feature = "axum")]
#[async_trait(?Send)]
impl DemoClient for AxumClient {
    async fn send_raw(&self, request: RawRequest) -> Option<TestResponse> {
        use http::header::{HeaderName, HeaderValue};
        use tower::ServiceExt;

        let uri = http::Uri::try_from(request.path.as_str()).ok()?;
        let mut built = http::Request::builder()
            .method(request.method.as_str())
            .uri(uri)
            .body(axum::body::Body::from(request.body))
            .ok()?;
        for (name, value) in request.headers {
            let name = HeaderName::try_from(name).ok()?;
            let value = HeaderValue::from_bytes(&value).ok()?;
            built.headers_mut().append(name, value);
        }
        let response = match self.0.clone().oneshot(built).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_else(|error| panic!("could not read the response body: {error}"));
        Some(TestResponse {
            status: parts.status.as_u16(),
            headers: header_pairs(
                parts
                    .headers
                    .iter()
                    .map(|(name, value)| (name, value.as_bytes())),
            ),
            body: body.to_vec(),
        })
    }
}

#[cfg(feature = "actix")]
type ActixSend = Box<
    dyn Fn(
        actix_web::test::TestRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = TestResponse>>>,
>;

/// The actix-web client: `app` initialized once with `test::init_service`, every request sent
/// with `test::call_service`.
#[cfg(feature = "actix")]
pub async fn actix<T, B>(app: actix_web::App<T>) -> Box<dyn DemoClient>
where
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: actix_web::body::MessageBody + 'static,
{
    use actix_web::test;

    let service = std::rc::Rc::new(test::init_service(app).await);
    let send: ActixSend = Box::new(move |request| {
        let service = std::rc::Rc::clone(&service);
        Box::pin(async move {
            let response = test::call_service(&*service, request.to_request()).await;
            let status = response.status().as_u16();
            let headers = header_pairs(
                response
                    .headers()
                    .iter()
                    .map(|(name, value)| (name, value.as_bytes())),
            );
            let body = test::read_body(response).await.to_vec();
            TestResponse {
                status,
                headers,
                body,
            }
        })
    });
    Box::new(ActixClient(send))
}

#[cfg(feature = "actix")]
struct ActixClient(ActixSend);

#[cfg(feature = "actix")]
#[async_trait(?Send)]
impl DemoClient for ActixClient {
    async fn send_raw(&self, request: RawRequest) -> Option<TestResponse> {
        use actix_web::http::header::{HeaderName, HeaderValue};
        use actix_web::http::{Method, Uri};

        let method = Method::from_bytes(request.method.as_bytes()).ok()?;
        // `TestRequest::uri` panics on a URI that does not parse; such a request never reaches
        // an app.
        Uri::try_from(request.path.as_str()).ok()?;
        let mut actix = actix_web::test::TestRequest::default()
            .method(method)
            .uri(&request.path);
        for (name, value) in request.headers {
            let name = HeaderName::try_from(name).ok()?;
            let value = HeaderValue::from_bytes(&value).ok()?;
            actix = actix.append_header((name, value));
        }
        Some((self.0)(actix.set_payload(request.body)).await)
    }
}

/// The rocket client: `rocket` ignited behind an untracked local client, with logging off (the
/// scenarios' [`Browser`](crate::Browser) keeps the cookies).
#[cfg(feature = "rocket")]
pub async fn rocket(rocket: rocket::Rocket<rocket::Build>) -> Box<dyn DemoClient> {
    let rocket = rocket
        .configure(rocket::Config::figment().merge(("log_level", rocket::config::LogLevel::Off)));
    let client = rocket::local::asynchronous::Client::untracked(rocket)
        .await
        .unwrap_or_else(|error| panic!("the app does not ignite: {error}"));
    Box::new(RocketClient(client))
}

#[cfg(feature = "rocket")]
struct RocketClient(rocket::local::asynchronous::Client);

#[cfg(feature = "rocket")]
#[async_trait(?Send)]
impl DemoClient for RocketClient {
    async fn send_raw(&self, request: RawRequest) -> Option<TestResponse> {
        use std::str::FromStr;

        let method = rocket::http::Method::from_str(&request.method).ok()?;
        let mut local = self.0.req(method, request.path);
        for (name, value) in request.headers {
            // Rocket's headers are text: a value that is not UTF-8 cannot be sent.
            let value = String::from_utf8(value).ok()?;
            local.add_header(rocket::http::Header::new(name, value));
        }
        let response = local.body(request.body).dispatch().await;
        let status = response.status().code;
        let headers = response
            .headers()
            .iter()
            .map(|header| (header.name().to_string(), header.value().to_string()))
            .collect();
        let body = response.into_bytes().await.unwrap_or_default();
        Some(TestResponse {
            status,
            headers,
            body,
        })
    }
}
