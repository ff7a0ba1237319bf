//! `IoWorker`: disk jobs (checkpoint commits, claim-line rewrites) on Rust threads.
//!
//! A job never needs the GIL: arguments are copied in when it is submitted, and its outcome is
//! queued for Python to collect with `finished()`. The worker writes one byte to a socket when
//! the queue of outcomes becomes non-empty; the event loop watches the other end. That replaces
//! a Python thread hop per write (a thread that must take the GIL twice, each time waiting for a
//! busy event loop to let go of it).

use std::collections::VecDeque;
use std::io::{self, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use drafast_lines as lines;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::args::{borrow_pairs, borrow_strings, pairs, strings};
use crate::checkpoint::{self, Checkpoint};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<IoWorker>()
}

enum Outcome {
    Generation(u64),
    Written(bool),
    Checkpoint(String),
    Device(String),
    /// A bug: the job panicked. Its caller gets a RuntimeError instead of waiting forever.
    Panicked(String),
}

/// A job: its outcome, and what the same thread does once that outcome is queued (work the
/// caller need not wait for).
type Work = Box<dyn FnOnce() -> (Outcome, Option<Later>) + Send>;
type Later = Box<dyn FnOnce() + Send>;

/// Jobs waiting for a thread. Idle threads wait on `ready` and a submit wakes exactly one. (An
/// mpsc receiver shared behind a mutex woke two threads per job: the one blocked in `recv` and,
/// as that one let the mutex go, the next in line, which only took it to block in `recv` again:
/// two needless context switches per job, on a VM each an inter-processor interrupt.)
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

struct QueueState {
    jobs: VecDeque<(u64, Work)>,
    closed: bool,
}

impl Queue {
    fn new() -> Self {
        Queue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a job; false once closed.
    fn push(&self, job: (u64, Work)) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        true
    }

    /// The next job, waiting for one; None once closed and every queued job taken.
    fn pop(&self) -> Option<(u64, Work)> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Take no more jobs; the threads finish the queued ones, then return.
    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Finished jobs, and the socket end that signals "there are some".
struct Done {
    outcomes: Mutex<Vec<(u64, Outcome)>>,
    signal: UnixStream,
}

impl Done {
    fn push(&self, job: u64, outcome: Outcome) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        if outcomes.is_empty() {
            // Under the lock: a byte is pending exactly while outcomes are. A full socket
            // buffer (WouldBlock) means a byte is pending already.
            let _ = (&self.signal).write(&[1]);
        }
        outcomes.push((job, outcome));
    }
}

/// Runs disk jobs on its own threads; see the module docs.
#[pyclass(frozen, module = "drafast._native")]
pub struct IoWorker {
    name: String,
    queue: Arc<Queue>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    done: Arc<Done>,
    wakeup: UnixStream,
    next_id: AtomicU64,
}

impl IoWorker {
    fn submit(&self, work: Work) -> PyResult<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if self.queue.push((id, work)) {
            Ok(id)
        } else {
            Err(PyRuntimeError::new_err(format!(
                "io worker {}: closed",
                self.name
            )))
        }
    }
}

impl Drop for IoWorker {
    /// Without `close()`: the threads still finish the queued jobs, then end (not joined).
    fn drop(&mut self) {
        self.queue.close();
    }
}

fn run(queue: &Queue, done: &Done) {
    while let Some((id, work)) = queue.pop() {
        let (outcome, later) =
            panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|cause| {
                let text = cause
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| cause.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                (Outcome::Panicked(text), None)
            });
        done.push(id, outcome);
        if let Some(later) = later {
            let _ = panic::catch_unwind(AssertUnwindSafe(later)); // nobody waits for it
        }
    }
}

