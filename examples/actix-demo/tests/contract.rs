//! The demo contract's scenarios, driven through actix-web's own test service
//! (`actix_web::test::init_service` and `call_service`).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::http::Method;
use actix_web::test;
use demo_contract::{async_trait, DemoApp, DemoClient, TestRequest, TestResponse};
use session_actix::SessionManager;

/// Builds the demo around each scenario's manager.
struct ActixDemo;

type SendFn = Box<dyn Fn(TestRequest) -> Pin<Box<dyn Future<Output = TestResponse>>>>;

/// Sends the scenarios' framework-free requests to an initialized actix-web test service.
struct ActixClient(SendFn);

#[async_trait(?Send)]
impl DemoApp for ActixDemo {
    async fn client(&self, manager: SessionManager) -> Box<dyn DemoClient> {
        let service = Rc::new(test::init_service(actix_demo::app(manager)).await);
        Box::new(ActixClient(Box::new(move |request| {
            let service = Rc::clone(&service);
            Box::pin(async move {
                let response =
                    test::call_service(&*service, actix_request(request).to_request()).await;
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
        })))
    }
}

#[async_trait(?Send)]
impl DemoClient for ActixClient {
    async fn send(&self, request: TestRequest) -> TestResponse {
        (self.0)(request).await
    }
}

/// The scenario's request as actix-web's test request.
fn actix_request(request: TestRequest) -> test::TestRequest {
    let method = Method::from_bytes(request.method.as_bytes())
        .unwrap_or_else(|error| panic!("bad method {:?}: {error}", request.method));
    let mut actix = test::TestRequest::default()
        .method(method)
        .uri(&request.path);
    for header in request.headers {
        actix = actix.append_header(header);
    }
    actix.set_payload(request.body)
}

demo_contract::contract_tests!(
    #[actix_web::test]
    ActixDemo
);
