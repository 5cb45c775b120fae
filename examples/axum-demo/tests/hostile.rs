//! The hostile-HTTP suite (`demo_contract::hostile`), driven through the router with
//! `tower::ServiceExt::oneshot`.

use axum::body::Body;
use axum::Router;
use demo_contract::{async_trait, HostileApp, HostileClient, RawRequest, TestResponse};
use http::header::{HeaderName, HeaderValue};
use session_axum::SessionManager;
use tower::ServiceExt;

struct AxumDemo;

struct AxumClient(Router);

#[async_trait(?Send)]
impl HostileClient for AxumClient {
    async fn send_raw(&self, request: RawRequest) -> Option<TestResponse> {
        let uri = http::Uri::try_from(request.path.as_str()).ok()?;
        let mut built = http::Request::builder()
            .method(request.method)
            .uri(uri)
            .body(Body::from(request.body))
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
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.to_string(), value)
                })
                .collect(),
            body: body.to_vec(),
        })
    }
}

#[async_trait(?Send)]
impl HostileApp for AxumDemo {
    async fn hostile_client(&self, manager: SessionManager) -> Box<dyn HostileClient> {
        Box::new(AxumClient(axum_demo::app(manager)))
    }
}

demo_contract::hostile_tests!(
    #[tokio::test]
    AxumDemo
);
