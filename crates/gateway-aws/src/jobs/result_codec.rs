//! Keeping job records under DynamoDB's 400 KB item limit: a result larger than
//! `COMPRESS_ABOVE` is stored gzip-compressed in a binary attribute; one still larger than
//! `MAX_STORED` compressed is refused, and the job fails with `result_too_large` instead of the
//! write failing forever. `MAX_STORED` plus the largest record the intakes accept
//! (`gateway::jobs::submit::MAX_JOB_RECORD_BYTES`, 200 KB) plus the callback attempts stays
//! under 400 KB.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use gateway::jobs::JobResult;
use std::io::{Read, Write};

pub const COMPRESS_ABOVE: usize = 32 * 1024;
pub const MAX_STORED: usize = 160 * 1024;

pub enum StoredResult {
    Plain(JobResult),
    Compressed(Vec<u8>),
    TooLarge(usize),
}

pub fn encode(result: &JobResult) -> Result<StoredResult, std::io::Error> {
    let json = serde_json::to_vec(result)?;
    if json.len() <= COMPRESS_ABOVE {
        return Ok(StoredResult::Plain(result.clone()));
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&json)?;
    let compressed = encoder.finish()?;
    if compressed.len() > MAX_STORED {
        return Ok(StoredResult::TooLarge(json.len()));
    }
    Ok(StoredResult::Compressed(compressed))
}

pub fn decode(compressed: &[u8]) -> Result<JobResult, std::io::Error> {
    let mut json = Vec::new();
    GzDecoder::new(compressed).read_to_end(&mut json)?;
    Ok(serde_json::from_slice(&json)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(text: String) -> JobResult {
        JobResult {
            model: "m".into(),
            text,
            stop_reason: "end_turn".into(),
            cost_usd: None,
            response: serde_json::Value::Null,
        }
    }

    #[test]
    fn small_results_stay_plain_and_large_ones_round_trip_compressed() {
        assert!(matches!(
            encode(&result("short".into())).unwrap(),
            StoredResult::Plain(_)
        ));
        let big = result("lorem ipsum dolor ".repeat(20_000));
        let StoredResult::Compressed(bytes) = encode(&big).unwrap() else {
            panic!("expected compression")
        };
        assert!(bytes.len() < COMPRESS_ABOVE);
        assert_eq!(decode(&bytes).unwrap(), big);
    }

    #[test]
    fn incompressible_huge_results_are_refused() {
        let mut rng = fastrand::Rng::with_seed(1);
        let noise: String = (0..900_000).map(|_| rng.alphanumeric()).collect();
        assert!(matches!(
            encode(&result(noise)).unwrap(),
            StoredResult::TooLarge(_)
        ));
    }
}
