//! AWS Signature Version 4 verification, so an unmodified AWS SDK with a gateway key's id and
//! secret as its credentials can call the Bedrock paths (`/model/*`).
//!
//! The server side of <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>:
//! rebuild the canonical request from what arrived, the string to sign from it, derive the
//! signing key from the secret (`AWS4<secret>` → date → region → service → `aws4_request`),
//! and compare HMACs in constant time. Like the SDKs for every service but S3, the canonical
//! path is the normalised wire path percent-encoded once more. The body is always signed
//! (`UNSIGNED-PAYLOAD` is refused), so a signature also covers the prompt.
//!
//! The path may arrive decoded: API Gateway HTTP APIs hand the function a URL-decoded path
//! (`…-v1:0/converse` for the SDK's `…-v1%3A0/converse`), the Function URL the path as sent.
//! So the wire path is rebuilt before it is encoded again: each segment decoded and encoded
//! once as the SDKs encode a label (RFC 3986 unreserved characters kept). That is the identity
//! on what an SDK sends and undoes API Gateway's decoding; on `/model/{modelId}/{operation}`
//! everything between `/model/` and the operation is the one model id segment, since an ARN
//! model id's `/` (sent as `%2F`) arrives decoded too.
//!
//! Clients that sign with botocore outside an AWS SDK call (the `anthropic` SDK's
//! `AnthropicBedrock`) send the model id's `:` raw and sign the path encoded once
//! (`…-v1%3A0/invoke`), as AWS itself accepts. A signature that does not match the SDK form is
//! checked once more against that form.

use super::crypto::{hmac_sha256, new_mac, sha256_hex};
use hmac::Mac;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("malformed SigV4 authorization: {0}")]
    Malformed(&'static str),
    #[error("the request's x-amz-date is missing, malformed or too far from the gateway's clock")]
    BadDate,
    #[error("the credential scope's service must be '{0}'")]
    WrongService(&'static str),
    #[error("the payload hash does not match the body")]
    PayloadHash,
    #[error("the request signature does not match")]
    Signature,
}

/// The parsed `Authorization` header of a SigV4 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD`
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case names, in the order signed (sorted by the signer).
    pub signed_headers: Vec<String>,
    pub signature: Vec<u8>,
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request,
    /// SignedHeaders=host;x-amz-date, Signature=<hex>`.
    pub fn parse(header: &str) -> Result<Self, SigV4Error> {
        let rest = header
            .strip_prefix(ALGORITHM)
            .ok_or(SigV4Error::Malformed("not AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let credential = credential.ok_or(SigV4Error::Malformed("no Credential"))?;
        let mut scope = credential.split('/');
        let mut next = |what| {
            scope
                .next()
                .filter(|s| !s.is_empty())
                .ok_or(SigV4Error::Malformed(what))
        };
        let access_key_id = next("no access key id")?.to_owned();
        let date = next("no scope date")?.to_owned();
        let region = next("no scope region")?.to_owned();
        let service = next("no scope service")?.to_owned();
        if next("no scope terminator")? != "aws4_request" || scope.next().is_some() {
            return Err(SigV4Error::Malformed("scope must end with aws4_request"));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SigV4Error::Malformed("scope date must be YYYYMMDD"));
        }
        let signed_headers: Vec<String> = signed
            .ok_or(SigV4Error::Malformed("no SignedHeaders"))?
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        if !signed_headers.iter().any(|h| h == "host") {
            return Err(SigV4Error::Malformed("the host header must be signed"));
        }
        let signature = hex::decode(signature.ok_or(SigV4Error::Malformed("no Signature"))?)
            .map_err(|_| SigV4Error::Malformed("signature is not hex"))?;
        if signature.len() != 32 {
            return Err(SigV4Error::Malformed("signature must be 32 bytes"));
        }
        Ok(Self {
            access_key_id,
            date,
            region,
            service,
            signed_headers,
            signature,
        })
    }

    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What arrived, as the verifier needs it.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as on the wire (percent-encoded) or as API Gateway hands it over (decoded):
    /// either verifies (see the module docs).
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Every header; names in any case, repeated names allowed.
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .collect()
    }
}

