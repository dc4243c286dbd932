//! The documentation runs: every `sh` block of README.md and docs/guide.md is executed, in
//! order, in one bash session per page, against the `tailor` this build made (on `PATH`) and
//! a server the page itself starts. Only the port changes (`localhost:8080` becomes a free
//! loopback port, which `TAILOR__LISTEN` also gives every `tailor` command). Every command
//! must succeed; every `curl` must answer 2xx, or exactly the status its `# -> NNN` comment
//! documents. A block preceded by `<!-- doc-test: skip … -->` is not run (the comment says
//! why). A failure names the page and line of the command.

use std::path::Path;
use std::process::Command;

use crate::common::free_port;

/// One logical shell command: its first line number and its text (continuation lines and
/// multi-line quoted strings included), with the HTTP status its comments document.
struct Step {
    line: usize,
    text: String,
    expect: Option<String>,
}

/// The `sh` blocks of a Markdown page that are meant to run.
fn blocks(page: &str) -> Vec<Vec<(usize, String)>> {
    let mut out = Vec::new();
    // Inside a fence: `Some(lines)` for a block that runs, `None` for one that does not.
    let mut inside: Option<Option<Vec<(usize, String)>>> = None;
    let mut previous = "";
    for (i, line) in page.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match &mut inside {
            Some(block) if fence => {
                out.extend(block.take());
                inside = None;
            }
            Some(Some(block)) => block.push((i + 1, line.to_owned())),
            Some(None) => {}
            None if fence => {
                let lang = line.trim_start().trim_start_matches('`').trim();
                let skip = previous.trim_start().starts_with("<!-- doc-test: skip");
                let runs = matches!(lang, "sh" | "bash" | "shell") && !skip;
                inside = Some(runs.then(Vec::new));
            }
            None => {}
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    out
}

/// Splits a block into commands: a line ending in `\` or inside an open quote continues.
fn steps(block: &[(usize, String)]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut open: Option<Step> = None;
    let (mut single, mut double) = (false, false);
    let mut heredoc: Option<String> = None;
    for (no, line) in block {
        if let Some(end) = &heredoc {
            let step = open.as_mut().expect("a heredoc belongs to a command");
            step.text.push_str(line);
            step.text.push('\n');
            if line.trim() == end {
                heredoc = None;
                steps.extend(open.take());
            }
            continue;
        }
        let comment_only = !single && !double && line.trim_start().starts_with('#');
        if comment_only {
            // `# -> 409 …` documents the status of the command before it.
            if let (Some(last), Some(code)) = (steps.last_mut(), documented_status(line)) {
                last.expect.get_or_insert(code);
            }
            continue;
        }
        let step = open.get_or_insert_with(|| Step {
            line: *no,
            text: String::new(),
            expect: None,
        });
        step.text.push_str(line);
        step.text.push('\n');
        let mut comment_at = None;
        let mut escaped = false;
        for (at, c) in line.char_indices() {
            match c {
                '\\' if double && !escaped => {
                    escaped = true;
                    continue;
                }
                '\'' if !double => single = !single,
                '"' if !single && !escaped => double = !double,
                '#' if !single && !double && (at == 0 || line[..at].ends_with(' ')) => {
                    comment_at = Some(at);
                    break;
                }
                _ => {}
            }
            escaped = false;
        }
        if let Some(at) = comment_at {
            if let Some(code) = documented_status(&line[at..]) {
                step.expect = Some(code);
            }
        }
        let code = comment_at.map_or(line.as_str(), |at| &line[..at]);
        if let Some(at) = code.find("<<") {
            let word: String = code[at + 2..]
                .trim_start_matches('-')
                .trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() {
                heredoc = Some(word);
                continue;
            }
        }
        if single || double || code.trim_end().ends_with('\\') {
            continue;
        }
        steps.extend(open.take());
    }
    assert!(open.is_none(), "unterminated command in block");
    steps
}

/// `# -> 409 {…}` → `409`.
fn documented_status(comment: &str) -> Option<String> {
    let rest = comment
        .trim_start_matches('#')
        .trim_start()
        .strip_prefix("->")?;
    let code: String = rest.trim_start().chars().take(3).collect();
    let longer = rest
        .trim_start()
        .chars()
        .nth(3)
        .is_some_and(|c| c.is_ascii_digit());
    (code.len() == 3 && code.chars().all(|c| c.is_ascii_digit()) && !longer).then_some(code)
}

const PRELUDE: &str = r#"set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
# Every curl of the page: its body on stdout, and a failure unless it answers 2xx or the
# status the page documents for it.
curl() {
    local body code want
    body=$(mktemp)
    code=$(command curl -sS -o "$body" -w '%{http_code}' "$@") || { echo "curl failed: curl $*" >&2; cat "$body" >&2; rm -f "$body"; return 1; }
    cat "$body"; echo
    rm -f "$body"
    want="${DOC_EXPECT:-2xx}"
    if [ "$want" = 2xx ]; then
        if [ "$code" -lt 200 ] || [ "$code" -ge 300 ]; then echo "HTTP $code for: curl $*" >&2; return 1; fi
    elif [ "$code" != "$want" ]; then
        echo "HTTP $code (the page documents $want) for: curl $*" >&2; return 1
    fi
}
"#;

/// Runs the page's blocks as one script in an empty directory; panics with the failing
/// command's page and line.
fn run_page(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let page = std::fs::read_to_string(root.join(name)).expect("page");
    let port = free_port();
    let mut script = String::from(PRELUDE);
    let mut count = 0;
    for block in blocks(&page) {
        for step in steps(&block) {
            count += 1;
            let text = step
                .text
                .replace("localhost:8080", &format!("127.0.0.1:{port}"))
                .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
            script.push_str(&format!("echo '+ {name}:{}' >&2\n", step.line));
            match &step.expect {
                Some(code) => script.push_str(&format!("export DOC_EXPECT={code}\n")),
                None => script.push_str("unset DOC_EXPECT\n"),
            }
            script.push_str(&text);
        }
    }
    assert!(count > 10, "{name}: only {count} commands found");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("doc.sh"), &script).expect("script");
    // Kept for reading after a failure.
    let artifacts = root.join("target/test-artifacts");
    let _ = std::fs::create_dir_all(&artifacts);
    let _ = std::fs::write(
        artifacts.join(format!("doc-{}.sh", name.replace('/', "-"))),
        &script,
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_tailor"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["--kill-after=10", "600", "bash", "doc.sh"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("TAILOR__LISTEN", format!("127.0.0.1:{port}"))
        .env("TAILOR_LOG", "warn")
        .env_remove("TAILOR_API_KEY")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{name}: a documented command failed ({}); the last lines (`+ page:line` marks each command):\n{}\nstdout tail:\n{}",
        out.status,
        last_lines(&out.stderr, 40),
        last_lines(&out.stdout, 20)
    );
}

