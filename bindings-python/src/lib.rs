//! Filled by the binding issue.
