//! Chat templates: the file's own Jinja template (`tokenizer.chat_template`), rendered
//! with minijinja, or ChatML when the file has none.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde::Serialize;

use crate::error::{Error, Result};

/// ChatML, used by SmolLM2 and Qwen2.5, for files without a template.
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.to_owned(),
            content: content.to_owned(),
        }
    }
}

/// A chat template ready to render.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// The template of a GGUF file, or [`CHATML`] when it has none.
    pub fn from_gguf(
        metadata: &HashMap<String, Value>,
        bos_token: String,
        eos_token: String,
    ) -> ChatTemplate {
        let source = metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_else(|| CHATML.to_owned());
        ChatTemplate {
            source,
            bos_token,
            eos_token,
        }
    }

    /// A template from its Jinja source.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> ChatTemplate {
        ChatTemplate {
            source: source.to_owned(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        }
    }

    /// The prompt text for `messages`, ending with the assistant's turn opener when
    /// `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let mut env = minijinja::Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template("chat", &self.source)
            .map_err(|e| Error::Template(format!("{e:#}")))?;
        let template = env
            .get_template("chat")
            .map_err(|e| Error::Template(e.to_string()))?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| Error::Template(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_renders_turns_and_the_generation_prompt() {
        let t = ChatTemplate::new(CHATML, "", "");
        let text = t
            .render(&[Message::new("user", "What is 12*7?")], true)
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nWhat is 12*7?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_style_methods_and_errors_work() {
        let t = ChatTemplate::new(
            "{{ messages[0]['content'].strip() }}{% if messages|length > 1 %}{{ raise_exception('one only') }}{% endif %}",
            "",
            "",
        );
        assert_eq!(
            t.render(&[Message::new("user", "  hi ")], false).unwrap(),
            "hi"
        );
        let err = t
            .render(
                &[Message::new("user", "a"), Message::new("user", "b")],
                false,
            )
            .unwrap_err();
        assert!(err.to_string().contains("one only"), "{err}");
    }
}
