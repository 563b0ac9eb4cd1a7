//! Inbound middleware, one module per concern; [`crate::startup`] assembles them in order.

pub mod auth;
pub mod content_type;
pub mod gate;
pub mod load_shed;
pub mod rate_limit;
pub mod rescue;
pub mod sanitize_request_id;
pub mod trace;
