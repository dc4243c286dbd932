//! The command-line definition as a whole: every command and argument documented, every
//! example in `--help` parses, the value enums keep the spellings users already type, and
//! the completion scripts name the commands.

use clap::{CommandFactory, Parser};

use crate::commands::serve::RoleArg;
use crate::{Cli, Command};

/// Every command of the tree, with its path (`tailor keys add`).
fn commands() -> Vec<(String, clap::Command)> {
    fn walk(path: &str, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        let path = format!("{path} {}", cmd.get_name()).trim().to_owned();
        out.push((path.clone(), cmd.clone()));
        for sub in cmd.get_subcommands() {
            walk(&path, sub, out);
        }
    }
    let mut out = Vec::new();
    walk("", &Cli::command(), &mut out);
    out
}

#[test]
fn the_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_command_and_argument_has_help() {
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        // clap's own `help` subcommand is documented by clap.
        if cmd.get_name() == "help" {
            continue;
        }
        if cmd.get_about().is_none() {
            missing.push(format!("`{path}`: no about"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("`{path}`: argument {id} has no help"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}

/// Splits one example line as a POSIX shell would for these simple cases: words, "double"
/// and 'single' quotes, `VAR=value` prefixes dropped, and the line cut at a pipe or
/// redirection.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '|' | '>') => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    let assignment = |w: &String| w.contains('=') && !w.starts_with('-');
    let start = words
        .iter()
        .position(|w| !assignment(w))
        .unwrap_or(words.len());
    words.split_off(start)
}

#[test]
fn shell_words_splits_like_a_shell() {
    assert_eq!(
        shell_words(r#"A=b tailor sql "SELECT 1" --format csv > x.csv"#),
        ["tailor", "sql", "SELECT 1", "--format", "csv"]
    );
    assert_eq!(
        shell_words("tailor log dump | jq ."),
        ["tailor", "log", "dump"]
    );
}

#[test]
fn every_example_in_help_parses() {
    let mut examples = 0;
    let mut bad = Vec::new();
    for (path, cmd) in commands() {
        let Some(after) = cmd.get_after_help() else {
            continue;
        };
        for line in after.to_string().lines() {
            let words = shell_words(line);
            if words.first().map(String::as_str) != Some("tailor") {
                continue;
            }
            examples += 1;
            if let Err(e) = Cli::try_parse_from(&words) {
                bad.push(format!("`{path}` example `{}`: {e}", line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(examples > 40, "only {examples} examples found");
}

#[test]
fn the_main_commands_show_examples() {
    let cli = Cli::command();
    for name in [
        "serve", "demo", "import", "items", "keys", "sql", "eval", "train", "models", "forget",
        "schema", "bench", "log", "features",
    ] {
        let cmd = cli
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("no command {name}"));
        let help = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let count = help
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("tailor {name}")))
            .count();
        assert!(count >= 2, "`tailor {name} --help` shows {count} examples");
    }
}

#[test]
fn value_enums_list_the_valid_values() {
    let e = Cli::try_parse_from(["tailor", "sql", "SELECT 1", "--format", "xml"])
        .expect_err("xml is no format");
    let text = e.to_string();
    assert!(
        text.contains("table") && text.contains("csv") && text.contains("json"),
        "{text}"
    );
    let e = Cli::try_parse_from(["tailor", "keys", "add", "--kind", "admin", "--name", "x"])
        .expect_err("admin is no kind");
    assert!(
        e.to_string().contains("[possible values: write, secret]"),
        "{e}"
    );
    let e = Cli::try_parse_from(["tailor", "serve", "--roles", "collector,web"])
        .expect_err("web is no role");
    assert!(e.to_string().contains("processor"), "{e}");
}

#[test]
fn value_enums_keep_the_spellings_in_use() {
    for args in [
        &["tailor", "sql", "SELECT 1", "--format", "text"][..],
        &["tailor", "sql", "SELECT 1", "--format", "json"],
        &["tailor", "train", "--mode", "incremental"],
        &["tailor", "keys", "add", "--kind", "secret", "--name", "ops"],
        &[
            "tailor",
            "schema",
            "add",
            "S",
            "s.json",
            "--compatibility",
            "backward",
        ],
        &[
            "tailor",
            "schema",
            "add",
            "S",
            "s.json",
            "--compatibility",
            "FULL",
        ],
        &["tailor", "import", "f", "--format", "ndjson"],
        &[
            "tailor",
            "import",
            "f",
            "--format",
            "csv",
            "--time-format",
            "unix",
        ],
        &["tailor", "items", "import", "f", "--format", "csv"],
        &[
            "tailor",
            "eval",
            "--dataset",
            "d",
            "--protocol",
            "next-basket",
        ],
        &["tailor", "serve", "--roles", "all"],
        &["tailor", "--log-format", "json", "serve"],
    ] {
        if let Err(e) = Cli::try_parse_from(args) {
            panic!("{args:?}: {e}");
        }
    }
}

#[test]
fn roles_flag_becomes_the_roles() {
    let Ok(Cli {
        command: Command::Serve { roles, .. },
        ..
    }) = Cli::try_parse_from(["tailor", "serve", "--roles", "collector,lake,api"])
    else {
        panic!("serve --roles collector,lake,api");
    };
    let r = crate::commands::serve::roles(&roles).expect("roles");
    let names: Vec<&str> = r.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["collector", "lake", "api"]);
    let all = crate::commands::serve::roles(&[RoleArg::Api, RoleArg::All]).expect("all");
    assert!(all.is_all());
}

#[test]
fn bash_completions_name_the_commands() {
    let mut out = Vec::new();
    crate::commands::completions::write(clap_complete::Shell::Bash, &mut Cli::command(), &mut out);
    let script = String::from_utf8(out).expect("utf-8");
    for word in [
        "serve",
        "demo",
        "import",
        "completions",
        "dead-letters",
        "segment-ndjson",
    ] {
        assert!(script.contains(word), "bash completions lack {word}");
    }
    for shell in [
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
        clap_complete::Shell::PowerShell,
        clap_complete::Shell::Elvish,
    ] {
        let mut out = Vec::new();
        crate::commands::completions::write(shell, &mut Cli::command(), &mut out);
        assert!(
            String::from_utf8_lossy(&out).contains("serve"),
            "{shell} completions"
        );
    }
}
