//! `hostile-command`: a command plugin (plain `main`, stdin → stdout) that
//! misbehaves on request, to test how sandmap runs commands. It reads all
//! of stdin, the record, and acts on it (one trailing `\n` is ignored when
//! matching, for trying it by hand):
//!
//! | record         | behaviour                                              |
//! |----------------|--------------------------------------------------------|
//! | `exit:N`       | writes `failing with N\n` to stderr, exits with code N |
//! | `spin`         | loops forever                                          |
//! | `sleep`        | sleeps for an hour                                     |
//! | `flood`        | writes 100 MiB to stdout, exits 0                      |
//! | `stderr-flood` | writes 100 MiB to stderr, exits 1                      |
//! | `passwd`       | prints `/etc/passwd`, or the error to stderr and exits 2 |
//! | `argv`         | its arguments after argv[0], joined by spaces, and `\n` |
//! | `flood-forever`| 64 KiB writes to stdout forever; exits 3 if one fails  |
//! | `fsops:DIR`    | file and directory operations in DIR (below)           |
//! | `write:PATH`   | writes `written` to PATH, prints `written\n`           |
//! | `mkfile:PATH`  | creates PATH with `made`, leaves it, prints `made\n`   |
//! | `symlink-escape:DIR` | tries to read `/etc/passwd` through a link in DIR |
//! | `readfile:PATH`| prints PATH (blocks in the kernel on a writerless FIFO) |
//! | anything else  | echoes stdin to stdout                                 |
//!
//! wasmtime accepts exit codes 0 to 125 only: `exit:126` and above trap.
//!
//! `fsops:DIR` creates `a.txt` with `hello`, appends ` world`, renames it to
//! `b.txt`, reads it back, creates and removes a directory `sub`, removes
//! `b.txt`, and prints `fsops ok: hello world`. The first step that fails
//! goes to stderr with its OS error, and the command exits 4. `write` and
//! `mkfile` exit 5 on failure, `readfile` exits 2, each with the error on
//! stderr.
//!
//! `symlink-escape:DIR` tries to make the link `DIR/link` to `/etc`, then
//! (if refused) to a relative path that climbs out of DIR, and reads
//! `DIR/link/passwd` whether or not it made the link, so that a test can
//! plant the link on the host first (sandmap's grants are read-only). It
//! prints each step; it exits 0 if the read failed (contained), 7 after
//! printing the file if it succeeded (escaped).
//!
//! Build: `cargo build --release --target wasm32-wasip1 -p hostile-command`.

use std::fs;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::process::exit;
use std::time::Duration;

/// What a flood writes: 1,600 writes of 64 KiB.
const FLOOD_CHUNK: usize = 64 << 10;
const FLOOD_WRITES: usize = 1_600;

fn main() {
    let mut input = Vec::new();
    if let Err(e) = io::stdin().read_to_end(&mut input) {
        eprintln!("reading stdin: {e}");
        exit(2);
    }
    let record = input.strip_suffix(b"\n").unwrap_or(&input);
    match record {
        b"spin" => {
            let mut x = 0u64;
            loop {
                x = black_box(x.wrapping_add(1));
            }
        }
        b"sleep" => std::thread::sleep(Duration::from_secs(3600)),
        b"flood" => flood(&mut io::stdout().lock()),
        b"stderr-flood" => {
            flood(&mut io::stderr().lock());
            exit(1);
        }
        b"passwd" => match fs::read("/etc/passwd") {
            Ok(contents) => write_stdout(&contents),
            Err(e) => {
                eprintln!("cannot read /etc/passwd: {e}");
                exit(2);
            }
        },
        b"argv" => {
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect();
            write_stdout(format!("{}\n", args.join(" ")).as_bytes());
        }
        b"flood-forever" => {
            let chunk = vec![b'x'; FLOOD_CHUNK];
            let mut stdout = io::stdout().lock();
            loop {
                if stdout.write_all(&chunk).is_err() {
                    exit(3);
                }
            }
        }
        _ => {
            let Some((mode, arg)) = split_mode(record) else {
                return write_stdout(&input);
            };
            match mode {
                "exit" => match arg.parse() {
                    Ok(code) => {
                        eprintln!("failing with {code}");
                        exit(code);
                    }
                    Err(_) => write_stdout(&input),
                },
                "fsops" => fsops(arg),
                "write" => make_file(arg, "written"),
                "mkfile" => make_file(arg, "made"),
                "symlink-escape" => symlink_escape(arg),
                "readfile" => match fs::read(arg) {
                    Ok(contents) => write_stdout(&contents),
                    Err(e) => {
                        eprintln!("cannot read {arg}: {e}");
                        exit(2);
                    }
                },
                _ => write_stdout(&input),
            }
        }
    }
}

