//! Inbound middleware, one module per concern.

pub mod deadline;
pub mod request_id;
