//! Weight averaging of two fine-tunes of one model (a "model soup", as in
//! WiSE-FT): each tensor becomes `(1 - w) * trained + w * other`. A round that
//! fine-tunes afresh from the base model can average its policy with the
//! previous round's, so that what the previous policy learned is not lost.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result, bail};
use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::QTensor;

use crate::model::write_gguf;

/// What [`average_gguf`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Averaged {
    /// Tensors averaged (every tensor of the file).
    pub tensors: usize,
    /// The weight of the other model.
    pub other_weight: f64,
}

/// An open GGUF file: its header and a reader for its tensors.
struct Gguf {
    content: gguf_file::Content,
    reader: BufReader<File>,
}

impl Gguf {
    fn open(path: &Path) -> Result<Gguf> {
        let mut reader = BufReader::new(
            File::open(path).with_context(|| format!("opening {} to average", path.display()))?,
        );
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} is not a readable GGUF file", path.display()))?;
        Ok(Gguf { content, reader })
    }

    fn tensor(&mut self, name: &str, path: &Path) -> Result<QTensor> {
        self.content
            .tensor(&mut self.reader, name, &Device::Cpu)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("reading tensor {name} of {}", path.display()))
    }
}

/// Writes to `out` the average of two GGUF models of one architecture:
/// `(1 - other_weight) * trained + other_weight * other`, tensor by tensor
/// (dequantised to f32, averaged, stored again in `trained`'s type), with
/// `trained`'s metadata. Refuses files whose tensors differ in name or shape.
pub fn average_gguf(
    trained: &Path,
    other: &Path,
    other_weight: f64,
    out: &Path,
) -> Result<Averaged> {
    if !(other_weight > 0.0 && other_weight < 1.0) {
        bail!(
            "the weight of {} in the average is {other_weight}: use a number between 0 and 1",
            other.display()
        );
    }
    let mut a = Gguf::open(trained)?;
    let mut b = Gguf::open(other)?;
    let names = same_tensors(&a.content, trained, &b.content, other)?;
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in &names {
        let x = a.tensor(name, trained)?;
        let y = b.tensor(name, other)?;
        let mixed = (x.dequantize(&Device::Cpu)? * (1.0 - other_weight))?
            .add(&(y.dequantize(&Device::Cpu)? * other_weight)?)?;
        tensors.push((name.clone(), QTensor::quantize(&mixed, x.dtype())?));
    }
    // Sorted keys: the same inputs give the same bytes.
    let mut metadata: Vec<(&str, &Value)> = a
        .content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.alignment")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.sort_by(|p, q| p.0.cmp(q.0));
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    write_gguf(out, &metadata, &refs)?;
    Ok(Averaged {
        tensors: tensors.len(),
        other_weight,
    })
}

/// The tensor names of `a`, in file order, once checked against `b`'s.
fn same_tensors(
    a: &gguf_file::Content,
    a_path: &Path,
    b: &gguf_file::Content,
    b_path: &Path,
) -> Result<Vec<String>> {
    let shapes = |c: &gguf_file::Content| -> HashMap<String, Vec<usize>> {
        c.tensor_infos
            .iter()
            .map(|(n, i)| (n.clone(), i.shape.dims().to_vec()))
            .collect()
    };
    let (sa, sb) = (shapes(a), shapes(b));
    for (name, shape) in &sa {
        match sb.get(name) {
            None => bail!(
                "{} has tensor {name} and {} does not: they are not the same model",
                a_path.display(),
                b_path.display()
            ),
            Some(other) if other != shape => bail!(
                "tensor {name} is {shape:?} in {} and {other:?} in {}: they are not the same model",
                a_path.display(),
                b_path.display()
            ),
            Some(_) => {}
        }
    }
    if let Some(name) = sb.keys().find(|n| !sa.contains_key(*n)) {
        bail!(
            "{} has tensor {name} and {} does not: they are not the same model",
            b_path.display(),
            a_path.display()
        );
    }
    let mut names: Vec<(&String, u64)> =
        a.tensor_infos.iter().map(|(n, i)| (n, i.offset)).collect();
    names.sort_by_key(|(_, offset)| *offset);
    Ok(names.into_iter().map(|(n, _)| n.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;
    use candle_core::quantized::GgmlDType;

    fn write(path: &Path, tensors: &[(&str, Vec<f32>, GgmlDType)]) {
        let arch = Value::String("llama".into());
        let q: Vec<(String, QTensor)> = tensors
            .iter()
            .map(|(n, v, dt)| {
                let rows = v.len() / 32;
                let t = Tensor::from_vec(
                    v.clone(),
                    (rows.max(1), v.len() / rows.max(1)),
                    &Device::Cpu,
                )
                .unwrap();
                (n.to_string(), QTensor::quantize(&t, *dt).unwrap())
            })
            .collect();
        let refs: Vec<(&str, &QTensor)> = q.iter().map(|(n, t)| (n.as_str(), t)).collect();
        write_gguf(path, &[("general.architecture", &arch)], &refs).unwrap();
    }

    fn read(path: &Path, name: &str) -> Vec<f32> {
        let mut g = Gguf::open(path).unwrap();
        g.tensor(name, path)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn each_weight_is_the_weighted_mean_of_the_two() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, out) = (
            dir.path().join("a.gguf"),
            dir.path().join("b.gguf"),
            dir.path().join("o.gguf"),
        );
        let ones = vec![1.0f32; 64];
        let threes = vec![3.0f32; 64];
        write(
            &a,
            &[
                ("w", ones.clone(), GgmlDType::F32),
                ("q", ones, GgmlDType::Q8_0),
            ],
        );
        write(
            &b,
            &[
                ("w", threes.clone(), GgmlDType::F32),
                ("q", threes, GgmlDType::Q8_0),
            ],
        );
        let done = average_gguf(&a, &b, 0.25, &out).unwrap();
        assert_eq!(done.tensors, 2);
        assert!(read(&out, "w").iter().all(|x| (x - 1.5).abs() < 1e-6));
        assert!(read(&out, "q").iter().all(|x| (x - 1.5).abs() < 0.02));
        let g = Gguf::open(&out).unwrap();
        assert_eq!(g.content.tensor_infos["q"].ggml_dtype, GgmlDType::Q8_0);
        assert!(g.content.metadata.contains_key("general.architecture"));
    }

    #[test]
    fn different_models_and_bad_weights_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, out) = (
            dir.path().join("a.gguf"),
            dir.path().join("b.gguf"),
            dir.path().join("o.gguf"),
        );
        write(&a, &[("w", vec![1.0; 64], GgmlDType::F32)]);
        write(&b, &[("v", vec![1.0; 64], GgmlDType::F32)]);
        let err = format!("{:#}", average_gguf(&a, &b, 0.5, &out).unwrap_err());
        assert!(
            err.contains("tensor w") && err.contains("not the same model"),
            "{err}"
        );
        write(&b, &[("w", vec![1.0; 96], GgmlDType::F32)]);
        let err = format!("{:#}", average_gguf(&a, &b, 0.5, &out).unwrap_err());
        assert!(err.contains("tensor w is"), "{err}");
        let err = format!("{:#}", average_gguf(&a, &a, 1.0, &out).unwrap_err());
        assert!(err.contains("between 0 and 1"), "{err}");
        std::fs::write(&b, b"not a model").unwrap();
        let err = format!("{:#}", average_gguf(&a, &b, 0.5, &out).unwrap_err());
        assert!(err.contains("b.gguf is not a readable GGUF"), "{err}");
        assert!(!out.exists());
    }
}
