//! Placeholder of the crash signature (replaced by the full one): the cause alone.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub kind: String,
    pub frames: Vec<String>,
    pub summary: String,
    pub id: String,
}

pub fn signature(cause: Option<&str>, stderr: &[String]) -> Signature {
    let kind = cause.unwrap_or("silent").split(':').next().unwrap_or("silent").to_string();
    let frames: Vec<String> = stderr.iter().rev().find(|l| l.contains("PLANTED FAULT")).cloned().into_iter().collect();
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    for f in &frames {
        h.update(f.as_bytes());
    }
    let id = h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
    Signature { summary: frames.first().cloned().unwrap_or_else(|| kind.clone()), kind, frames, id }
}