/// Checks a SigV4-signed request against `secret`, for `service`, at `now_secs` (unix).
pub fn verify(
    request: &SignedRequest<'_>,
    auth: &Authorization,
    secret: &str,
    service: &'static str,
    now_secs: u64,
    max_skew_secs: u64,
) -> Result<(), SigV4Error> {
    if auth.service != service {
        return Err(SigV4Error::WrongService(service));
    }
    let amz_date = request
        .header_values("x-amz-date")
        .first()
        .map(|d| d.trim().to_owned())
        .ok_or(SigV4Error::BadDate)?;
    let signed_at = parse_amz_date(&amz_date).ok_or(SigV4Error::BadDate)?;
    if signed_at.abs_diff(now_secs) > max_skew_secs || !amz_date.starts_with(&auth.date) {
        return Err(SigV4Error::BadDate);
    }
    let payload_hash = sha256_hex(request.body);
    if let Some(claimed) = request.header_values("x-amz-content-sha256").first()
        && !claimed.trim().eq_ignore_ascii_case(&payload_hash)
    {
        return Err(SigV4Error::PayloadHash);
    }
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    let matches = |uri: String| {
        let canonical = build_canonical(request, &uri, &auth.signed_headers, &payload_hash);
        let to_sign = string_to_sign(&amz_date, &auth.scope(), &canonical);
        let mut mac = new_mac(&key);
        mac.update(to_sign.as_bytes());
        mac.verify_slice(&auth.signature).is_ok()
    };
    // The encoded-once form only for a path without escapes: `%253A` is not `:`.
    if matches(canonical_uri(request.path))
        || (!request.path.contains('%') && matches(encoded_once_uri(request.path)))
    {
        Ok(())
    } else {
        Err(SigV4Error::Signature)
    }
}

/// `20150830T123600Z` → unix seconds.
fn parse_amz_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> { text.get(range)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = super::calendar::days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3_600 + mi * 60 + s);
    u64::try_from(secs).ok()
}

pub fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
) -> String {
    build_canonical(
        request,
        &canonical_uri(request.path),
        signed_headers,
        payload_hash,
    )
}

fn build_canonical(
    request: &SignedRequest<'_>,
    uri: &str,
    signed_headers: &[String],
    payload_hash: &str,
) -> String {
    let mut canonical = String::with_capacity(256);
    canonical.push_str(request.method);
    canonical.push('\n');
    canonical.push_str(uri);
    canonical.push('\n');
    canonical.push_str(&canonical_query(request.query.unwrap_or("")));
    canonical.push('\n');
    for name in signed_headers {
        let values: Vec<String> = request
            .header_values(name)
            .into_iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&values.join(","));
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers.join(";"));
    canonical.push('\n');
    canonical.push_str(payload_hash);
    canonical
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (upper-case hex).
fn uri_encode(text: &str, keep_slash: bool, out: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// The Bedrock Runtime operations, the last segment of `/model/{modelId}/{operation}`.
const BEDROCK_OPERATIONS: &[&str] = &[
    "converse",
    "converse-stream",
    "invoke",
    "invoke-with-response-stream",
];

/// The path as an SDK sent it, from the wire path or its decoded form: every segment decoded
/// and encoded once (the model id of a Bedrock path as one segment).
pub fn wire_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 16);
    if let Some(rest) = path.strip_prefix("/model/")
        && let Some((model_id, operation)) = rest.rsplit_once('/')
        && !model_id.is_empty()
        && BEDROCK_OPERATIONS.contains(&operation)
    {
        out.push_str("/model/");
        uri_encode(&percent_decode(model_id), false, &mut out);
        out.push('/');
        out.push_str(operation);
        return out;
    }
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(&percent_decode(segment), false, &mut out);
    }
    out
}

/// The wire path with `.`/`..` segments and repeated slashes removed, encoded once more.
fn canonical_uri(path: &str) -> String {
    normalised_and_encoded(&wire_path(path))
}

/// The path decoded (as API Gateway hands it over, or as sent with raw `:`), normalised and
/// encoded once: what botocore signs for a path it did not encode itself.
fn encoded_once_uri(path: &str) -> String {
    normalised_and_encoded(&percent_decode(path))
}

