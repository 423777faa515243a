//! Notifications for the enqueues a [`PgStorage`](crate::PgStorage) commits itself, when
//! several are in flight at once.
//!
//! A transaction that notifies holds a database-wide lock from its pre-commit through its
//! commit's flush: concurrent notifying transactions commit one at a time, each waiting for
//! its own flush, where transactions without a notification share their flushes (group
//! commit). So the storage keeps at most one notifying transaction of its own in flight:
//!
//! - An enqueue notifies in its own statement when no other notifying one is in flight and
//!   either it is the storage's only enqueue in flight (the common case, where it holds up no
//!   other enqueue) or an earlier enqueue committed without a notification that no later one
//!   covers yet. Its notification, sent at its commit, covers every enqueue that committed
//!   before its statement started: a worker it wakes claims after that commit and sees them.
//! - Any other enqueue commits without a notification and owes one. The next notifying
//!   enqueue to start covers it, so under a steady flow of enqueues no transaction is spent
//!   on notifications alone.
//! - A background thread sends `NOTIFY`, in a transaction of its own, for what is still owed
//!   when no enqueue of the storage is in flight (none will cover it), or [`COVER_WAIT`]
//!   after the first commit not covered yet. So an owed wake-up waits no longer than that,
//!   even behind an enqueue that waits for a lock.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;

use crate::pool::Pooled;

/// How long an owed notification waits, while other enqueues of the storage are in flight,
/// for one of them to cover it before the background thread sends it. A few enqueue calls
/// under load: shorter, and the thread sends what the next enqueue would have covered;
/// longer, and a wake-up waits longer behind an enqueue held up in the database.
pub(crate) const COVER_WAIT: Duration = Duration::from_millis(5);

/// The enqueues of one storage (shared by its clones), and the thread that sends the
/// notifications owed.
#[derive(Debug, Default)]
pub(crate) struct Enqueues {
    shared: Arc<Shared>,
    notifier: OnceLock<Option<Notifier>>,
}

/// An enqueue in flight, and whether it notifies in its own statement. Counted out by
/// [`InFlight::committed`], or as failed when dropped.
pub(crate) struct InFlight<'a> {
    enqueues: &'a Enqueues,
    notifying: Option<Notifying>,
    ended: bool,
}

impl InFlight<'_> {
    /// Whether the enqueue's statement notifies.
    pub(crate) fn notifies(&self) -> bool {
        self.notifying.is_some()
    }

    /// Counts the enqueue out as committed. One that did not notify owes a notification,
    /// which the background thread sends unless a later enqueue covers it; when the thread
    /// cannot be started, it is sent here, on `conn`.
    pub(crate) fn committed(mut self, pool: &Pooled<PgConnection>, conn: &mut PgConnection) {
        self.ended = true;
        let owes = self.enqueues.end(self.notifying, true);
        if !owes {
            return;
        }
        let shared = &self.enqueues.shared;
        if self.enqueues.notifier.get_or_init(|| Notifier::spawn(shared, pool.clone())).is_none() {
            // The jobs are committed either way: without a notification, workers find them
            // at their next poll.
            let sent = shared.lock().send();
            drop(crate::pg::notify(conn));
            shared.lock().sent(sent);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.enqueues.end(self.notifying, false);
        }
    }
}

impl Enqueues {
    /// Counts an enqueue in until the returned guard is counted out.
    pub(crate) fn start(&self) -> InFlight<'_> {
        let notifying = self.shared.lock().start(Instant::now());
        InFlight { enqueues: self, notifying, ended: false }
    }

    /// Counts an enqueue out; returns whether it owes a notification.
    fn end(&self, notifying: Option<Notifying>, committed: bool) -> bool {
        let mut state = self.shared.lock();
        let since = state.since;
        let owes = state.end(notifying, committed, Instant::now());
        // The thread's next step changes when nothing is in flight any more, or when the
        // first commit not covered yet is this one.
        let wake = state.owed > state.covered && (state.in_flight == 0 || state.since != since);
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
        owes
    }
}

