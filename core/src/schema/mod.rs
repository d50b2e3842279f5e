//! Schemas: compile JSON Schema (subset) or Table Schema into one row validator.
