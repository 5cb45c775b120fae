//! The demo contract's scenarios and the hostile-HTTP suite (`demo_contract::hostile`), driven
//! through actix-web's own test service (`actix_web::test::init_service` and `call_service`).

use demo_contract::{async_trait, DemoApp, DemoClient};
use session_actix::SessionManager;

/// Builds the demo around each scenario's manager.
struct ActixDemo;

#[async_trait(?Send)]
impl DemoApp for ActixDemo {
    async fn client(&self, manager: SessionManager) -> Box<dyn DemoClient> {
        demo_contract::clients::actix(actix_demo::app(manager)).await
    }
}

demo_contract::contract_tests!(
    #[actix_web::test]
    ActixDemo
);

demo_contract::hostile_tests!(
    #[actix_web::test]
    ActixDemo
);
