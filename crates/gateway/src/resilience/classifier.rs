//! Content-based routing: a request's tier from cheap features of its text, with no model
//! call. The reason string goes into a response header, so it is short ASCII.

use super::error::{InvalidConfig, ensure};
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Simple,
    Medium,
    Complex,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Medium => "medium",
            Self::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Prompt characters (all texts) from which a request is at least medium.
    pub medium_min_chars: usize,
    /// Prompt characters from which a request is complex on length alone.
    pub complex_min_chars: usize,
    /// Prompt characters from which a request with code in it is complex.
    pub code_complex_min_chars: usize,
    /// Messages from which a conversation is at least medium.
    pub medium_min_messages: usize,
    /// Requested output tokens from which a request is at least medium / complex.
    pub medium_min_max_tokens: u32,
    pub complex_min_max_tokens: u32,
    /// The tier of a request that offers tools.
    pub tools_tier: Tier,
    /// Whole-word, case-insensitive keywords that make a request complex / medium.
    pub complex_keywords: Vec<String>,
    pub medium_keywords: Vec<String>,
    /// Substrings typical of code. A ``` fence is code on its own; otherwise this many
    /// distinct tokens must appear, so "let me know" alone does not look like code.
    pub code_tokens: Vec<String>,
    pub code_min_token_hits: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect();
        Self {
            medium_min_chars: 1_500,
            complex_min_chars: 12_000,
            code_complex_min_chars: 3_000,
            medium_min_messages: 8,
            medium_min_max_tokens: 2_048,
            complex_min_max_tokens: 8_192,
            tools_tier: Tier::Medium,
            complex_keywords: words(&[
                "review",
                "refactor",
                "prove",
                "proof",
                "architecture",
                "design",
                "debug",
                "optimize",
                "step by step",
                "trade-offs",
            ]),
            medium_keywords: words(&[
                "explain",
                "summarize",
                "summarise",
                "compare",
                "analyze",
                "analyse",
                "translate",
            ]),
            code_tokens: words(&[
                "fn ",
                "def ",
                "class ",
                "import ",
                "#include",
                "function ",
                "=>",
                "->",
                "};",
                "return ",
                "const ",
                "public ",
                "SELECT ",
                "</",
                "){",
                "let ",
                "var ",
            ]),
            code_min_token_hits: 3,
        }
    }
}

/// What the classifier looks at, taken from the request by the API layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFeatures<'a> {
    /// System prompt and every text block of every message.
    pub texts: Vec<&'a str>,
    pub message_count: usize,
    pub tools_present: bool,
    pub max_tokens: Option<u32>,
}

/// Longest reason put in a header.
const MAX_REASON_LEN: usize = 64;

impl ClassifierConfig {
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        ensure(
            self.medium_min_chars <= self.complex_min_chars,
            "complex_min_chars",
            "must not be below medium_min_chars",
        )?;
        ensure(
            self.medium_min_max_tokens <= self.complex_min_max_tokens,
            "complex_min_max_tokens",
            "must not be below medium_min_max_tokens",
        )?;
        ensure(
            self.complex_keywords
                .iter()
                .chain(&self.medium_keywords)
                .all(|k| !k.trim().is_empty()),
            "complex_keywords",
            "keywords must not be empty",
        )
    }

    /// The tier and why, e.g. `(Complex, "code+long(5234 chars)+kw:review")`. The reason
    /// lists the signals that decided the tier; a simple request says `short(N chars)`.
    pub fn classify(&self, features: &RequestFeatures<'_>) -> (Tier, String) {
        let chars: usize = features.texts.iter().map(|t| t.chars().count()).sum();
        let code = features.texts.iter().any(|t| self.looks_like_code(t));
        let lowered: Vec<String> = features.texts.iter().map(|t| t.to_lowercase()).collect();

        let mut signals: Vec<(Tier, String)> = Vec::new();
        if code && chars >= self.code_complex_min_chars {
            signals.push((Tier::Complex, format!("code+long({chars} chars)")));
        } else if code {
            signals.push((Tier::Medium, "code".to_owned()));
        }
        if chars >= self.complex_min_chars {
            signals.push((Tier::Complex, format!("long({chars} chars)")));
        } else if chars >= self.medium_min_chars && !code {
            signals.push((Tier::Medium, format!("long({chars} chars)")));
        }
        if let Some(word) = first_keyword(&self.complex_keywords, &lowered) {
            signals.push((Tier::Complex, format!("kw:{word}")));
        } else if let Some(word) = first_keyword(&self.medium_keywords, &lowered) {
            signals.push((Tier::Medium, format!("kw:{word}")));
        }
        if features.tools_present {
            signals.push((self.tools_tier, "tools".to_owned()));
        }
        if features.message_count >= self.medium_min_messages {
            signals.push((Tier::Medium, format!("msgs({})", features.message_count)));
        }
        match features.max_tokens {
            Some(n) if n >= self.complex_min_max_tokens => {
                signals.push((Tier::Complex, format!("out({n} tok)")))
            }
            Some(n) if n >= self.medium_min_max_tokens => {
                signals.push((Tier::Medium, format!("out({n} tok)")))
            }
            _ => {}
        }

        let tier = signals
            .iter()
            .map(|(tier, _)| *tier)
            .max()
            .unwrap_or(Tier::Simple);
        let reason = if tier == Tier::Simple {
            format!("short({chars} chars)")
        } else {
            signals
                .iter()
                .filter(|(t, _)| *t == tier)
                .map(|(_, why)| why.as_str())
                .collect::<Vec<_>>()
                .join("+")
        };
        (tier, header_safe(&reason))
    }

    fn looks_like_code(&self, text: &str) -> bool {
        text.contains("```")
            || self
                .code_tokens
                .iter()
                .filter(|token| text.contains(token.as_str()))
                .count()
                >= self.code_min_token_hits.max(1)
    }
}

