//! Voting over candidate answers: answers the grader calls equal form one
//! group; the heaviest group wins, ties going to the group seen first.

/// One vote: an answer and its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ballot<'a> {
    /// The answer.
    pub answer: &'a str,
    /// Its weight (1 for a plain vote).
    pub weight: f64,
}

/// The winning group: the index of its first ballot and its total weight.
/// `same(a, b)` says whether two answers are equal (the grader's comparison).
pub fn vote(ballots: &[Ballot<'_>], same: impl Fn(&str, &str) -> bool) -> Option<(usize, f64)> {
    // (first ballot's index, weight)
    let mut groups: Vec<(usize, f64)> = Vec::new();
    for (i, ballot) in ballots.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(first, _)| same(ballot.answer, ballots[*first].answer))
        {
            Some(group) => group.1 += ballot.weight,
            None => groups.push((i, ballot.weight)),
        }
    }
    // Strictly heavier wins, so among equals the earliest group stays.
    groups
        .into_iter()
        .fold(None, |best: Option<(usize, f64)>, group| match best {
            Some(b) if b.1 >= group.1 => Some(b),
            _ => Some(group),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain<'a>(answers: &[&'a str]) -> Vec<Ballot<'a>> {
        answers
            .iter()
            .map(|&answer| Ballot {
                answer,
                weight: 1.0,
            })
            .collect()
    }

    #[test]
    fn majority_wins_and_ties_go_to_the_first_seen() {
        let eq = |a: &str, b: &str| a == b;
        assert_eq!(vote(&plain(&["3", "5", "5"]), eq), Some((1, 2.0)));
        assert_eq!(vote(&plain(&["3", "5", "5", "3"]), eq), Some((0, 2.0)));
        assert_eq!(vote(&plain(&["7", "3", "5"]), eq), Some((0, 1.0)));
        assert_eq!(vote(&[], eq), None);
    }

    #[test]
    fn equal_answers_group_by_the_comparison() {
        let numeric = |a: &str, b: &str| a.parse::<f64>().ok() == b.parse::<f64>().ok();
        assert_eq!(vote(&plain(&["2", "3.0", "3"]), numeric), Some((1, 2.0)));
    }

    #[test]
    fn weights_add_up() {
        let ballots = [
            Ballot {
                answer: "3",
                weight: 0.9,
            },
            Ballot {
                answer: "5",
                weight: 0.5,
            },
            Ballot {
                answer: "5",
                weight: 0.3,
            },
        ];
        let (first, weight) = vote(&ballots, |a, b| a == b).unwrap();
        assert_eq!(first, 0);
        assert!((weight - 0.9).abs() < 1e-12);
        let ballots = [
            Ballot {
                answer: "3",
                weight: 0.7,
            },
            Ballot {
                answer: "5",
                weight: 0.5,
            },
            Ballot {
                answer: "5",
                weight: 0.3,
            },
        ];
        let (first, weight) = vote(&ballots, |a, b| a == b).unwrap();
        assert_eq!(first, 1);
        assert!((weight - 0.8).abs() < 1e-12);
    }
}
