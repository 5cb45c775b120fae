//! Test support for what the library reports (feature `testing`): [`Captured`] collects the
//! tracing spans and events of the threads that capture, one line each, and [`metrics_of`]
//! reads a debugging metrics recorder's snapshot as `name{labels}` and a count. For an
//! application's tests that assert what its sessions log and count (and that no id or key
//! appears in either); the adapters' and the core's own tests use it.

use std::collections::BTreeMap;
use std::fmt::{Debug, Write as _};
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, Snapshotter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Every span opened and event emitted on the threads that capture, one line each with its
/// fields (an event's line also names the spans it is in): `span <name> field=value...` or
/// `event in <span>... field=value...`.
///
/// One global subscriber routes to the capturing thread's list: a subscriber set per thread
/// races with other tests' threads over each callsite's cached interest, and could miss events.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

thread_local! {
    static CAPTURING: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Ends this thread's capture when dropped.
#[must_use = "the capture ends when this guard is dropped"]
pub struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURING.with(|capturing| capturing.borrow_mut().take());
    }
}

impl Captured {
    /// Captures what this thread emits until the guard is dropped. Installs the global
    /// subscriber on first use; panics if another global subscriber is installed already.
    pub fn start(&self) -> Capturing {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(Router);
            if tracing::subscriber::set_global_default(subscriber).is_err() {
                panic!("another global subscriber is installed; the capture would see nothing");
            }
        });
        CAPTURING.with(|capturing| *capturing.borrow_mut() = Some(self.clone()));
        Capturing
    }

    /// The lines captured so far, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(line: String) {
        CAPTURING.with(|capturing| {
            if let Some(captured) = &*capturing.borrow() {
                captured
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line);
            }
        });
    }
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

/// The global layer: each span and event to the capture of the thread it happens on.
struct Router;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Router {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut line = format!("span {}", attrs.metadata().name());
        attrs.record(&mut Fields(&mut line));
        Captured::push(line);
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let mut line = String::from("event");
        if let Some(scope) = context.event_scope(event) {
            for span in scope.from_root() {
                let _ = write!(line, " in {}", span.name());
            }
        }
        event.record(&mut Fields(&mut line));
        Captured::push(line);
    }
}

/// Every metric of `snapshotter`: `name{labels}` (labels as `key=value`, comma-separated) and
/// its value (a counter's count, a histogram's number of samples, 0 for a gauge).
pub fn metrics_of(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let count = match value {
                DebugValue::Counter(count) => count,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(_) => 0,
            };
            (format!("{}{{{}}}", key.name(), labels.join(",")), count)
        })
        .collect()
}

/// The count of `series` in `metrics` (named as [`metrics_of`] names it); a series never recorded
/// counts 0.
pub fn count_of(metrics: &BTreeMap<String, u64>, series: &str) -> u64 {
    metrics.get(series).copied().unwrap_or_default()
}

/// Every metric of `snapshotter` (see [`metrics_of`]), after asserting that each series of
/// `expected` has its count (see [`count_of`]). Taking a snapshot resets the recorder's values,
/// so the caller checks anything else on the map this returns.
#[track_caller]
pub fn metrics_with_counts(
    snapshotter: &Snapshotter,
    expected: &[(&str, u64)],
) -> BTreeMap<String, u64> {
    let metrics = metrics_of(snapshotter);
    for &(series, count) in expected {
        assert_eq!(count_of(&metrics, series), count, "{series}: {metrics:#?}");
    }
    metrics
}
