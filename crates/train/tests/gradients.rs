//! Gradients flow through every layer type: each parameter's gradient from
//! backward matches finite differences of the loss, on tiny f64 models.

use candle_core::{DType, Device, Tensor, Var};
use evolve_lm::{Architecture, Config};
use evolve_train::{Method, TrainModel, ops};

fn tiny(architecture: Architecture) -> Config {
    Config {
        architecture,
        layers: 2,
        hidden: 8,
        intermediate: 12,
        heads: 2,
        kv_heads: 1,
        head_dim: 4,
        rms_eps: 1e-5,
        rope_base: 10_000.0,
        context_length: 16,
        vocab: 11,
    }
}

/// Next-token loss over two sequences of five tokens.
fn loss(model: &TrainModel) -> Tensor {
    let tokens = Tensor::new(&[[1u32, 5, 2, 9, 4], [3, 3, 7, 0, 10]], &Device::Cpu).unwrap();
    let hidden = model.hidden(&tokens.narrow(1, 0, 4).unwrap()).unwrap();
    let rows = hidden.reshape((8, 8)).unwrap();
    let targets = tokens.narrow(1, 1, 4).unwrap().flatten_all().unwrap();
    ops::cross_entropy(&model.logits(&rows).unwrap(), &targets).unwrap()
}

fn value(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

fn set_element(var: &Var, index: usize, delta: f64) {
    let shape = var.shape().clone();
    let mut values = var.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    values[index] += delta;
    var.set(&Tensor::from_vec(values, shape, &Device::Cpu).unwrap())
        .unwrap();
}

/// Checks up to 4 coordinates of every trainable variable; returns how many
/// variables were checked.
fn check(model: &TrainModel) -> usize {
    let vars = model.vars();
    let grads = loss(model).backward().unwrap();
    let h = 1e-6;
    for (n, var) in vars.iter().enumerate() {
        let grad = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("variable {n} {:?} got no gradient", var.shape()));
        let grad = grad.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert!(
            grad.iter().any(|g| g.abs() > 1e-9),
            "variable {n} {:?}: gradient is zero",
            var.shape()
        );
        let len = grad.len();
        for index in [0, len / 3, len / 2, len - 1] {
            set_element(var, index, h);
            let up = value(&loss(model));
            set_element(var, index, -2.0 * h);
            let down = value(&loss(model));
            set_element(var, index, h);
            let numeric = (up - down) / (2.0 * h);
            let analytic = grad[index];
            assert!(
                (numeric - analytic).abs() <= 1e-7 + 1e-4 * numeric.abs().max(analytic.abs()),
                "variable {n} {:?}[{index}]: backward {analytic}, finite differences {numeric}",
                var.shape()
            );
        }
    }
    vars.len()
}

#[test]
fn every_weight_of_a_llama_block_gets_its_true_gradient() {
    let mut model = TrainModel::random(tiny(Architecture::Llama), DType::F64, 3).unwrap();
    model.prepare(Method::Full, 0).unwrap();
    // Embeddings (tied head), final norm, 2 norms and 7 matrices per block.
    assert_eq!(check(&model), 2 + 2 * 9);
}

#[test]
fn qwen2_biases_and_its_rotary_halves_get_their_true_gradients() {
    let mut model = TrainModel::random(tiny(Architecture::Qwen2), DType::F64, 4).unwrap();
    model.prepare(Method::Full, 0).unwrap();
    assert_eq!(check(&model), 2 + 2 * 12);
}

#[test]
fn lora_adapters_get_their_true_gradients_and_nothing_else_trains() {
    let mut model = TrainModel::random(tiny(Architecture::Llama), DType::F64, 5).unwrap();
    model
        .prepare(
            Method::Lora {
                rank: 2,
                alpha: 4.0,
                layers: 0,
            },
            9,
        )
        .unwrap();
    // B starts at zero, where A's gradient is zero too: move B off it first.
    for var in model.vars() {
        let shape = var.shape().clone();
        var.set(&Tensor::randn(0f64, 0.3, shape, &Device::Cpu).unwrap())
            .unwrap();
    }
    assert_eq!(check(&model), 2 * 7 * 2);

    model.prepare(Method::TopLayers { layers: 1 }, 0).unwrap();
    assert_eq!(check(&model), 1 + 9);
}