#[pymethods]
impl IoWorker {
    #[new]
    #[pyo3(signature = (name, threads = 1))]
    fn new(name: String, threads: usize) -> PyResult<Self> {
        if !(1..=16).contains(&threads) {
            return Err(PyValueError::new_err(format!(
                "io worker {name}: threads must be 1..16, not {threads}"
            )));
        }
        let os = |e: io::Error| PyRuntimeError::new_err(format!("io worker {name}: {e}"));
        let (wakeup, signal) = UnixStream::pair().map_err(os)?;
        wakeup.set_nonblocking(true).map_err(os)?;
        signal.set_nonblocking(true).map_err(os)?;
        let done = Arc::new(Done {
            outcomes: Mutex::new(Vec::new()),
            signal,
        });
        let queue = Arc::new(Queue::new());
        let handles = (0..threads)
            .map(|i| {
                let (queue, done) = (Arc::clone(&queue), Arc::clone(&done));
                std::thread::Builder::new()
                    .name(format!(
                        "io-{}-{i}",
                        name.chars().take(8).collect::<String>()
                    ))
                    .spawn(move || run(&queue, &done))
                    .map_err(os)
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(IoWorker {
            name,
            queue,
            threads: Mutex::new(handles),
            done,
            wakeup,
            next_id: AtomicU64::new(1),
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Readable while finished jobs wait to be collected.
    fn fileno(&self) -> i32 {
        self.wakeup.as_raw_fd()
    }

    /// Commit ``puts`` then ``deletes`` to ``checkpoint`` in the background; returns the job id.
    /// The outcome is the new generation or a ``CheckpointError``.
    fn submit_commit(
        &self,
        checkpoint: &Checkpoint,
        puts: &Bound<'_, PyAny>,
        deletes: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let (put_holders, delete_holders) = (pairs(puts, "puts")?, strings(deletes, "deletes")?);
        let puts: Vec<(String, Vec<u8>)> = borrow_pairs(&put_holders)?
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_vec()))
            .collect();
        let deletes: Vec<String> = borrow_strings(&delete_holders)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        let store = Arc::clone(&checkpoint.store);
        self.submit(Box::new(move || {
            let puts: Vec<(&str, &[u8])> = puts
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect();
            let deletes: Vec<&str> = deletes.iter().map(String::as_str).collect();
            let outcome = match store.commit(&puts, &deletes) {
                Ok(generation) => Outcome::Generation(generation),
                Err(e) => Outcome::Checkpoint(e.to_string()),
            };
            (outcome, None)
        }))
    }

    /// Rewrite claim lines in ``path`` in the background (see ``rewrite_claim_lines``); returns
    /// the job id. The outcome is whether the file was written, or a ``DeviceError``. After a
    /// write, once the outcome is queued, the thread makes the file's spare for the next rewrite
    /// (unless ``spare`` is false).
    #[pyo3(signature = (path, changes, durable, exact = false, spare = true))]
    fn submit_rewrite(
        &self,
        path: PathBuf,
        changes: &Bound<'_, PyAny>,
        durable: bool,
        exact: bool,
        spare: bool,
    ) -> PyResult<u64> {
        let changes = crate::lines::changes(changes)?;
        self.submit(Box::new(move || {
            match lines::rewrite(&path, &changes, durable, exact) {
                Ok(true) if spare => {
                    let later: Later = Box::new(move || {
                        let _ = lines::make_spare(&path); // no spare: the next rewrite makes a temp
                    });
                    (Outcome::Written(true), Some(later))
                }
                Ok(written) => (Outcome::Written(written), None),
                Err(e) => (Outcome::Device(e.to_string()), None),
            }
        }))
    }

    /// Outcomes of the jobs finished since the last call: ``(job id, result or exception)``.
    fn finished(&self, py: Python<'_>) -> PyResult<Vec<(u64, Py<PyAny>)>> {
        let taken = {
            let mut outcomes = self
                .done
                .outcomes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut sink = [0u8; 64];
            while matches!((&self.wakeup).read(&mut sink), Ok(n) if n > 0) {}
            std::mem::take(&mut *outcomes)
        };
        taken
            .into_iter()
            .map(|(id, outcome)| {
                let value = match outcome {
                    Outcome::Generation(g) => g.into_pyobject(py)?.into_any().unbind(),
                    Outcome::Written(w) => w.into_pyobject(py)?.to_owned().into_any().unbind(),
                    Outcome::Checkpoint(msg) => checkpoint::error(msg).into_value(py).into_any(),
                    Outcome::Device(msg) => {
                        crate::lines::device_error(msg).into_value(py).into_any()
                    }
                    Outcome::Panicked(msg) => {
                        let msg = format!("io worker {}: job {id} panicked: {msg}", self.name);
                        PyRuntimeError::new_err(msg).into_value(py).into_any()
                    }
                };
                Ok((id, value))
            })
            .collect()
    }

    /// Stop taking jobs, let the threads finish the queued ones and wait for them.
    fn close(&self, py: Python<'_>) {
        self.queue.close();
        let handles =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        py.detach(|| {
            for h in handles {
                let _ = h.join();
            }
        });
    }

    fn __repr__(&self) -> String {
        format!("IoWorker({:?})", self.name)
    }
}
