//! Transport-level attacks on the gateway (placeholder, filled below).
