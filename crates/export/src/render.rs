//! Text as the policy saw it: the chat prompt a round's search used, and the
//! steps of a path with the execution output shown after each code step.

use anyhow::{Context, bail};
use evolve_lm::{ChatTemplate, Message};
use evolve_store::StoredNode;
use serde::Deserialize;

/// Most characters of a code step's output shown to the policy.
pub const SHOWN_OUTPUT_CHARS: usize = 512;

/// How a code step's output is shown to the policy after the step: the search
/// appends this, so the exports must write the same.
pub fn output_block(output: &str) -> String {
    let shown: String = output.chars().take(SHOWN_OUTPUT_CHARS).collect();
    format!("```output\n{shown}\n```\n\n")
}

/// A step followed by what the policy was shown after it (a code step's
/// output; nothing after a terminal step, which ends the solution).
pub fn step_as_seen(node: &StoredNode) -> String {
    match (&node.code, node.terminal) {
        (Some(_), false) => {
            let output = node.exec_output.as_deref().unwrap_or("");
            format!("{}{}", node.step_text, output_block(output))
        }
        _ => node.step_text.clone(),
    }
}

/// The steps of a path as the policy saw them, one after another.
pub fn steps_as_seen<'n>(nodes: impl IntoIterator<Item = &'n StoredNode>) -> String {
    nodes.into_iter().map(step_as_seen).collect()
}

/// A worked example of the search prompt.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Example {
    /// The example's question.
    pub question: String,
    /// Its solution, in the round's step format.
    pub solution: String,
}

/// The prompts a round searched with, as stored in its config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RoundPrompts {
    /// The system prompt.
    pub system: String,
    /// Worked examples shown before the question.
    #[serde(default)]
    pub examples: Vec<Example>,
}

impl RoundPrompts {
    /// The prompts in a round's config JSON (its `prompts` key).
    pub fn from_round_config(config: &str) -> anyhow::Result<RoundPrompts> {
        let value: serde_json::Value =
            serde_json::from_str(config).context("the round's config is not JSON")?;
        let Some(prompts) = value.get("prompts") else {
            bail!("the round's config has no prompts; was it searched by `evolve search`?");
        };
        RoundPrompts::deserialize(prompts).context("reading the prompts of the round's config")
    }
}

/// Writes the prompt of a question the way the search did.
#[derive(Debug, Clone)]
pub struct Prompter {
    /// The system prompt, or `None` to leave it out.
    pub system: Option<String>,
    /// Worked examples put before the question as earlier turns.
    pub examples: Vec<Example>,
    /// The policy's chat template, for prompts written out as text.
    pub template: Option<ChatTemplate>,
}

impl Prompter {
    /// The chat messages up to the question.
    pub fn messages(&self, question: &str) -> Vec<Message> {
        let mut messages = Vec::with_capacity(2 + 2 * self.examples.len());
        if let Some(system) = &self.system {
            messages.push(Message::new("system", system));
        }
        for example in &self.examples {
            messages.push(Message::new("user", &example.question));
            messages.push(Message::new("assistant", &example.solution));
        }
        messages.push(Message::new("user", question));
        messages
    }

    fn template(&self) -> anyhow::Result<&ChatTemplate> {
        self.template
            .as_ref()
            .context("writing prompts as text needs the policy's chat template")
    }

    /// The prompt as text: the messages through the chat template, ending with
    /// the opening of the assistant's turn, where the first step begins.
    pub fn chat_prompt(&self, question: &str) -> anyhow::Result<String> {
        Ok(self.template()?.render(&self.messages(question), true)?)
    }

    /// What follows `prompt`, the [`Prompter::chat_prompt`] of `question`, when
    /// `solution` is the whole answer: the solution and the template's end of turn.
    pub fn completion(
        &self,
        prompt: &str,
        question: &str,
        solution: &str,
    ) -> anyhow::Result<String> {
        let mut messages = self.messages(question);
        messages.push(Message::new("assistant", solution));
        let whole = self.template()?.render(&messages, false)?;
        // Templates that write the assistant's turn differently when it is
        // complete get the bare solution.
        Ok(match whole.strip_prefix(prompt) {
            Some(rest) => rest.to_owned(),
            None => solution.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str, code: Option<&str>, output: Option<&str>, terminal: bool) -> StoredNode {
        StoredNode {
            id: 1,
            parent_id: None,
            depth: 1,
            step_text: text.into(),
            code: code.map(Into::into),
            exec_output: output.map(Into::into),
            step_check: None,
            visits: 1,
            value_sum: 0.0,
            q: 0.0,
            prior: None,
            terminal,
            extracted_answer: None,
            correct: None,
            tokens: 0,
        }
    }

    #[test]
    fn code_steps_show_their_output_as_the_search_did() {
        let code = "# Apples\n```python\nprint(3 * 4)\n```\n";
        let seen = step_as_seen(&node(code, Some("print(3 * 4)"), Some("12"), false));
        assert_eq!(seen, format!("{code}```output\n12\n```\n\n"));
        // A text step with a failed check shows nothing more.
        let text = "3 * 4 = 13\n\n";
        assert_eq!(
            step_as_seen(&node(text, None, Some("false: 3 * 4 = 13"), false)),
            text
        );
        // Nor does the terminal step.
        assert_eq!(step_as_seen(&node(code, Some("x"), Some("12"), true)), code);
        let long = "9".repeat(2000);
        assert_eq!(
            output_block(&long).len(),
            SHOWN_OUTPUT_CHARS + "```output\n\n```\n\n".len()
        );
    }

    #[test]
    fn prompt_and_completion_follow_the_template() {
        let prompter = Prompter {
            system: Some("Be brief.".into()),
            examples: vec![],
            template: Some(ChatTemplate::new(evolve_lm::CHATML, "", "<|im_end|>")),
        };
        let prompt = prompter.chat_prompt("1+1?").unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            prompter.completion(&prompt, "1+1?", "2").unwrap(),
            "2<|im_end|>\n"
        );
        let bare = Prompter {
            template: None,
            ..prompter
        };
        assert!(bare.chat_prompt("x").is_err());
    }

    #[test]
    fn prompts_come_from_the_round_config() {
        let config = r#"{"search": {}, "prompts": {"system": "S", "examples": [{"question": "q", "solution": "s"}], "max_errors_in_a_row": 1}}"#;
        let prompts = RoundPrompts::from_round_config(config).unwrap();
        assert_eq!(prompts.system, "S");
        assert_eq!(prompts.examples.len(), 1);
        let err = RoundPrompts::from_round_config("{}").unwrap_err();
        assert!(err.to_string().contains("no prompts"), "{err}");
    }
}
