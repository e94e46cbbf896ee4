//! Which format a dataset folder is in, and the validator for it.

use std::path::Path;

use crate::error::DatasetError;
use crate::report::Validation;

/// The dataset formats tacit writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetFormat {
    /// LeRobot v3.0 (`meta/info.json`).
    LeRobot,
    /// tacit's own tables (`tacit.json`).
    Tables,
}

impl DatasetFormat {
    /// The format of the dataset at `dir`, from the file that marks it.
    pub fn detect(dir: &Path) -> Result<Self, DatasetError> {
        if dir.join("tacit.json").is_file() {
            Ok(Self::Tables)
        } else if dir.join("meta/info.json").is_file() {
            Ok(Self::LeRobot)
        } else {
            Err(DatasetError::Options(format!(
                "{} has neither meta/info.json (LeRobot v3.0) nor tacit.json (tacit tables): not a dataset tacit knows",
                dir.display()
            )))
        }
    }

    /// As people call it.
    pub fn name(self) -> &'static str {
        match self {
            Self::LeRobot => "LeRobot v3.0",
            Self::Tables => "tacit tables",
        }
    }

    /// Every defect of the dataset at `dir`, with its file and row.
    pub fn validate(self, dir: &Path) -> Validation {
        match self {
            Self::LeRobot => crate::lerobot::validate::validate_lerobot(dir),
            Self::Tables => crate::tables::validate::validate_tacit(dir),
        }
    }
}
