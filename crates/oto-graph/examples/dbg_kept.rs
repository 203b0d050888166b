use oto_graph::{zig, Graph};
fn main() {
    let p = std::env::args().nth(1).unwrap();
    let names: Vec<String> = std::env::args().skip(2).collect();
    let g = Graph::from_model(oto_onnx::load_model(std::path::Path::new(&p)).unwrap()).unwrap();
    let a = zig::analyze(&g);
    for n in &names {
        let v = g.id(n).unwrap();
        match a.value_ids[v].as_ref() {
            Some(t) => {
                let rows: Vec<usize> = t.slots.iter().map(|s| a.elem_row[s.e]).collect();
                let taints: Vec<u32> = t.slots.iter().map(|s| s.taint).take(4).collect();
                println!("{n}: shape {:?} dims {:?} chan {:?} rows {:?} taint {:?}", g.value(v).shape, t.dims, t.chan, &rows[..rows.len().min(12)], taints);
            }
            None => println!("{n}: none"),
        }
    }
}
