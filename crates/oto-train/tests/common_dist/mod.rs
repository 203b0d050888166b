//! What the multi-rank tests share.

/// A free loopback port for a group's TCPStore, drawn below Linux's ephemeral range (32768 and
/// up), so that no connection or Gloo listener of another test takes it between this check and
/// rank 0's bind.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let seed = RandomState::new().hash_one(std::process::id());
    (0..1000u64)
        .map(|k| 20000 + ((seed.wrapping_add(k.wrapping_mul(7919))) % 12000) as u16)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("no free port in 20000..32000")
}
