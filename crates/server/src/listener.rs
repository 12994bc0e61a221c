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
    io: TcpStream,
    /// Until the preface has arrived: bytes so far and the deadline.
    handshake: Option<(usize, Pin<Box<Sleep>>)>,
    _slot: OwnedSemaphorePermit,
}

impl Connected for Bounded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
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
/// before the next accept), each with `handshake_timeout` to send its preface.
pub(crate) fn bounded(
    incoming: TcpIncoming,
    max_connections: usize,
    handshake_timeout: Duration,
) -> impl Stream<Item = std::io::Result<Bounded>> + Send + 'static {
    let slots = Arc::new(Semaphore::new(
        max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    futures::stream::unfold((incoming, slots), move |(mut incoming, slots)| async move {
        let slot = slots.clone().acquire_owned().await.ok()?;
        let accepted = incoming.next().await?;
        let item = accepted.map(|io| Bounded {
            io,
            handshake: Some((0, Box::pin(tokio::time::sleep(handshake_timeout)))),
            _slot: slot,
        });
        Some((item, (incoming, slots)))
    })
}
