//! The span processor for OTLP/HTTP: ended spans wait in a short queue, and
//! a thread of their own encodes them into request bodies as they arrive and
//! sends one body at a time, going on encoding while a send is in flight.
//!
//! The SDK's batch processor keeps every waiting span as `SpanData` and takes
//! none out of its queue while an export is in flight, so a collector that
//! pauses for a few milliseconds under load overflows it (bench/history.md).
//! Here spans are encoded as soon as their batch fills, and a slow answer or
//! a retry's backoff never stops the encoding. The queue bounds every span
//! accepted and not yet exported, wherever it is: in the channel, encoded, or
//! in the request on the wire.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc::{Receiver, Sender, SyncSender, channel, sync_channel},
    },
    thread::JoinHandle,
    time::Duration,
};

use bytes::Bytes;
use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanProcessor},
};
use tokio::{
    sync::{
        Notify,
        mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel},
    },
    time::Instant,
};

use super::OtlpHttpExporter;
use crate::telemetry::trace::guarded::{LateResource, Reporter};

/// How many spans wait, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Spans accepted and not yet exported (`OTEL_BSP_MAX_QUEUE_SIZE`); more
    /// are dropped and counted.
    pub queue: usize,
    /// Spans per request (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub batch: usize,
    /// The longest a span waits for a batch to fill (`OTEL_BSP_SCHEDULE_DELAY`).
    pub delay: Duration,
    /// The longest `force_flush` waits (`OTEL_BSP_EXPORT_TIMEOUT`).
    pub flush_timeout: Duration,
}

// The SDK batch processor's event names, which the console and gRPC
// exporters still log: one name for each event whatever the exporter.
const DROPPING_STARTED: &str = "BatchSpanProcessor.SpanDroppingStarted";
const SPANS_DROPPED: &str = "BatchSpanProcessor.SpansDropped";

pub struct Pipeline {
    // Unbounded: `Shared` bounds it, and it allocates only as spans arrive.
    spans: Sender<SpanData>,
    shared: Arc<Shared>,
    control: UnboundedSender<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
    batch: usize,
    /// Spans that may be accepted and not yet exported.
    limit: usize,
    flush_timeout: Duration,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// Spans sent into the channel and not yet taken out (counted before the
    /// send, so never fewer than are in it).
    queued: AtomicUsize,
    /// Spans taken out and not yet exported; raised before `queued` falls, so
    /// the two never add up to fewer than are accepted.
    held: AtomicUsize,
    /// Spans accepted and not yet encoded: in the channel or in the batch
    /// filling. Only `on_end` raises it, one at a time, so every time enough
    /// for a batch are waiting it passes through exactly `batch`.
    unencoded: AtomicUsize,
    /// Told each time `unencoded` reaches a batch.
    wake: Notify,
    dropped: AtomicUsize,
}

enum Control {
    Flush(SyncSender<OTelSdkResult>),
    Shutdown(SyncSender<OTelSdkResult>),
    Resource(Resource),
}

impl Pipeline {
    /// Starts the pipeline's thread, which owns `exporter` and a
    /// current-thread runtime for its HTTP client.
    pub fn new(
        exporter: OtlpHttpExporter,
        sizes: Sizes,
        late_resource: LateResource,
        reporter: Reporter,
    ) -> std::io::Result<Self> {
        let batch = sizes.batch.max(1);
        // Never less than two batches: one in flight, one filling.
        let limit = sizes.queue.max(2 * batch);
        let (spans, receiver) = channel();
        let (control, control_rx) = unbounded_channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            unencoded: AtomicUsize::new(0),
            wake: Notify::new(),
            dropped: AtomicUsize::new(0),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let worker = Worker {
            exporter: Arc::new(exporter),
            spans: receiver,
            shared: Arc::clone(&shared),
            late_resource,
            reporter,
            resource: Resource::builder_empty().build(),
            batch,
            delay: sizes.delay,
            held: 0,
            taken: 0,
            done: 0,
        };
        let thread = std::thread::Builder::new()
            .name("otel-spans".into())
            .spawn(move || {
                // What the HTTP client does must never become spans itself.
                let _quiet = Context::enter_telemetry_suppressed_scope();
                runtime.block_on(worker.run(control_rx));
            })?;
        Ok(Self {
            spans,
            shared,
            control,
            thread: Mutex::new(Some(thread)),
            batch,
            limit,
            flush_timeout: sizes.flush_timeout,
        })
    }

    /// Sends `message` and waits up to `timeout` for the thread's answer.
    fn ask(
        &self,
        message: impl FnOnce(SyncSender<OTelSdkResult>) -> Control,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (reply, answer) = sync_channel(1);
        self.control
            .send(message(reply))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        answer
            .recv_timeout(timeout)
            .map_err(|_| OTelSdkError::Timeout(timeout))?
    }
}

impl SpanProcessor for Pipeline {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let queued = self.shared.queued.fetch_add(1, Ordering::AcqRel) + 1;
        if queued + self.shared.held.load(Ordering::Acquire) > self.limit {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            if self.shared.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    name = DROPPING_STARTED,
                    "span queue full: dropping spans until the exporter catches up \
                     (the count is logged at shutdown)"
                );
            }
            return;
        }
        // Counted before the send: the thread may encode the span at once.
        let unencoded = self.shared.unencoded.fetch_add(1, Ordering::AcqRel) + 1;
        match self.spans.send(span) {
            // Not `queued`: the thread may take spans while more arrive, and
            // the channel alone would then never hold a whole batch.
            Ok(()) if unencoded == self.batch => self.shared.wake.notify_one(),
            Ok(()) => {}
            // The thread is gone (shut down): nothing is queue-full.
            Err(_) => {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                self.shared.unencoded.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Control::Flush, self.flush_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                name = SPANS_DROPPED,
                dropped_span_count = dropped,
                max_queue_size = self.limit,
                "spans were dropped: the queue was full"
            );
        }
        self.ask(Control::Shutdown, timeout)?;
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let _ = self.control.send(Control::Resource(resource.clone()));
    }
}

