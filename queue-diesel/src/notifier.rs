//! Notifications for the enqueues a [`PgStorage`](crate::PgStorage) commits itself, sent
//! after their commit when several are in flight at once.
//!
//! A transaction that notifies holds a database-wide lock from its pre-commit through its
//! commit's flush: concurrent notifying transactions commit one at a time, each waiting for
//! its own flush, where transactions without a notification share their flushes (group
//! commit). So an enqueue the storage commits itself notifies in its own statement only
//! when it is the storage's only enqueue in flight, the common case, where it holds up no
//! other enqueue of the storage. Otherwise it commits without a notification and leaves
//! one owed to a background thread, which sends `NOTIFY` in a transaction of its own after
//! that commit, once for every enqueue committed since its last one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

use diesel::pg::PgConnection;

use crate::pool::Pooled;

/// The enqueues of one storage (shared by its clones): how many are in flight, and the
/// thread that sends the notifications owed.
#[derive(Debug, Default)]
pub(crate) struct Enqueues {
    in_flight: AtomicUsize,
    notifier: OnceLock<Option<Notifier>>,
}

/// Whether an enqueue notifies in its own statement: only when no other enqueue of the
/// storage is in flight. Counted out when dropped.
pub(crate) struct InFlight<'a> {
    enqueues: &'a Enqueues,
    /// Whether the statement notifies.
    pub(crate) notifies: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.enqueues.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Enqueues {
    /// Counts an enqueue in until the returned guard drops.
    pub(crate) fn start(&self) -> InFlight<'_> {
        let alone = self.in_flight.fetch_add(1, Ordering::AcqRel) == 0;
        InFlight { enqueues: self, notifies: alone }
    }

    /// Owes a notification for an enqueue that committed without one: the notifier sends
    /// it after this call, so after that commit. When the thread cannot be started, sends
    /// it here, on `conn`.
    pub(crate) fn owe(&self, pool: &Pooled<PgConnection>, conn: &mut PgConnection) {
        match self.notifier.get_or_init(|| Notifier::spawn(pool.clone())) {
            Some(notifier) => notifier.owe(),
            // The jobs are committed either way: without a notification, workers find them
            // at their next poll.
            None => drop(crate::pg::notify(conn)),
        }
    }
}

/// The background thread's handle; the thread ends when the handle drops.
#[derive(Debug)]
struct Notifier {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// A notification is owed for an enqueue that committed since the last one was sent.
    owed: bool,
    /// The storage is gone.
    stop: bool,
}

impl Notifier {
    fn spawn(pool: Pooled<PgConnection>) -> Option<Notifier> {
        let shared = Arc::new(Shared::default());
        let thread = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("queue-pg-notifier".into())
            .spawn(move || thread.run(&pool))
            .ok()?;
        Some(Notifier { shared })
    }

    fn owe(&self) {
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.owed {
            state.owed = true;
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    /// Sends one notification for every run of owed enqueues, until the storage is gone
    /// and nothing is owed. The flag is cleared before the notification goes out, so an
    /// enqueue that commits while it is being sent owes the next one.
    fn run(&self, pool: &Pooled<PgConnection>) {
        loop {
            {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                while !state.owed && !state.stop {
                    state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                if !state.owed {
                    return;
                }
                state.owed = false;
            }
            // A failure loses only the wake-up: workers find the jobs at their next poll.
            if let Ok(mut conn) = pool.get() {
                let _ = crate::pg::notify(&mut conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use diesel::connection::SimpleConnection as _;
    use diesel::r2d2::Pool;

    use super::*;

    /// The thread, stopped with a notification still owed (the storage dropped right after
    /// an enqueue that owes one), sends it before it ends; stopped with none owed, it ends
    /// without one. Run on this thread, so that `run` returning is part of the test.
    #[test]
    fn a_stopped_notifier_sends_what_is_owed_and_ends() {
        let db = crate::testing::TestDatabase::new();
        let mut listener = db.connect();
        listener.batch_execute("LISTEN queue_core_jobs").unwrap();
        let pool = Pooled::new(db.url(), "test".into(), 2, Pool::builder()).unwrap();
        let mut marker = db.connect();
        for (owed, expected) in [(true, vec![String::new()]), (false, vec![])] {
            let shared =
                Shared { state: Mutex::new(State { owed, stop: true }), ..Shared::default() };
            shared.run(&pool);
            marker.batch_execute("NOTIFY queue_core_jobs, 'marker'").unwrap();
            let heard = crate::testing::pg_notifications_before(&mut listener, "marker");
            assert_eq!(heard, expected, "owed: {owed}");
        }
    }
}
