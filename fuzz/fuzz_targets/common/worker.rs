//! Runs each input on a thread with the stack the binary gives its tokio workers (16 MiB,
//! `src/main.rs`), not on libFuzzer's main thread: request values may nest 10,000 levels
//! deep and the proxy relies on that stack to clone, drop and format them.
//!
//! A panic on the worker still aborts the process (libfuzzer-sys's panic hook), and a stack
//! overflow there is still reported by AddressSanitizer.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

/// The tokio worker stack size set in `src/main.rs`.
pub const WORKER_STACK: usize = 16 * 1024 * 1024;

type Job = Box<dyn FnOnce() + Send>;

struct Worker {
    jobs: Sender<Job>,
    done: Receiver<()>,
}

/// Runs `job` on the worker thread and waits for it.
pub fn run(job: impl FnOnce() + Send + 'static) {
    static WORKER: OnceLock<Mutex<Worker>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        let (jobs, incoming) = mpsc::channel::<Job>();
        let (finished, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("fuzz-worker".into())
            .stack_size(WORKER_STACK)
            .spawn(move || {
                for job in incoming {
                    job();
                    let _ = finished.send(());
                }
            })
            .expect("the worker thread starts");
        Mutex::new(Worker { jobs, done })
    });
    let worker = worker
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    worker
        .jobs
        .send(Box::new(job))
        .expect("the worker is running");
    worker.done.recv().expect("the worker finished the job");
}
