//! The HTTPS listener: TLS termination and HTTP/1.1 + HTTP/2 (negotiated by ALPN) serving of
//! the filtered router (`super::Sandbox`'s).

use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::restart::Requests;
use crate::filters::faults::respond::droppable;
use crate::verbs::ApiState;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections forever; dropping (aborting) the returned task's future closes the
/// listener and, through the `JoinSet`, every open connection and watch. A restart
/// ([`super::restart`]) closes the listener and the connections the same way, then binds
/// again.
pub(crate) async fn serve(
    mut listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: axum::Router,
    api: Arc<ApiState>,
    mut restarts: Requests,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _peer)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let service =
                    TowerToHyperService::new(droppable(router.clone()));
                connections.spawn(async move {
                    // A client that never finishes the handshake must not pin a task forever.
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    let Ok(Ok(tls)) = handshake.await else { return };
                    let builder = auto::Builder::new(TokioExecutor::new());
                    if let Err(error) = builder
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .await
                    {
                        tracing::debug!(%error, "connection ended");
                    }
                });
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            Some(restart) = restarts.recv() => {
                match restart.perform(listener, &mut connections, &api.store).await {
                    Some(rebound) => listener = rebound,
                    None => return,
                }
            }
        }
    }
}
