//! How both binaries print an error: the anyhow chain on one line.

/// `context: cause: cause`, skipping a cause whose text the previous message already contains
/// (errors that print their source themselves would otherwise repeat it).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut prev = String::new();
    for c in e.chain() {
        let m = c.to_string();
        if !prev.is_empty() && prev.contains(&m) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&m);
        prev = m;
    }
    out
}
