//! Runs a model file in tract on seeded random inputs (batch 2) and prints output shapes:
//! `cargo run -p oto-verify --example tract_check -- MODEL.onnx [--raw]` (`--raw`: skip oto's re-save).
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(&args[1]);
    let mut model = oto_onnx::load_model(path)?;
    if !args.iter().any(|a| a == "--raw") {
        model = oto_graph::Graph::from_model(model)?.to_model();
    }
    let specs = oto_verify::input_specs(&model, 2)?;
    let inputs = oto_verify::random_inputs(&specs, 0)?;
    for o in oto_verify::run(&model, &inputs)? {
        println!("output shape {:?}", o.shape);
    }
    Ok(())
}
