//! Read-only, case-insensitive access to request headers.
//!
//! A small trait instead of a dependency on `http`: the Lambda adapter wraps its
//! `http::HeaderMap` in a newtype implementing this, and tests use plain pairs.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// Case-insensitive header lookup. When a header repeats, implementations return the first.
pub trait HeaderLookup {
    /// The value of header `name`, matched ASCII-case-insensitively.
    fn header(&self, name: &str) -> Option<&str>;
}

impl<T: HeaderLookup + ?Sized> HeaderLookup for &T {
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

// Maps may hold keys in any case, so a scan is needed rather than a keyed get.
impl<K: AsRef<str>, V: AsRef<str>, S: BuildHasher> HeaderLookup for HashMap<K, V, S> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for BTreeMap<K, V> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_returns_first_repeat() {
        let pairs = [("Webhook-ID", "a"), ("webhook-id", "b")];
        assert_eq!(pairs.header("WEBHOOK-id"), Some("a"));
        assert_eq!(pairs.header("webhook-timestamp"), None);

        let map: HashMap<String, String> =
            HashMap::from([("X-Hub-Signature-256".to_owned(), "v".to_owned())]);
        assert_eq!(map.header("x-hub-signature-256"), Some("v"));
    }
}
