//! `tailor completions SHELL`: a completion script for tailor's commands, options and their
//! values (the value enums: `--format`, `--kind`, `--mode`, `--roles`, ...), from the same
//! clap definition the binary parses with.

use std::io::Write;

use clap_complete::Shell;

pub const EXAMPLES: &str = "Examples:
  tailor completions bash > ~/.local/share/bash-completion/completions/tailor
  tailor completions zsh > ~/.zfunc/_tailor
  tailor completions fish > ~/.config/fish/completions/tailor.fish
  tailor completions powershell >> $PROFILE";

/// Writes the script for `shell` to `out`.
pub fn write(shell: Shell, cmd: &mut clap::Command, out: &mut dyn Write) {
    clap_complete::generate(shell, cmd, "tailor", out);
}

/// Prints the script for `shell` on standard output. A closed pipe (`| head`) ends it
/// quietly; clap_complete would panic writing to it, so the script is built first.
pub fn run(shell: Shell, cmd: &mut clap::Command) -> anyhow::Result<()> {
    let mut script = Vec::new();
    write(shell, cmd, &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}
