//! Kuulo: a SIP/RTP telephony engine for automated phone surveys.
//!
//! This facade re-exports the layer crates so an embedder needs one
//! dependency. Each layer is usable on its own:
//!
//! - [`sip`]: the SIP user agent (message layer, transactions, dialogs, UA,
//!   tokio transports).
//! - [`media`]: RTP/RTCP, SDP, codecs, DTMF and the jitter buffer.
//! - [`ivr`]: survey scripts and their interpreter.
//!
//! See `docs/architecture.md` for how the layers fit together.

pub use kuulo_ivr as ivr;
pub use kuulo_media as media;
pub use kuulo_sip as sip;
