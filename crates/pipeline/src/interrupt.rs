//! A clean stop on Ctrl-C. The command line's signal handler asks for a stop;
//! the search stops taking new problems (the trees in flight finish and are
//! stored) and the evaluation stops after the question it is on. Phases that
//! cannot stop half-way cleanly (training) are not graceful: there the handler
//! exits at once, and the phase starts over on resume.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicBool = AtomicBool::new(false);

/// Asks the running phase to stop; `false` when it cannot stop cleanly (or a
/// stop was already asked for), and the caller should exit now.
pub fn request_stop() -> bool {
    let first = !STOP.swap(true, Ordering::SeqCst);
    first && GRACEFUL.load(Ordering::SeqCst)
}

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Marks whether the running phase stops cleanly when asked to.
pub fn set_graceful(graceful: bool) {
    GRACEFUL.store(graceful, Ordering::SeqCst);
}
