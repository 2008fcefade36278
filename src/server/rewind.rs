//! The stream the server hands rustls: the ClientHello bytes it read first (to fingerprint
//! them), replayed unchanged, then the socket.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::signals::TlsFingerprint;

pin_project_lite::pin_project! {
    /// A stream that first replays bytes already read from it, then reads on; writes go
    /// straight through. It carries the TLS fingerprint computed from those bytes, so a
    /// listener's connect info can read it ([`TlsListener`](super::TlsListener)).
    #[derive(Debug)]
    pub struct Rewind<S> {
        buffered: Vec<u8>,
        pos: usize,
        fingerprint: Option<Arc<TlsFingerprint>>,
        #[pin]
        inner: S,
    }
}

impl<S> Rewind<S> {
    /// `buffered` is read back first, then `inner`.
    pub(crate) fn new(
        buffered: Vec<u8>,
        inner: S,
        fingerprint: Option<Arc<TlsFingerprint>>,
    ) -> Self {
        Self {
            buffered,
            pos: 0,
            fingerprint,
            inner,
        }
    }

    /// The client's TLS fingerprint (JA4, JA3), when its ClientHello parsed.
    pub fn fingerprint(&self) -> Option<&Arc<TlsFingerprint>> {
        self.fingerprint.as_ref()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The underlying stream; bytes not yet replayed are dropped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let rest = this.buffered.get(*this.pos..).unwrap_or_default();
        if rest.is_empty() {
            return this.inner.poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(rest.get(..n).unwrap_or_default());
        *this.pos = this.pos.saturating_add(n);
        if *this.pos >= this.buffered.len() {
            // Replayed: free the buffer for the connection's lifetime.
            *this.buffered = Vec::new();
            *this.pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn replays_then_reads_on() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b" world")
            .await
            .unwrap();
        drop(a);
        let mut r = Rewind::new(b"hello".to_vec(), b, None);
        let mut small = [0u8; 3];
        r.read_exact(&mut small).await.unwrap();
        assert_eq!(&small, b"hel");
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "lo world");
    }
}
