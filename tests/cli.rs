//! What a user of the command line expects besides running: a writable
//! grant for plugins that write files, shell completions, a manual page,
//! examples in `--help`, and a progress display with a percentage.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

use common::*;

#[test]
fn a_writable_grant_allows_files_inside_and_nothing_outside() {
    let scratch = Scratch::new();
    let dir = scratch.path("work");
    std::fs::create_dir(&dir).unwrap();
    let grant = format!("{}::/d", dir.display());
    let result = run(
        &["run", plugins::HOSTILE_COMMAND, "--dir-rw", &grant, "--format", "jsonl", "-j", "1"],
        b"fsops:/d\nmkfile:/d/made.txt\nwrite:/etc/sandmap-test\nwrite:/d/../escaped\nsymlink-escape:/d\n",
    );
    let values = result.jsonl();
    assert_eq!(
        values[0]["output"],
        "fsops ok: hello world\n",
        "{}",
        result.stderr()
    );
    assert_eq!(values[1]["output"], "made\n");
    assert_eq!(
        std::fs::read(dir.join("made.txt")).unwrap(),
        b"made",
        "the file is on the host"
    );
    assert_eq!(values[2]["status"], "error", "outside the grant");
    assert_eq!(values[3]["status"], "error", "`..` out of the grant");
    assert!(!scratch.path("escaped").exists());
    let symlink = values[4]["output"].as_str().unwrap_or_default();
    assert!(symlink.contains("not permitted"), "{symlink}");
    assert!(
        std::fs::read_dir(&dir)
            .unwrap()
            .all(|e| !e.unwrap().file_type().unwrap().is_symlink())
    );
    assert!(
        result.stderr().contains("the plugin could write"),
        "writable grants are named: {}",
        result.stderr()
    );
    // The same under a read-only grant: refused.
    let read_only = run(
        &[
            "run",
            plugins::HOSTILE_COMMAND,
            "--dir",
            &grant,
            "--format",
            "jsonl",
        ],
        b"fsops:/d\n",
    );
    assert_eq!(read_only.jsonl()[0]["status"], "error");
    assert!(
        read_only.jsonl()[0]["message"]
            .as_str()
            .unwrap()
            .contains("not permitted")
    );
}

#[test]
fn completions_are_generated_and_parse() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let result = run(&["completions", shell], b"");
        assert_eq!(result.code(), Some(0), "{shell}: {}", result.stderr());
        assert!(result.stdout().contains("sandmap"), "{shell}");
        assert!(
            result.stdout().contains("max-memory"),
            "{shell}: options are completed"
        );
        // Parsed by the shell itself where it is installed (bash at least).
        let check = match shell {
            "bash" => Some(("bash", "-n")),
            "zsh" => Some(("zsh", "-n")),
            "fish" => Some(("fish", "--no-execute")),
            _ => None,
        };
        let Some((program, flag)) = check else {
            continue;
        };
        let scratch = Scratch::new();
        let script = scratch.write("completion", result.stdout().as_bytes());
        match std::process::Command::new(program)
            .arg(flag)
            .arg(&script)
            .output()
        {
            Ok(output) => assert!(
                output.status.success(),
                "{shell} rejects its completion: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(_) => assert_ne!(shell, "bash", "bash must be installed"),
        }
    }
    let bad = run(&["completions", "tcsh"], b"");
    assert_eq!(bad.code(), Some(2));
}

#[test]
fn the_manual_page_renders() {
    let result = run(&["man"], b"");
    assert_eq!(result.code(), Some(0));
    let page = result.stdout();
    assert!(
        page.starts_with(".ie") || page.contains(".TH"),
        "not roff: {}",
        &page[..page.len().min(200)]
    );
    assert!(
        page.contains("max\\-memory") || page.contains("max-memory"),
        "run's options are in it"
    );
    // groff parses it without warnings, where it is installed.
    if let Ok(mut groff) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let output = groff.wait_with_output().unwrap();
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "groff warnings"
        );
    }
}

#[test]
fn help_shows_whole_command_lines() {
    let main = run(&["--help"], b"");
    assert!(main.stdout().contains("Examples:"), "{}", main.stdout());
    assert!(main.stdout().contains("sandmap completions bash"));
    let run_help = run(&["run", "--help"], b"");
    let text = run_help.stdout();
    for example in [
        "-o out.txt",
        "--format jsonl --timeout 2s",
        "-- --algorithm",
        "--dir-rw",
        "--resume",
        "Exit status",
    ] {
        assert!(text.contains(example), "run --help lacks {example:?}");
    }
}

/// Runs sandmap with its stderr on a pseudo-terminal; returns what was
/// drawn there.
fn on_a_terminal(args: &[&str]) -> String {
    let (mut master, mut slave) = (0, 0);
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty");
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = sandmap()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        // Ends with EIO once the child has exited and the slave is closed.
        while let Ok(n) = file.read(&mut buffer) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    reader.join().unwrap()
}

#[test]
fn a_file_input_shows_a_percentage_on_a_terminal() {
    let scratch = Scratch::new();
    let lines: Vec<String> = (0..25).map(|_| "busy:40".to_string()).collect();
    let input = scratch.write("slow.txt", &join_lines(&lines));
    let drawn = on_a_terminal(&[
        "run",
        plugins::HOSTILE,
        input.to_str().unwrap(),
        "-j",
        "1",
        "-o",
        "/dev/null",
    ]);
    assert!(drawn.contains('%'), "no percentage: {drawn:?}");
    assert!(drawn.contains("records/s"), "{drawn:?}");
    assert!(drawn.contains("ETA"), "{drawn:?}");
    assert!(
        drawn.contains("25 ok, 0 failed"),
        "the summary follows: {drawn:?}"
    );
}
