//! Snapshots of the controller's metrics and what changed between two of them: the evidence a
//! rule reads, the same numbers `increase(...[window])` gives an alert.

use prometheus::proto::{MetricFamily, MetricType};
use std::collections::HashMap;
use std::time::Instant;

/// The labels of one series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// The value of label `name`, if the series has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether label `name` is one of `values`.
    pub fn is(&self, name: &str, values: &[&str]) -> bool {
        self.get(name).is_some_and(|value| values.contains(&value))
    }
}

impl Labels {
    /// Labels with these names and values.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Labels(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Labels {
    fn from(pairs: [(&str, &str); N]) -> Self {
        Labels::from_pairs(&pairs)
    }
}

/// Every counter and gauge value at one moment, by metric name (histograms as their `_count` and
/// `_sum`).
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    series: HashMap<String, Vec<(Labels, f64)>>,
}

impl Sample {
    /// A sample of `families`, taken at `at`.
    pub fn new(families: &[MetricFamily], at: Instant) -> Self {
        let mut series: HashMap<String, Vec<(Labels, f64)>> = HashMap::new();
        for family in families {
            for metric in family.get_metric() {
                let labels = Labels(
                    metric
                        .get_label()
                        .iter()
                        .map(|l| (l.name().to_string(), l.value().to_string()))
                        .collect(),
                );
                match family.get_field_type() {
                    MetricType::COUNTER => series
                        .entry(family.name().to_string())
                        .or_default()
                        .push((labels, metric.get_counter().value())),
                    MetricType::GAUGE => series
                        .entry(family.name().to_string())
                        .or_default()
                        .push((labels, metric.get_gauge().value())),
                    MetricType::HISTOGRAM => {
                        let histogram = metric.get_histogram();
                        series
                            .entry(format!("{}_count", family.name()))
                            .or_default()
                            .push((labels.clone(), histogram.get_sample_count() as f64));
                        series
                            .entry(format!("{}_sum", family.name()))
                            .or_default()
                            .push((labels, histogram.get_sample_sum()));
                    }
                    _ => {}
                }
            }
        }
        Sample { at, series }
    }

    /// A sample with the given series, for tests of the rules.
    #[cfg(test)]
    pub fn of(series: &[(&str, Labels, f64)]) -> Self {
        let mut map: HashMap<String, Vec<(Labels, f64)>> = HashMap::new();
        for (name, labels, value) in series {
            map.entry((*name).to_string())
                .or_default()
                .push((labels.clone(), *value));
        }
        Sample {
            at: Instant::now(),
            series: map,
        }
    }

    /// The same sample, taken `after` the given one (for tests of rates).
    #[cfg(test)]
    pub fn after(mut self, earlier: &Sample, after: std::time::Duration) -> Self {
        self.at = earlier.at + after;
        self
    }

    /// The sum of the series of `name` whose labels `select` accepts.
    pub fn sum(&self, name: &str, select: impl Fn(&Labels) -> bool) -> f64 {
        self.series.get(name).map_or(0.0, |series| {
            series
                .iter()
                .filter(|(labels, _)| select(labels))
                .map(|(_, value)| value)
                .sum()
        })
    }
}

/// What happened between two samples.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    /// The sample at the window's start.
    pub before: &'a Sample,
    /// The sample at its end.
    pub now: &'a Sample,
}

impl Window<'_> {
    /// How much the counters of `name` selected by `select` grew (never negative).
    pub fn increase(&self, name: &str, select: impl Fn(&Labels) -> bool + Copy) -> f64 {
        (self.now.sum(name, select) - self.before.sum(name, select)).max(0.0)
    }

    /// The current value of the gauges of `name` selected by `select`.
    pub fn gauge(&self, name: &str, select: impl Fn(&Labels) -> bool) -> f64 {
        self.now.sum(name, select)
    }

    /// The window's length in seconds (at least a millisecond).
    pub fn seconds(&self) -> f64 {
        self.now
            .at
            .saturating_duration_since(self.before.at)
            .as_secs_f64()
            .max(0.001)
    }
}

/// Selects every series.
pub fn all(_: &Labels) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_increase_of_the_selected_series() {
        let before = Sample::of(&[
            ("requests", Labels::from([("code", "200")]), 5.0),
            ("requests", Labels::from([("code", "401")]), 1.0),
        ]);
        let now = Sample::of(&[
            ("requests", Labels::from([("code", "200")]), 9.0),
            ("requests", Labels::from([("code", "401")]), 4.0),
        ]);
        let window = Window {
            before: &before,
            now: &now,
        };
        assert_eq!(window.increase("requests", all), 7.0);
        assert_eq!(window.increase("requests", |l| l.is("code", &["401"])), 3.0);
        assert_eq!(window.increase("missing", all), 0.0);
        assert_eq!(window.gauge("requests", |l| l.is("code", &["200"])), 9.0);
    }

    #[test]
    fn samples_read_counters_gauges_and_histograms_from_a_registry() {
        let registry = prometheus::Registry::new();
        let counter = prometheus::IntCounter::new("c_total", "c").expect("counter");
        let histogram =
            prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h_seconds", "h"))
                .expect("histogram");
        registry
            .register(Box::new(counter.clone()))
            .expect("register");
        registry
            .register(Box::new(histogram.clone()))
            .expect("register");
        counter.inc_by(3);
        histogram.observe(0.5);
        let sample = Sample::new(&registry.gather(), Instant::now());
        assert_eq!(sample.sum("c_total", all), 3.0);
        assert_eq!(sample.sum("h_seconds_count", all), 1.0);
        assert_eq!(sample.sum("h_seconds_sum", all), 0.5);
    }
}
