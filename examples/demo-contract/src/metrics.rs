//! The demos' metrics and audit log: the Prometheus recorder behind `GET /metrics`, installed
//! once per process before any manager is built (the library takes its metric handles when a
//! manager is built), and the lifecycle-event hook that writes the audit log through `tracing`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use session_core::{SessionEvent, SessionManager, SESSION_STORE_DURATION_SECONDS};

/// The `Content-Type` of `GET /metrics`: Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Bucket bounds of the store-duration histogram, in seconds: from an in-memory store's
/// microseconds to a slow network store's seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

/// Installs the Prometheus recorder as the process's metrics recorder, once; `None` when
/// another recorder was installed first (then `GET /metrics` answers an empty page).
pub fn install_metrics() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let duration = Matcher::Full(SESSION_STORE_DURATION_SECONDS.to_string());
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(duration, DURATION_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "no Prometheus recorder: GET /metrics will be empty");
                    None
                }
            }
        })
        .as_ref()
}

/// The body of `GET /metrics`: every metric in Prometheus text format.
pub fn metrics_text() -> String {
    install_metrics().map_or_else(String::new, |handle| {
        handle.run_upkeep();
        handle.render()
    })
}

/// The audit log: one `info` line per lifecycle event, target `audit`, with the session name,
/// the owner (the demos opt in to logging owners), what happened, the session's handle (the one
/// its owner's device listing shows) and the device's `User-Agent`. Never an id.
pub fn audit(event: &SessionEvent<'_>) {
    let user_agent = event.device.and_then(|device| device.user_agent.as_deref());
    tracing::info!(
        target: "audit",
        session = event.session.unwrap_or("-"),
        owner = event.owner.unwrap_or("-"),
        event = ?event.kind,
        handle = event.handle.unwrap_or("-"),
        user_agent = user_agent.unwrap_or("-"),
        "session event"
    );
}

/// Installs [`audit`] as `manager`'s event hook.
pub fn audit_log(manager: &SessionManager) {
    if !manager.set_event_hook(audit) {
        tracing::warn!("the manager already has an event hook; the audit log is not installed");
    }
}