/// The pipeline's thread.
struct Worker {
    exporter: Arc<OtlpHttpExporter>,
    spans: Receiver<SpanData>,
    shared: Arc<Shared>,
    late_resource: LateResource,
    reporter: Reporter,
    resource: Resource,
    batch: usize,
    delay: Duration,
    /// Spans taken out of the channel and not yet exported (`Shared::held`).
    held: usize,
    /// Spans ever taken out of the channel.
    taken: u64,
    /// Spans whose export has finished, sent or failed.
    done: u64,
}

type Sending = Pin<Box<dyn Future<Output = OTelSdkResult>>>;

/// What woke the thread.
enum Event {
    Control(Option<Control>),
    Sent(OTelSdkResult),
    Woken,
}

/// Encoded request bodies waiting their turn, and how many spans each holds.
type Ready = VecDeque<(Bytes, usize)>;

impl Worker {
    async fn run(mut self, mut control: UnboundedReceiver<Control>) {
        let mut filling = Vec::with_capacity(self.batch);
        let mut ready = Ready::default();
        let mut sending: Option<(Sending, usize)> = None;
        // Flushes waiting, each for every span taken before it was asked.
        let mut flushes: Vec<(u64, SyncSender<OTelSdkResult>)> = Vec::new();
        // The first failure while flushes wait, which they all report.
        let mut flush_failure: Option<String> = None;
        let mut shutdown = None;
        let mut due = Instant::now() + self.delay;
        loop {
            while let Ok(message) = control.try_recv() {
                self.obey(message, &mut flushes, &mut shutdown);
            }
            self.take(&mut filling, &mut ready);
            let flushing = !flushes.is_empty() || shutdown.is_some();
            let now = Instant::now();
            if (flushing || now >= due) && !filling.is_empty() {
                self.encode(&mut filling, &mut ready);
            }
            if now >= due {
                due = now + self.delay;
            }
            if sending.is_none()
                && let Some((body, count)) = ready.pop_front()
            {
                let exporter = Arc::clone(&self.exporter);
                sending = Some((Box::pin(async move { exporter.send(body).await }), count));
            }
            let idle = sending.is_none()
                && filling.is_empty()
                && self.shared.queued.load(Ordering::Acquire) == 0;
            flushes.retain(|(target, reply)| {
                let finished = idle || self.done >= *target;
                if finished {
                    let result = match &flush_failure {
                        None => Ok(()),
                        Some(e) => Err(OTelSdkError::InternalFailure(e.clone())),
                    };
                    let _ = reply.send(result);
                }
                !finished
            });
            if flushes.is_empty() {
                flush_failure = None;
            }
            if idle && let Some(reply) = shutdown.take() {
                let _ = reply.send(Ok(()));
                return;
            }

            let event = tokio::select! {
                biased;
                message = control.recv() => Event::Control(message),
                result = async { sending.as_mut().expect("guarded").0.as_mut().await },
                    if sending.is_some() => Event::Sent(result),
                () = self.shared.wake.notified() => Event::Woken,
                () = tokio::time::sleep_until(due) => Event::Woken,
            };
            match event {
                Event::Control(Some(message)) => self.obey(message, &mut flushes, &mut shutdown),
                // The processor is gone without a shutdown.
                Event::Control(None) => return,
                Event::Sent(result) => {
                    let (_, count) = sending.take().expect("a send finished");
                    self.finish(&result, count);
                    if let Err(e) = result
                        && !flushes.is_empty()
                    {
                        flush_failure.get_or_insert(e.to_string());
                    }
                }
                Event::Woken => {}
            }
        }
    }

    fn obey(
        &mut self,
        message: Control,
        flushes: &mut Vec<(u64, SyncSender<OTelSdkResult>)>,
        shutdown: &mut Option<SyncSender<OTelSdkResult>>,
    ) {
        let everything_so_far = self.taken + self.shared.queued.load(Ordering::Acquire) as u64;
        match message {
            Control::Flush(reply) => flushes.push((everything_so_far, reply)),
            Control::Shutdown(reply) => *shutdown = Some(reply),
            Control::Resource(resource) => self.resource = resource,
        }
    }

    /// Takes every span out of the channel (`on_end` accepted each within
    /// the queue's bound), encoding each batch as it fills.
    fn take(&mut self, filling: &mut Vec<SpanData>, ready: &mut Ready) {
        while let Ok(span) = self.spans.try_recv() {
            self.held += 1;
            self.shared.held.store(self.held, Ordering::Release);
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            self.taken += 1;
            filling.push(span);
            if filling.len() == self.batch {
                self.encode(filling, ready);
            }
        }
    }

    fn encode(&mut self, filling: &mut Vec<SpanData>, ready: &mut Ready) {
        if let Some(resource) = self.late_resource.take() {
            self.resource = resource;
        }
        let count = filling.len();
        self.shared.unencoded.fetch_sub(count, Ordering::AcqRel);
        match self.exporter.body(&self.resource, filling) {
            Ok(body) => ready.push_back((body, count)),
            Err(error) => self.finish(&Err(error), count),
        }
        filling.clear();
    }

    fn finish(&mut self, result: &OTelSdkResult, count: usize) {
        self.held -= count;
        self.shared.held.store(self.held, Ordering::Release);
        self.done += count as u64;
        self.reporter.record(result, count as u64);
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