/// The first keyword of `list` found as a word in any of the lowercased `texts`.
fn first_keyword<'k>(list: &'k [String], texts: &[String]) -> Option<&'k String> {
    list.iter().find(|keyword| {
        let keyword = keyword.to_lowercase();
        texts.iter().any(|text| contains_word(text, &keyword))
    })
}

/// Whether `word` occurs in `text` not as part of a longer word ("prove" is not in "improve").
fn contains_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    text.match_indices(word).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Printable ASCII only (keywords are configurable and may not be), bounded in length.
fn header_safe(reason: &str) -> String {
    reason
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_REASON_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features<'a>(texts: Vec<&'a str>) -> RequestFeatures<'a> {
        RequestFeatures {
            message_count: texts.len(),
            texts,
            ..RequestFeatures::default()
        }
    }

    #[test]
    fn a_short_question_is_simple() {
        let (tier, reason) =
            ClassifierConfig::default().classify(&features(vec!["What is the capital of France?"]));
        assert_eq!(tier, Tier::Simple);
        assert_eq!(reason, "short(30 chars)");
    }

    #[test]
    fn a_long_code_review_is_complex() {
        let code = "fn main() {\n    let x = compute();\n    return x;\n}\n".repeat(80);
        let prompt = format!("Please review this Rust code for bugs:\n```rust\n{code}```");
        let (tier, reason) = ClassifierConfig::default().classify(&features(vec![&prompt]));
        assert_eq!(tier, Tier::Complex);
        let chars = prompt.chars().count();
        assert_eq!(reason, format!("code+long({chars} chars)+kw:review"));
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let config = ClassifierConfig::default();
        assert_eq!(
            config
                .classify(&features(vec!["How can I improve my essay?"]))
                .0,
            Tier::Simple
        );
        let (tier, reason) = config.classify(&features(vec!["Prove that sqrt(2) is irrational."]));
        assert_eq!((tier, reason.as_str()), (Tier::Complex, "kw:prove"));
        assert_eq!(
            config
                .classify(&features(vec!["Explain photosynthesis."]))
                .0,
            Tier::Medium
        );
    }

    #[test]
    fn tools_long_conversations_and_big_outputs_raise_the_tier() {
        let config = ClassifierConfig::default();
        let with_tools = RequestFeatures {
            tools_present: true,
            ..features(vec!["hi"])
        };
        assert_eq!(
            config.classify(&with_tools),
            (Tier::Medium, "tools".to_owned())
        );
        let chatty = features(vec!["ok"; 9]);
        assert_eq!(
            config.classify(&chatty),
            (Tier::Medium, "msgs(9)".to_owned())
        );
        let essay = RequestFeatures {
            max_tokens: Some(10_000),
            ..features(vec!["Write a story."])
        };
        assert_eq!(
            config.classify(&essay),
            (Tier::Complex, "out(10000 tok)".to_owned())
        );
    }

    #[test]
    fn english_with_a_few_code_like_words_is_not_code() {
        let config = ClassifierConfig::default();
        assert_eq!(
            config
                .classify(&features(vec!["Let me know, then return the book."]))
                .0,
            Tier::Simple
        );
    }

    #[test]
    fn reasons_are_short_printable_ascii() {
        let config = ClassifierConfig {
            complex_keywords: vec!["überprüfen".into()],
            ..ClassifierConfig::default()
        };
        let (tier, reason) = config.classify(&features(vec!["Bitte überprüfen Sie das."]));
        assert_eq!(tier, Tier::Complex);
        assert!(
            reason.is_ascii() && reason.len() <= MAX_REASON_LEN,
            "{reason}"
        );
    }

    #[test]
    fn config_is_serde_with_defaults_and_validated() {
        let config: ClassifierConfig =
            serde_json::from_str(r#"{"complex_keywords":["audit"],"tools_tier":"complex"}"#)
                .unwrap();
        assert_eq!(config.tools_tier, Tier::Complex);
        assert_eq!(config.medium_min_chars, 1_500);
        assert!(config.validate().is_ok());
        let bad = ClassifierConfig {
            medium_min_chars: 50_000,
            ..ClassifierConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.key), Err("complex_min_chars"));
    }
}
