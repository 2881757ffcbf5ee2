//! Reading `merge`'s inputs: one line at a time per file, each line
//! checked to be what `run --format jsonl` writes and to come after the
//! file's previous line.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use sandmap::ErrorKind;
use serde::Deserialize;

/// How a record ended, as its line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// `"status":"ok"`.
    Ok,
    /// `"status":"error"` with this kind.
    Error(ErrorKind),
}

/// One input file, read a line at a time.
pub(super) struct Source {
    /// The file's name, as messages show it.
    pub(super) name: String,
    /// The file, buffered.
    reader: Box<dyn BufRead>,
    /// The current line, with its newline if it had one.
    pub(super) line: Vec<u8>,
    /// The current line's number, from 1.
    pub(super) number: u64,
    /// The current line's index; `None` before the first line and after
    /// the last.
    pub(super) index: Option<u64>,
    /// How the current line's record ended.
    pub(super) status: Status,
    /// The longest line accepted, without its newline.
    max_line: u64,
}

impl Source {
    /// Opens `path` (`-`: standard input).
    pub(super) fn open(path: &Path, max_line: u64) -> anyhow::Result<Source> {
        let (name, reader): (String, Box<dyn BufRead>) = if path.as_os_str() == "-" {
            ("standard input".into(), Box::new(std::io::stdin().lock()))
        } else {
            if path.is_dir() {
                bail!("cannot read {}: it is a directory", path.display());
            }
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (path.display().to_string(), Box::new(BufReader::new(file)))
        };
        Ok(Source::new(name, reader, max_line))
    }

    /// `reader`, called `name` in messages, whose lines may be up to
    /// `max_line` bytes long.
    pub(super) fn new(name: String, reader: Box<dyn BufRead>, max_line: u64) -> Source {
        Source {
            name,
            reader,
            line: Vec::new(),
            number: 0,
            index: None,
            status: Status::Ok,
            max_line,
        }
    }

    /// Reads and checks the next line; its index, or `None` at the end.
    pub(super) fn advance(&mut self) -> anyhow::Result<Option<u64>> {
        self.line.clear();
        let read = Read::by_ref(&mut self.reader)
            .take(self.max_line.saturating_add(1))
            .read_until(b'\n', &mut self.line)
            .with_context(|| format!("cannot read {}", self.name))?;
        if read == 0 {
            self.index = None;
            return Ok(None);
        }
        self.number += 1;
        let complete = self.line.last() == Some(&b'\n');
        if !complete && self.line.len() as u64 > self.max_line {
            bail!(self.error(&format!("longer than --max-line ({} bytes)", self.max_line)));
        }
        let head = match parse(&self.line) {
            Ok(parsed) => (parsed.index, parsed.status()),
            Err(why) if !complete => bail!(self.error(&format!(
                "cut short, no newline at its end ({why}): did the run that wrote it stop?"
            ))),
            Err(why) => bail!(self.error(&why)),
        };
        self.check_order(head.0)?;
        (self.index, self.status) = (Some(head.0), head.1);
        Ok(Some(head.0))
    }

    /// Refuses an index that does not come after the previous line's.
    fn check_order(&self, index: u64) -> anyhow::Result<()> {
        match self.index {
            Some(previous) if index == previous => bail!(self.error(&format!(
                "index {index} again: each index may appear once in a file \
                 (were files joined with cat?)"
            ))),
            Some(previous) if index < previous => bail!(self.error(&format!(
                "index {index} after {previous}: the file is not in index order \
                 (written with --unordered, or files joined in the wrong order?)"
            ))),
            _ => Ok(()),
        }
    }

    /// A message about the current line.
    pub(super) fn error(&self, what: &str) -> String {
        format!("{} line {}: {what}", self.name, self.number)
    }
}

/// A line of `run --format jsonl`, as serde reads it. Unknown fields
/// (`attempts`, `wall_us`, `fuel`, `memory`, later ones) are allowed.
#[derive(Deserialize)]
struct Fields<'a> {
    index: Option<u64>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    #[serde(borrow)]
    output: Option<Text<'a>>,
    #[serde(borrow)]
    output_base64: Option<Text<'a>>,
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    message: Option<Text<'a>>,
}

