//! The demo contract's scenarios and the hostile-HTTP suite (`demo_contract::hostile`), driven
//! through rocket's own local client (`rocket::local::asynchronous::Client`).

use demo_contract::{async_trait, DemoApp, DemoClient};
use session_rocket::SessionManager;

/// Builds the demo around each scenario's manager.
struct RocketDemo;

#[async_trait(?Send)]
impl DemoApp for RocketDemo {
    async fn client(&self, manager: SessionManager) -> Box<dyn DemoClient> {
        demo_contract::clients::rocket(rocket_demo::rocket(manager)).await
    }
}

demo_contract::contract_tests!(
    #[rocket::async_test]
    RocketDemo
);

demo_contract::hostile_tests!(
    #[rocket::async_test]
    RocketDemo
);
