//! The binary over real TCP (`demo_contract::binary`): start-up from the environment, the
//! contract to a plain HTTP/1.1 client, and a sibling's cookie that is not UTF-8.

use demo_contract::binary::NonUtf8Cookies;

demo_contract::binary_tests!(
    env!("CARGO_BIN_EXE_rocket-demo"),
    NonUtf8Cookies::HeaderDropped
);
