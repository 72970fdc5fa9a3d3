//! SQL injection by tokens, in the spirit of libinjection: the folded value is read as SQL
//! four times — as it stands (a number or a bare value), and as the rest of a single-quoted,
//! double-quoted or backquoted literal — and each reading's tokens are checked for
//! what an injection needs: leaving the literal and going on with logic, a second statement,
//! a `UNION`, a comment that cuts the query short. Prose rarely lines up like that: "O'Brien",
//! "select one from the list" and "tea or coffee" do not.

use super::normalize::{contains_any, Present};

/// What the reading of a value as SQL found, as rule ids.
pub fn detect(folded: &str, hits: &mut Vec<u32>) {
    let present = Present::of(folded);
    // Without a quote, an operator, a parenthesis or a separator, and not starting with a
    // number, no reading of the value can leave a literal or call anything.
    let worth_reading = present.any(b"'\"`;()#=@|&<>*/")
        || folded.starts_with(|c: char| c.is_ascii_digit())
        || ["select", "union", "waitfor", "outfile", "xp_", "shutdown"]
            .iter()
            .any(|w| folded.contains(w));
    if worth_reading {
        let plain = tokens(folded, None);
        check_anywhere(&plain, hits);
        check_after_break(&plain, true, hits);
        for quote in ['\'', '"', '`'] {
            if folded.contains(quote) {
                let quoted = tokens(folded, Some(quote));
                check_anywhere(&quoted, hits);
                check_after_break(&quoted, false, hits);
            }
        }
    }
    // Only a value holding a catalogue name's first word can name the catalogue.
    let leading = |m: &'static str| {
        m.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| !w.is_empty())
    };
    let catalogue = folded.contains("@@")
        || folded
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|w| !w.is_empty() && METADATA_WORDS.iter().any(|m| leading(m) == Some(w)));
    if catalogue && contains_any(folded, METADATA_WORDS) {
        hits.push(METADATA);
    }
    if folded.contains("/*!") {
        hits.push(MYSQL_COMMENT);
    }
    let meta = folded
        .bytes()
        .filter(|b| b"'\";=()#`|&<>@~".contains(b))
        .count();
    for (count, rule) in [(12, META_12), (6, META_6), (3, META_3)] {
        if meta >= count {
            hits.push(rule);
        }
    }
    if folded.contains("--") || folded.contains("/*") || folded.contains('#') {
        hits.push(COMMENT_ANYWHERE);
    }
}

