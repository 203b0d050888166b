//! The main job on built-in defaults (no arguments).
pub fn run() -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
