//! What a rendered output file is: its bytes (in pieces, or a TS segment muxed as it is
//! sent), its content type and how long it may be cached. Independent of HTTP; the server's
//! response (validators, ranges, gzip) is made from it by the `respond` module.

use bytes::Bytes;

use super::EgressError;
use super::render::TsStream;

/// How long a client or CDN may keep a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Manifests: short-lived, so configuration changes show up.
    Manifest,
    /// Segments and init sections: immutable for the life of the asset.
    Media,
}

/// One output file.
pub struct Rendered {
    pub content_type: &'static str,
    pub caching: Caching,
    pub body: Body,
}

/// An output file's bytes.
pub enum Body {
    /// In one or more pieces, in order: segment payloads stay in the buffers (or source
    /// mappings) they were read into and go to the socket from there.
    Parts(Vec<Bytes>),
    /// Made as it is sent (MPEG-TS segments), its length known in advance.
    Stream(Box<TsStream>),
}

impl Rendered {
    pub fn manifest(content_type: &'static str, body: impl Into<Bytes>) -> Rendered {
        Rendered {
            content_type,
            caching: Caching::Manifest,
            body: Body::Parts(vec![body.into()]),
        }
    }
    pub fn media_stream(content_type: &'static str, body: TsStream) -> Rendered {
        Rendered {
            content_type,
            caching: Caching::Media,
            body: Body::Stream(Box::new(body)),
        }
    }
    pub fn len(&self) -> u64 {
        self.body.len()
    }
    pub fn into_bytes(self) -> Result<Bytes, EgressError> {
        self.body.into_bytes()
    }
}

impl Body {
    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        match self {
            Body::Parts(parts) => parts.iter().map(|p| p.len() as u64).sum(),
            Body::Stream(s) => s.len(),
        }
    }
    /// The whole file as one buffer (copies only when it is in several pieces).
    pub fn into_bytes(self) -> Result<Bytes, EgressError> {
        match self {
            Body::Parts(parts) => Ok(concat(&parts)),
            Body::Stream(mut s) => {
                let mut out = Vec::with_capacity(s.len() as usize);
                while let Some(chunk) = s.next_chunk() {
                    out.extend_from_slice(&chunk?);
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

/// Pieces as one buffer (no copy for a single piece).
pub fn concat(parts: &[Bytes]) -> Bytes {
    match parts {
        [one] => one.clone(),
        parts => {
            let mut v = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in parts {
                v.extend_from_slice(p);
            }
            Bytes::from(v)
        }
    }
}
