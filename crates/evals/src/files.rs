//! The runner's file I/O: reads bounded before they start, writes that create their folder.

use crate::error::EvalError;
use std::path::Path;

/// The text of `path`, refused unread when over `max` bytes; `what` names it in the error.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<String, EvalError> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| EvalError::file(&shown, e))?
        .len();
    if size > max {
        return Err(EvalError::file(
            &shown,
            format!("{size} bytes; {what} may have at most {max}"),
        ));
    }
    std::fs::read_to_string(path).map_err(|e| EvalError::file(&shown, e))
}

/// Writes `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) -> Result<(), EvalError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::file(dir.display(), e))?;
    }
    std::fs::write(path, text).map_err(|e| EvalError::file(path.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_bound_is_refused_unread() {
        let path = std::env::temp_dir().join(format!("evals-bound-{}.json", std::process::id()));
        write(&path, &"x".repeat(2048)).unwrap();
        let error = read_bounded(&path, 1024, "a suite file")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("2048 bytes; a suite file may have at most 1024"),
            "{error}"
        );
        assert_eq!(
            read_bounded(&path, 4096, "a suite file").unwrap().len(),
            2048
        );
        let _ = std::fs::remove_file(&path);
    }
}
