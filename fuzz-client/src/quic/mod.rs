//! Talking QUIC: everything that touches s2n-quic.
//!
//! - [`conn_state`]: what one connection shares with the endpoint's providers (who it is, its
//!   resumption, its counters and decisions);
//! - [`connection`]: one connection, from its CID and plan to its requests, answers and outcome;
//! - [`answer`]: which protocol the requests speak, and whether an answer is what was asked;
//! - [`h3_requests`]: the requests in HTTP/3 (`--alpn h3`);
//! - [`endpoint`]: the one client endpoint all connections share, and the providers that make
//!   each connection's ODCID the CID of its place in the chain;
//! - [`interceptor`]: the mutation of outgoing packets, as each connection's plan says;
//! - [`flight`]: the flight recorder, the last datagrams of each connection for the crash capture;
//! - [`patience`]: how long a handshake may stay silent, learnt from the handshakes so far;
//! - [`resumption`]: session resumption as a function of the CID, by a priming connection;
//! - [`qlog_files`]: `--qlog-dir`, one qlog file per connection with the fuzzer's decisions.

pub mod answer;
pub mod conn_state;
pub mod connection;
pub mod endpoint;
pub mod flight;
pub mod h3_requests;
pub mod interceptor;
pub mod patience;
pub mod qlog_files;
pub mod resumption;
