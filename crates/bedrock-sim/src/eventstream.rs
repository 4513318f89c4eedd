//! AWS event-stream framing (`application/vnd.amazon.eventstream`), encoder side only.
//!
//! A message is: total length (u32 BE), headers length (u32 BE), CRC32 of those 8 bytes,
//! headers, payload, CRC32 of everything before it. Every header here is a string header:
//! name length (u8), name, type 7, value length (u16 BE), value.

use bytes::{BufMut, BytesMut};

const PRELUDE_LEN: usize = 12;
const MESSAGE_CRC_LEN: usize = 4;
const HEADER_TYPE_STRING: u8 = 7;

/// Appends one framed message to `out`.
///
/// Header names are ≤ 255 bytes and values ≤ 65 535 bytes by construction (all are constants
/// of this crate); longer ones are truncated rather than producing a corrupt frame.
pub fn write_message(out: &mut BytesMut, headers: &[(&str, &str)], payload: &[u8]) {
    let headers_len: usize = headers
        .iter()
        .map(|(name, value)| {
            1 + name.len().min(u8::MAX as usize) + 1 + 2 + value.len().min(u16::MAX as usize)
        })
        .sum();
    let total_len = PRELUDE_LEN + headers_len + payload.len() + MESSAGE_CRC_LEN;
    let start = out.len();
    out.reserve(total_len);

    out.put_u32(u32::try_from(total_len).unwrap_or(u32::MAX));
    out.put_u32(u32::try_from(headers_len).unwrap_or(u32::MAX));
    let prelude_crc = crc32fast::hash(&out[start..start + 8]);
    out.put_u32(prelude_crc);

    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(u8::MAX as usize)];
        let value = &value.as_bytes()[..value.len().min(u16::MAX as usize)];
        out.put_u8(name.len() as u8);
        out.put_slice(name);
        out.put_u8(HEADER_TYPE_STRING);
        out.put_u16(value.len() as u16);
        out.put_slice(value);
    }
    out.put_slice(payload);
    let message_crc = crc32fast::hash(&out[start..]);
    out.put_u32(message_crc);
}

/// Appends an `event` message of type `event_type` with a JSON payload.
pub fn write_event(out: &mut BytesMut, event_type: &str, json_payload: &[u8]) {
    write_message(
        out,
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        json_payload,
    );
}

/// Appends an `exception` message of type `exception_type` with a JSON payload.
pub fn write_exception(out: &mut BytesMut, exception_type: &str, json_payload: &[u8]) {
    write_message(
        out,
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json_payload,
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
    use aws_smithy_types::event_stream::{HeaderValue, Message};

    /// (headers, payload) of one decoded message.
    pub(crate) type Decoded = (Vec<(String, String)>, Vec<u8>);

    /// A hand decoder, independent of the SDK: checks both CRCs and every length.
    pub(crate) fn decode_all(mut buf: &[u8]) -> Vec<Decoded> {
        let mut messages = Vec::new();
        while !buf.is_empty() {
            let total = u32::from_be_bytes(buf[0..4].try_into().unwrap()) as usize;
            let headers_len = u32::from_be_bytes(buf[4..8].try_into().unwrap()) as usize;
            let prelude_crc = u32::from_be_bytes(buf[8..12].try_into().unwrap());
            assert_eq!(prelude_crc, crc32fast::hash(&buf[0..8]), "prelude crc");
            let msg = &buf[..total];
            let crc = u32::from_be_bytes(msg[total - 4..].try_into().unwrap());
            assert_eq!(crc, crc32fast::hash(&msg[..total - 4]), "message crc");
            let mut h = &msg[12..12 + headers_len];
            let mut headers = Vec::new();
            while !h.is_empty() {
                let nlen = h[0] as usize;
                let name = String::from_utf8(h[1..1 + nlen].to_vec()).unwrap();
                assert_eq!(h[1 + nlen], 7, "string header type");
                let vlen = u16::from_be_bytes(h[2 + nlen..4 + nlen].try_into().unwrap()) as usize;
                let value = String::from_utf8(h[4 + nlen..4 + nlen + vlen].to_vec()).unwrap();
                headers.push((name, value));
                h = &h[4 + nlen + vlen..];
            }
            messages.push((headers, msg[12 + headers_len..total - 4].to_vec()));
            buf = &buf[total..];
        }
        messages
    }

    fn header<'a>(msg: &'a Message, name: &str) -> &'a str {
        let h = msg
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .unwrap();
        match h.value() {
            HeaderValue::String(s) => s.as_str(),
            other => panic!("unexpected header type {other:?}"),
        }
    }

    #[test]
    fn sdk_decoder_accepts_our_frames() {
        let mut out = BytesMut::new();
        write_event(&mut out, "messageStart", br#"{"role":"assistant"}"#);
        write_exception(
            &mut out,
            "throttlingException",
            br#"{"message":"slow down"}"#,
        );
        let mut decoder = MessageFrameDecoder::new();
        let mut buf = out.freeze();
        let first = match decoder.decode_frame(&mut buf).unwrap() {
            DecodedFrame::Complete(m) => m,
            DecodedFrame::Incomplete => panic!("incomplete"),
        };
        assert_eq!(header(&first, ":message-type"), "event");
        assert_eq!(header(&first, ":event-type"), "messageStart");
        assert_eq!(header(&first, ":content-type"), "application/json");
        assert_eq!(&first.payload()[..], br#"{"role":"assistant"}"#);
        let second = match decoder.decode_frame(&mut buf).unwrap() {
            DecodedFrame::Complete(m) => m,
            DecodedFrame::Incomplete => panic!("incomplete"),
        };
        assert_eq!(header(&second, ":message-type"), "exception");
        assert_eq!(header(&second, ":exception-type"), "throttlingException");
        assert_eq!(&second.payload()[..], br#"{"message":"slow down"}"#);
    }

    #[test]
    fn hand_decoder_checks_crcs_and_lengths() {
        let mut out = BytesMut::new();
        write_event(&mut out, "chunk", b"{}");
        write_event(&mut out, "metadata", br#"{"usage":{}}"#);
        let decoded = decode_all(&out);
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[0].1, b"{}");
        assert!(
            decoded[1]
                .0
                .contains(&(":event-type".to_string(), "metadata".to_string()))
        );
        // Known-good vector: an empty message with no headers is 16 bytes.
        let mut empty = BytesMut::new();
        write_message(&mut empty, &[], b"");
        assert_eq!(empty.len(), 16);
        assert_eq!(&empty[0..4], &16u32.to_be_bytes());
        assert_eq!(&empty[4..8], &0u32.to_be_bytes());
        // CRC32 of eight bytes 00 00 00 10 00 00 00 00.
        assert_eq!(&empty[8..12], &0x05c2_48ebu32.to_be_bytes());
    }

    #[test]
    fn a_flipped_bit_is_rejected_by_the_sdk() {
        let mut out = BytesMut::new();
        write_event(&mut out, "messageStop", br#"{"stopReason":"end_turn"}"#);
        let last = out.len() - 6;
        out[last] ^= 1;
        let mut decoder = MessageFrameDecoder::new();
        let mut buf = out.freeze();
        assert!(decoder.decode_frame(&mut buf).is_err());
    }
}
