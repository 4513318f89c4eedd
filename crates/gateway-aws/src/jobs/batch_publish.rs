//! The shape both batch publishers share (SNS `PublishBatch`, EventBridge `PutEvents`): build
//! one entry per item (an item whose entry cannot be built fails alone), send them at most ten
//! to a call (both services' limit), and map each call's per-entry failures back to the items.

use super::aws_error;
use gateway::GatewayError;

/// Entries per call: the limit of `PublishBatch` and of `PutEvents`.
const MAX_ENTRIES: usize = 10;

/// One call's refused entries: the item's index (as given to `send`) and the service's code.
pub(super) type Refused = Vec<(usize, String)>;

/// One result per item, in order. `entry` builds an item's entry from its index in `items`;
/// `send` makes one call with up to ten `(index, entry)` pairs; `operation` names the entry
/// failures in the logs (e.g. `sns:PublishBatch(entry)`).
pub(super) async fn publish_in_batches<T, E, Sent>(
    items: &[T],
    entry: impl Fn(usize, &T) -> Result<E, GatewayError>,
    send: impl Fn(Vec<(usize, E)>) -> Sent,
    operation: &str,
) -> Vec<Result<(), GatewayError>>
where
    Sent: Future<Output = Result<Refused, GatewayError>>,
{
    let mut results: Vec<Result<(), GatewayError>> = Vec::with_capacity(items.len());
    let mut entries = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match entry(index, item) {
            Ok(built) => {
                entries.push((index, built));
                results.push(Ok(()));
            }
            Err(error) => results.push(Err(error)),
        }
    }
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let chunk: Vec<(usize, E)> = entries.by_ref().take(MAX_ENTRIES).collect();
        let indexes: Vec<usize> = chunk.iter().map(|(index, _)| *index).collect();
        match send(chunk).await {
            Ok(refused) => {
                for (index, code) in refused {
                    if let Some(slot) = results.get_mut(index) {
                        *slot = Err(aws_error(operation, code));
                    }
                }
            }
            // The whole call failed: every entry it carried failed with it.
            Err(error) => {
                for index in indexes {
                    if let Some(slot) = results.get_mut(index) {
                        *slot = Err(error.clone());
                    }
                }
            }
        }
    }
    results
}
