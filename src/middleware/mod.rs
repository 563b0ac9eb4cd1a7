//! Inbound middleware, one module per concern; [`crate::startup`] assembles them in order.

pub mod auth;
pub mod content_type;
pub mod deadline;
pub mod gate;
pub mod load_shed;
pub mod rate_limit;
pub mod refusal;
pub mod request_id;
pub mod rescue;
pub mod trace;
