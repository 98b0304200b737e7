//! A loopback TCP proxy between a controller and its API server, which can slow, hang or cut the
//! connections: a partition, a slow or hung API server, on the sandbox and on a real cluster alike.
//!
//! TLS passes through untouched (the proxy sees only bytes), so the controller still verifies the
//! API server's certificate: [`Proxy::kube_config`] points the client at the proxy and keeps the
//! server's own name for verification (`tls_server_name`).
//!
//! | mode | what the controller sees |
//! |---|---|
//! | [`Proxy::pass`] | the API server, as if there were no proxy |
//! | [`Proxy::delay`] | every byte arrives `d` late, both ways: a slow network or API server |
//! | [`Proxy::hang`] | connections open, requests go out, nothing ever comes back: a NetworkPolicy that drops the traffic, a hung API server |
//! | [`Proxy::cut`] | every open connection is closed at once (new ones work): a broken path, an API server restart |

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// How the proxy treats traffic now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Pass,
    Delay(Duration),
    Hang,
}

/// A running proxy; dropping it stops accepting and closes every connection.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Bumped by [`Proxy::cut`]; each connection ends when it changes.
    cuts: watch::Sender<u64>,
    accepted: Arc<Mutex<u64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port in front of the API server of `config`.
    pub async fn start(config: &kube::Config) -> Proxy {
        let host = config
            .cluster_url
            .host()
            .expect("the cluster URL has a host");
        let port = config.cluster_url.port_u16().unwrap_or(443);
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let upstream = tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("the API server's address resolves")
            .next()
            .expect("the API server has an address");
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, _) = watch::channel(Mode::Pass);
        let (cuts, _) = watch::channel(0);
        let accepted = Arc::new(Mutex::new(0));
        let task = tokio::spawn(accept(
            listener,
            upstream,
            mode.clone(),
            cuts.clone(),
            accepted.clone(),
        ));
        Proxy {
            addr,
            mode,
            cuts,
            accepted,
            task,
        }
    }

    /// `config` with its cluster URL pointing at this proxy; the certificate is still checked
    /// against the API server's own name.
    pub fn kube_config(&self, config: &kube::Config) -> kube::Config {
        let mut proxied = config.clone();
        let host = config
            .cluster_url
            .host()
            .expect("the cluster URL has a host");
        proxied.tls_server_name = Some(
            config
                .tls_server_name
                .clone()
                .unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']').into()),
        );
        let path = config
            .cluster_url
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        proxied.cluster_url = format!("https://{}{path}", self.addr)
            .parse()
            .expect("a valid proxy URL");
        proxied
    }

    /// Forwards everything as it comes.
    pub fn pass(&self) {
        self.mode.send_replace(Mode::Pass);
    }

    /// Holds every chunk of bytes, both ways, for `delay` before forwarding it.
    pub fn delay(&self, delay: Duration) {
        self.mode.send_replace(Mode::Delay(delay));
    }

    /// Accepts connections and reads what is sent, but forwards nothing either way, until
    /// [`Proxy::pass`]: requests hang without an answer.
    pub fn hang(&self) {
        self.mode.send_replace(Mode::Hang);
    }

    /// Closes every open connection now; the next ones are treated by the current mode.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// How many connections the proxy has accepted so far.
    pub fn connections(&self) -> u64 {
        *self
            .accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    cuts: watch::Sender<u64>,
    accepted: Arc<Mutex<u64>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        *accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        let mode = mode.subscribe();
        let mut cut = cuts.subscribe();
        cut.mark_unchanged();
        tokio::spawn(async move {
            tokio::select! {
                () = connection(client, upstream, mode) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

/// Relays one connection until either side closes it.
async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // A hung path: the connection is accepted, but the API server is never reached.
    if mode.wait_for(|m| *m != Mode::Hang).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = relay(client_read, server_write, mode.clone()) => {}
        () = relay(server_read, client_write, mode) => {}
    }
}

/// Copies one direction, chunk by chunk, as the mode says at the time each chunk arrives.
async fn relay(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let arrived = Instant::now();
        let current = *mode.borrow_and_update();
        match current {
            Mode::Pass => {}
            Mode::Delay(delay) => tokio::time::sleep_until(arrived + delay).await,
            // Swallowed: what was sent while hanging never arrives, as on a dropped path.
            Mode::Hang => continue,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
