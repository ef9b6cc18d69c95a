//! Plain-text tables as the README shows them: the first column left-aligned, the
//! others right-aligned, a rule of dashes under the header.

/// A table with a title line.
#[derive(Debug, Clone)]
pub struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>, header: &[&str]) -> Self {
        Self {
            title: title.into(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of as many cells as the header has.
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "a row fits the header");
        self.rows.push(cells);
    }

    /// The table as text, ending with a newline.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|row| row[c].chars().count())
                    .chain([self.header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let text: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &width))| {
                    let pad = " ".repeat(width - cell.chars().count());
                    if c == 0 {
                        format!("{cell}{pad}")
                    } else {
                        format!("{pad}{cell}")
                    }
                })
                .collect();
            format!("{}\n", text.join("  ").trim_end())
        };
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let mut out = format!("{}\n\n", self.title);
        out.push_str(&line(&self.header));
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_under_their_headers() {
        let mut table = Table::new("reads", &["operation", "req/s", "÷ health"]);
        table.row(vec!["Health/Check".into(), "75000".into(), "1.00".into()]);
        table.row(vec!["ListPlans".into(), "900".into(), "0.01".into()]);
        assert_eq!(
            table.render(),
            "reads\n\n\
             operation     req/s  ÷ health\n\
             ------------  -----  --------\n\
             Health/Check  75000      1.00\n\
             ListPlans       900      0.01\n"
        );
    }
}
