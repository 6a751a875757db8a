//! Output writers: filters that turn stored samples into a container's elementary-stream form
//! ([`access_unit`]) and the container writers themselves ([`ts`]). The egress path chains
//! them: index → samples of a segment → access-unit filter → (encryption, later) → writer.
//! Every output time (TS and fMP4) comes from [`clock`].

pub mod access_unit;
pub mod clock;
pub mod fmp4;
pub mod ts;
pub mod webvtt;
