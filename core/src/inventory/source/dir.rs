//! `dir:PATH`: a plain root file system, read as one pseudo-layer without a digest.

use std::path::PathBuf;

use super::{ImageMetadata, ImageSource, LayerData, LayerInfo, SourceError};

/// A directory holding an unpacked root file system.
#[derive(Debug)]
pub struct DirSource {
    root: PathBuf,
    metadata: ImageMetadata,
    layers: Vec<LayerInfo>,
}

impl DirSource {
    /// Opens `path`, which must be a directory.
    pub fn open(path: &str, name: &str) -> Result<Self, SourceError> {
        let root = PathBuf::from(path);
        if !root.is_dir() {
            return Err(SourceError::Invalid(format!("{path}: not a directory")));
        }
        Ok(Self {
            root,
            metadata: ImageMetadata {
                name: name.to_string(),
                ..ImageMetadata::default()
            },
            layers: vec![LayerInfo {
                digest: None,
                media_type: None,
                size: None,
            }],
        })
    }
}

impl ImageSource for DirSource {
    fn metadata(&self) -> &ImageMetadata {
        &self.metadata
    }

    fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    fn open_layer(&self, index: usize) -> Result<LayerData<'_>, SourceError> {
        if index != 0 {
            return Err(SourceError::NoLayer(index));
        }
        Ok(LayerData::Dir(self.root.clone()))
    }
}
