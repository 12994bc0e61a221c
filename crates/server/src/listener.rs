//! The gRPC listener's bounds on what a client may hold (the HTTP/2 ones — keepalive pings,
//! streams per connection — are set on tonic's server in `startup`):
//!
//! - **connections**: at most `IDENTITY_GRPC_MAX_CONNECTIONS` at once; beyond that the listener
//!   stops accepting (new clients wait in the kernel's backlog) until one closes;
//! - **handshake**: a client must send the HTTP/2 connection preface (24 bytes) within
//!   `IDENTITY_GRPC_HANDSHAKE_TIMEOUT_MS` of being accepted, or its connection is closed. After
//!   the preface, HTTP/2 keepalive pings find peers that stopped answering.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt as _};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Sleep,
};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// Length of the HTTP/2 client connection preface (`PRI * HTTP/2.0…`).
const PREFACE_LEN: usize = 24;

/// An accepted gRPC connection: it holds one connection slot while open, and fails its reads
/// once the handshake deadline passes before the preface has arrived.
#[derive(Debug)]
pub(crate) struct Bounded {
    io: Conn,
    /// Until the preface has arrived: bytes so far and the deadline.
    handshake: Option<(usize, Pin<Box<Sleep>>)>,
    _slot: OwnedSemaphorePermit,
}

/// The byte stream of a connection: plain TCP, or TLS over it.
#[derive(Debug)]
enum Conn {
    Plain(TcpStream),
    Tls(Box<identity_tls::TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        }
    }
}

/// Delegate one `AsyncRead`/`AsyncWrite` call to the stream inside.
macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match &mut *$self {
            Conn::Plain($s) => $call,
            Conn::Tls($s) => $call,
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl Connected for Bounded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.tcp().connect_info()
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Some((seen, deadline)) = &mut this.handshake {
            match &polled {
                Poll::Ready(Ok(())) => {
                    *seen += buf.filled().len() - before;
                    if *seen >= PREFACE_LEN {
                        this.handshake = None;
                    }
                }
                Poll::Pending => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no HTTP/2 preface within the handshake timeout",
                        )));
                    }
                }
                Poll::Ready(Err(_)) => {}
            }
        }
        polled
    }
}

impl AsyncWrite for Bounded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The connections of `incoming`, at most `max_connections` open at once (a slot is taken
/// before the next accept), each with `handshake_timeout` to send its preface. With `tls`, each
/// connection's TLS handshake runs in a task of its own (a slow one holds no other back) and must
/// end within `handshake_timeout` too.
pub(crate) fn bounded(
    incoming: TcpIncoming,
    max_connections: usize,
    handshake_timeout: Duration,
    tls: Option<identity_tls::TlsAcceptor>,
) -> Pin<Box<dyn Stream<Item = std::io::Result<Bounded>> + Send + 'static>> {
    let slots = Arc::new(Semaphore::new(
        max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let bounded = move |io, slot| Bounded {
        io,
        handshake: Some((0, Box::pin(tokio::time::sleep(handshake_timeout)))),
        _slot: slot,
    };
    let Some(acceptor) = tls else {
        return futures::stream::unfold(
            (incoming, slots),
            move |(mut incoming, slots)| async move {
                let slot = slots.clone().acquire_owned().await.ok()?;
                let accepted = incoming.next().await?;
                let item = accepted.map(|io| bounded(Conn::Plain(io), slot));
                Some((item, (incoming, slots)))
            },
        )
        .boxed();
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bounded>>(64);
    tokio::spawn(async move {
        let mut incoming = incoming;
        loop {
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => match s { Ok(s) => s, Err(_) => return },
                () = tx.closed() => return,
            };
            // The server stopped (the receiver is gone): stop accepting, close the listener.
            let accepted = tokio::select! {
                a = incoming.next() => match a { Some(a) => a, None => return },
                () = tx.closed() => return,
            };
            match accepted {
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                }
                Ok(tcp) => {
                    let (acceptor, tx) = (acceptor.clone(), tx.clone());
                    tokio::spawn(async move {
                        let shake = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
                        match shake.await {
                            Ok(Ok(stream)) => {
                                let conn = Conn::Tls(Box::new(stream));
                                let _ = tx.send(Ok(bounded(conn, slot))).await;
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake not done in time"),
                        }
                    });
                }
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }).boxed()
}
