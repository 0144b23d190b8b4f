//! Prometheus metrics in the text exposition format, without a metrics
//! library: a few counters kept here, plus gauges read from the store at
//! scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Request and ingest counters. Label values are route templates
/// (`/api/v1/images/{digest}`), never raw paths, so the series stay few.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    ingest: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
    }

    pub fn record_ingest(&self, cluster: &str, result: &'static str) {
        if let Ok(mut map) = self.ingest.lock() {
            *map.entry((cluster.to_owned(), result)).or_default() += 1;
        }
    }

    /// The counters, followed by `gauges` (name, help, labelled values).
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP shipshape_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE shipshape_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((method, route, status), count) in map.iter() {
                let _ = writeln!(
                    out,
                    "shipshape_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(method),
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP shipshape_ingest_messages_total Agent messages by cluster and result.\n",
        );
        out.push_str("# TYPE shipshape_ingest_messages_total counter\n");
        if let Ok(map) = self.ingest.lock() {
            for ((cluster, result), count) in map.iter() {
                let _ = writeln!(
                    out,
                    "shipshape_ingest_messages_total{{cluster=\"{}\",result=\"{result}\"}} {count}",
                    escape(cluster)
                );
            }
        }
        for gauge in gauges {
            let _ = writeln!(out, "# HELP {} {}", gauge.name, gauge.help);
            let _ = writeln!(out, "# TYPE {} gauge", gauge.name);
            for (labels, value) in &gauge.values {
                if labels.is_empty() {
                    let _ = writeln!(out, "{} {value}", gauge.name);
                } else {
                    let labels: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                        .collect();
                    let _ = writeln!(out, "{}{{{}}} {value}", gauge.name, labels.join(","));
                }
            }
        }
        out
    }
}

/// A gauge read at scrape time.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub values: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// Label values escape `\`, `"` and newlines (the exposition format's rule).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges_with_escaped_labels() {
        let metrics = Metrics::default();
        metrics.record_request("GET", "/api/v1/statistics", 200);
        metrics.record_request("GET", "/api/v1/statistics", 200);
        metrics.record_ingest("prod \"eu\"", "accepted");
        let text = metrics.render(&[Gauge {
            name: "shipshape_images",
            help: "Images by scan status.",
            values: vec![(vec![("status", "scanned".to_owned())], 3.0)],
        }]);
        assert!(text.contains(
            "shipshape_http_requests_total{method=\"GET\",route=\"/api/v1/statistics\",status=\"200\"} 2\n"
        ));
        assert!(text.contains(
            "shipshape_ingest_messages_total{cluster=\"prod \\\"eu\\\"\",result=\"accepted\"} 1\n"
        ));
        assert!(
            text.contains(
                "# TYPE shipshape_images gauge\nshipshape_images{status=\"scanned\"} 3\n"
            )
        );
    }
}
