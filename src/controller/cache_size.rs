//! `doc_controller_cached_object_bytes{store}`: how much the reflector Stores hold.
//!
//! The size is the JSON encoding of every cached object, computed when `/metrics` is scraped (not
//! on every event): an estimate of the memory the objects take, good for comparisons such as
//! stripped versus unstripped objects and for bytes per object.

use crate::configmap::cached::CachedConfigMap;
use crate::document::Document;
use kube::runtime::reflector::{Lookup, Store};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts};

/// A Prometheus collector measuring both Stores at scrape time.
pub struct CacheSizeCollector {
    documents: Store<Document>,
    config_maps: Store<CachedConfigMap>,
    bytes: IntGaugeVec,
}

impl CacheSizeCollector {
    /// A collector over these Stores.
    pub fn new(
        documents: Store<Document>,
        config_maps: Store<CachedConfigMap>,
    ) -> Result<Self, prometheus::Error> {
        let bytes = IntGaugeVec::new(
            Opts::new(
                "doc_controller_cached_object_bytes",
                "JSON size of the objects held in each reflector store, measured at scrape time.",
            ),
            &["store"],
        )?;
        Ok(Self {
            documents,
            config_maps,
            bytes,
        })
    }
}

fn json_bytes<K>(store: &Store<K>) -> i64
where
    K: Lookup + serde::Serialize + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let total: usize = store
        .state()
        .iter()
        .map(|obj| serde_json::to_vec(obj.as_ref()).map_or(0, |v| v.len()))
        .sum();
    i64::try_from(total).unwrap_or(i64::MAX)
}

impl Collector for CacheSizeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.bytes.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.bytes
            .with_label_values(&["documents"])
            .set(json_bytes(&self.documents));
        self.bytes
            .with_label_values(&["configmaps"])
            .set(json_bytes(&self.config_maps));
        self.bytes.collect()
    }
}
