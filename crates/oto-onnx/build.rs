//! Generates the ONNX protobuf types from `proto/onnx.proto` (the ONNX project's own file,
//! Apache-2.0) with prost; protoc comes from the `protoc-bin-vendored` crate, so no system
//! protobuf compiler is needed.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    // raw_data as `Bytes`: decoding from a `Bytes` buffer then shares the file's buffer instead
    // of copying every weight (the largest cost of loading a big model).
    prost_build::Config::new()
        .bytes([".onnx.TensorProto.raw_data"])
        .compile_protos(&["proto/onnx.proto"], &["proto/"])
        .expect("compile onnx.proto");
}