/// The background thread's handle; the thread ends when the handle drops, once nothing is
/// owed.
#[derive(Debug)]
struct Notifier {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// A notifying transaction: an enqueue's, or the thread's.
#[derive(Debug, Clone, Copy)]
struct Notifying {
    /// How many enqueues had committed without a notification when it started: its
    /// notification covers them.
    covers: u64,
    started: Instant,
}

#[derive(Debug, Default)]
struct State {
    /// Enqueues in flight.
    in_flight: usize,
    /// The notifying enqueue in flight, if any.
    notifying: Option<Notifying>,
    /// The thread's notification is in flight.
    sending: bool,
    /// Enqueues committed without a notification, since the storage was created.
    owed: u64,
    /// How many of the first `owed` a notification sent since covers.
    covered: u64,
    /// While `owed > covered`: no later than the commit of the first one not covered.
    since: Option<Instant>,
    /// The storage is gone.
    stop: bool,
}

/// What the background thread does next.
#[derive(Debug, PartialEq)]
enum Next {
    /// Wait to be woken, or at most this long.
    Wait(Option<Duration>),
    /// Send a notification for what is owed.
    Send,
    /// End: the storage is gone and nothing is owed.
    Stop,
}

impl State {
    /// An enqueue starts; returns its notification if it notifies in its statement.
    fn start(&mut self, now: Instant) -> Option<Notifying> {
        let alone = self.in_flight == 0;
        self.in_flight += 1;
        if self.notifying.is_some() || self.sending || !(alone || self.owed > self.covered) {
            return None;
        }
        let notifying = Notifying { covers: self.owed, started: now };
        self.notifying = Some(notifying);
        Some(notifying)
    }

    /// An enqueue ends; returns whether it owes a notification.
    fn end(&mut self, notifying: Option<Notifying>, committed: bool, now: Instant) -> bool {
        self.in_flight -= 1;
        match notifying {
            Some(notifying) => {
                self.notifying = None;
                if committed {
                    self.cover(notifying);
                }
                false
            }
            None if committed => {
                self.owed += 1;
                self.since.get_or_insert(now);
                true
            }
            None => false,
        }
    }

    /// A notification was sent: the commits it covers no longer owe one.
    fn cover(&mut self, notifying: Notifying) {
        self.covered = self.covered.max(notifying.covers);
        self.since = if self.covered >= self.owed {
            None
        } else {
            // The commits still owed were counted after it started.
            self.since.max(Some(notifying.started))
        };
    }

    fn next(&self, now: Instant) -> Next {
        if self.covered >= self.owed {
            return if self.stop { Next::Stop } else { Next::Wait(None) };
        }
        if self.stop || self.in_flight == 0 {
            return Next::Send;
        }
        let due = self.since.map_or(now, |since| since + COVER_WAIT);
        match due.checked_duration_since(now) {
            Some(left) if !left.is_zero() => Next::Wait(Some(left)),
            _ => Next::Send,
        }
    }

    /// The thread's notification starts: it covers what is owed now, and no enqueue starts
    /// notifying while it is in flight.
    fn send(&mut self) -> Notifying {
        self.sending = true;
        Notifying { covers: self.owed, started: Instant::now() }
    }

