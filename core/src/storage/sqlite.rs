//! LOCAL STUB
pub struct LocalBlobStore;
pub struct SqliteStateStore;
