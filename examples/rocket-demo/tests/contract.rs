//! The demo contract's scenarios, driven through rocket's own local client
//! (`rocket::local::asynchronous::Client`).

use std::str::FromStr;

use demo_contract::{async_trait, DemoApp, DemoClient, TestRequest, TestResponse};
use rocket::http::{Header, Method};
use rocket::local::asynchronous::Client;
use session_rocket::SessionManager;

/// Builds the demo around each scenario's manager.
struct RocketDemo;

/// Sends the scenarios' framework-free requests through a local client. Untracked: the
/// scenarios' `Browser` keeps the cookies.
struct RocketClient(Client);

#[async_trait(?Send)]
impl DemoApp for RocketDemo {
    async fn client(&self, manager: SessionManager) -> Box<dyn DemoClient> {
        let rocket = rocket_demo::rocket(manager).configure(
            rocket::Config::figment().merge(("log_level", rocket::config::LogLevel::Off)),
        );
        let client = Client::untracked(rocket)
            .await
            .unwrap_or_else(|error| panic!("the demo does not ignite: {error}"));
        Box::new(RocketClient(client))
    }
}

#[async_trait(?Send)]
impl DemoClient for RocketClient {
    async fn send(&self, request: TestRequest) -> TestResponse {
        let method = Method::from_str(&request.method)
            .unwrap_or_else(|()| panic!("bad method {:?}", request.method));
        let mut local = self.0.req(method, request.path);
        for (name, value) in request.headers {
            local.add_header(Header::new(name, value));
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

demo_contract::contract_tests!(
    #[rocket::async_test]
    RocketDemo
);
