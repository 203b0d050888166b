//! The main job on built-in defaults (`oto` with no arguments, run by `oto-train`): the whole
//! OTOv2 pipeline — DHSPG training of the zoo's `fmnist_vgg` on the bundled Fashion-MNIST subset
//! (6k/1k) to group sparsity 0.5, then the compressed model, its verification and the report, in
//! `runs/demo` (see docs/training.md).
use anyhow::Result;

/// The demo's run configuration (also used by the tests and docs).
pub fn demo_config() -> oto_train::train::TrainConfig {
    let mut c = oto_train::train::TrainConfig {
        model: "zoo:fmnist_vgg".into(),
        epochs: 6,
        batch_size: 64,
        out: "runs/demo".into(),
        ..Default::default()
    };
    c.dhspg.target_sparsity = Some(0.5); // the default window: rows chosen at 3/8 of the run, zero by half
    c
}

pub fn run() -> Result<()> {
    let c = demo_config();
    println!(
        "oto: no arguments, so running the built-in demo: DHSPG training of {} on the bundled Fashion-MNIST subset \
         to group sparsity {}, then compression and verification (output in {}; `oto --help` lists all commands)\n",
        c.model,
        c.dhspg.target_sparsity.unwrap_or(0.0),
        c.out.display()
    );
    let s = oto_train::train::run(&c)?;
    super::train::print_summary(&s);
    println!("report: {}", c.out.join("report.md").display());
    Ok(())
}
