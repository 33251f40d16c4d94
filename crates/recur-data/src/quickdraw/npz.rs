//! sketch-rnn `.npz` files: a zip of `.npy` members whose arrays hold stroke-3 drawings.

use super::{Collector, LoadError};
use std::path::Path;

pub(crate) fn read(path: &Path, _c: &mut Collector) -> Result<(), LoadError> {
    Err(LoadError::Input {
        path: path.display().to_string(),
        message: "reading .npz is not supported yet".into(),
    })
}
