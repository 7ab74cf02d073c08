//! Aligned plain-text tables for terminal output.

/// Renders `rows` under `header`, columns padded to their widest cell; cells
/// whose column is numeric (`right[i]`) are right-aligned.
pub fn render(header: &[String], rows: &[Vec<String>], right: &[bool]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let pad = widths[i] - cell.chars().count();
                if right.get(i).copied().unwrap_or(false) {
                    format!("{}{cell}", " ".repeat(pad))
                } else if i + 1 == cells.len() {
                    cell.clone()
                } else {
                    format!("{cell}{}", " ".repeat(pad))
                }
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = String::new();
    out.push_str(&line(header));
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("  "));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let header = vec!["name".to_owned(), "n".to_owned()];
        let rows = vec![
            vec!["a".to_owned(), "1319".to_owned()],
            vec!["longer".to_owned(), "5".to_owned()],
        ];
        let out = render(&header, &rows, &[false, true]);
        assert_eq!(
            out,
            "name       n\n------  ----\na       1319\nlonger     5\n"
        );
    }
}
