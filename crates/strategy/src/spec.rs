//! Strategies by name: `greedy`, `maj@8`, `bon@8:min:weighted`, `beam@4x4+1`,
//! `dvts@16x4`, `mcts@16x4:top4`, `auto@16`.

use std::fmt;
use std::str::FromStr;

/// How a solution's step scores become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// The last step's score (the PPM's view of the whole solution).
    #[default]
    Last,
    /// The lowest step score (a chain is as good as its weakest step).
    Min,
    /// The product of step scores mapped into [0, 1] by `(s + 1) / 2`.
    Product,
}

/// How the answer is picked from scored candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// The highest-scored candidate's answer.
    #[default]
    Best,
    /// Plain majority vote (scores unused).
    Vote,
    /// Vote where each candidate weighs its score mapped into [0, 1].
    Weighted,
}

/// A test-time strategy and its budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// One solution, greedy decoding.
    Greedy,
    /// `k` sampled solutions, majority vote.
    Majority {
        /// Samples.
        k: usize,
    },
    /// `n` sampled solutions scored by the PPM.
    BestOfN {
        /// Samples.
        n: usize,
        /// Step scores to solution score.
        aggregate: Aggregate,
        /// Candidates to answer.
        selection: Selection,
    },
    /// Step-level beam search against the PPM.
    Beam {
        /// Beams kept after each step.
        width: usize,
        /// Next steps proposed per beam.
        candidates: usize,
        /// Greedy steps rolled out past a candidate before scoring it (0: none).
        lookahead: usize,
    },
    /// Diverse verifier tree search: `n / candidates` independent subtrees,
    /// each keeping its best step of `candidates`.
    Dvts {
        /// Total samples per step (subtrees x candidates).
        n: usize,
        /// Next steps proposed per subtree.
        candidates: usize,
    },
    /// MCTS with PPM priors and PPM-scored leaves.
    Mcts {
        /// Rollouts.
        rollouts: u32,
        /// Candidates per expansion.
        candidates: usize,
        /// Answer by a vote over the `top` highest-scored leaves.
        top: usize,
    },
    /// Compute-optimal: the calibration table's choice for the question's
    /// difficulty bin at this budget.
    Auto {
        /// Budget in samples (solutions' worth of compute).
        budget: usize,
    },
}

impl Strategy {
    /// The budget in samples: how many whole solutions' worth of generation
    /// the strategy asks for (beam and DVTS: samples per step).
    pub fn budget(&self) -> usize {
        match *self {
            Strategy::Greedy => 1,
            Strategy::Majority { k } => k,
            Strategy::BestOfN { n, .. } => n,
            Strategy::Beam {
                width, candidates, ..
            } => width * candidates,
            Strategy::Dvts { n, .. } => n,
            Strategy::Mcts { rollouts, .. } => rollouts as usize,
            Strategy::Auto { budget } => budget,
        }
    }

    /// Whether it needs a step scorer (a PPM).
    pub fn needs_scorer(&self) -> bool {
        !matches!(
            self,
            Strategy::Greedy
                | Strategy::Majority { .. }
                | Strategy::BestOfN {
                    selection: Selection::Vote,
                    ..
                }
        )
    }

    /// The family name (`greedy`, `maj`, `bon`, ...), for tables and plots.
    pub fn family(&self) -> &'static str {
        match self {
            Strategy::Greedy => "greedy",
            Strategy::Majority { .. } => "maj",
            Strategy::BestOfN { .. } => "bon",
            Strategy::Beam { .. } => "beam",
            Strategy::Dvts { .. } => "dvts",
            Strategy::Mcts { .. } => "mcts",
            Strategy::Auto { .. } => "auto",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Strategy::Greedy => write!(f, "greedy"),
            Strategy::Majority { k } => write!(f, "maj@{k}"),
            Strategy::BestOfN {
                n,
                aggregate,
                selection,
            } => {
                write!(f, "bon@{n}")?;
                match aggregate {
                    Aggregate::Last => {}
                    Aggregate::Min => write!(f, ":min")?,
                    Aggregate::Product => write!(f, ":prod")?,
                }
                match selection {
                    Selection::Best => Ok(()),
                    Selection::Vote => write!(f, ":vote"),
                    Selection::Weighted => write!(f, ":weighted"),
                }
            }
            Strategy::Beam {
                width,
                candidates,
                lookahead,
            } => {
                write!(f, "beam@{width}x{candidates}")?;
                if lookahead > 0 {
                    write!(f, "+{lookahead}")?;
                }
                Ok(())
            }
            Strategy::Dvts { n, candidates } => write!(f, "dvts@{n}x{candidates}"),
            Strategy::Mcts {
                rollouts,
                candidates,
                top,
            } => write!(f, "mcts@{rollouts}x{candidates}:top{top}"),
            Strategy::Auto { budget } => write!(f, "auto@{budget}"),
        }
    }
}

/// A strategy name that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{name:?} is not a strategy ({why}); expected greedy, maj@K, bon@N[:last|min|prod][:best|vote|weighted], beam@WxC[+L], dvts@NxC, mcts@RxC[:topN] or auto@B"
)]
pub struct StrategyParseError {
    name: String,
    why: String,
}

