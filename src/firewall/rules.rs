//! The built-in rules: each has a stable id (grouped by class in the manner of the OWASP Core
//! Rule Set's numbering), the lowest paranoia level it runs at, and the anomaly score it adds.

use super::{inject, protocol, sqli, ssrf, traversal, xss};

/// What kind of attack a rule detects; also a name that exclusions can use for all its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Protocol,
    Scanner,
    Lfi,
    Rce,
    Php,
    Node,
    Java,
    Ssrf,
    Xss,
    Sqli,
}

impl Class {
    pub const ALL: [Class; 10] = [
        Class::Protocol,
        Class::Scanner,
        Class::Lfi,
        Class::Rce,
        Class::Php,
        Class::Node,
        Class::Java,
        Class::Ssrf,
        Class::Xss,
        Class::Sqli,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::Protocol => "protocol",
            Class::Scanner => "scanner",
            Class::Lfi => "lfi",
            Class::Rce => "rce",
            Class::Php => "php",
            Class::Node => "node",
            Class::Java => "java",
            Class::Ssrf => "ssrf",
            Class::Xss => "xss",
            Class::Sqli => "sqli",
        }
    }

    pub fn parse(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Anomaly scores, as the Core Rule Set weighs them.
pub const CRITICAL: u32 = 5;
pub const ERROR: u32 = 4;
pub const WARNING: u32 = 3;
pub const NOTICE: u32 = 2;

/// One built-in rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: u32,
    pub class: Class,
    /// The lowest paranoia level (1-4) it runs at.
    pub level: u8,
    pub score: u32,
    pub title: &'static str,
}

const fn rule(id: u32, class: Class, level: u8, score: u32, title: &'static str) -> Rule {
    Rule {
        id,
        class,
        level,
        score,
        title,
    }
}

use Class::*;

