//! Two deadlines for a connection between requests, where hyper has one.
//!
//! hyper's `header_read_timeout` starts whenever the connection waits for a
//! request head, so an idle keep-alive connection is closed after it too,
//! while the ALB keeps its connections open for its own idle timeout (60 s)
//! and would send its next request into a closed socket (a 502). Here hyper
//! gets no header timeout; the socket is wrapped instead:
//!
//! - a new connection has the header timeout to send its first request;
//! - after a response, the connection may sit idle for the idle timeout;
//! - once a byte of the next request arrives, its head must be complete
//!   within the header timeout.
//!
//! The service marks a request as started ([`Activity::start`]) when hyper
//! hands it over, which is when its head is complete, and finished when hyper
//! drops the response body, which is when the response is written. A read
//! that passes a deadline fails with `TimedOut`, and hyper closes the
//! connection. A request pipelined behind another is already in hyper's
//! buffer when the first is answered, so it gets the idle timeout rather
//! than the header one (the ALB does not pipeline).

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// The two limits.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the first byte of a request (or the connection's opening) to the
    /// end of its head.
    pub header_read: Duration,
    /// Between a response and the first byte of the next request.
    pub idle: Duration,
}

/// What the service tells the socket: requests started and finished.
#[derive(Debug, Default)]
pub struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
    /// The task that last found the socket empty, woken when a request
    /// finishes so the idle deadline starts then: hyper itself polls an
    /// idle connection's socket only when something wakes it.
    parked: Mutex<Option<Waker>>,
}

impl Activity {
    /// A request's head has been read; no deadline runs until it is answered.
    pub fn start(self: &Arc<Self>) -> Finished {
        self.started.fetch_add(1, Ordering::AcqRel);
        Finished(Arc::clone(self))
    }
}

/// Marks its request finished when dropped (with the response body).
#[derive(Debug)]
pub struct Finished(Arc<Activity>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::AcqRel);
        let parked = self
            .0
            .parked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(waker) = parked {
            waker.wake();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    /// A request is being served: no deadline.
    Serving,
    /// Between requests, nothing read yet.
    Idle,
    /// Reading a request head.
    Head,
}

/// A socket whose reads fail once the current deadline has passed.
pub struct Guarded<S> {
    inner: S,
    timeouts: Timeouts,
    activity: Arc<Activity>,
    /// Requests finished when the current wait began.
    seen_finished: u64,
    waiting: Waiting,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Guarded<S> {
    /// Wraps a freshly accepted socket: its first request head is due
    /// within the header timeout.
    pub fn new(inner: S, timeouts: Timeouts, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            timeouts,
            activity,
            seen_finished: 0,
            waiting: Waiting::Head,
            deadline: Box::pin(tokio::time::sleep(timeouts.header_read)),
        }
    }

    /// Moves to the state the service's marks say, arming the deadline on
    /// a change.
    fn update(&mut self) {
        let finished = self.activity.finished.load(Ordering::Acquire);
        let started = self.activity.started.load(Ordering::Acquire);
        if started > finished {
            self.waiting = Waiting::Serving;
        } else if self.waiting == Waiting::Serving || finished != self.seen_finished {
            self.seen_finished = finished;
            self.waiting = Waiting::Idle;
            self.arm(self.timeouts.idle);
        }
    }

    fn arm(&mut self, timeout: Duration) {
        self.deadline.as_mut().reset(Instant::now() + timeout);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.update();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.waiting == Waiting::Idle && buf.filled().len() > before {
                    this.waiting = Waiting::Head;
                    this.arm(this.timeouts.header_read);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                // hyper polls an idle connection's socket only when woken, so
                // a request finishing wakes the last reader (see `Finished`).
                *this
                    .activity
                    .parked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
                if this.waiting != Waiting::Serving {
                    return match this.deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            match this.waiting {
                                Waiting::Idle => "idle timeout",
                                _ => "request head timeout",
                            },
                        ))),
                        Poll::Pending => Poll::Pending,
                    };
                }
                // Finished between the check above and parking: look again.
                if this.activity.finished.load(Ordering::Acquire)
                    == this.activity.started.load(Ordering::Acquire)
                {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    const LIMITS: Timeouts = Timeouts {
        header_read: Duration::from_millis(300),
        idle: Duration::from_secs(3),
    };

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_gets_the_idle_timeout_and_a_started_head_the_header_one()
    -> io::Result<()> {
        let (mut client, server) = duplex(64);
        let activity = Arc::new(Activity::default());
        let mut guarded = Guarded::new(server, LIMITS, Arc::clone(&activity));
        let mut buf = [0u8; 8];
        // One request served, then idle past the header timeout.
        client.write_all(b"GET").await?;
        assert_eq!(guarded.read(&mut buf).await?, 3);
        drop(activity.start());
        let begun = Instant::now();
        let read = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let n = guarded.read(&mut buf).await;
            (n.map_err(|e| e.kind()), guarded)
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        client.write_all(b"G").await?;
        let (n, mut guarded) = read.await.expect("joined");
        assert_eq!(n, Ok(1), "still open after 2 s idle");
        // The head has started: the header timeout now applies.
        let error = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = begun.elapsed();
        assert!(waited >= Duration::from_millis(2_300), "{waited:?}");
        assert!(waited < Duration::from_millis(2_400), "{waited:?}");
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_at_the_idle_timeout() -> io::Result<()> {
        let (_client, server) = duplex(64);
        let activity = Arc::new(Activity::default());
        let mut guarded = Guarded::new(server, LIMITS, Arc::clone(&activity));
        let finished = activity.start();
        drop(finished);
        let begun = Instant::now();
        let error = guarded.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(begun.elapsed(), LIMITS.idle);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_while_a_request_is_served() -> io::Result<()> {
        let (mut client, server) = duplex(64);
        let activity = Arc::new(Activity::default());
        let mut guarded = Guarded::new(server, LIMITS, Arc::clone(&activity));
        let serving = activity.start();
        let read = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            guarded.read(&mut buf).await.map_err(|e| e.kind())
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        client.write_all(b"body").await?;
        assert_eq!(read.await.expect("joined"), Ok(4));
        drop(serving);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_deadline_starts_when_a_parked_request_finishes() -> io::Result<()> {
        let (_client, server) = duplex(64);
        let activity = Arc::new(Activity::default());
        let mut guarded = Guarded::new(server, LIMITS, Arc::clone(&activity));
        let serving = activity.start();
        let read = tokio::spawn(async move {
            let begun = Instant::now();
            let error = guarded.read(&mut [0u8; 8]).await.unwrap_err();
            (error.kind(), begun.elapsed())
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(serving);
        let (kind, waited) = read.await.expect("joined");
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert_eq!(waited, Duration::from_secs(10) + LIMITS.idle);
        Ok(())
    }
}
