//! [`DemoClient`](crate::DemoClient)s over each framework's own test machinery: axum through
//! `tower::ServiceExt::oneshot` (feature `axum`), actix-web through `actix_web::test`
//! (feature `actix`), rocket through its asynchronous local client (feature `rocket`).

#[cfg(any(feature = "axum", feature = "actix", feature = "rocket"))]
use crate::client::{DemoClient, TestRequest, TestResponse};
#[cfg(any(feature = "axum", feature = "actix", feature = "rocket"))]
use async_trait::async_trait;

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
    async fn send(&self, request: TestRequest) -> TestResponse {
        use tower::ServiceExt;

        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(&request.path);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(axum::body::Body::from(request.body))
            .unwrap_or_else(|error| panic!("the scenario built an invalid request: {error}"));
        let response = match self.0.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_else(|error| panic!("could not read the response body: {error}"));
        TestResponse {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.to_string(), value)
                })
                .collect(),
            body: body.to_vec(),
        }
    }
}

#[cfg(feature = "actix")]
type ActixSend =
    Box<dyn Fn(TestRequest) -> std::pin::Pin<Box<dyn std::future::Future<Output = TestResponse>>>>;

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
            let response = test::call_service(&*service, actix_request(request).to_request()).await;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = value
                        .to_str()
                        .unwrap_or_else(|error| panic!("header {name} is not text: {error}"));
                    (name.to_string(), value.to_string())
                })
                .collect();
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
    async fn send(&self, request: TestRequest) -> TestResponse {
        (self.0)(request).await
    }
}

/// The scenario's request as actix-web's test request.
#[cfg(feature = "actix")]
fn actix_request(request: TestRequest) -> actix_web::test::TestRequest {
    let method = actix_web::http::Method::from_bytes(request.method.as_bytes())
        .unwrap_or_else(|error| panic!("bad method {:?}: {error}", request.method));
    let mut actix = actix_web::test::TestRequest::default()
        .method(method)
        .uri(&request.path);
    for header in request.headers {
        actix = actix.append_header(header);
    }
    actix.set_payload(request.body)
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
    async fn send(&self, request: TestRequest) -> TestResponse {
        use std::str::FromStr;

        let method = rocket::http::Method::from_str(&request.method)
            .unwrap_or_else(|()| panic!("bad method {:?}", request.method));
        let mut local = self.0.req(method, request.path);
        for (name, value) in request.headers {
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
        TestResponse {
            status,
            headers,
            body,
        }
    }
}
