//! # fuzz-cli-generate: completions and man pages from the clap definitions
//!
//! `fuzz-client generate KIND` (a subcommand, like replay and bisect) and
//! `fuzz-server --generate KIND` (a flag: the server has no subcommands) write a man page or a shell's completion script on stdout, made from the same clap `Command`
//! that parses their arguments, so neither can fall behind the options it describes. The kinds
//! are named as ripgrep names them (`man`, `complete-bash`, ...), so packagers need not learn a
//! second convention.

use clap::ValueEnum;
use clap_complete::Shell;
use std::io::{self, Write};

/// What `--generate` writes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A man page (roff): `fuzz-client generate man > fuzz-client.1`.
    Man,
    /// A bash completion script (for example into /etc/bash_completion.d/).
    CompleteBash,
    /// A zsh completion script (a `_fuzz-client` file in a directory of `$fpath`).
    CompleteZsh,
    /// A fish completion script (into ~/.config/fish/completions/).
    CompleteFish,
    /// A PowerShell completion script.
    CompletePowershell,
    /// An elvish completion script.
    CompleteElvish,
}

/// Writes what `kind` names for `command` (a binary's `clap::CommandFactory::command()`).
pub fn generate(kind: Kind, mut command: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let name = command.get_name().to_string();
    let shell = match kind {
        Kind::Man => return clap_mangen::Man::new(command).render(out),
        Kind::CompleteBash => Shell::Bash,
        Kind::CompleteZsh => Shell::Zsh,
        Kind::CompleteFish => Shell::Fish,
        Kind::CompletePowershell => Shell::PowerShell,
        Kind::CompleteElvish => Shell::Elvish,
    };
    clap_complete::generate(shell, &mut command, name, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> clap::Command {
        clap::Command::new("demo")
            .about("a demo")
            .arg(clap::Arg::new("concurrency").long("concurrency").help("connections at once"))
    }

    #[test]
    fn the_man_page_and_every_completion_name_the_options() {
        let mut man = Vec::new();
        generate(Kind::Man, demo(), &mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(man.starts_with(".ie") || man.contains(".TH demo"), "{man}");
        assert!(man.contains("concurrency"), "{man}");
        for kind in Kind::value_variants().iter().filter(|k| **k != Kind::Man) {
            let mut script = Vec::new();
            generate(*kind, demo(), &mut script).unwrap();
            let script = String::from_utf8(script).unwrap();
            assert!(script.contains("concurrency"), "{kind:?}: {script}");
        }
    }
}
