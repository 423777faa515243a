//! queue-core's storage conformance suite, once per backend.

mod postgres {
    queue_core::storage_conformance_tests!(crate::fixtures::pg);
    queue_core::storage_lease_tests!(|_lease| crate::fixtures::pg());
}

mod sqlite {
    queue_core::storage_conformance_tests!(crate::fixtures::sqlite);
    queue_core::storage_lease_tests!(crate::fixtures::sqlite_with_lease);
}
