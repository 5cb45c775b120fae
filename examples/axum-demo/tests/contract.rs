//! The demo contract's scenarios, driven through the router with `tower::ServiceExt::oneshot`.

use axum::body::Body;
use axum::Router;
use demo_contract::{async_trait, DemoApp, DemoClient, TestRequest, TestResponse};
use session_axum::SessionManager;
use tower::ServiceExt;

struct AxumDemo;

struct AxumClient(Router);

#[async_trait(?Send)]
impl DemoClient for AxumClient {
    async fn send(&self, request: TestRequest) -> TestResponse {
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(&request.path);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Body::from(request.body))
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

#[async_trait(?Send)]
impl DemoApp for AxumDemo {
    async fn client(&self, manager: SessionManager) -> Box<dyn DemoClient> {
        Box::new(AxumClient(axum_demo::app(manager)))
    }
}

demo_contract::contract_tests!(
    #[tokio::test]
    AxumDemo
);
