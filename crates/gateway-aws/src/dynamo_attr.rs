//! DynamoDB attribute values and item reads, written once for every adapter over a table.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::str::FromStr;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A number attribute's value; `None` when absent, not a number, or out of `T`'s range.
pub(crate) fn number_value<T: FromStr>(value: Option<&AttributeValue>) -> Option<T> {
    match value {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

pub(crate) fn number<T: FromStr>(item: &Item, name: &str) -> Option<T> {
    number_value(item.get(name))
}

pub(crate) fn string(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

/// Seconds since the epoch, as the tables' TTL attributes count.
pub(crate) fn now_secs() -> u64 {
    gateway::clock::unix_secs()
}

/// Whether an item's TTL (`expires_at`) has passed: DynamoDB deletes expired items only
/// eventually, and the local emulator never does, so readers treat them as absent.
pub(crate) fn expired(item: &Item, now_secs: u64) -> bool {
    number::<u64>(item, "expires_at").is_some_and(|at| at <= now_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_only_from_number_attributes_in_range() {
        let item = Item::from([
            ("a".to_owned(), n(7)),
            ("b".to_owned(), s("7")),
            ("c".to_owned(), n(-1)),
        ]);
        assert_eq!(number::<u64>(&item, "a"), Some(7));
        assert_eq!(number::<u64>(&item, "b"), None);
        assert_eq!(number::<u64>(&item, "c"), None);
        assert_eq!(number::<i64>(&item, "c"), Some(-1));
        assert_eq!(string(&item, "b").as_deref(), Some("7"));
    }

    #[test]
    fn an_item_expires_at_its_ttl() {
        let item = Item::from([("expires_at".to_owned(), n(100))]);
        assert!(!expired(&item, 99));
        assert!(expired(&item, 100));
        assert!(!expired(&Item::new(), u64::MAX));
    }
}