pub const BOOLEAN: u32 = 942100;
pub const UNION: u32 = 942110;
pub const STACKED: u32 = 942120;
pub const BLIND: u32 = 942130;
pub const METADATA: u32 = 942140;
pub const FILES: u32 = 942150;
pub const MYSQL_COMMENT: u32 = 942160;
pub const CUT_SHORT: u32 = 942170;
pub const CLAUSE: u32 = 942180;
pub const SUBQUERY: u32 = 942200;
pub const SELECT_FROM: u32 = 942210;
pub const OBFUSCATED: u32 = 942220;
pub const CONDITIONAL: u32 = 942230;
pub const META_12: u32 = 942430;
pub const META_6: u32 = 942431;
pub const META_3: u32 = 942432;
pub const COMMENT_ANYWHERE: u32 = 942440;

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    /// A quoted literal, closed or running to the end of the value.
    Str,
    Num,
    Word(&'a str),
    /// A word directly followed by `(`.
    Call(&'a str),
    Var,
    Op(&'a str),
    Logic,
    Open,
    Close,
    Comma,
    Semi,
    Comment,
}

const LOGIC: &[&str] = &["and", "or", "xor", "&&", "||", "not", "div"];
const COMPARE: &[&str] = &[
    "=", "<", ">", "<>", "!=", "<=", ">=", "<=>", "like", "rlike", "regexp", "is", "in", "between",
    "sounds", "glob", "match",
];
const STATEMENTS: &[&str] = &[
    "select", "insert", "update", "delete", "drop", "create", "alter", "exec", "execute",
    "declare", "truncate", "shutdown", "waitfor", "grant", "revoke", "rename", "replace", "load",
    "call", "handler", "set",
];
const BLIND_CALLS: &[&str] = &[
    "sleep",
    "benchmark",
    "pg_sleep",
    "randomblob",
    "dbms_pipe.receive_message",
    "dbms_lock.sleep",
    "extractvalue",
    "updatexml",
    "exp",
    "geometrycollection",
    "multipoint",
    "polygon",
    "linestring",
    "name_const",
    "json_keys",
    "utl_inaddr.get_host_name",
    "utl_http.request",
    "ctxsys.drithsx.sn",
    "xp_cmdshell",
    "xp_dirtree",
    "sp_executesql",
    "make_set",
    "elt",
    "iif",
    "raise_error",
];
/// Procedures SQL Server runs without parentheses.
const STORED_PROCEDURES: &[&str] = &["xp_cmdshell", "xp_dirtree", "sp_executesql"];
const METADATA_WORDS: &[&str] = &[
    "information_schema",
    "@@version",
    "@@datadir",
    "@@hostname",
    "sysobjects",
    "syscolumns",
    "sys.tables",
    "sys.objects",
    "mysql.user",
    "pg_catalog",
    "pg_shadow",
    "pg_user",
    "all_tables",
    "all_tab_columns",
    "user_tables",
    "sqlite_master",
    "sqlite_schema",
    "msysaccessobjects",
    "msysobjects",
    "v$version",
    "sys.database_name",
];

/// Tokens of `text` read as SQL; with `quote`, `text` is read as the rest of a literal opened
/// by that quote before it.
fn tokens(text: &str, quote: Option<char>) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    if let Some(q) = quote {
        match find_close(bytes, 0, q as u8) {
            Some(end) => {
                out.push(Token::Str);
                i = end + 1;
            }
            None => return out,
        }
    }
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b'+'
                if b != b'+' || plus_is_space(&out) =>
            {
                i += 1;
            }
            b'\'' | b'"' | b'`' => {
                let end = find_close(bytes, i + 1, b);
                if b == b'`' {
                    let stop = end.unwrap_or(bytes.len());
                    out.push(Token::Word(&text[i + 1..stop]));
                } else {
                    out.push(Token::Str);
                }
                i = end.map_or(bytes.len(), |e| e + 1);
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                out.push(Token::Comment);
                i = bytes.len();
            }
            b'#' => {
                out.push(Token::Comment);
                i = bytes.len();
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // MySQL runs `/*!…*/`: read its inside as SQL.
                if bytes.get(i + 2) == Some(&b'!') {
                    i += 3;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    continue;
                }
                // A closed comment separates like a space; an open one cuts the query short.
                match text[i + 2..].find("*/") {
                    Some(end) => i = i + 2 + end + 2,
                    None => {
                        out.push(Token::Comment);
                        i = bytes.len();
                    }
                }
            }
            b'*' if bytes.get(i + 1) == Some(&b'/') => i += 2,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b',' => {
                out.push(Token::Comma);
                i += 1;
            }
            b';' => {
                out.push(Token::Semi);
                i += 1;
            }
            b'@' => {
                let start = i;
                i += 1;
                while i < bytes.len() && (is_word(bytes[i]) || bytes[i] == b'@') {
                    i += 1;
                }
                let name = &text[start..i];
                if METADATA_WORDS.contains(&name) {
                    out.push(Token::Word(name));
                } else {
                    out.push(Token::Var);
                }
            }
            b'0'..=b'9' | b'.' if b != b'.' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                if b == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'b')) {
                    i += 2;
                }
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                out.push(Token::Num);
            }
            b'&' | b'|' if bytes.get(i + 1) == Some(&b) => {
                out.push(Token::Logic);
                i += 2;
            }
            b'=' | b'<' | b'>' | b'!' | b'|' | b'&' | b'^' | b'~' | b'%' | b'*' | b'/' | b'-'
            | b'+' | b':' => {
                let start = i;
                i += 1;
                while i < bytes.len() && matches!(bytes[i], b'=' | b'<' | b'>') && i - start < 3 {
                    i += 1;
                }
                out.push(Token::Op(&text[start..i]));
            }
            b if is_word(b) || b >= 0x80 => {
                let start = i;
                while i < bytes.len()
                    && (is_word(bytes[i])
                        || bytes[i] == b'.'
                        || bytes[i] >= 0x80
                        || bytes[i] == b'$')
                {
                    i += 1;
                }
                let word = &text[start..i];
                let mut j = i;
                while j < bytes.len() && bytes[j] == b' ' {
                    j += 1;
                }
                if LOGIC.contains(&word) {
                    out.push(Token::Logic);
                } else if COMPARE.contains(&word) {
                    out.push(Token::Op(word));
                } else if bytes.get(j) == Some(&b'(') {
                    out.push(Token::Call(word));
                } else {
                    out.push(Token::Word(word));
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// `+` is a space in URLs but SQL's addition after an operand.
fn plus_is_space(out: &[Token<'_>]) -> bool {
    !matches!(
        out.last(),
        Some(Token::Num | Token::Str | Token::Close | Token::Var)
    )
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Where the literal opened before `from` ends: its quote not doubled nor escaped.
fn find_close(bytes: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

fn is_operand(t: &Token<'_>) -> bool {
    matches!(
        t,
        Token::Str | Token::Num | Token::Var | Token::Word(_) | Token::Call(_)
    )
}

fn is_literal(t: &Token<'_>) -> bool {
    matches!(t, Token::Str | Token::Num | Token::Var | Token::Call(_))
        || matches!(t, Token::Word(w) if matches!(*w, "true" | "false" | "null"))
}

/// What is an injection wherever it sits.
fn check_anywhere(tokens: &[Token<'_>], hits: &mut Vec<u32>) {
    let at = |i: usize| tokens.get(i);
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Word("union") => {
                let mut j = i + 1;
                while matches!(
                    at(j),
                    Some(Token::Word("all" | "distinct")) | Some(Token::Open)
                ) {
                    j += 1;
                }
                if matches!(
                    at(j),
                    Some(Token::Word("select")) | Some(Token::Call("select"))
                ) {
                    hits.push(UNION);
                }
            }
            Token::Call(name) if BLIND_CALLS.contains(name) => hits.push(BLIND),
            Token::Word(name) if STORED_PROCEDURES.contains(name) => hits.push(BLIND),
            Token::Word("waitfor") if matches!(at(i + 1), Some(Token::Word("delay" | "time"))) => {
                hits.push(BLIND)
            }
            Token::Call("load_file") => hits.push(FILES),
            Token::Word("into")
                if matches!(at(i + 1), Some(Token::Word("outfile" | "dumpfile"))) =>
            {
                hits.push(FILES)
            }
            Token::Semi => {
                if let Some(Token::Word(w) | Token::Call(w)) = at(i + 1) {
                    if STATEMENTS.contains(w) && statement_follows(w, &tokens[i + 2..]) {
                        hits.push(STACKED);
                    }
                }
            }
            Token::Open
                if at(i + 1).is_some_and(is_literal)
                    && matches!(at(i + 2), Some(Token::Op(op)) if COMPARE.contains(op))
                    && at(i + 3).is_some_and(is_literal)
                    && at(i + 4) == Some(&Token::Close) =>
            {
                // `(1=1)`: a comparison of two literals, true or false whatever the data.
                hits.push(BOOLEAN)
            }
            Token::Word("case")
                if at(i + 1) == Some(&Token::Word("when"))
                    && tokens[i + 2..]
                        .iter()
                        .take(8)
                        .any(|t| *t == Token::Word("then")) =>
            {
                hits.push(CONDITIONAL)
            }
            Token::Open => {
                if let Some(Token::Word("select") | Token::Call("select")) = at(i + 1) {
                    if at(i + 2).is_some_and(|t| is_literal(t) || *t == Token::Op("*")) {
                        hits.push(SUBQUERY);
                    }
                }
            }
            Token::Word("select") | Token::Call("select") => {
                let from = tokens[i + 1..]
                    .iter()
                    .take(12)
                    .position(|t| *t == Token::Word("from"));
                if let Some(n) = from {
                    let between = &tokens[i + 1..i + 1 + n];
                    let sql_like = between.iter().any(|t| {
                        matches!(
                            t,
                            Token::Call(_)
                                | Token::Op("*")
                                | Token::Comma
                                | Token::Num
                                | Token::Var
                        )
                    });
                    // `select password from users`, not `select one from the list`.
                    let short = n == 1
                        && matches!(tokens.get(i + 2 + n), Some(Token::Word(_)))
                        && matches!(
                            tokens.get(i + 3 + n),
                            None | Some(
                                Token::Comment
                                    | Token::Semi
                                    | Token::Word("where" | "limit" | "order" | "group" | "union")
                            )
                        );
                    if sql_like || short {
                        hits.push(SELECT_FROM);
                    }
                }
            }
            Token::Call(name)
                if matches!(
                    *name,
                    "char" | "chr" | "concat" | "concat_ws" | "unhex" | "hex"
                ) && tokens[i + 1..]
                    .iter()
                    .take(4)
                    .any(|t| matches!(t, Token::Num)) =>
            {
                hits.push(OBFUSCATED)
            }
            _ => {}
        }
    }
}

/// Whether the words after `;` and a statement keyword make a statement, not a sentence.
fn statement_follows(keyword: &str, rest: &[Token<'_>]) -> bool {
    let next = rest.first();
    match keyword {
        "drop" | "create" | "alter" | "truncate" | "rename" => matches!(
            next,
            Some(Token::Word(
                "table"
                    | "database"
                    | "view"
                    | "procedure"
                    | "function"
                    | "user"
                    | "schema"
                    | "index"
                    | "trigger"
            ))
        ),
        "delete" => matches!(next, Some(Token::Word("from"))),
        "insert" | "replace" => matches!(next, Some(Token::Word("into"))),
        "update" => matches!(rest.get(1), Some(Token::Word("set"))),
        "select" => {
            next.is_some_and(|t| is_literal(t) || *t == Token::Op("*"))
                || rest.iter().take(8).any(|t| *t == Token::Word("from"))
        }
        "exec" | "execute" | "call" => {
            matches!(next, Some(Token::Word(w) | Token::Call(w)) if w.starts_with("xp_") || w.starts_with("sp_") || w.contains('.'))
                || matches!(next, Some(Token::Open | Token::Var))
        }
        "declare" | "set" => matches!(next, Some(Token::Var)),
        "shutdown" => matches!(
            next,
            None | Some(Token::Comment | Token::Semi | Token::Word("with"))
        ),
        "waitfor" => matches!(next, Some(Token::Word("delay" | "time"))),
        "grant" | "revoke" => rest
            .iter()
            .take(6)
            .any(|t| matches!(t, Token::Word("on" | "to" | "from"))),
        "load" => matches!(next, Some(Token::Word("data"))),
        "handler" => matches!(rest.get(1), Some(Token::Word("open" | "read"))),
        _ => false,
    }
}

/// What is an injection right after leaving the literal: the first token of a quoted reading
/// is the literal the value closed; a plain reading must start with a number.
fn check_after_break(tokens: &[Token<'_>], plain: bool, hits: &mut Vec<u32>) {
    let start = match tokens.first() {
        Some(Token::Str) if !plain => 1,
        Some(Token::Num) if plain => 1,
        _ => return,
    };
    let mut i = start;
    while tokens.get(i) == Some(&Token::Close) {
        i += 1;
    }
    let at = |k: usize| tokens.get(k);
    // A derived table's alias (`) AS x`) and a `WHERE` with a comparison continue the query
    // the value broke into.
    if at(i) == Some(&Token::Word("as")) && matches!(at(i + 1), Some(Token::Word(_))) {
        i += 2;
    }
    if at(i) == Some(&Token::Word("where")) {
        let compares = tokens[i + 1..]
            .iter()
            .take(4)
            .any(|t| matches!(t, Token::Op(op) if COMPARE.contains(op)));
        if compares {
            hits.push(CLAUSE);
        }
        return;
    }
    match at(i) {
        Some(Token::Logic) => {
            let mut j = i + 1;
            while matches!(at(j), Some(Token::Open | Token::Logic)) {
                j += 1;
            }
            let Some(left) = at(j) else { return };
            if !is_operand(left) {
                return;
            }
            // A subquery, a conditional or a function call right after the logic.
            if matches!(
                left,
                Token::Call(_) | Token::Word("select" | "case" | "exists")
            ) {
                hits.push(BOOLEAN);
                return;
            }
            let after = at(j + 1);
            let compared = matches!(after, Some(Token::Op(op)) if COMPARE.contains(op))
                && at(j + 2).is_some_and(|t| is_operand(t) || *t == Token::Open);
            // `5 or 6` is prose; `5 or 6--` and `' or 6` are not.
            let cut = matches!(after, Some(Token::Comment | Token::Semi));
            let ends = matches!(
                after,
                None | Some(
                    Token::Logic
                        | Token::Close
                        | Token::Word("group" | "order" | "having" | "limit" | "union")
                )
            );
            let alone = is_literal(left) && (cut || ends && !(plain && *left == Token::Num));
            let arithmetic = is_literal(left)
                && matches!(after, Some(Token::Op(_)))
                && at(j + 2).is_some_and(is_literal);
            if compared || alone || arithmetic {
                hits.push(BOOLEAN);
            }
        }
        Some(Token::Comment) if i + 1 == tokens.len() && (i > start || !plain) => {
            hits.push(CUT_SHORT)
        }
        Some(Token::Semi) if !plain || i > start => {
            if matches!(at(i + 1), None | Some(Token::Comment)) {
                hits.push(CUT_SHORT);
            }
        }
        Some(Token::Word("order" | "group"))
            if at(i + 1) == Some(&Token::Word("by")) && at(i + 2).is_some_and(is_operand) =>
        {
            hits.push(CLAUSE)
        }
        Some(Token::Word("having" | "procedure" | "limit" | "into"))
            if at(i + 1).is_some_and(is_operand) =>
        {
            hits.push(CLAUSE)
        }
        // `' = '` and `'<>'` close the literal and compare: `x' = 'x`.
        Some(Token::Op(op))
            if COMPARE.contains(op) && !plain && at(i + 1).is_some_and(is_literal) =>
        {
            hits.push(BOOLEAN)
        }
        Some(Token::Op("||" | "+"))
            if !plain && at(i + 1).is_some_and(|t| matches!(t, Token::Call(_) | Token::Open)) =>
        {
            hits.push(BOOLEAN)
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::normalize::{decode, fold};

    fn rules(value: &str) -> Vec<u32> {
        let mut hits = Vec::new();
        detect(&fold(&decode(value, true).0), &mut hits);
        hits.retain(|r| ![META_3, META_6, META_12, COMMENT_ANYWHERE].contains(r));
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    #[test]
    fn injections_are_found() {
        for attack in [
            "' or '1'='1",
            "admin' --",
            "admin'#",
            "1 or 1=1",
            "1' AND 1=1 AND 'a'='a",
            "1) or (1=1",
            "x' OR 1=1-- -",
            "1 UNION SELECT username, password FROM users",
            "1'/**/UNION/**/ALL/**/SELECT/**/1,2,3--",
            "1; DROP TABLE users--",
            "1'; exec xp_cmdshell 'dir'--",
            "1 AND SLEEP(5)",
            "1' waitfor delay '0:0:5'--",
            "' union select table_name from information_schema.tables--",
            "1 and extractvalue(1,concat(0x7e,version()))",
            "' || (select 1) || '",
            "1' ORDER BY 3--+",
            "-1' union select load_file('/etc/passwd')--",
            "1 /*!50000union*/ /*!50000select*/ 1",
            "') or ('a'='a",
            "\" or \"\"=\"",
            "1 or true",
            "' or 'x' like 'x",
        ] {
            assert!(!rules(attack).is_empty(), "{attack} not found");
        }
    }

    #[test]
    fn prose_passes() {
        for benign in [
            "O'Brien",
            "Tea or coffee?",
            "Please select one from the list",
            "I'd like 1 or 2 of them",
            "rock 'n' roll",
            "It's 5 o'clock; time for tea",
            "1 or 2 people",
            "The union of two sets",
            "we select from a menu; delete later",
            "Order by phone: 555-0100",
            "3 and a half",
            "mother-in-law",
            "SELECT a plan",
        ] {
            assert_eq!(rules(benign), Vec::<u32>::new(), "{benign} refused");
        }
    }
}
