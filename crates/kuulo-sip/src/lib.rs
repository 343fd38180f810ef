//! Kuulo's SIP user agent.
//!
//! - [`message`]: our own SIP message layer (parse, typed headers, URIs,
//!   serialization, stream framing).
pub mod message;
