//! What packaging produces, as the packaging chain consumes it. Today: [`spec`], a packaging
//! configuration validated into typed values with every default applied (the service converts
//! the API's wire form into it once; nothing below the API reads the wire `Option`s).

pub mod spec;

pub use spec::PackageSpec;
