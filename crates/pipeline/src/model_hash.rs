//! What identifies a model file in the database (`models.sha256`, the hashes
//! in a round's and an evaluation's settings). A policy is its GGUF; a PPM is
//! its GGUF and the value head beside it, since a head-only PPM's GGUF is a
//! byte-for-byte copy of the policy it was trained from.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    hash_into(&mut hasher, path)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// A PPM's hash: SHA-256 of its GGUF's bytes followed by its head's
/// (`cat ppm.gguf ppm.head.safetensors | sha256sum`).
pub fn ppm_sha256(gguf: &Path) -> anyhow::Result<String> {
    let head = evolve_train::ppm::head_path(gguf);
    if !head.is_file() {
        anyhow::bail!(
            "the PPM {} has no value head beside it ({} is missing)",
            gguf.display(),
            head.display()
        );
    }
    let mut hasher = Sha256::new();
    hash_into(&mut hasher, gguf)?;
    hash_into(&mut hasher, &head)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// The hash of a model of `role` (`policy` or `ppm`).
pub fn model_sha256(role: &str, path: &Path) -> anyhow::Result<String> {
    match role {
        "ppm" => ppm_sha256(path),
        _ => sha256_file(path),
    }
}

/// Whether the model of `role` at `path` is the one registered with
/// `stored`. Builds before the head counted stored a PPM's GGUF hash alone;
/// such a record still matches its GGUF, though it cannot vouch for the head.
pub fn matches_registered(role: &str, path: &Path, stored: &str) -> anyhow::Result<bool> {
    if model_sha256(role, path)? == stored {
        return Ok(true);
    }
    Ok(role == "ppm" && sha256_file(path)? == stored)
}

fn hash_into(hasher: &mut Sha256, path: &Path) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_heads_on_one_backbone_are_two_ppms() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.gguf"), dir.path().join("b.gguf"));
        for (gguf, head) in [(&a, "head a"), (&b, "head b")] {
            std::fs::write(gguf, b"the same backbone").unwrap();
            std::fs::write(evolve_train::ppm::head_path(gguf), head).unwrap();
        }
        assert_eq!(sha256_file(&a).unwrap(), sha256_file(&b).unwrap());
        assert_ne!(ppm_sha256(&a).unwrap(), ppm_sha256(&b).unwrap());
        // As `cat a.gguf a.head.safetensors | sha256sum` gives it.
        let mut whole = Sha256::new();
        whole.update(b"the same backbonehead a");
        assert_eq!(ppm_sha256(&a).unwrap(), format!("{:x}", whole.finalize()));
        // A record of an older build (the GGUF's hash) still matches, a policy's does not.
        let legacy = sha256_file(&a).unwrap();
        assert!(matches_registered("ppm", &a, &legacy).unwrap());
        assert!(matches_registered("ppm", &a, &ppm_sha256(&a).unwrap()).unwrap());
        assert!(!matches_registered("ppm", &a, &ppm_sha256(&b).unwrap()).unwrap());
        assert!(matches_registered("policy", &a, &legacy).unwrap());
        assert!(!matches_registered("policy", &a, &ppm_sha256(&a).unwrap()).unwrap());
    }

    #[test]
    fn a_ppm_without_its_head_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("ppm-r1.gguf");
        std::fs::write(&gguf, b"backbone").unwrap();
        let err = ppm_sha256(&gguf).unwrap_err().to_string();
        assert!(err.contains("ppm-r1.head.safetensors"), "{err}");
    }
}
