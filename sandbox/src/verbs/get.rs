//! `get`: one object (`endpoints/handlers/get.go`).

use super::{Answer, Ctx};
use crate::meta::error::ApiError;

impl Ctx<'_> {
    /// Reads the target object.
    pub(crate) fn get(&self) -> Result<Answer, ApiError> {
        let obj = self
            .api
            .store
            .get(&self.res, &self.key())
            .ok_or_else(|| self.not_found())?;
        Ok(self.object(false, &obj))
    }
}