/// The last `n` lines of a command's output.
fn last_lines(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn readme_runs_as_written() {
    run_page("README.md");
}

#[test]
fn user_guide_runs_as_written() {
    run_page("docs/guide.md");
}

#[test]
fn commands_split_at_continuations_quotes_and_comments() {
    let block: Vec<(usize, String)> = [
        "curl -s x -d '{",
        "  \"a\": \"#not a comment\"}'",
        "# -> 409 {\"code\":\"x\"}",
        "tailor keys add \\",
        "  --kind secret   # -> 201 is not checked for tailor",
        "cat > t.toml <<'EOF'",
        "# inside",
        "EOF",
        "echo done",
    ]
    .iter()
    .enumerate()
    .map(|(i, l)| (i + 1, (*l).to_owned()))
    .collect();
    let s = steps(&block);
    assert_eq!(s.len(), 4);
    assert_eq!((s[0].line, s[0].expect.as_deref()), (1, Some("409")));
    assert_eq!((s[1].line, s[1].expect.as_deref()), (4, Some("201")));
    assert_eq!(s[2].text, "cat > t.toml <<'EOF'\n# inside\nEOF\n");
    assert_eq!((s[3].line, s[3].expect.as_deref()), (9, None));
    let page = "a\n<!-- doc-test: skip (needs a dataset) -->\n```sh\nskipped\n```\n```toml\nx = 1\n```\n```sh\nrun me\n```\n";
    let b = blocks(page);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0], vec![(10, "run me".to_owned())]);
}
