//! `tessera-bench`: the wire benchmark. See [`options::Options`] for what it does and
//! the README's Performance section for what each figure means.

mod calls;
mod database;
mod driver;
mod h2load;
mod ids;
mod options;
mod pgbench;
mod reads;
mod report;
mod run;
mod seed;
mod server;
mod stats;
mod targets;
mod wire;

use clap::Parser;
use options::Options;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = run::run(&options, command).await?;
    print!("{}", report.render());
    if !report.clean() {
        anyhow::bail!("some calls failed (see FAILED above)");
    }
    Ok(())
}
