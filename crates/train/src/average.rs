//! Weight averaging of fine-tunes of one model (a "model soup", as in
//! WiSE-FT and Wortsman et al. 2022): each tensor becomes a weighted mean of
//! the models'. A round that fine-tunes afresh from the base model can
//! average its policy with the previous round's, so that what the previous
//! policy learned is not lost, and fine-tunes that differ only in seed can be
//! averaged into one policy that depends less on any one row order.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result, bail};
use candle_core::quantized::QTensor;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::{Device, Tensor};

use crate::model::write_gguf;

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

/// Checks, from the two files' headers alone, that [`average_gguf`] can
/// average a fine-tune of `like` with `other` at `other_weight`: run it before
/// a training run, so that a wrong file or weight fails in seconds, not after.
pub fn check_average(like: &Path, other: &Path, other_weight: f64) -> Result<()> {
    check_weight(other, other_weight)?;
    same_tensors(
        &Gguf::open(like)?.content,
        like,
        &Gguf::open(other)?.content,
        other,
    )?;
    Ok(())
}

/// Writes to `out` the average of two GGUF models of one architecture:
/// `(1 - other_weight) * trained + other_weight * other`, tensor by tensor
/// (dequantised to f32, averaged, stored again in `trained`'s type), with
/// `trained`'s metadata; the number of tensors. Refuses files whose tensors
/// differ in name or shape.
pub fn average_gguf(trained: &Path, other: &Path, other_weight: f64, out: &Path) -> Result<usize> {
    check_weight(other, other_weight)?;
    mix_gguf(&[(trained, 1.0 - other_weight), (other, other_weight)], out)
}

/// Writes to `out` the uniform average of `models` (a "model soup" of
/// fine-tunes of one base that differ in seed), as [`average_gguf`] does for
/// two; the first model gives each tensor's type and the metadata.
pub fn soup_gguf(models: &[&Path], out: &Path) -> Result<usize> {
    if models.is_empty() {
        bail!("a soup needs at least one model to write {}", out.display());
    }
    let weight = 1.0 / models.len() as f64;
    let parts: Vec<(&Path, f64)> = models.iter().map(|m| (*m, weight)).collect();
    mix_gguf(&parts, out)
}

/// The weighted sum of `parts`' tensors, written atomically to `out`.
fn mix_gguf(parts: &[(&Path, f64)], out: &Path) -> Result<usize> {
    let mut files = parts
        .iter()
        .map(|(path, _)| Gguf::open(path))
        .collect::<Result<Vec<_>>>()?;
    for (file, (path, _)) in files.iter().zip(parts).skip(1) {
        same_tensors(&files[0].content, parts[0].0, &file.content, path)?;
    }
    let names = tensor_names(&files[0].content);
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let dtype = files[0].content.tensor_infos[&name].ggml_dtype;
        let mut weighted = files.iter_mut().zip(parts).map(|(file, (path, weight))| {
            let t = file.tensor(&name, path)?.dequantize(&Device::Cpu)?;
            Ok::<Tensor, anyhow::Error>((t * *weight)?)
        });
        let mut sum = weighted.next().expect("mix_gguf has one part at least")?;
        for t in weighted {
            sum = sum.add(&t?)?;
        }
        tensors.push((name, QTensor::quantize(&sum, dtype)?));
    }
    // Sorted keys: the same inputs give the same bytes.
    let mut metadata: Vec<(&str, &Value)> = files[0]
        .content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.alignment")
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.sort_by(|p, q| p.0.cmp(q.0));
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    write_gguf(out, &metadata, &refs)?;
    Ok(tensors.len())
}

fn check_weight(other: &Path, other_weight: f64) -> Result<()> {
    if !(other_weight > 0.0 && other_weight < 1.0) {
        bail!(
            "the weight of {} in the average is {other_weight}: use a number between 0 and 1",
            other.display()
        );
    }
    Ok(())
}