fn normalised_and_encoded(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalised = String::from("/");
    normalised.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalised.push('/');
    }
    let mut out = String::with_capacity(normalised.len() + 16);
    uri_encode(&normalised, true, &mut out);
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(0));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parameters decoded, re-encoded, sorted by name then value, joined with `&`.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut key = String::new();
            let mut value = String::new();
            uri_encode(&percent_decode(k), false, &mut key);
            uri_encode(&percent_decode(v), false, &mut value);
            (key, value)
        })
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The AWS SigV4 test suite's credentials and time
    // (aws-sig-v4-test-suite, also in the aws-sigv4 crate's tests).
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const NOW: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z

    fn suite_request<'a>(
        method: &'a str,
        path: &'a str,
        query: Option<&'a str>,
        headers: Vec<(&'a str, &'a str)>,
    ) -> SignedRequest<'a> {
        SignedRequest {
            method,
            path,
            query,
            headers,
            body: b"",
        }
    }

    fn authorization(signature: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={signature}"
        )
    }

    const HOST_AND_DATE: [(&str, &str); 2] = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
    ];

    #[test]
    fn get_vanilla() {
        let request = suite_request("GET", "/", None, HOST_AND_DATE.to_vec());
        let auth = Authorization::parse(&authorization(
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ))
        .unwrap();
        let canonical = canonical_request(&request, &auth.signed_headers, &sha256_hex(b""));
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            string_to_sign("20150830T123600Z", &auth.scope(), &canonical),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        verify(&request, &auth, SECRET, "service", NOW, 300).unwrap();
    }

    #[test]
    fn post_vanilla() {
        let request = suite_request("POST", "/", None, HOST_AND_DATE.to_vec());
        let auth = Authorization::parse(&authorization(
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ))
        .unwrap();
        verify(&request, &auth, SECRET, "service", NOW, 300).unwrap();
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        let request = suite_request(
            "GET",
            "/",
            Some("Param2=value2&Param1=value1"),
            HOST_AND_DATE.to_vec(),
        );
        let auth = Authorization::parse(&authorization(
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ))
        .unwrap();
        verify(&request, &auth, SECRET, "service", NOW, 300).unwrap();
    }

    #[test]
    fn a_wrong_secret_body_or_clock_fails() {
        let auth = Authorization::parse(&authorization(
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ))
        .unwrap();
        let request = suite_request("GET", "/", None, HOST_AND_DATE.to_vec());
        assert_eq!(
            verify(&request, &auth, "not-the-secret", "service", NOW, 300),
            Err(SigV4Error::Signature)
        );
        assert_eq!(
            verify(&request, &auth, SECRET, "service", NOW + 301, 300),
            Err(SigV4Error::BadDate)
        );
        assert_eq!(
            verify(&request, &auth, SECRET, "bedrock", NOW, 300),
            Err(SigV4Error::WrongService("bedrock"))
        );
        let with_body = SignedRequest {
            body: b"tampered",
            ..request.clone()
        };
        assert_eq!(
            verify(&with_body, &auth, SECRET, "service", NOW, 300),
            Err(SigV4Error::Signature)
        );
        let mut claimed = request.headers.clone();
        claimed.push(("x-amz-content-sha256", "UNSIGNED-PAYLOAD"));
        let unsigned = SignedRequest {
            headers: claimed,
            ..request
        };
        assert_eq!(
            verify(&unsigned, &auth, SECRET, "service", NOW, 300),
            Err(SigV4Error::PayloadHash)
        );
    }

    #[test]
    fn paths_are_normalised_and_encoded_once_more() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(
            canonical_uri("/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"),
            "/model/anthropic.claude-3-5-haiku-20241022-v1%253A0/converse"
        );
        assert_eq!(canonical_query("b=2&a=%7E&a=1"), "a=1&a=~&b=2");
    }

    #[test]
    fn a_path_api_gateway_decoded_has_the_canonical_form_of_the_path_the_sdk_sent() {
        let sent = "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse";
        let decoded = "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse";
        assert_eq!(wire_path(decoded), sent);
        assert_eq!(wire_path(sent), sent, "the wire path is left as it is");
        let expected = "/model/anthropic.claude-3-5-haiku-20241022-v1%253A0/converse";
        assert_eq!(canonical_uri(decoded), expected);
        assert_eq!(canonical_uri(sent), expected);
        // An ARN model id: its `/` was `%2F` on the wire, one segment.
        let arn_sent = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke-with-response-stream";
        let arn_decoded = "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0/invoke-with-response-stream";
        assert_eq!(wire_path(arn_decoded), arn_sent);
        assert_eq!(canonical_uri(arn_decoded), canonical_uri(arn_sent));
        // Other paths segment by segment; a space decoded or not.
        assert_eq!(wire_path("/example space/"), "/example%20space/");
        assert_eq!(wire_path("/example%20space/"), "/example%20space/");
        assert_eq!(wire_path("/"), "/");
    }

    #[test]
    fn a_raw_colon_signed_encoded_once_is_the_form_botocore_signs_alone() {
        let raw = "/model/anthropic.claude-3-5-haiku-20241022-v1:0/invoke";
        assert_eq!(
            encoded_once_uri(raw),
            "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"
        );
        assert_eq!(
            encoded_once_uri("/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"),
            encoded_once_uri(raw),
            "the same from API Gateway's decoded path"
        );
        assert_ne!(canonical_uri(raw), encoded_once_uri(raw));
    }

    #[test]
    fn a_decoded_path_verifies_and_a_changed_one_does_not() {
        // Signed as an SDK signs the wire path; verified from the decoded path API Gateway
        // hands over, and refused when the model id differs.
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let body = br#"{"messages":[]}"#;
        let payload = sha256_hex(body);
        let headers = vec![
            ("host", "abc123.execute-api.us-east-1.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ];
        let signed_headers = vec!["host".to_owned(), "x-amz-date".to_owned()];
        let sent = SignedRequest {
            method: "POST",
            path: "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            query: None,
            headers: headers.clone(),
            body,
        };
        let scope = "20150830/us-east-1/bedrock/aws4_request";
        let canonical = canonical_request(&sent, &signed_headers, &payload);
        assert!(
            canonical.contains("\n/model/anthropic.claude-3-5-haiku-20241022-v1%253A0/converse\n"),
            "{canonical}"
        );
        let to_sign = string_to_sign("20150830T123600Z", scope, &canonical);
        let key = signing_key(secret, "20150830", "us-east-1", "bedrock");
        let signature: String = hmac_sha256(&key, to_sign.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let auth = Authorization::parse(&format!(
            "AWS4-HMAC-SHA256 Credential=AKID/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}"
        ))
        .unwrap();
        let at = |path| SignedRequest {
            path,
            ..sent.clone()
        };
        let now = 1_440_938_160;
        for path in [
            sent.path,
            "/model/anthropic.claude-3-5-haiku-20241022-v1:0/converse",
        ] {
            assert_eq!(
                verify(&at(path), &auth, secret, "bedrock", now, 300),
                Ok(()),
                "{path}"
            );
        }
        for tampered in [
            "/model/anthropic.claude-3-7-sonnet-20250219-v1:0/converse",
            "/model/anthropic.claude-3-5-haiku-20241022-v1:0/invoke",
            "/model/anthropic.claude-3-5-haiku-20241022-v1%253A0/converse",
        ] {
            assert_eq!(
                verify(&at(tampered), &auth, secret, "bedrock", now, 300),
                Err(SigV4Error::Signature),
                "{tampered}"
            );
        }
    }

    #[test]
    fn malformed_headers_are_named() {
        for (header, what) in [
            ("Bearer x", "not AWS4-HMAC-SHA256"),
            (
                "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
                "no Credential",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=x-amz-date, Signature=00",
                "the host header must be signed",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/2015/r/s/aws4_request, SignedHeaders=host, Signature=00",
                "scope date must be YYYYMMDD",
            ),
        ] {
            assert_eq!(
                Authorization::parse(header),
                Err(SigV4Error::Malformed(what))
            );
        }
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(NOW));
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }
}
