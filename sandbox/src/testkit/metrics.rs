//! Prometheus metrics, from the text exposition format (a `/metrics` page or a string), as
//! samples a test can query.
//!
//! Hand-written, because no crate in the tree parses the format: the `prometheus` crate only
//! encodes it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::TestkitError;

/// How long a plain HTTP GET may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// One sample: a metric name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, e.g. `apiserver_request_total` or `x_bucket`.
    pub name: String,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// The samples of one exposition.
///
/// ```
/// use kube_apiserver_sandbox::testkit::Metrics;
/// let metrics = Metrics::parse(
///     "# HELP requests_total Requests.\n\
///      # TYPE requests_total counter\n\
///      requests_total{verb=\"get\",code=\"200\"} 3\n\
///      requests_total{verb=\"get\",code=\"404\"} 1\n\
///      requests_total{verb=\"list\",code=\"200\"} 2\n\
///      up 1\n",
/// );
/// assert_eq!(metrics.sum("requests_total", &[]), 6.0);
/// assert_eq!(metrics.sum("requests_total", &[("verb", "get")]), 4.0);
/// assert_eq!(metrics.sum("requests_total", &[("verb", "get"), ("code", "404")]), 1.0);
/// assert_eq!(metrics.value("up", &[]), Some(1.0));
/// assert_eq!(metrics.value("down", &[]), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    samples: Vec<Sample>,
}

impl Metrics {
    /// Parses the text exposition format; comments, blank lines and lines that do not parse
    /// are left out.
    pub fn parse(text: &str) -> Self {
        Self {
            samples: text.lines().filter_map(parse_line).collect(),
        }
    }

    /// `GET`s and parses a `/metrics` page over plain HTTP, e.g.
    /// `http://127.0.0.1:9090/metrics` (a controller's admin server).
    ///
    /// # Errors
    ///
    /// When the URL is not `http://host:port/...`, the request fails or times out, or the
    /// answer is not a 200.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kube_apiserver_sandbox::testkit::Metrics;
    /// // A controller's admin server.
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let url = format!("http://{}/metrics", listener.local_addr()?);
    /// let text = "reconciles_total{result=\"ok\"} 7\nreconciles_total{result=\"error\"} 1\n";
    /// let app = axum::Router::new().route("/metrics", axum::routing::get(move || async move { text }));
    /// tokio::spawn(async move { axum::serve(listener, app).await });
    /// let metrics = Metrics::scrape(&url).await?;
    /// assert_eq!(metrics.sum("reconciles_total", &[]), 8.0);
    /// assert_eq!(metrics.sum_where("reconciles_total", |l| l["result"] != "ok"), 1.0);
    /// assert!(Metrics::scrape("https://127.0.0.1:1/metrics").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn scrape(url: &str) -> Result<Self, TestkitError> {
        let failed = |detail: String| TestkitError::Http {
            what: format!("GET {url}"),
            source: std::io::Error::other(detail),
        };
        let parsed = url::Url::parse(url).map_err(|e| failed(e.to_string()))?;
        let addr = match (parsed.scheme(), parsed.socket_addrs(|| None)) {
            ("http", Ok(addrs)) => addrs.into_iter().next(),
            _ => None,
        }
        .ok_or_else(|| failed("not an http://host:port URL".to_owned()))?;
        let mut path = parsed.path().to_owned();
        if let Some(query) = parsed.query() {
            path = format!("{path}?{query}");
        }
        let (code, body) = http_get(addr, &path)
            .await
            .map_err(|source| TestkitError::Http {
                what: format!("GET {url}"),
                source,
            })?;
        if code != 200 {
            return Err(failed(format!("answered {code}: {body}")));
        }
        Ok(Self::parse(&body))
    }

    /// Every sample, in the order of the exposition.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The sum of the samples of `name` (exactly) that have every label of `labels` with
    /// that value; 0 when there are none.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sum_where(name, |have| {
            labels
                .iter()
                .all(|(key, value)| have.get(*key).is_some_and(|v| v == value))
        })
    }

    /// The sum of the samples of `name` whose labels `keep` keeps; 0 when there are none.
    pub fn sum_where(&self, name: &str, keep: impl Fn(&BTreeMap<String, String>) -> bool) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && keep(&s.labels))
            .map(|s| s.value)
            .sum::<f64>()
            // An empty sum is -0.0; adding 0.0 makes it 0.
            + 0.0
    }

    /// The value of the first sample of `name` with every label of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(key, value)| s.labels.get(*key).is_some_and(|v| v == value))
            })
            .map(|s| s.value)
    }
}

/// One sample line: `name{label="value",...} value [timestamp]`.
fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find(['{', ' ']) {
        Some(at) if line[at..].starts_with('{') => {
            let (labels, rest) = parse_labels(&line[at + 1..])?;
            (&line[..at], labels, rest)
        }
        Some(at) => (&line[..at], BTreeMap::new(), &line[at..]),
        None => return None,
    };
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The labels up to the closing `}` (values with `\\`, `\"` and `\n` escapes), and the rest.
fn parse_labels(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i + 1,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim().to_owned(), value);
        rest = &after[end..];
    }
}

/// A plain HTTP/1.1 `GET` of `path` from `addr` (an admin server without TLS, such as a
/// controller's `/metrics`, `/healthz` or `/readyz`): the status code and the body, within
/// 10 s.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kube_apiserver_sandbox::testkit::http_get;
/// // A one-route admin server, as a controller has.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
/// tokio::spawn(async move { axum::serve(listener, app).await });
/// assert_eq!(http_get(addr, "/healthz").await?, (200, "ok".to_owned()));
/// assert_eq!(http_get(addr, "/absent").await?.0, 404);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// When the connection or the exchange fails, or takes longer than 10 s.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use http_body_util::{BodyExt, Empty};
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
        // Drives the connection until the answer is read and the sender dropped.
        tokio::spawn(connection);
        let request = http::Request::get(path)
            .header(http::header::HOST, addr.to_string())
            .body(Empty::<bytes::Bytes>::new())
            .map_err(std::io::Error::other)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(std::io::Error::other)?;
        let code = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok::<_, std::io::Error>((code, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{addr} did not answer GET {path} within {HTTP_TIMEOUT:?}"),
            )
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_escapes_timestamps_and_bare_names_parse() {
        let metrics = Metrics::parse(
            "a{path=\"/x\\\"y\",le=\"+Inf\"} 2 1700000000\nb 3.5\nc{} NaN\nbroken{x=\"1\" \n",
        );
        let a = &metrics.samples()[0];
        assert_eq!(a.labels.get("path").map(String::as_str), Some("/x\"y"));
        assert_eq!(a.value, 2.0);
        assert_eq!(metrics.value("b", &[]), Some(3.5));
        assert!(metrics.value("c", &[]).is_some_and(f64::is_nan));
        assert_eq!(metrics.samples().len(), 3);
        assert_eq!(metrics.sum("missing", &[]).to_string(), "0");
    }
}
