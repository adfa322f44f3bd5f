//! A flush on its own thread, so a caller can stop waiting at a deadline
//! even when the collector never answers (Lambda must not hang on it).

use std::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc::{SyncSender, sync_channel},
    },
    time::Instant,
};

pub(crate) struct Flusher {
    wake: SyncSender<()>,
    state: Arc<FlushState>,
}

#[derive(Default)]
struct FlushState {
    requested: AtomicU64,
    completed: Mutex<u64>,
    done: Condvar,
}

impl Flusher {
    /// Starts the thread `name`, which runs `flush` whenever asked.
    pub(crate) fn spawn(name: &str, flush: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (wake, woken) = sync_channel::<()>(1);
        let state = Arc::new(FlushState::default());
        let worker = Arc::clone(&state);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // Everything recorded before this load is covered by this flush.
                    let generation = worker.requested.load(Ordering::SeqCst);
                    flush();
                    *worker.completed.lock().unwrap_or_else(|p| p.into_inner()) = generation;
                    worker.done.notify_all();
                }
            })?;
        Ok(Self { wake, state })
    }

    /// Flushes, waiting until `deadline`; false if it did not finish in time
    /// (it goes on in the background).
    pub(crate) fn flush_until(&self, deadline: Instant) -> bool {
        let mine = self.state.requested.fetch_add(1, Ordering::SeqCst) + 1;
        // Full means a wake-up is pending already; that flush will cover us.
        let _ = self.wake.try_send(());
        let completed = self
            .state
            .completed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let timeout = deadline.saturating_duration_since(Instant::now());
        let (_completed, result) = self
            .state
            .done
            .wait_timeout_while(completed, timeout, |done| *done < mine)
            .unwrap_or_else(|p| p.into_inner());
        !result.timed_out()
    }
}
