//! Talking QUIC: everything that touches s2n-quic.
//!
//! - [`connection`]: one connection, from its CID and plan to its requests, answers and outcome;
//! - [`endpoint`]: the one client endpoint all connections share, and the providers that make
//!   each connection's ODCID the CID of its place in the chain;
//! - [`interceptor`]: the mutation of outgoing packets, as each connection's plan says;
//! - [`flight`]: the flight recorder, the last datagrams of each connection for the crash capture;
//! - [`patience`]: how long a handshake may stay silent, learnt from the handshakes so far;
//! - [`qlog_files`]: `--qlog-dir`, one qlog file per connection with the fuzzer's decisions.

pub mod connection;
pub mod endpoint;
pub mod flight;
pub mod interceptor;
pub mod patience;
pub mod qlog_files;
