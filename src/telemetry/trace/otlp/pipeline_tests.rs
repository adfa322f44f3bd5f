//! The pipeline against a real HTTP receiver on 127.0.0.1 that can hold its
//! first answer, as a collector pausing under load does.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU16, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::trace::SpanProcessor;
use prost::Message;
use tokio::sync::Notify;

use super::{
    super::{InThreadClient, OtlpHttpExporter, export_tests::span},
    Pipeline, Sizes,
};
use crate::telemetry::trace::{
    cause::LastFailure,
    guarded::{LateResource, Reporter},
};

#[derive(Default)]
struct Collector {
    names: Mutex<Vec<String>>,
    requests: Mutex<Vec<usize>>,
    hold_first: AtomicBool,
    /// Told when the held request has arrived.
    holding: Mutex<Option<mpsc::Sender<()>>>,
    release: Notify,
    status: AtomicU16,
}

async fn receive(State(collector): State<Arc<Collector>>, body: Bytes) -> StatusCode {
    if collector.hold_first.swap(false, Ordering::SeqCst) {
        if let Some(told) = collector.holding.lock().unwrap().take() {
            let _ = told.send(());
        }
        collector.release.notified().await;
    }
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let names: Vec<String> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect();
    collector.requests.lock().unwrap().push(names.len());
    collector.names.lock().unwrap().extend(names);
    StatusCode::from_u16(collector.status.load(Ordering::SeqCst)).unwrap()
}

struct Setup {
    collector: Arc<Collector>,
    pipeline: Pipeline,
    held: mpsc::Receiver<()>,
    _runtime: tokio::runtime::Runtime,
}

fn setup(sizes: Sizes, hold_first: bool) -> Setup {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (told, held) = mpsc::channel();
    let collector = Arc::new(Collector {
        hold_first: AtomicBool::new(hold_first),
        holding: Mutex::new(Some(told)),
        status: AtomicU16::new(200),
        ..Collector::default()
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(Arc::clone(&collector));
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, app).await
    });
    let timeout = Duration::from_secs(10);
    let client = Arc::new(InThreadClient::new(timeout));
    let exporter = OtlpHttpExporter::new(client, &url, Vec::new(), false, timeout).unwrap();
    let reporter = Reporter::new(Some(url), LastFailure::default());
    let pipeline = Pipeline::new(exporter, sizes, LateResource::default(), reporter).unwrap();
    Setup {
        collector,
        pipeline,
        held,
        _runtime: runtime,
    }
}

fn sizes(queue: usize, batch: usize, delay: Duration) -> Sizes {
    Sizes {
        queue,
        batch,
        delay,
        flush_timeout: Duration::from_secs(10),
    }
}

const NAMES: [&str; 8] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];

fn end(pipeline: &Pipeline, count: usize) {
    for i in 0..count {
        pipeline.on_end(span(NAMES[i % NAMES.len()]));
    }
}

/// Until the pipeline's thread has taken every span out of the channel.
fn wait_taken(pipeline: &Pipeline) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pipeline.shared.queued.load(Ordering::Acquire) > 0 {
        assert!(Instant::now() < deadline, "spans were not taken");
        std::thread::yield_now();
    }
}

fn dropped(pipeline: &Pipeline) -> usize {
    pipeline.shared.dropped.load(Ordering::Relaxed)
}

#[test]
fn spans_are_taken_and_encoded_while_a_send_waits_for_its_answer() {
    let s = setup(sizes(64, 4, Duration::from_secs(3600)), true);
    end(&s.pipeline, 4);
    s.held.recv_timeout(Duration::from_secs(10)).unwrap();
    // Ten more batches while the collector holds the first, all within the
    // queue.
    for _ in 0..10 {
        end(&s.pipeline, 4);
        wait_taken(&s.pipeline);
    }
    assert_eq!(dropped(&s.pipeline), 0);
    assert!(s.collector.names.lock().unwrap().is_empty());

    s.collector.release.notify_one();
    s.pipeline.force_flush().unwrap();
    assert_eq!(s.collector.names.lock().unwrap().len(), 44);
    assert!(
        s.collector.requests.lock().unwrap().iter().all(|&n| n <= 4),
        "one batch per request"
    );
}

#[test]
fn a_batch_taken_in_two_parts_still_wakes_the_thread() {
    let mut s = setup(sizes(64, 4, Duration::from_secs(3600)), true);
    end(&s.pipeline, 4);
    s.held.recv_timeout(Duration::from_secs(10)).unwrap();
    // Two spans, then any message: the thread takes them into its batch.
    end(&s.pipeline, 2);
    s.pipeline
        .set_resource(&opentelemetry_sdk::Resource::builder_empty().build());
    wait_taken(&s.pipeline);
    // The channel never holds four now, but the batch is full: it must go.
    end(&s.pipeline, 2);
    wait_taken(&s.pipeline);
    s.collector.release.notify_one();
    s.pipeline.force_flush().unwrap();
    assert_eq!(*s.collector.requests.lock().unwrap(), [4, 4]);
}

#[test]
fn spans_beyond_the_queue_are_dropped_and_counted() {
    let s = setup(sizes(8, 4, Duration::from_secs(3600)), true);
    end(&s.pipeline, 4);
    s.held.recv_timeout(Duration::from_secs(10)).unwrap();
    end(&s.pipeline, 100);
    s.collector.release.notify_one();
    s.pipeline.force_flush().unwrap();
    let delivered = s.collector.names.lock().unwrap().len();
    // The queue holds the batch in flight too: four more fit.
    assert_eq!(delivered, 8);
    assert_eq!(dropped(&s.pipeline), 96);
}

#[test]
fn a_partial_batch_goes_after_the_schedule_delay() {
    let s = setup(sizes(64, 100, Duration::from_millis(50)), true);
    end(&s.pipeline, 1);
    // Held means sent: no flush asked for it.
    s.held.recv_timeout(Duration::from_secs(10)).unwrap();
    s.collector.release.notify_one();
}

#[test]
fn shutdown_sends_what_is_left_and_stops_the_thread() {
    let s = setup(sizes(64, 100, Duration::from_secs(3600)), false);
    end(&s.pipeline, 3);
    s.pipeline
        .shutdown_with_timeout(Duration::from_secs(10))
        .unwrap();
    assert_eq!(*s.collector.names.lock().unwrap(), ["s0", "s1", "s2"]);
    assert!(s.pipeline.thread.lock().unwrap().is_none(), "joined");
    end(&s.pipeline, 1);
    assert_eq!(
        dropped(&s.pipeline),
        0,
        "after shutdown nothing is counted as queue-full"
    );
}

#[test]
fn a_flush_reports_a_refused_export() {
    let s = setup(sizes(64, 100, Duration::from_secs(3600)), false);
    s.collector.status.store(400, Ordering::SeqCst);
    end(&s.pipeline, 2);
    let error = s.pipeline.force_flush().unwrap_err().to_string();
    assert!(error.contains("400"), "{error}");
    s.collector.status.store(200, Ordering::SeqCst);
    end(&s.pipeline, 1);
    s.pipeline.force_flush().unwrap();
}
