//! A TCP proxy that a test can cut and restore, to take a dependency (Postgres) away from the
//! server without stopping the real one.

use std::{fmt, net::SocketAddr, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// Controls a proxy started by [`start_tcp_proxy`]. Dropping it stops the proxy and closes
/// every connection through it.
pub struct ProxyHandle {
    cut: watch::Sender<bool>,
    accept_loop: JoinHandle<()>,
}

impl fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("cut", &*self.cut.borrow())
            .finish_non_exhaustive()
    }
}

/// Listen on a fresh loopback port and forward every connection to `target`.
/// Returns the proxy's address and its handle.
pub async fn start_tcp_proxy(target: SocketAddr) -> (SocketAddr, ProxyHandle) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_or_else(|e| panic!("binding the proxy listener failed: {e}"));
    let local = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the proxy listener has no address: {e}"));
    let (cut, _) = watch::channel(false);
    let accept_loop = tokio::spawn(accept_loop(listener, target, cut.clone()));
    (local, ProxyHandle { cut, accept_loop })
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, cut: watch::Sender<bool>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // E.g. too many open files: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if *cut.borrow() {
            // Refused: the peer sees the connection closed at once.
            drop(inbound);
            continue;
        }
        tokio::spawn(forward(inbound, target, cut.subscribe()));
    }
}

async fn forward(mut inbound: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        // Cut (or the handle dropped): both streams are dropped, closing the connection.
        _ = cut.wait_for(|c| *c) => {}
    }
}

impl ProxyHandle {
    /// Close every connection through the proxy and refuse new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forward new connections again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Whether the proxy is cut.
    pub fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.cut.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> bool {
        if stream.write_all(b"ping").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        matches!(
            tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf)).await,
            Ok(Ok(_))
        ) && &buf == b"ping"
    }

    #[tokio::test]
    async fn cut_closes_connections_and_restore_reopens() {
        let target = echo_server().await;
        let (addr, proxy) = start_tcp_proxy(target).await;
        let mut before = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(round_trip(&mut before).await, "the proxy forwards");

        proxy.cut();
        assert!(proxy.is_cut());
        assert!(
            !round_trip(&mut before).await,
            "an open connection is closed by cut()"
        );
        let mut during = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !round_trip(&mut during).await,
            "new connections are refused while cut"
        );

        proxy.restore();
        let mut after = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(round_trip(&mut after).await, "restore() forwards again");
    }
}