    /// The thread's notification ended. A failure loses only the wake-up: workers find the
    /// jobs at their next poll.
    fn sent(&mut self, notifying: Notifying) {
        self.sending = false;
        self.cover(notifying);
    }
}

impl Notifier {
    fn spawn(shared: &Arc<Shared>, pool: Pooled<PgConnection>) -> Option<Notifier> {
        let thread = Arc::clone(shared);
        std::thread::Builder::new()
            .name("queue-pg-notifier".into())
            .spawn(move || thread.run(&pool))
            .ok()?;
        Some(Notifier { shared: Arc::clone(shared) })
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the notifications owed (see the module's documentation), until the storage is
    /// gone and nothing is owed.
    fn run(&self, pool: &Pooled<PgConnection>) {
        let mut state = self.lock();
        loop {
            state = match state.next(Instant::now()) {
                Next::Stop => return,
                Next::Wait(None) => self.wake.wait(state).unwrap_or_else(PoisonError::into_inner),
                Next::Wait(Some(left)) => {
                    self.wake.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
                }
                Next::Send => {
                    let sent = state.send();
                    drop(state);
                    if let Ok(mut conn) = pool.get() {
                        let _ = crate::pg::notify(&mut conn);
                    }
                    let mut state = self.lock();
                    state.sent(sent);
                    state
                }
            };
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
        for (owed, expected) in [(1, vec![String::new()]), (0, vec![])] {
            let state = State { owed, stop: true, ..State::default() };
            let shared = Shared { state: Mutex::new(state), ..Shared::default() };
            shared.run(&pool);
            marker.batch_execute("NOTIFY queue_core_jobs, 'marker'").unwrap();
            let heard = crate::testing::pg_notifications_before(&mut listener, "marker");
            assert_eq!(heard, expected, "owed: {owed}");
        }
    }

    /// Two enqueues overlap: the first notifies, the second owes, and the thread sends once
    /// no enqueue is in flight. No enqueue notifies while the thread's notification is in
    /// flight.
    #[test]
    fn what_no_enqueue_covers_is_sent_when_none_is_in_flight() {
        let t = Instant::now();
        let mut state = State::default();
        let first = state.start(t);
        let second = state.start(t);
        assert!(first.is_some() && second.is_none());
        assert!(state.end(second, true, t));
        assert_eq!(state.next(t), Next::Wait(Some(COVER_WAIT)));
        assert!(!state.end(first, true, t));
        assert_eq!((state.owed, state.covered), (1, 0), "started before the commit, covers none");
        assert_eq!(state.next(t), Next::Send);
        let sent = state.send();
        let third = state.start(t);
        assert!(third.is_none(), "the thread's notification is in flight");
        state.sent(sent);
        assert_eq!((state.covered, state.since), (1, None));
        assert_eq!(state.next(t), Next::Wait(None));
        assert!(state.end(third, true, t));
    }

    /// Under a steady flow of enqueues the next one to start notifies and covers what an
    /// earlier one owes, so the thread sends nothing.
    #[test]
    fn the_next_enqueue_covers_what_is_owed() {
        let t = Instant::now();
        let mut state = State::default();
        let a = state.start(t);
        let b = state.start(t);
        assert!(state.end(b, true, t));
        assert!(!state.end(a, true, t));
        // `a` starts again before the thread acts: something is owed, so it notifies.
        let a = state.start(t);
        assert_eq!(a.map(|n| n.covers), Some(1));
        let b = state.start(t);
        assert!(b.is_none(), "a notifies");
        assert!(!state.end(a, true, t));
        assert_eq!((state.owed, state.covered, state.since), (1, 1, None));
        assert_eq!(state.next(t + COVER_WAIT), Next::Wait(None), "a covered it");
        assert!(state.end(b, true, t));
        assert_eq!(state.next(t), Next::Send, "b committed after a started, and none in flight");
    }

    /// A notifying enqueue that fails covers nothing; an enqueue that fails owes nothing.
    #[test]
    fn a_failed_enqueue_neither_covers_nor_owes() {
        let t = Instant::now();
        let mut state = State::default();
        let a = state.start(t);
        let b = state.start(t);
        assert!(state.end(b, true, t));
        assert!(!state.end(a, true, t));
        let c = state.start(t);
        assert!(c.is_some());
        let d = state.start(t);
        assert!(!state.end(d, false, t));
        assert!(!state.end(c, false, t));
        assert_eq!((state.owed, state.covered, state.in_flight), (1, 0, 0));
        assert_eq!(state.next(t), Next::Send);
    }

    /// While other enqueues are in flight, notifying or not, what is owed waits at most
    /// `COVER_WAIT` after its commit: one of them may be held up for long.
    #[test]
    fn what_is_owed_waits_at_most_cover_wait() {
        let t = Instant::now();
        let mut state = State::default();
        let a = state.start(t);
        let long = state.start(t);
        let b = state.start(t);
        assert!(state.end(b, true, t));
        assert!(!state.end(a, true, t));
        let c = state.start(t);
        assert!(c.is_some(), "c notifies, and may be held up");
        assert_eq!(state.next(t), Next::Wait(Some(COVER_WAIT)));
        let half = t + COVER_WAIT / 2;
        assert_eq!(state.next(half), Next::Wait(Some(COVER_WAIT - COVER_WAIT / 2)));
        assert_eq!(state.next(t + COVER_WAIT), Next::Send);
        assert!(state.end(long, true, t), "the long one did not notify either");
        assert!(!state.end(c, true, t));
    }

    /// A notification covers only the commits counted before it started: one that started
    /// earlier leaves the later ones owed, and their wait is counted from its start at the
    /// earliest.
    #[test]
    fn a_notification_covers_only_what_was_owed_when_it_started() {
        let t = Instant::now();
        let later = t + COVER_WAIT / 2;
        let mut state = State::default();
        let a = state.start(t);
        let b = state.start(t);
        assert!(state.end(b, true, t));
        let x = state.start(t);
        assert!(x.is_none(), "a is still in flight");
        assert!(!state.end(a, true, t));
        let c = state.start(later);
        assert_eq!(c.map(|n| n.covers), Some(1), "c notifies, covering b");
        assert!(state.end(x, true, later));
        assert!(!state.end(c, true, later));
        assert_eq!((state.owed, state.covered, state.since), (2, 1, Some(later)));
        let y = state.start(later);
        assert_eq!(y.map(|n| n.covers), Some(2), "y covers x");
        let z = state.start(later);
        assert_eq!(state.next(later), Next::Wait(Some(COVER_WAIT)));
        assert!(!state.end(y, false, later));
        assert_eq!(state.next(later + COVER_WAIT), Next::Send, "y failed");
        assert!(state.end(z, true, later));
    }
}
