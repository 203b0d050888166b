//! Times tract's stages on a model: `cargo run --release -p oto-verify --example time_tract M.onnx`.
use std::time::Instant;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::InferenceModelExt;
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1])?;
    let t = Instant::now();
    let proto = tract_onnx::onnx().proto_model_for_read(&mut bytes.as_slice()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("proto {:?}", t.elapsed());
    let t = Instant::now();
    let m = tract_onnx::onnx().model_for_proto_model(&proto).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("inference model {:?}", t.elapsed());
    let mut m = m.with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), tvec![2, 3, 8, 8])).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let t = Instant::now();
    m.analyse(false).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("analysed {:?}", t.elapsed());
    let t = Instant::now();
    let typed = m.into_typed().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("typed {:?}", t.elapsed());
    let t = Instant::now();
    let _p = typed.into_runnable().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("plan {:?}", t.elapsed());
    Ok(())
}
