//! The browser test of the demos lives in `tests/browser.rs`: headless Chromium, driven through
//! chromedriver, clicks through the page the axum demo serves at `GET /` and checks what the page
//! shows and which cookies the browser keeps. Run it with `bash scripts/test.sh -p browser-test`,
//! which installs Chromium and chromedriver when missing; without chromedriver (and outside that
//! script) the test says so and passes without running.

#![forbid(unsafe_code)]
