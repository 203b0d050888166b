//! (being written)
#[derive(clap::Subcommand)]
pub enum ZooCommand {
    List,
}
pub fn run(_a: ZooCommand) -> anyhow::Result<()> {
    anyhow::bail!("not available yet")
}
