//! RTP/RTCP, SDP offer/answer, G.711 and Opus codecs, DTMF, the jitter buffer and the media engine.
pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod jitter;
pub mod opus;
pub mod port_pool;
pub mod prompt;
pub mod recording;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;
