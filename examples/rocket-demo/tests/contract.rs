//! The demo contract's scenarios and the hostile-HTTP suite (`demo_contract::hostile`), driven
//! through rocket's own local client (`rocket::local::asynchronous::Client`).

demo_contract::demo_tests!(
    #[rocket::async_test]
    RocketDemo,
    |manager| demo_contract::clients::rocket(rocket_demo::rocket(manager)).await
);
