//! Column alignment as Go's `text/tabwriter` does it for docker (min width 10, padding 3, space
//! padded): cells end at a tab; text after a line's last tab is not padded.

/// Aligns tab-separated `text` (lines separated by `\n`) with docker's table settings.
pub fn align(text: &str) -> String {
    align_with(text, 10, 3)
}

/// Aligns with a given minimum cell width and padding (docker's `top` uses 20 and 3).
pub fn align_with(text: &str, min_width: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    for (li, cells) in lines.iter().enumerate() {
        for (ci, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if ci + 1 == cells.len() {
                break;
            }
            // The column block: neighbouring lines that also have a terminated cell `ci`.
            let has = |l: &Vec<&str>| l.len() > ci + 1;
            let mut start = li;
            while start > 0 && has(&lines[start - 1]) {
                start -= 1;
            }
            let mut end = li;
            while end + 1 < lines.len() && has(&lines[end + 1]) {
                end += 1;
            }
            let width = lines[start..=end]
                .iter()
                .map(|l| l[ci].chars().count() + padding)
                .max()
                .unwrap_or(0)
                .max(min_width);
            out.push_str(&" ".repeat(width - cell.chars().count()));
        }
        if li + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn aligns_like_tabwriter() {
        let t = "REPOSITORY\tTAG\tIMAGE ID\tSIZE\nbusybox\tlatest\t0123456789ab\t4.26MB\n";
        assert_eq!(
            align(t),
            "REPOSITORY   TAG       IMAGE ID       SIZE\nbusybox      latest    0123456789ab   4.26MB\n"
        );
        assert_eq!(align("a…\tb"), "a…        b");
    }
}