/// A JSON string, borrowed from the line unless it had escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// A valid line.
#[derive(Debug)]
pub(super) struct Parsed<'a> {
    pub(super) index: u64,
    pub(super) outcome: Outcome<'a>,
}

/// A valid line's result.
#[derive(Debug)]
pub(super) enum Outcome<'a> {
    /// The output, decoded.
    Ok(Cow<'a, [u8]>),
    Error(ErrorKind, Cow<'a, str>),
}

impl Parsed<'_> {
    fn status(&self) -> Status {
        match self.outcome {
            Outcome::Ok(_) => Status::Ok,
            Outcome::Error(kind, _) => Status::Error(kind),
        }
    }
}

/// Checks one line (with or without its newline); says what is wrong, in
/// a few words, when it is not a line `run --format jsonl` writes.
pub(super) fn parse(line: &[u8]) -> Result<Parsed<'_>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8 text".to_string())?;
    if !text.trim_start().starts_with('{') {
        return Err(format!(
            "not a JSON object (is it raw output? merge reads `run --format jsonl` files): {}",
            excerpt(text.trim_end())
        ));
    }
    let mut fields: Fields<'_> = serde_json::from_str(text)
        .map_err(|e| format!("not valid JSON: {}", excerpt(&e.to_string())))?;
    let index = fields.index.ok_or("no \"index\"")?;
    let status = fields.status.take().ok_or("no \"status\"")?.0;
    let outcome = match status.as_ref() {
        "ok" => ok_outcome(fields)?,
        "error" => error_outcome(fields)?,
        other => return Err(format!("unknown status {:?}", excerpt(other))),
    };
    Ok(Parsed { index, outcome })
}

fn ok_outcome(fields: Fields<'_>) -> Result<Outcome<'_>, String> {
    if fields.kind.is_some() || fields.message.is_some() {
        return Err("an \"ok\" line with an error's \"kind\" or \"message\"".into());
    }
    match (fields.output, fields.output_base64) {
        (Some(Text(text)), None) => Ok(Outcome::Ok(match text {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        })),
        (None, Some(Text(encoded))) => base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map(|bytes| Outcome::Ok(Cow::Owned(bytes)))
            .map_err(|_| "\"output_base64\" is not valid base64".into()),
        (Some(_), Some(_)) => Err("both \"output\" and \"output_base64\"".into()),
        (None, None) => Err("an \"ok\" line without \"output\" or \"output_base64\"".into()),
    }
}

fn error_outcome(fields: Fields<'_>) -> Result<Outcome<'_>, String> {
    if fields.output.is_some() || fields.output_base64.is_some() {
        return Err("an \"error\" line with an output".into());
    }
    let kind = fields.kind.ok_or("an \"error\" line without \"kind\"")?.0;
    let kind = kind
        .parse::<ErrorKind>()
        .map_err(|_| format!("unknown error kind {:?}", excerpt(&kind)))?;
    let message = fields
        .message
        .ok_or("an \"error\" line without \"message\"")?
        .0;
    Ok(Outcome::Error(kind, message))
}

/// The start of `text`, for a message: at most 60 characters.
fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quote_at_most_an_excerpt() {
        let long = "x".repeat(10_000);
        assert_eq!(excerpt(&long).len(), 63);
        assert_eq!(excerpt("é"), "é");
    }

    #[test]
    fn extra_fields_are_allowed_and_shapes_checked() {
        let line =
            br#"{"index":7,"status":"error","kind":"fuel","message":"m","attempts":2,"wall_us":5}"#;
        let parsed = parse(line).unwrap();
        assert_eq!(parsed.index, 7);
        assert!(matches!(parsed.outcome, Outcome::Error(ErrorKind::Fuel, _)));
        assert!(
            parse(br#"{"index":0,"status":"ok","output":"a","output_base64":"YQ=="}"#).is_err()
        );
        assert!(parse(br#"{"index":0,"status":"ok","output_base64":"!"}"#).is_err());
        assert!(parse(br#"{"index":0,"index":1,"status":"ok","output":""}"#).is_err());
        assert!(parse(br#"[0,"ok","a"]"#).is_err());
        assert!(parse(b"{\"index\":0,\"status\":\"ok\",\"output\":\"\xff\"}").is_err());
    }
}
