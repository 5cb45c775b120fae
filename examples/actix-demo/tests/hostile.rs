//! The hostile-HTTP suite (`demo_contract::hostile`), driven through actix-web's own test
//! service (`actix_web::test::init_service` and `call_service`).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use actix_web::test;
use demo_contract::{async_trait, HostileApp, HostileClient, RawRequest, TestResponse};
use session_actix::SessionManager;

struct ActixDemo;

type SendFn = Box<dyn Fn(test::TestRequest) -> Pin<Box<dyn Future<Output = TestResponse>>>>;

struct ActixClient(SendFn);

#[async_trait(?Send)]
impl HostileApp for ActixDemo {
    async fn hostile_client(&self, manager: SessionManager) -> Box<dyn HostileClient> {
        let service = Rc::new(test::init_service(actix_demo::app(manager)).await);
        Box::new(ActixClient(Box::new(move |request| {
            let service = Rc::clone(&service);
            Box::pin(async move {
                let response = test::call_service(&*service, request.to_request()).await;
                let status = response.status().as_u16();
                let headers = response
                    .headers()
                    .iter()
                    .map(|(name, value)| {
                        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                        (name.to_string(), value)
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
impl HostileClient for ActixClient {
    async fn send_raw(&self, request: RawRequest) -> Option<TestResponse> {
        let method = Method::from_bytes(request.method.as_bytes()).ok()?;
        // `TestRequest::uri` panics on a URI that does not parse; such a request never reaches
        // an app.
        Uri::try_from(request.path.as_str()).ok()?;
        let mut actix = test::TestRequest::default()
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

demo_contract::hostile_tests!(
    #[actix_web::test]
    ActixDemo
);
