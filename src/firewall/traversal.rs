//! Path traversal and local file inclusion: `../` however encoded or slashed, names of the
//! operating system's files, the files a web root must never serve, and XML external entities.

use super::normalize::{contains_any, has_word, Present};

pub const TRAVERSAL: u32 = 930100;
pub const ENCODED_TRAVERSAL: u32 = 930110;
pub const OS_FILE: u32 = 930120;
pub const RESTRICTED_FILE: u32 = 930130;
pub const FILE_SCHEME: u32 = 930140;
pub const EXTERNAL_ENTITY: u32 = 930150;

const OS_FILES: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/hosts",
    "etc/issue",
    "etc/sudoers",
    "etc/crontab",
    "etc/mysql/my.cnf",
    "proc/self/",
    "proc/version",
    "proc/1/",
    "var/log/auth.log",
    "var/log/apache2/",
    "var/log/nginx/",
    "root/.bash_history",
    ".ssh/id_rsa",
    ".ssh/authorized_keys",
    "windows/win.ini",
    "windows/system.ini",
    "win.ini",
    "boot.ini",
    "windows/system32",
    "winnt/system32",
    "inetpub/wwwroot",
    "system32/drivers/etc",
    "autoexec.bat",
];
/// Files a web root must never serve, matched as path segments.
const RESTRICTED: &[&str] = &[
    ".git",
    ".svn",
    ".hg",
    ".env",
    ".htaccess",
    ".htpasswd",
    ".aws",
    ".ssh",
    ".bash_history",
    ".ds_store",
    ".npmrc",
    ".dockerenv",
    "web.config",
    "wp-config.php",
    "config.php.bak",
    "id_rsa",
    "docker-compose.yml",
    ".travis.yml",
    "phpinfo.php",
    "server-status",
];

/// Traversal and file names in a decoded value; `raw` is the value before decoding.
pub fn detect(raw: &str, folded: &str, path: bool, hits: &mut Vec<u32>) {
    if raw.contains('%') {
        let lowered = raw.to_ascii_lowercase();
        let encoded = [
            "%2e%2e", "%252e", "..%2f", "..%5c", "%c0%ae", "%c0%af", "%uff0e", "%u2216", ".%2e",
            "%2e.",
        ];
        if contains_any(&lowered, &encoded) {
            hits.push(ENCODED_TRAVERSAL);
        }
    }
    let present = Present::of(folded);
    if present.any(b"<") && folded.contains("<!entity") {
        external_entity(folded, hits);
    }
    // Every name below holds a dot or a slash.
    if !path && !present.any(b"./\\") {
        return;
    }
    let slashed = super::normalize::slashes(folded);
    let parent = slashed
        .match_indices("../")
        .any(|(at, _)| at == 0 || slashed.as_bytes()[at - 1] != b'.')
        || slashed.ends_with("/..")
        || slashed == ".."
        || slashed.contains("..;/");
    if parent {
        hits.push(TRAVERSAL);
    }
    let os_words = [
        "etc", "proc", "var", "root", "ssh", "windows", "win", "boot", "winnt", "inetpub",
        "system32", "autoexec",
    ];
    let os_file = present.any(b"/\\")
        && has_word(folded, &os_words)
        && OS_FILES.iter().any(|f| {
            slashed
                .match_indices(f)
                .any(|(at, _)| at == 0 || matches!(slashed.as_bytes()[at - 1], b'/' | b':' | b'='))
        });
    if os_file {
        hits.push(OS_FILE);
    }
    // In the request's path every segment counts; in a value, only a path-like one does.
    if path || slashed.contains('/') {
        let resolved = super::normalize::resolve_dots(&slashed);
        let restricted = resolved.split('/').any(|segment| {
            let named = segment.contains('.')
                || segment == "id_rsa"
                || segment.starts_with("server-status");
            named
                && RESTRICTED.iter().any(|r| {
                    segment == *r
                        || (segment.starts_with(r) && segment[r.len()..].starts_with(['.', '~']))
                })
        });
        if restricted {
            hits.push(RESTRICTED_FILE);
        }
    }
    if present.any(b":") && slashed.contains("file:/") {
        hits.push(FILE_SCHEME);
    }
}

fn external_entity(folded: &str, hits: &mut Vec<u32>) {
    if folded.contains(" system ") || folded.contains(" public ") {
        hits.push(EXTERNAL_ENTITY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::normalize::{decode, fold};

    fn rules(raw: &str, path: bool) -> Vec<u32> {
        let mut hits = Vec::new();
        detect(raw, &fold(&decode(raw, !path).0), path, &mut hits);
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    #[test]
    fn traversal_however_written() {
        assert!(rules("../../etc/passwd", false).contains(&TRAVERSAL));
        assert!(rules("..%2f..%2fetc%2fpasswd", false).contains(&ENCODED_TRAVERSAL));
        assert!(rules("%252e%252e%252fboot.ini", false).contains(&TRAVERSAL));
        assert!(rules("..\\..\\windows\\win.ini", false).contains(&OS_FILE));
        assert!(rules("/etc/passwd", false).contains(&OS_FILE));
        assert!(rules("/.git/config", true).contains(&RESTRICTED_FILE));
        assert!(rules("/app/.env", true).contains(&RESTRICTED_FILE));
        assert!(rules("/x/./web.config", true).contains(&RESTRICTED_FILE));
        assert!(rules("file:///etc/hosts", false).contains(&FILE_SCHEME));
        assert!(rules(
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
            false
        )
        .contains(&EXTERNAL_ENTITY));
    }

    #[test]
    fn ordinary_paths_pass() {
        for benign in [
            "docs/guide/intro.md",
            "/users/42/avatar.png",
            "wait... what?",
            "C:/Users/ann/Documents/report.pdf",
            "environment",
            "my.env.example",
            "/static/app.js",
        ] {
            assert_eq!(rules(benign, false), Vec::<u32>::new(), "{benign} refused");
        }
        assert_eq!(rules("/api/.well-known/jwks.json", true), Vec::<u32>::new());
    }
}
