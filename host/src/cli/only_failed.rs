//! `--only-failed PREV.jsonl[:KINDS]`: the records that failed in an
//! earlier jsonl output.

use std::io::BufRead;

use anyhow::{Context, bail};

use super::args::OnlyFailed;
use super::escape::for_terminal;

impl OnlyFailed {
    /// The indices of the records that failed (with one of the kinds).
    ///
    /// # Errors
    /// When the file cannot be read, or a line is not a result of a jsonl
    /// run (naming the line).
    pub fn read(&self) -> anyhow::Result<Vec<u64>> {
        let name = self.path.display();
        let file =
            std::fs::File::open(&self.path).with_context(|| format!("cannot open {name}"))?;
        let mut failed = Vec::new();
        for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {name}"))?;
            let bad = |why: &str| {
                anyhow::anyhow!("{name}:{}: {why}: {}", number + 1, for_terminal(&line))
            };
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|_| bad("not a JSON line"))?;
            let index = value["index"]
                .as_u64()
                .ok_or_else(|| bad("no record index"))?;
            match value["status"].as_str() {
                Some("ok") => {}
                Some("error") => {
                    let kind = value["kind"]
                        .as_str()
                        .and_then(|k| k.parse::<sandmap::ErrorKind>().ok());
                    let Some(kind) = kind else {
                        bail!(bad("no error kind sandmap knows"));
                    };
                    if self.kinds.is_empty() || self.kinds.contains(&kind) {
                        failed.push(index);
                    }
                }
                _ => bail!(bad("no status (ok or error)")),
            }
        }
        Ok(failed)
    }
}
