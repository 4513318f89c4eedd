//! The model-graded check: a judge model, called through the same gateway on `/v1/converse`,
//! scores the answer against the case's rubric from 0 to 1.
//!
//! The rubric comes first in the judge's prompt, then the instructions, then the answer
//! being graded: a directive in the rubric is what the judge reads first (bedrock-sim answers
//! the first `reply with:` it finds, so a rubric can pin the simulated judge's score).

use serde_json::{Value, json};

/// Longest judge answer the score is looked for in.
const MAX_JUDGE_TOKENS: u32 = 200;

/// The `/v1/converse` body that asks `model` to grade `answer` against `rubric`.
pub fn request(model: &str, rubric: &str, answer: &str) -> Value {
    let prompt = format!(
        "Rubric:\n{rubric}\n\n\
         You grade an assistant's answer against the rubric above. Answer with a score from 0 \
         to 1 alone on the first line (1: meets the rubric fully, 0: not at all), then one \
         line saying why.\n\n\
         The answer to grade:\n<answer>\n{answer}\n</answer>"
    );
    json!({
        "modelId": model,
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": MAX_JUDGE_TOKENS, "temperature": 0}
    })
}

/// The score on the judge's first non-empty line: its first number, which must be in 0..=1.
pub fn score(judge_answer: &str) -> Result<f64, String> {
    let line = judge_answer
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let number: String = line
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let score: f64 = number
        .trim_end_matches('.')
        .parse()
        .map_err(|_| format!("the judge gave no score: {}", crate::check::quote(line)))?;
    if !(0.0..=1.0).contains(&score) {
        return Err(format!("the judge's score {score} is outside 0 to 1"));
    }
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_is_the_first_number_of_the_first_line() {
        assert_eq!(score("0.8\nbecause"), Ok(0.8));
        assert_eq!(score("\n  Score: 1.\nfine"), Ok(1.0));
        assert_eq!(score("0.95 The answer names Paris."), Ok(0.95));
        assert!(score("good answer\n0.9").is_err());
        assert!(score("7/10").unwrap_err().contains("outside"));
        assert!(score("").is_err());
    }

    #[test]
    fn the_rubric_precedes_the_answer() {
        let body = request("haiku", "Names Paris.", "Paris");
        let prompt = body["messages"][0]["content"][0]["text"].as_str().unwrap();
        let rubric = prompt.find("Names Paris.").unwrap();
        let answer = prompt.find("<answer>").unwrap();
        assert!(rubric < answer, "{prompt}");
        assert!(
            !prompt.to_lowercase().contains("reply with"),
            "no directive of its own"
        );
    }
}
