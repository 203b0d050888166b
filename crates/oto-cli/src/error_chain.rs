//! How both binaries end: the anyhow chain of an error on one line, and the exit status.

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

/// The process exit status of a subcommand's result; an error is printed as `error: …`.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