/// `MODE:ARG` as (MODE, ARG), when the record is UTF-8 and has a colon.
fn split_mode(record: &[u8]) -> Option<(&str, &str)> {
    std::str::from_utf8(record).ok()?.split_once(':')
}

/// Works on files in `dir` one step at a time; the first step that fails
/// is reported on stderr with the OS error, and the command exits 4.
fn fsops(dir: &str) {
    let a = format!("{dir}/a.txt");
    let b = format!("{dir}/b.txt");
    let sub = format!("{dir}/sub");
    let step = |name: &str, result: io::Result<()>| {
        if let Err(e) = result {
            eprintln!("fsops: {name}: {e}");
            exit(4);
        }
    };
    step("create a.txt", fs::write(&a, "hello"));
    step(
        "append to a.txt",
        fs::OpenOptions::new()
            .append(true)
            .open(&a)
            .and_then(|mut file| file.write_all(b" world")),
    );
    step("rename a.txt to b.txt", fs::rename(&a, &b));
    let mut contents = String::new();
    step(
        "read b.txt",
        fs::File::open(&b).and_then(|mut file| file.read_to_string(&mut contents).map(drop)),
    );
    step("create sub", fs::create_dir(&sub));
    step("remove sub", fs::remove_dir(&sub));
    step("remove b.txt", fs::remove_file(&b));
    write_stdout(format!("fsops ok: {contents}\n").as_bytes());
}

/// Writes `contents` to `path` and prints it with a newline; on failure
/// the error goes to stderr and the command exits 5.
fn make_file(path: &str, contents: &str) {
    if let Err(e) = fs::write(path, contents) {
        eprintln!("cannot write {path}: {e}");
        exit(5);
    }
    write_stdout(format!("{contents}\n").as_bytes());
}

/// Tries to reach the host's `/etc/passwd` through a symbolic link inside
/// `dir` (to `/etc`, else to a relative path that climbs out of `dir`),
/// and says how far it got.
fn symlink_escape(dir: &str) {
    let link = format!("{dir}/link");
    for target in ["/etc", "../../../../../../../../../../../../etc"] {
        match symlink_in(dir, target, "link") {
            Ok(()) => {
                println!("symlink {link} -> {target}: made");
                break;
            }
            Err(e) => println!("symlink {link} -> {target}: {e}"),
        }
    }
    let target = format!("{link}/passwd");
    match fs::read(&target) {
        Ok(contents) => {
            println!("read {target}: ESCAPED, {} bytes", contents.len());
            write_stdout(&contents);
            exit(7);
        }
        Err(e) => println!("read {target}: {e}"),
    }
}

fn flood(out: &mut impl Write) {
    let chunk = vec![b'x'; FLOOD_CHUNK];
    for _ in 0..FLOOD_WRITES {
        let _ = out.write_all(&chunk);
    }
    let _ = out.flush();
}

/// Makes the symbolic link `dir/name` → `target`, through WASI's
/// `path_symlink` (std's `symlink_path` is not stable yet).
fn symlink_in(dir: &str, target: &str, name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        /// Returns a WASI errno, 0 for success.
        fn path_symlink(
            old_path: *const u8,
            old_path_len: usize,
            fd: i32,
            new_path: *const u8,
            new_path_len: usize,
        ) -> u16;
    }

    let dir = fs::File::open(dir)?;
    // SAFETY: both pointers and lengths come from live `&str`s, and `fd`
    // is an open descriptor that `dir` owns for the whole call.
    let errno = unsafe {
        path_symlink(
            target.as_ptr(),
            target.len(),
            dir.as_raw_fd(),
            name.as_ptr(),
            name.len(),
        )
    };
    match errno {
        0 => Ok(()),
        // std on WASI takes WASI errno values as raw OS errors.
        errno => Err(io::Error::from_raw_os_error(errno.into())),
    }
}

fn write_stdout(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    if stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        exit(1);
    }
}
