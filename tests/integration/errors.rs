//! Bad input through the real binary: one line on stderr naming the input and the problem, exit
//! status 1 (2 for usage errors), no panic, and no output file left looking complete.

use crate::{path_str, run, temp_file};

/// Runs pframe expecting failure; returns (exit code, stderr).
fn fail(args: &[&str], stdin: Option<&[u8]>) -> (i32, String) {
    let out = run(args, stdin);
    assert!(!out.status.success(), "pframe {args:?} should have failed");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().expect("exited, not killed"), stderr)
}

#[test]
fn missing_file() {
    let (code, err) = fail(&["count", "no/such/file.txt"], None);
    assert_eq!((code, err.as_str()), (1, "pframe: no/such/file.txt: no such file\n"));
}

#[test]
fn directory() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fail(&["count", path_str(dir.path())], None);
    assert_eq!((code, err), (1, format!("pframe: {}: is a directory\n", dir.path().display())));
}

#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, path) = temp_file("secret.txt", b"abc\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads any file, so as root run pframe as `nobody` (who may enter the directory).
    let is_root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
    let out = if is_root {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = std::process::Command::new("runuser")
            .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_pframe"), "count", path_str(&path)])
            .output();
        match status {
            Ok(o) if !String::from_utf8_lossy(&o.stderr).contains("runuser:") => o,
            _ => {
                eprintln!("skipped: running as root and cannot drop privileges with runuser");
                return;
            }
        }
    } else {
        run(&["count", path_str(&path)], None)
    };
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), format!("pframe: {}: permission denied\n", path.display()));
}

#[test]
fn invalid_utf8_under_chars_names_line_and_offset() {
    let input = b"fine\r\nalso fine\nbad \xff byte\n";
    let (_d, path) = temp_file("bad.txt", input);
    for engine in ["serial", "parallel", "polars"] {
        for size in ["1", "4096"] {
            let (code, err) =
                fail(&["count", "-u", "chars", "-e", engine, "--chunk-size", size, path_str(&path)], None);
            assert_eq!(code, 1);
            assert_eq!(
                err,
                format!(
                    "pframe: {}: line 3, byte offset 20: invalid UTF-8 (use --lossy to count it as U+FFFD)\n",
                    path.display()
                ),
                "engine {engine}, chunk size {size}"
            );
        }
    }
    let (_, err) = fail(&["count", "-u", "chars", "-"], Some(input));
    assert_eq!(err, "pframe: <stdin>: line 3, byte offset 20: invalid UTF-8 (use --lossy to count it as U+FFFD)\n");
    // Letters are defined on any bytes: invalid ones are simply not letters.
    assert!(run(&["count", path_str(&path)], None).status.success());
}

#[test]
fn a_failed_run_leaves_no_output_file() {
    let (dir, path) = temp_file("bad.txt", b"ok\n\xff\n");
    let out = dir.path().join("out.csv");
    fail(&["count", "-u", "chars", "-o", path_str(&out), path_str(&path)], None);
    assert!(!out.exists());
    std::fs::write(&out, "previous result\n").unwrap();
    fail(&["count", "-u", "words", "-o", path_str(&out), path_str(&path)], None);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous result\n", "an existing file is untouched");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}

#[test]
fn bad_chunk_size() {
    let (_d, path) = temp_file("t.txt", b"abc\n");
    for bad in ["0", "12XB", "lots"] {
        let (code, err) = fail(&["count", "--chunk-size", bad, path_str(&path)], None);
        assert_eq!(code, 1);
        assert!(err.starts_with(&format!("pframe: --chunk-size: invalid size \"{bad}\": ")), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (_d, path) = temp_file("t.txt", b"abc\n");
    assert_eq!(fail(&["count", "-u", "syllables", path_str(&path)], None).0, 2);
    assert_eq!(fail(&["count", "-e", "gpu", path_str(&path)], None).0, 2);
    assert_eq!(fail(&["count", "-j", "0", path_str(&path)], None).0, 2);
    assert_eq!(fail(&["frobnicate"], None).0, 2);
}

#[test]
fn a_missing_file_among_several_fails_the_run() {
    let (_d, path) = temp_file("t.txt", b"abc\n");
    let (code, err) = fail(&["count", path_str(&path), "missing.txt"], None);
    assert_eq!((code, err.as_str()), (1, "pframe: missing.txt: no such file\n"));
}

#[test]
fn output_into_a_missing_directory() {
    let (dir, path) = temp_file("t.txt", b"abc\n");
    let out = dir.path().join("no/such/dir/out.csv");
    let (code, err) = fail(&["count", "-o", path_str(&out), path_str(&path)], None);
    assert_eq!(code, 1);
    assert_eq!(err, format!("pframe: {}: cannot create output file: its directory does not exist\n", out.display()));
}

/// A named pipe or a symbolic link given to `-o` is written through, not replaced by a file (as
/// root, a rename over `-o /dev/null` would replace the device itself).
#[test]
fn output_into_a_pipe_or_a_link_writes_through_it() {
    let (dir, path) = temp_file("t.txt", b"abc\n");
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let direct = crate::run_ok(&["count", "-u", "lines", path_str(&path)], None);
    assert!(run(&["count", "-u", "lines", "-o", path_str(&fifo), path_str(&path)], None).status.success());
    // Checked before joining the reader, which a replaced pipe would leave waiting.
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind), "the pipe is still a pipe");
    assert_eq!(reader.join().unwrap(), direct);

    let target = dir.path().join("target.csv");
    std::fs::write(&target, "old\n").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(run(&["count", "-u", "lines", "-o", path_str(&link), path_str(&path)], None).status.success());
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), direct);
}
