//! queue-core's storage conformance suite, once per backend.

mod postgres {
    queue_core::storage_conformance_tests!(crate::fixtures::pg);
}

mod sqlite {
    queue_core::storage_conformance_tests!(crate::fixtures::sqlite);
}
