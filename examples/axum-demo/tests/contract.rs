//! The demo contract's scenarios and the hostile-HTTP suite (`demo_contract::hostile`), driven
//! through the router with `tower::ServiceExt::oneshot`.

demo_contract::demo_tests!(
    #[tokio::test]
    AxumDemo,
    |manager| demo_contract::clients::axum(axum_demo::app(manager))
);
