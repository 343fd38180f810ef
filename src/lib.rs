//! Kuulo: a SIP/RTP telephony engine for automated phone surveys.
//!
//! This facade re-exports the layer crates so an embedder needs one
//! dependency. Each layer is usable on its own:
//!
//! - [`sip`]: the SIP user agent (message layer, transactions, dialogs, UA,
//!   tokio transports).
//! - [`media`]: RTP/RTCP, SDP, codecs, DTMF and the jitter buffer.
//! - [`ivr`]: survey scripts and their interpreter.
//! - [`campaign`]: the results store and campaign bookkeeping.
//! - [`engine`]: survey calls: SIP, media and interpreter wired together
//!   (a sans-IO shard and its tokio driver).
//! - [`tts`]: prompt synthesis with espeak-ng.
//!
//! See `docs/architecture.md` for how the layers fit together.

pub mod engine;
pub mod sim;
pub mod tts;

pub use kuulo_campaign as campaign;
pub use kuulo_ivr as ivr;
pub use kuulo_media as media;
pub use kuulo_sip as sip;
