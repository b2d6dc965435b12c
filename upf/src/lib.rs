//! The `upf` appliance as a library: configuration, the HTTP API, reload
//! and the control loop that the `upf` binary runs. A library so that tests
//! and tools (`tools/*`) can load and check configs too.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod datapath;
pub mod n4;
pub mod prepare;
pub mod reload;
pub mod run;
pub mod translate;
