//! How a member process is started: plainly, in a network namespace (`ip netns exec NS`),
//! pinned to CPUs (`taskset -c CPUS`), or under any other wrapper (`faketime -f -1h`). The
//! launcher owns everything else (configs, process groups, stop and kill); this is the one
//! part callers plug in.

use std::path::Path;
use std::process::Command;

/// The command a member (or any server the testkit starts) runs under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Launch {
    /// `PROGRAM ARGS…`.
    #[default]
    Plain,
    /// `WRAPPER… PROGRAM ARGS…`: the first word is the program that runs, the rest its
    /// arguments before ours.
    Wrapped(Vec<String>),
}

impl Launch {
    /// Inside network namespace `ns` (root only).
    pub fn netns(ns: &str) -> Self {
        Self::Wrapped(vec!["ip".into(), "netns".into(), "exec".into(), ns.into()])
    }

    /// Pinned to `cpus` (a `taskset -c` list such as `1` or `0-1`).
    pub fn taskset(cpus: &str) -> Self {
        Self::Wrapped(vec!["taskset".into(), "-c".into(), cpus.into()])
    }

    /// Under `words` (e.g. `["faketime", "-f", "-1h"]`); no words: [`Launch::Plain`].
    pub fn wrapper(words: Vec<String>) -> Self {
        if words.is_empty() {
            Self::Plain
        } else {
            Self::Wrapped(words)
        }
    }

    /// The command that runs `program` this way; the caller adds the arguments.
    pub fn command(&self, program: &Path) -> Command {
        match self {
            Self::Wrapped(words) if !words.is_empty() => {
                let mut c = Command::new(&words[0]);
                c.args(&words[1..]).arg(program);
                c
            }
            _ => Command::new(program),
        }
    }

    /// `taskset -c 1 /path/ass-node`, for messages.
    pub fn describe(&self, program: &Path) -> String {
        match self {
            Self::Wrapped(words) if !words.is_empty() => {
                format!("{} {}", words.join(" "), program.display())
            }
            _ => program.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_come_before_the_program() {
        let exe = Path::new("/bin/ass-node");
        let c = Launch::taskset("0-1").command(exe);
        assert_eq!(c.get_program(), "taskset");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["-c", "0-1", "/bin/ass-node"]);
        let c = Launch::netns("asschaos-n1").command(exe);
        assert_eq!(c.get_program(), "ip");
        assert_eq!(
            c.get_args().collect::<Vec<_>>(),
            ["netns", "exec", "asschaos-n1", "/bin/ass-node"]
        );
        assert_eq!(Launch::wrapper(Vec::new()), Launch::Plain);
        assert_eq!(Launch::Plain.command(exe).get_program(), "/bin/ass-node");
        assert_eq!(Launch::taskset("1").describe(exe), "taskset -c 1 /bin/ass-node");
    }
}
