//! Every batch-1 PyTorch export among the committed fixtures (crates/oto-cli/tests/fixtures/
//! pytorch: CNNs, a DenseNet, a Transformer encoder, a ViT with a class token, a decoder with
//! `F.interpolate(size=…)`, from both exporters, eval and training mode) is made batch-free and
//! proven per sample: run one sample at a time through the export and stacked through the
//! batch-free model, in inference form.
use std::path::Path;

fn batch_free(file: &Path) -> (Vec<String>, f32) {
    let mut g = oto_graph::Graph::load(file).unwrap();
    g.infer_shapes().unwrap();
    let (h, rw) = oto_graph::batch::symbolic_batch(&g).unwrap_or_else(|e| panic!("{}: {e}", file.display())).expect("a fixed batch");
    assert_eq!(rw.exported, 1);
    let exported = oto_verify::prove::inference_form(&g, &oto_graph::zig::analyze(&g)).unwrap();
    let free = oto_verify::prove::inference_form(&h, &oto_graph::zig::analyze(&h)).unwrap();
    let rel = oto_verify::batch_equivalence(&exported.to_model(), &free.to_model(), 1).unwrap_or_else(|e| panic!("{}: {e:#}", file.display()));
    (rw.rewrites, rel)
}

#[test]
fn batch1_fixtures_are_made_batch_free_and_proven_per_sample() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../oto-cli/tests/fixtures/pytorch");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(".onnx") && p.to_string_lossy().contains("__b1__")).collect();
    files.sort();
    assert!(files.len() >= 20, "{} batch-1 fixtures", files.len());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let (rewrites, rel) = batch_free(f);
        assert!(rel < 1e-5, "{name}: samples differ by {rel:e}");
        let all = rewrites.join("; ");
        // what each model needs: the folded x.view(x.size(0), -1); the batch merged with the
        // heads and with the sequence in nn.MultiheadAttention; a class token expanded to the
        // batch; Resize sizes as scales
        if name.starts_with("fmnist") {
            assert!(all.contains("[1, -1] -> [0, -1]"), "{name}: {all}");
        }
        if name.starts_with("row_transformer") || name.starts_with("tiny_vit") {
            assert!(all.contains(", -1, 8]") || all.contains(", -1, 28, 8]"), "{name}: batch×heads not found: {all}");
        }
        if name.starts_with("tiny_vit") {
            assert!(all.contains("expanded to the batch"), "{name}: {all}");
        }
        if name.starts_with("seg_decoder__dynamo") {
            assert!(all.contains("sizes [1, 16, 16, 16] -> scales"), "{name}: {all}");
        }
        println!("{name}: {} rewrites, rel {rel:.1e}", rewrites.len());
    }
}
