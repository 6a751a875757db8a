//! `vodpack package`: every file of an asset × configuration rendered by the same packaging
//! chain and reads the server uses, written below a folder (`<folder>/<manifestName>/<file>`), so the
//! output can be hosted statically or diffed against the origin's answers.

use std::path::{Component, Path};
use std::sync::Arc;

use vodpack_media::index::MediaIndex;
use vodpack_media::package::keys::KeySet;
use vodpack_media::package::{self, PackageSpec, Presentation};
use vodpack_media::plan::Segmentation;

use super::read::Sources;
use super::render::Renderer;
use crate::storage::Storage;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("the asset has no segments")]
    NoSegments,
    #[error("{file}: {reason}")]
    Render { file: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub files: usize,
    pub bytes: u64,
}

/// What is packaged: an asset (its index, its sources in `bucket`, its creation time) under a
/// configuration (`spec`, and its keys when it is encrypted).
pub struct Packaging<'a> {
    pub storage: Arc<dyn Storage>,
    pub bucket: &'a str,
    pub index: Arc<MediaIndex>,
    pub spec: &'a PackageSpec,
    pub keys: Option<Arc<KeySet>>,
    pub created_at: &'a str,
}

/// Writes every manifest of the configuration below `out`. `progress` is called after each
/// file with its path relative to `out`.
pub async fn write_all(
    what: Packaging<'_>,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Written, PackageError> {
    let Packaging {
        storage,
        bucket,
        index,
        spec,
        keys,
        created_at,
    } = what;
    let seg =
        Arc::new(Segmentation::new(&index, spec.segment_seconds).ok_or(PackageError::NoSegments)?);
    let spec = Arc::new(spec.clone());
    let sources = Sources {
        storage,
        bucket: bucket.to_string(),
    };
    let mut written = Written::default();
    for (position, name) in spec.manifest_names().into_iter().enumerate() {
        let presentation = Presentation {
            index: index.clone(),
            seg: seg.clone(),
            spec: spec.clone(),
            manifest: position,
            manifest_name: name.clone(),
            created_at_ms: super::created_at_ms(created_at),
            keys: keys.clone(),
        };
        let renderer = Renderer {
            sources: &sources,
            presentation: &presentation,
            ts_lengths: None,
        };
        let fail = |file: &str, e: super::EgressError| PackageError::Render {
            file: file.to_string(),
            reason: e.message,
        };
        let files = package::files(&presentation).map_err(|e| fail(&name, e.into()))?;
        for file in files {
            let rel = format!("{name}/{}", presentation.name(&file));
            // Our own names, but keep every write inside `out` regardless.
            if Path::new(&rel)
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(fail(&rel, super::not_found("unsafe file name")));
            }
            let body = renderer
                .render(&file)
                .await
                .and_then(|r| r.into_bytes())
                .map_err(|e| fail(&rel, e))?;
            let path = out.join(&rel);
            let write = |path: &Path| -> std::io::Result<()> {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(path, &body)
            };
            write(&path).map_err(|source| PackageError::Write {
                path: path.display().to_string(),
                source,
            })?;
            written.files += 1;
            written.bytes += body.len() as u64;
            progress(&rel);
        }
    }
    Ok(written)
}