pub const RULES: &[Rule] = &[
    rule(
        protocol::METHOD,
        Protocol,
        1,
        CRITICAL,
        "Method no API takes (TRACE, TRACK, DEBUG, …)",
    ),
    rule(
        protocol::SMUGGLING,
        Protocol,
        1,
        CRITICAL,
        "Content-Length and Transfer-Encoding together (request smuggling)",
    ),
    rule(
        protocol::LENGTHS,
        Protocol,
        1,
        CRITICAL,
        "Conflicting or malformed Content-Length",
    ),
    rule(
        protocol::TRANSFER_ENCODING,
        Protocol,
        1,
        CRITICAL,
        "Transfer-Encoding other than chunked",
    ),
    rule(
        protocol::BAD_PERCENT,
        Protocol,
        1,
        WARNING,
        "Invalid percent-encoding",
    ),
    rule(
        protocol::MULTIPLE_ENCODING,
        Protocol,
        2,
        WARNING,
        "Percent-encoding applied more than once",
    ),
    rule(
        protocol::OVERLONG,
        Protocol,
        1,
        CRITICAL,
        "Overlong UTF-8 encoding",
    ),
    rule(
        protocol::INVALID_UTF8,
        Protocol,
        2,
        WARNING,
        "Bytes that are not UTF-8",
    ),
    rule(protocol::NUL, Protocol, 1, CRITICAL, "NUL byte"),
    rule(
        protocol::CONTROL,
        Protocol,
        2,
        WARNING,
        "Control characters",
    ),
    rule(
        protocol::LINE_BREAK,
        Protocol,
        1,
        CRITICAL,
        "CR or LF in a value (header or log injection)",
    ),
    rule(
        protocol::NO_USER_AGENT,
        Protocol,
        2,
        NOTICE,
        "No User-Agent",
    ),
    rule(
        protocol::BODY_TOO_LARGE,
        Protocol,
        1,
        CRITICAL,
        "Body larger than the inspection limit",
    ),
    rule(
        protocol::BODY_MALFORMED,
        Protocol,
        1,
        CRITICAL,
        "Body that does not parse as its Content-Type",
    ),
    rule(
        protocol::SCANNER_AGENT,
        Scanner,
        1,
        CRITICAL,
        "Security scanner's User-Agent",
    ),
    rule(
        protocol::SCANNER_HEADER,
        Scanner,
        1,
        CRITICAL,
        "Security scanner's header",
    ),
    rule(
        traversal::TRAVERSAL,
        Lfi,
        1,
        CRITICAL,
        "Path traversal (../)",
    ),
    rule(
        traversal::ENCODED_TRAVERSAL,
        Lfi,
        1,
        CRITICAL,
        "Encoded path traversal",
    ),
    rule(
        traversal::OS_FILE,
        Lfi,
        1,
        CRITICAL,
        "Operating system file",
    ),
    rule(
        traversal::RESTRICTED_FILE,
        Lfi,
        1,
        CRITICAL,
        "Restricted file (.git, .env, web.config, …)",
    ),
    rule(traversal::FILE_SCHEME, Lfi, 1, CRITICAL, "file: URL"),
    rule(
        traversal::EXTERNAL_ENTITY,
        Lfi,
        1,
        CRITICAL,
        "XML external entity",
    ),
    rule(
        inject::UNIX_COMMAND,
        Rce,
        1,
        CRITICAL,
        "Unix command after a shell separator",
    ),
    rule(
        inject::WINDOWS_COMMAND,
        Rce,
        1,
        CRITICAL,
        "Windows command after a separator",
    ),
    rule(
        inject::SUBSTITUTION,
        Rce,
        1,
        CRITICAL,
        "Shell command substitution",
    ),
    rule(
        inject::SHELL_EVASION,
        Rce,
        1,
        CRITICAL,
        "Shell evasion ($IFS)",
    ),
    rule(
        inject::SHELL_PATH,
        Rce,
        1,
        CRITICAL,
        "Shell or socket device path",
    ),
    rule(
        inject::WINDOWS_SHELL,
        Rce,
        1,
        CRITICAL,
        "cmd or PowerShell invocation",
    ),
    rule(inject::PHP_TAG, Php, 1, CRITICAL, "PHP open tag"),
    rule(inject::PHP_WRAPPER, Php, 1, CRITICAL, "PHP stream wrapper"),
    rule(inject::PHP_GLOBALS, Php, 1, CRITICAL, "PHP superglobal"),
    rule(
        inject::PHP_FUNCTION,
        Php,
        1,
        CRITICAL,
        "High-risk PHP function call",
    ),
    rule(
        inject::PHP_OBJECT,
        Php,
        1,
        CRITICAL,
        "Serialized PHP object",
    ),
    rule(
        inject::PHP_GENERIC,
        Php,
        2,
        CRITICAL,
        "PHP code-running function call (system, exec, eval, …)",
    ),
    rule(
        inject::NODE_PROCESS,
        Node,
        1,
        CRITICAL,
        "Node.js process or child_process access",
    ),
    rule(
        inject::PROTOTYPE,
        Node,
        1,
        CRITICAL,
        "Prototype pollution (__proto__, constructor.prototype)",
    ),
    rule(
        inject::CONSTRUCTOR,
        Node,
        1,
        CRITICAL,
        "Code through constructor.constructor",
    ),
    rule(
        inject::TEMPLATE,
        Node,
        1,
        CRITICAL,
        "Server-side template injection",
    ),
    rule(
        inject::TEMPLATE_EXPRESSION,
        Node,
        2,
        WARNING,
        "Template expression with arithmetic ({{7*7}})",
    ),
    rule(
        inject::JAVA_RUNTIME,
        Java,
        1,
        CRITICAL,
        "Java runtime, process or reflection classes",
    ),
    rule(
        inject::JNDI,
        Java,
        1,
        CRITICAL,
        "JNDI lookup (Log4Shell), nested lookups resolved",
    ),
    rule(
        inject::EXPRESSION_LANGUAGE,
        Java,
        1,
        CRITICAL,
        "OGNL, SpEL or EL expression",
    ),
    rule(
        inject::JAVA_SERIALIZED,
        Java,
        1,
        CRITICAL,
        "Serialized Java object",
    ),
    rule(
        inject::CLASS_LOADER,
        Java,
        1,
        CRITICAL,
        "Class loader manipulation (Spring4Shell)",
    ),
    rule(ssrf::METADATA, Ssrf, 1, CRITICAL, "Cloud metadata address"),
    rule(
        ssrf::LOOPBACK,
        Ssrf,
        1,
        CRITICAL,
        "URL to loopback or an unspecified address",
    ),
    rule(
        ssrf::OBFUSCATED_ADDRESS,
        Ssrf,
        1,
        CRITICAL,
        "URL host written as a decimal, hex or octal address",
    ),
    rule(
        ssrf::SCHEME,
        Ssrf,
        1,
        CRITICAL,
        "URL scheme no API takes (gopher, dict, ldap, …)",
    ),
    rule(
        ssrf::PRIVATE,
        Ssrf,
        2,
        WARNING,
        "URL to a private network address",
    ),
    rule(xss::TAG, Xss, 1, CRITICAL, "Script-running HTML element"),
    rule(xss::HANDLER, Xss, 1, CRITICAL, "HTML event handler"),
    rule(
        xss::SCRIPT_URL,
        Xss,
        1,
        CRITICAL,
        "javascript:, vbscript: or HTML data: URL",
    ),
    rule(xss::STYLE, Xss, 1, CRITICAL, "Script through CSS"),
    rule(
        xss::SINK,
        Xss,
        1,
        CRITICAL,
        "DOM sink (document.cookie, eval, …)",
    ),
    rule(
        xss::DIALOG,
        Xss,
        2,
        CRITICAL,
        "alert, confirm or prompt call",
    ),
    rule(xss::ANY_TAG, Xss, 2, CRITICAL, "HTML tag"),
    rule(xss::ANGLE, Xss, 3, WARNING, "Angle bracket opening a tag"),
    rule(
        sqli::BOOLEAN,
        Sqli,
        1,
        CRITICAL,
        "SQL logic after leaving a literal (tautology, boolean)",
    ),
    rule(sqli::UNION, Sqli, 1, CRITICAL, "UNION SELECT"),
    rule(sqli::STACKED, Sqli, 1, CRITICAL, "Second SQL statement"),
    rule(
        sqli::BLIND,
        Sqli,
        1,
        CRITICAL,
        "Time-based or error-based SQL function",
    ),
    rule(sqli::METADATA, Sqli, 1, CRITICAL, "Database catalogue"),
    rule(sqli::FILES, Sqli, 1, CRITICAL, "SQL file access"),
    rule(
        sqli::MYSQL_COMMENT,
        Sqli,
        1,
        CRITICAL,
        "MySQL executable comment",
    ),
    rule(
        sqli::CUT_SHORT,
        Sqli,
        1,
        CRITICAL,
        "Comment or terminator right after leaving a literal",
    ),
    rule(
        sqli::CLAUSE,
        Sqli,
        1,
        CRITICAL,
        "ORDER BY, GROUP BY or HAVING after leaving a literal",
    ),
    rule(sqli::SUBQUERY, Sqli, 2, CRITICAL, "Subquery"),
    rule(sqli::SELECT_FROM, Sqli, 2, CRITICAL, "SELECT … FROM"),
    rule(
        sqli::OBFUSCATED,
        Sqli,
        2,
        CRITICAL,
        "SQL string built from character codes",
    ),
    rule(
        sqli::META_12,
        Sqli,
        2,
        WARNING,
        "Twelve or more SQL special characters",
    ),
    rule(
        sqli::META_6,
        Sqli,
        3,
        WARNING,
        "Six or more SQL special characters",
    ),
    rule(
        sqli::META_3,
        Sqli,
        4,
        WARNING,
        "Three or more SQL special characters",
    ),
    rule(
        sqli::COMMENT_ANYWHERE,
        Sqli,
        3,
        WARNING,
        "SQL comment sequence",
    ),
];

/// The built-in rule with this id.
pub fn find(id: u32) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_levels_valid() {
        let mut ids: Vec<u32> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        assert!(RULES.iter().all(|r| (1..=4).contains(&r.level)));
    }
}
