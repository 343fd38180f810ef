//! RTP/RTCP, SDP offer/answer, G.711 and Opus codecs, DTMF, the jitter buffer and the media engine.
