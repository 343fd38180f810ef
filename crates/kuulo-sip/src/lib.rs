//! Kuulo's SIP user agent, built as sans-IO cores with a thin tokio driver.
//!
//! Layers, bottom up:
//! - [`message`]: our own SIP message layer (parse, typed headers, URIs,
//!   serialization, stream framing).
//! - [`transaction`]: the four RFC 3261 transaction state machines and
//!   their timers.
//! - [`endpoint`]: matches messages to transactions, drives their timers,
//!   answers malformed requests with 400.
//! - [`ua`]: dialogs and calls (INVITE, CANCEL, BYE, re-INVITE, UPDATE,
//!   OPTIONS, digest authentication, REGISTER).
//! - [`driver`] (feature `tokio`): sockets and timers around the UA.
//!
//! Every core takes `now` as an argument and yields its output through
//! `poll_transmit`, `poll_event` and `poll_timeout`: the run loop is "feed an
//! input, drain the outputs, sleep until the timeout".

pub mod digest;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod endpoint;
pub mod message;
pub mod transaction;
pub mod transport;
pub mod ua;

pub use endpoint::{Endpoint, EndpointConfig};
pub use transport::{Peer, Transmit, Transport};
pub use ua::{UaConfig, UaEvent, UserAgent};