impl FromStr for Strategy {
    type Err = StrategyParseError;

    fn from_str(name: &str) -> Result<Strategy, StrategyParseError> {
        let fail = |why: &str| StrategyParseError {
            name: name.to_owned(),
            why: why.to_owned(),
        };
        let number = |text: &str, what: &str| -> Result<usize, StrategyParseError> {
            match text.parse::<usize>() {
                Ok(0) => Err(fail(&format!("{what} must be at least 1"))),
                Ok(n) => Ok(n),
                Err(_) => Err(fail(&format!("{what} {text:?} is not a number"))),
            }
        };
        let pair = |text: &str, what: (&str, &str)| -> Result<(usize, usize), StrategyParseError> {
            let (a, b) = text
                .split_once('x')
                .ok_or_else(|| fail(&format!("expected {}x{}", what.0, what.1)))?;
            Ok((number(a, what.0)?, number(b, what.1)?))
        };
        let name = name.trim();
        if name == "greedy" {
            return Ok(Strategy::Greedy);
        }
        let (family, rest) = name.split_once('@').ok_or_else(|| fail("no @budget"))?;
        let mut options = rest.split(':');
        let head = options.next().unwrap_or_default();
        let options: Vec<&str> = options.collect();
        let no_options = |s: Strategy| {
            if options.is_empty() {
                Ok(s)
            } else {
                Err(fail("takes no options"))
            }
        };
        match family {
            "maj" => no_options(Strategy::Majority {
                k: number(head, "k")?,
            }),
            "bon" => {
                let (mut aggregate, mut selection) = (Aggregate::Last, Selection::Best);
                for option in options {
                    match option {
                        "last" => aggregate = Aggregate::Last,
                        "min" => aggregate = Aggregate::Min,
                        "prod" => aggregate = Aggregate::Product,
                        "best" => selection = Selection::Best,
                        "vote" => selection = Selection::Vote,
                        "weighted" => selection = Selection::Weighted,
                        other => return Err(fail(&format!("unknown option {other:?}"))),
                    }
                }
                Ok(Strategy::BestOfN {
                    n: number(head, "n")?,
                    aggregate,
                    selection,
                })
            }
            "beam" => {
                let (shape, lookahead) = match head.split_once('+') {
                    Some((shape, l)) => (
                        shape,
                        l.parse::<usize>()
                            .map_err(|_| fail(&format!("lookahead {l:?} is not a number")))?,
                    ),
                    None => (head, 0),
                };
                let (width, candidates) = pair(shape, ("width", "candidates"))?;
                no_options(Strategy::Beam {
                    width,
                    candidates,
                    lookahead,
                })
            }
            "dvts" => {
                let (n, candidates) = pair(head, ("n", "candidates"))?;
                if n % candidates != 0 {
                    return Err(fail("n must be a multiple of the candidates per subtree"));
                }
                no_options(Strategy::Dvts { n, candidates })
            }
            "mcts" => {
                let (rollouts, candidates) = pair(head, ("rollouts", "candidates"))?;
                let mut top = 4;
                for option in options {
                    top = match option.strip_prefix("top") {
                        Some(n) => number(n, "top")?,
                        None => return Err(fail(&format!("unknown option {option:?}"))),
                    };
                }
                Ok(Strategy::Mcts {
                    rollouts: rollouts as u32,
                    candidates,
                    top,
                })
            }
            "auto" => no_options(Strategy::Auto {
                budget: number(head, "budget")?,
            }),
            other => Err(fail(&format!("unknown family {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "greedy",
            "maj@8",
            "bon@8",
            "bon@8:min",
            "bon@4:prod:weighted",
            "bon@4:vote",
            "beam@4x4",
            "beam@2x4+1",
            "dvts@16x4",
            "mcts@16x4:top4",
            "auto@16",
        ] {
            let strategy: Strategy = name.parse().unwrap();
            assert_eq!(strategy.to_string(), name);
        }
        assert_eq!(
            "mcts@8x2".parse::<Strategy>().unwrap().to_string(),
            "mcts@8x2:top4"
        );
    }

    #[test]
    fn bad_names_say_why() {
        for (name, why) in [
            ("maj", "no @budget"),
            ("maj@0", "at least 1"),
            ("bon@4:best-ish", "unknown option"),
            ("beam@4", "expected widthxcandidates"),
            ("dvts@10x4", "multiple"),
            ("tot@4", "unknown family"),
        ] {
            let error = name.parse::<Strategy>().unwrap_err().to_string();
            assert!(error.contains(why), "{name}: {error}");
        }
    }

    #[test]
    fn budgets() {
        let budget = |s: &str| s.parse::<Strategy>().unwrap().budget();
        assert_eq!(budget("greedy"), 1);
        assert_eq!(budget("maj@8"), 8);
        assert_eq!(budget("beam@2x4"), 8);
        assert_eq!(budget("dvts@16x4"), 16);
    }
}
