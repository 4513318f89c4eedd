//! The two pure steps of retrieval-augmented generation: a Converse request grounded in the
//! retrieved chunks (numbered sources, the question last), and the citations of the answer
//! (the sources it marks as `[n]`, else every source it was given).

use super::Chunk;
use crate::api::converse::{
    ContentBlock, ConverseRequest, InferenceConfig, Message, Role, SystemBlock,
};
use serde::Serialize;

const INSTRUCTIONS: &str = "Answer the question using only the numbered sources. Cite the \
sources you use as [n]. If the sources do not contain the answer, say so.";

/// The Converse request that answers `query` from `chunks`.
pub fn grounded_request(query: &str, chunks: &[Chunk], max_tokens: Option<u32>) -> ConverseRequest {
    let mut prompt = String::from("Sources:\n");
    for (i, chunk) in chunks.iter().enumerate() {
        prompt.push_str(&format!("[{}] {}\n", i + 1, chunk.text));
    }
    prompt.push_str("\nQuestion: ");
    prompt.push_str(query);
    ConverseRequest {
        system: vec![SystemBlock::Text(INSTRUCTIONS.to_owned())],
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(prompt)],
        }],
        inference_config: max_tokens.map(|max| InferenceConfig {
            max_tokens: Some(max),
            ..InferenceConfig::default()
        }),
        ..ConverseRequest::default()
    }
}

/// A part of the answer and the sources behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    /// The cited part of the answer (the whole answer: the gateway does not split sentences).
    pub text: String,
    /// Character offsets of `text` in the answer, end exclusive.
    pub start: usize,
    pub end: usize,
    /// Indexes into the retrieved chunks (0-based).
    pub sources: Vec<usize>,
}

/// The sources `answer` cites as `[n]` (1-based, within `count`), in order of first mention;
/// every source when it marks none.
pub fn cited_sources(answer: &str, count: usize) -> Vec<usize> {
    let mut cited = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        if let Ok(n) = rest[..close].trim().parse::<usize>()
            && (1..=count).contains(&n)
            && !cited.contains(&(n - 1))
        {
            cited.push(n - 1);
        }
        rest = &rest[close..];
    }
    if cited.is_empty() {
        cited = (0..count).collect();
    }
    cited
}

/// The answer's citations (none when nothing was retrieved).
pub fn citations(answer: &str, chunks: &[Chunk]) -> Vec<Citation> {
    if chunks.is_empty() {
        return Vec::new();
    }
    vec![Citation {
        text: answer.to_owned(),
        start: 0,
        end: answer.chars().count(),
        sources: cited_sources(answer, chunks.len()),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> Chunk {
        Chunk {
            text: text.into(),
            uri: None,
            score: None,
        }
    }

    #[test]
    fn the_prompt_numbers_sources_and_ends_with_the_question() {
        let r = grounded_request("why?", &[chunk("a"), chunk("b")], Some(30));
        let ContentBlock::Text(text) = &r.messages[0].content[0] else {
            panic!()
        };
        assert_eq!(text, "Sources:\n[1] a\n[2] b\n\nQuestion: why?");
        assert_eq!(r.inference_config.unwrap().max_tokens, Some(30));
    }

    #[test]
    fn marked_sources_are_cited_else_all() {
        assert_eq!(cited_sources("x [2] y [1] [2] [9] [z]", 3), vec![1, 0]);
        assert_eq!(cited_sources("no marks", 2), vec![0, 1]);
        assert!(citations("a", &[]).is_empty());
        let c = citations("héllo [1]", &[chunk("s")]);
        assert_eq!((c[0].start, c[0].end), (0, 9));
    }
}
