//! Kuulo's SIP user agent.
//!
//! - [`message`]: our own SIP message layer (parse, typed headers, URIs,
//!   serialization, stream framing).
pub mod message;
pub mod endpoint;
pub mod transaction;
pub mod transport;

pub use endpoint::{Endpoint, EndpointConfig};
pub mod digest;
pub mod ua;
