//! What the criterion benchmarks share: the clock and the run settings.
//!
//! The benchmarks run on a small machine that other work shares. Wall time then counts the time
//! a benchmark thread spends waiting for a core, which says more about the neighbours than about
//! the code. So by default the benchmarks measure the CPU time of the benchmark thread
//! (`CLOCK_THREAD_CPUTIME_ID`), which counts only the time the code ran. Set `BENCH_CLOCK=wall`
//! to measure wall time instead, on an idle machine. Neither removes what a busy neighbour does to
//! shared caches, so figures taken under load are still marked as such in BENCHMARKS.md.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::Criterion;

/// The CPU time consumed by the calling thread.
pub struct ThreadTime {
    /// Lends its nanosecond formatter, so reports read the same whichever clock ran.
    wall: WallTime,
}

fn thread_cpu_nanos() -> u64 {
    session_bench::cpu_time_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

impl Measurement for ThreadTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, started: u64) -> Duration {
        Duration::from_nanos(thread_cpu_nanos().saturating_sub(started))
    }

    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

/// Whether `BENCH_CLOCK=wall` asks for wall time.
pub fn wall_clock() -> bool {
    std::env::var("BENCH_CLOCK").is_ok_and(|clock| clock == "wall")
}

/// The run settings every group uses: short, because the whole suite should finish in minutes.
pub fn settings<M: Measurement>(criterion: Criterion<M>) -> Criterion<M> {
    criterion
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Criterion on the thread CPU-time clock.
pub fn cpu_criterion() -> Criterion<ThreadTime> {
    settings(Criterion::default().with_measurement(ThreadTime { wall: WallTime }))
}

/// Criterion on the wall clock.
pub fn wall_criterion() -> Criterion<WallTime> {
    settings(Criterion::default())
}

/// Defines `main`, running the `targets` (functions generic over the measurement) on the clock
/// `BENCH_CLOCK` selects.
#[macro_export]
macro_rules! bench_main {
    ($($target:ident),+ $(,)?) => {
        fn main() {
            if support::wall_clock() {
                let mut criterion = support::wall_criterion().configure_from_args();
                $($target(&mut criterion);)+
                criterion.final_summary();
            } else {
                let mut criterion = support::cpu_criterion().configure_from_args();
                $($target(&mut criterion);)+
                criterion.final_summary();
            }
        }
    };
}
