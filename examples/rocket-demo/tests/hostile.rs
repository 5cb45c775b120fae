//! The hostile-HTTP suite (`demo_contract::hostile`), driven through rocket's own local client
//! (`rocket::local::asynchronous::Client`).

use std::str::FromStr;

use demo_contract::{async_trait, HostileApp, HostileClient, RawRequest, TestResponse};
use rocket::http::{Header, Method};
use rocket::local::asynchronous::Client;
use session_rocket::SessionManager;

struct RocketDemo;

struct RocketClient(Client);

#[async_trait(?Send)]
impl HostileApp for RocketDemo {
    async fn hostile_client(&self, manager: SessionManager) -> Box<dyn HostileClient> {
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
impl HostileClient for RocketClient {
    async fn send_raw(&self, request: RawRequest) -> Option<TestResponse> {
        let method = Method::from_str(request.method).ok()?;
        let mut local = self.0.req(method, request.path);
        for (name, value) in request.headers {
            // Rocket's headers are text: a value that is not UTF-8 cannot be sent.
            local.add_header(Header::new(name, String::from_utf8(value).ok()?));
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

demo_contract::hostile_tests!(
    #[rocket::async_test]
    RocketDemo
);
