//! jemalloc as the global allocator, with allocator metrics and heap profiling (feature
//! `jemalloc`).
//!
//! Without the feature this module is empty and the system allocator is used.
//!
//! # Why jemalloc
//!
//! A controller is a long-running process that allocates many short-lived objects (decoded
//! watch events, JSON bodies). glibc's malloc tends to keep freed memory fragmented across
//! per-thread arenas, so resident memory creeps up over days; jemalloc returns memory more
//! predictably, reports exactly what it holds, and can profile the heap in production.
//!
//! # Which binaries use it
//!
//! The `#[global_allocator]` below lives in the library crate, so it applies to every binary that
//! links the library: both `doc-controller` and `crdgen` use items from `doc_controller`, which
//! is what makes the linker include it. A binary that never referred to the library would keep
//! the system allocator.
//!
//! # Metrics
//!
//! `JemallocCollector` is registered by [`Metrics::new`](crate::metrics::Metrics::new) and
//! exports, on every scrape:
//!
//! | metric | meaning |
//! |---|---|
//! | `doc_controller_jemalloc_allocated_bytes` | bytes the program has allocated and not freed |
//! | `doc_controller_jemalloc_active_bytes` | bytes in pages holding allocations (≥ allocated; the gap is fragmentation) |
//! | `doc_controller_jemalloc_resident_bytes` | bytes of physical memory jemalloc holds (≈ its share of RSS) |
//! | `doc_controller_jemalloc_mapped_bytes` | bytes in active extents mapped by jemalloc |
//! | `doc_controller_jemalloc_retained_bytes` | virtual memory kept for reuse but returned to the OS |
//!
//! A growing `allocated` is a leak in the program; a growing `resident` with a flat `allocated`
//! is fragmentation.
//!
//! # Heap profiling
//!
//! The `profiling` and `unprefixed_malloc_on_supported_platforms` features of
//! `tikv-jemallocator` are enabled, so jemalloc reads its options from the `MALLOC_CONF`
//! environment variable at startup. To dump a heap profile every 2^30 bytes (1 GiB) of
//! allocation and read it, on the build that keeps debug info (`[profile.profiling]`; the
//! release build's frames have no file or line):
//!
//! ```sh
//! cargo build --profile profiling --features jemalloc
//! MALLOC_CONF="prof:true,prof_active:true,lg_prof_interval:30" ./target/profiling/doc-controller
//! # ... exercise the controller, then:
//! jeprof --text --cum --lines ./target/profiling/doc-controller jeprof.*.heap | less
//! ```
//!
//! `jeprof` ships with jemalloc (Debian: `libjemalloc-dev`). Read the cumulative column: the
//! flat one puts everything in jemalloc's `prof_backtrace_impl`, which jeprof does not skip for
//! an unprefixed jemalloc; `--lines` tells apart the Rust functions jeprof shortens to their last
//! name segment. Lower `lg_prof_interval` (e.g. `26`, 64 MiB) for a small controller, and
//! compare two dumps with `jeprof --base=<older>.heap` to see only what grew.

#[cfg(feature = "jemalloc")]
pub use self::jemalloc::JemallocCollector;

#[cfg(feature = "jemalloc")]
mod jemalloc {
    use prometheus::{
        IntGauge,
        core::{Collector, Desc},
        proto::MetricFamily,
    };
    use tikv_jemalloc_ctl::{epoch, stats};

    /// The process-wide allocator: every heap allocation of a binary linking this library goes
    /// through jemalloc.
    #[global_allocator]
    static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

    /// A Prometheus collector that reads jemalloc's statistics on every scrape.
    ///
    /// jemalloc caches its statistics; they only refresh when the "epoch" is advanced, so
    /// [`Collector::collect`] advances it first. Reading on scrape (instead of in a background
    /// task) means the numbers are always current and nothing runs when nobody scrapes.
    #[derive(Debug)]
    pub struct JemallocCollector {
        allocated: IntGauge,
        active: IntGauge,
        resident: IntGauge,
        mapped: IntGauge,
        retained: IntGauge,
        descs: Vec<Desc>,
    }

    impl JemallocCollector {
        /// Creates the gauges; fails only on an invalid metric name (a programming error).
        pub fn new() -> Result<Self, prometheus::Error> {
            let allocated = IntGauge::new(
                "doc_controller_jemalloc_allocated_bytes",
                "Bytes allocated by the program and not yet freed.",
            )?;
            let active = IntGauge::new(
                "doc_controller_jemalloc_active_bytes",
                "Bytes in active pages allocated by the program (allocated plus fragmentation).",
            )?;
            let resident = IntGauge::new(
                "doc_controller_jemalloc_resident_bytes",
                "Bytes in physically resident data pages mapped by jemalloc.",
            )?;
            let mapped = IntGauge::new(
                "doc_controller_jemalloc_mapped_bytes",
                "Bytes in active extents mapped by jemalloc.",
            )?;
            let retained = IntGauge::new(
                "doc_controller_jemalloc_retained_bytes",
                "Bytes in virtual memory retained by jemalloc for reuse, not backed by physical memory.",
            )?;
            let descs = [&allocated, &active, &resident, &mapped, &retained]
                .into_iter()
                .flat_map(|gauge| gauge.desc().into_iter().cloned())
                .collect();
            Ok(Self {
                allocated,
                active,
                resident,
                mapped,
                retained,
                descs,
            })
        }

        /// Refreshes jemalloc's statistics and copies them into the gauges.
        fn update(&self) -> Result<(), tikv_jemalloc_ctl::Error> {
            epoch::advance()?;
            set(&self.allocated, stats::allocated::read()?);
            set(&self.active, stats::active::read()?);
            set(&self.resident, stats::resident::read()?);
            set(&self.mapped, stats::mapped::read()?);
            set(&self.retained, stats::retained::read()?);
            Ok(())
        }
    }

    fn set(gauge: &IntGauge, bytes: usize) {
        gauge.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    impl Collector for JemallocCollector {
        fn desc(&self) -> Vec<&Desc> {
            self.descs.iter().collect()
        }

        fn collect(&self) -> Vec<MetricFamily> {
            if let Err(error) = self.update() {
                // Export nothing rather than stale or zero values that would look real.
                tracing::warn!(%error, "reading jemalloc statistics failed");
                return Vec::new();
            }
            [
                &self.allocated,
                &self.active,
                &self.resident,
                &self.mapped,
                &self.retained,
            ]
            .into_iter()
            .flat_map(|gauge| gauge.collect())
            .collect()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn jemalloc_statistics_are_exported_as_byte_gauges() {
            let registry = prometheus::Registry::new();
            registry
                .register(Box::new(JemallocCollector::new().expect("valid gauges")))
                .expect("registered once");

            let text = prometheus::TextEncoder::new()
                .encode_to_string(&registry.gather())
                .expect("encodable");

            let allocated: f64 = text
                .lines()
                .find_map(|line| line.strip_prefix("doc_controller_jemalloc_allocated_bytes "))
                .expect("allocated bytes are exported")
                .parse()
                .expect("a number");
            assert!(
                allocated > 0.0,
                "this test allocates, so jemalloc has allocated bytes"
            );
            for name in ["active", "resident", "mapped", "retained"] {
                let series = format!("doc_controller_jemalloc_{name}_bytes ");
                assert!(text.contains(&series), "{series} in\n{text}");
            }
        }
    }
}
