//! Baseline optimizers against torch.optim (expected values computed with torch 2.11 in the venv:
//! x0 = [1, -2, 3, 0.5], three steps with the gradients below).
use oto_optim::*;
use tch::{Kind, Tensor};

const X0: [f32; 4] = [1.0, -2.0, 3.0, 0.5];
const GS: [[f32; 4]; 3] = [[0.1, 0.2, -0.3, 0.0], [-0.5, 0.4, 0.05, 1.0], [0.3, -0.1, 0.2, -0.7]];

fn param() -> Param {
    Param { name: "w".into(), value_id: 0, tensor: Tensor::from_slice(&X0).set_requires_grad(true) }
}

fn run(mut o: impl Optimizer, t: Tensor) -> Vec<f32> {
    for g in GS {
        let mut gr = t.grad();
        if gr.defined() {
            let _ = gr.zero_();
        }
        // set the gradient through a backward of <g, x>
        let l = (&t * Tensor::from_slice(&g)).sum(Kind::Float);
        l.backward();
        o.step().unwrap();
        let mut gr = t.grad();
        let _ = gr.zero_();
    }
    Vec::<f32>::try_from(t.detach()).unwrap()
}

fn close(a: &[f32], b: &[f32]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 2e-6, "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_matches_torch() {
    let p = param();
    let t = p.tensor.shallow_clone();
    close(&run(Sgd::new(vec![p], &SgdConfig { lr: 0.1, ..Default::default() }).unwrap(), t), &[1.01, -2.05, 3.0049999, 0.47]);
    let p = param();
    let t = p.tensor.shallow_clone();
    let c = SgdConfig { lr: 0.1, momentum: 0.9, dampening: 0.1, weight_decay: 0.01, nesterov: false };
    close(&run(Sgd::new(vec![p], &c).unwrap(), t), &[1.026078, -2.1028676, 3.0387042, 0.3894231]);
    let p = param();
    let t = p.tensor.shallow_clone();
    let c = SgdConfig { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 0.01, nesterov: true };
    close(&run(Sgd::new(vec![p], &c).unwrap(), t), &[1.0359973, -2.1417594, 3.0272241, 0.3583434]);
}

#[test]
fn adam_and_adamw_match_torch() {
    let p = param();
    let t = p.tensor.shallow_clone();
    let c = AdamConfig { lr: 0.01, weight_decay: 0.05, ..Default::default() };
    close(&run(Adam::new(vec![p], &c).unwrap(), t), &[0.9942318, -2.021734, 3.0019798, 0.4810106]);
    let p = param();
    let t = p.tensor.shallow_clone();
    close(&run(AdamW::new(vec![p], &c).unwrap(), t), &[0.9952366, -2.0225246, 3.0108395, 0.4907657]);
}

#[test]
fn original_adam_init_first_step_is_032_sign() {
    let cfg = DirectionConfig { variant: Variant::Adam, momentum: 0.9, beta2: 0.999, adam_init: AdamInit::Original, ..Default::default() };
    let mut d = Direction::new(cfg.clone(), 1);
    let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let g = Tensor::from_slice(&[0.5f32, -4.0, 1e-3]);
    let v = Vec::<f32>::try_from(d.direction(0, &x, &g)).unwrap();
    // (g/0.1) / (sqrt(g²/0.001) + 1e-8) = sqrt(0.001)/0.1 · sign(g) = 0.3162…
    let e = 0.001f32.sqrt() / 0.1;
    for (a, s) in v.iter().zip([1.0f32, -1.0, 1.0]) {
        assert!((a - s * e).abs() < 1e-4, "{v:?}");
    }
    let cfg = DirectionConfig { adam_init: AdamInit::Standard, ..cfg };
    let mut d = Direction::new(cfg, 1);
    let v = Vec::<f32>::try_from(d.direction(0, &x, &g)).unwrap();
    assert!((v[0] - 1.0).abs() < 1e-4 && (v[1] + 1.0).abs() < 1e-4, "{v:?}");
}

#[test]
fn state_round_trip() {
    let c = AdamConfig { lr: 0.01, weight_decay: 0.1, ..Default::default() };
    let p = param();
    let t = p.tensor.shallow_clone();
    let mut o = Adam::new(vec![p], &c).unwrap();
    let l = (&t * Tensor::from_slice(&GS[0])).sum(Kind::Float);
    l.backward();
    o.step().unwrap();
    let st = o.state();
    let p2 = Param { name: "w".into(), value_id: 0, tensor: t.detach().copy().set_requires_grad(true) };
    let t2 = p2.tensor.shallow_clone();
    let mut o2 = Adam::new(vec![p2], &c).unwrap();
    o2.load_state(&st).unwrap();
    let mut gr = t.grad();
    let _ = gr.zero_();
    for (tt, oo) in [(&t, &mut o as &mut dyn Optimizer), (&t2, &mut o2 as &mut dyn Optimizer)] {
        let l = (tt * Tensor::from_slice(&GS[1])).sum(Kind::Float);
        l.backward();
        oo.step().unwrap();
    }
    assert!(t.equal(&t2.detach()));
}
