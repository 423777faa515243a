//! Test support for storages and for projects that test their jobs (feature `testing`).
//!
//! [`conformance`] holds the storage conformance suite. A backend runs it against itself
//! with [`storage_conformance_tests!`](crate::storage_conformance_tests), which expands to one
//! `#[test]` per check, so each check's name appears in the test output once per backend:
//!
//! ```
//! mod memory {
//!     queue_core::storage_conformance_tests!(|| (queue_core::MemoryStorage::new(), ()));
//! }
//! ```
//!
//! The expression returns the storage and a guard kept alive until the test ends (a
//! temporary directory or database, or `()`).

pub mod conformance;
mod jobs;

pub use jobs::{Journal, RecordingJob};

/// Expands to one `#[test]` per storage conformance check. See [the module docs](self).
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_tests!(
            $make;
            enqueue_returns_distinct_increasing_ids,
            priority_then_age_order,
            claim_takes_only_the_filtered_types,
            success_deletes_the_job,
            failure_records_retries_time_and_error,
            backoff_is_respected,
            exhausted_job_is_kept_but_never_runs,
            dedup_coalesces_identical_pending_jobs,
            dedup_does_not_coalesce_with_a_running_job,
            dedup_concurrent_enqueues_leave_one_pending_job,
            jobs_that_are_not_deduplicated_are_never_coalesced,
            enqueue_batch_inserts_every_job,
            stalled_jobs_exclude_running_ones,
            long_running_jobs_are_the_held_ones,
            failing_jobs_have_at_least_n_failures,
            retry_now_and_delete,
            running_job_cannot_be_deleted,
            pending_jobs_list_in_running_order,
            panicking_job_is_recorded_as_failure,
            unknown_job_type_is_kept_as_failure,
            foreign_job_types_are_left_alone,
            a_huge_retry_delay_is_recorded,
            undeserializable_data_is_kept_as_failure,
            concurrent_workers_never_run_a_job_twice,
            graceful_shutdown_lets_running_jobs_finish,
            drain_runs_every_runnable_job,
            idle_workers_pick_up_new_jobs,
            batch_claims_record_each_outcome,
            batch_claims_span_priorities,
            a_due_retry_keeps_its_priority,
            a_wrong_outcome_count_records_nothing,
            an_unwinding_callback_records_nothing,
            batched_job_types_run_in_batches
        );
    };
}

/// Expands to one `#[test]` per check that needs a storage with a short claim: `$make`
/// takes the lease ([`conformance::SHORT_LEASE`]) a storage with leases must use and
/// returns the storage and its guard. Storages without leases ignore it.
///
/// ```
/// mod memory_leases {
///     queue_core::storage_lease_tests!(|_lease| (queue_core::MemoryStorage::new(), ()));
/// }
/// ```
#[macro_export]
macro_rules! storage_lease_tests {
    ($make:expr) => {
        $crate::__conformance_tests!(
            @lease $make;
            a_job_outliving_its_lease_is_held_and_completed_once
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (@lease $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (storage, _guard) = ($make)($crate::testing::conformance::SHORT_LEASE);
                $crate::testing::conformance::$name(storage);
            }
        )*
    };
    ($make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (storage, _guard) = ($make)();
                $crate::testing::conformance::$name(storage);
            }
        )*
    };
}
