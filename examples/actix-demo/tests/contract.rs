//! The demo contract's scenarios and the hostile-HTTP suite (`demo_contract::hostile`), driven
//! through actix-web's own test service (`actix_web::test::init_service` and `call_service`).

demo_contract::demo_tests!(
    #[actix_web::test]
    ActixDemo,
    |manager| {
        let sessions = session_actix::SessionMiddleware::new(manager);
        demo_contract::clients::actix(actix_demo::app(sessions)).await
    }
);
