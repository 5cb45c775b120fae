//! The demo contract's scenarios and the hostile-HTTP suite (`demo_contract::hostile`), driven
//! through the router with `tower::ServiceExt::oneshot`.

use demo_contract::{async_trait, DemoApp, DemoClient};
use session_axum::SessionManager;

/// Builds the demo around each scenario's manager.
struct AxumDemo;

#[async_trait(?Send)]
impl DemoApp for AxumDemo {
    async fn client(&self, manager: SessionManager) -> Box<dyn DemoClient> {
        demo_contract::clients::axum(axum_demo::app(manager))
    }
}

demo_contract::contract_tests!(
    #[tokio::test]
    AxumDemo
);

demo_contract::hostile_tests!(
    #[tokio::test]
    AxumDemo
);