/// Refuses `a` and `b` unless their tensors match in name and shape.
fn same_tensors(
    a: &gguf_file::Content,
    a_path: &Path,
    b: &gguf_file::Content,
    b_path: &Path,
) -> Result<()> {
    let missing = |name: &str, has: &Path, lacks: &Path| {
        anyhow::anyhow!(
            "{} has tensor {name} and {} does not: they are not the same model",
            has.display(),
            lacks.display()
        )
    };
    for (name, info) in &a.tensor_infos {
        let other = b
            .tensor_infos
            .get(name)
            .ok_or_else(|| missing(name, a_path, b_path))?;
        if other.shape != info.shape {
            bail!(
                "tensor {name} is {:?} in {} and {:?} in {}: they are not the same model",
                info.shape.dims(),
                a_path.display(),
                other.shape.dims(),
                b_path.display()
            );
        }
    }
    if let Some(name) = b
        .tensor_infos
        .keys()
        .find(|n| !a.tensor_infos.contains_key(*n))
    {
        return Err(missing(name, b_path, a_path));
    }
    Ok(())
}

/// The tensor names of a file, in file order.
fn tensor_names(content: &gguf_file::Content) -> Vec<String> {
    let mut names: Vec<(&String, u64)> = content
        .tensor_infos
        .iter()
        .map(|(n, i)| (n, i.offset))
        .collect();
    names.sort_by_key(|(_, offset)| *offset);
    names.into_iter().map(|(n, _)| n.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let tensors = average_gguf(&a, &b, 0.25, &out).unwrap();
        assert_eq!(tensors, 2);
        assert!(read(&out, "w").iter().all(|x| (x - 1.5).abs() < 1e-6));
        assert!(read(&out, "q").iter().all(|x| (x - 1.5).abs() < 0.02));
        let g = Gguf::open(&out).unwrap();
        assert_eq!(g.content.tensor_infos["q"].ggml_dtype, GgmlDType::Q8_0);
        assert!(g.content.metadata.contains_key("general.architecture"));
    }

    #[test]
    fn a_soup_is_the_mean_of_its_models() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..3)
            .map(|i| dir.path().join(format!("m{i}.gguf")))
            .collect();
        for (path, x) in paths.iter().zip([1.0f32, 2.0, 6.0]) {
            write(
                path,
                &[
                    ("w", vec![x; 64], GgmlDType::F32),
                    ("q", vec![x; 64], GgmlDType::Q8_0),
                ],
            );
        }
        let out = dir.path().join("soup.gguf");
        let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        assert_eq!(soup_gguf(&refs, &out).unwrap(), 2);
        assert!(read(&out, "w").iter().all(|x| (x - 3.0).abs() < 1e-6));
        assert!(read(&out, "q").iter().all(|x| (x - 3.0).abs() < 0.05));
        write(&paths[2], &[("w", vec![1.0; 64], GgmlDType::F32)]);
        let err = format!(
            "{:#}",
            soup_gguf(&refs, &dir.path().join("x.gguf")).unwrap_err()
        );
        assert!(
            err.contains("m0.gguf has tensor q") && err.contains("m2.gguf"),
            "{err}"
        );
        assert!(soup_gguf(&[], &out).is_err());
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
        let err = format!("{:#}", check_average(&a, &b, 0.5).unwrap_err());
        assert!(err.contains("tensor w is"), "{err}");
        let err = format!("{:#}", average_gguf(&a, &a, 1.0, &out).unwrap_err());
        assert!(err.contains("between 0 and 1"), "{err}");
        let err = format!("{:#}", check_average(&a, &a, 0.0).unwrap_err());
        assert!(err.contains("between 0 and 1"), "{err}");
        std::fs::write(&b, b"not a model").unwrap();
        let err = format!("{:#}", average_gguf(&a, &b, 0.5, &out).unwrap_err());
        assert!(err.contains("b.gguf is not a readable GGUF"), "{err}");
        assert!(!out.exists());
    }
}
