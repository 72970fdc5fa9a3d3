//! Cross-site scripting by reading the value as HTML: tags and their attributes are parsed the
//! way a browser's tokenizer would accept them (`<svg/onload=…>`, unquoted values, a slash for a
//! space), so a payload is found by what it would do — a script element, an event handler, a
//! `javascript:` URL — rather than by how it is spelt.

use super::normalize::{calls, contains_any, has_word, Present};

pub const TAG: u32 = 941100;
pub const HANDLER: u32 = 941110;
pub const SCRIPT_URL: u32 = 941120;
pub const STYLE: u32 = 941130;
pub const SINK: u32 = 941140;
pub const DIALOG: u32 = 941160;
pub const ANY_TAG: u32 = 941170;
pub const ANGLE: u32 = 941180;

/// Elements that run or load code whatever their attributes.
const DANGEROUS: &[&str] = &[
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
    "svg", "math", "xss", "isindex", "vmlframe", "template", "import", "xml", "bgsound", "layer",
    "ilayer", "style", "portal", "noembed", "noscript", "handler", "listener",
];
/// Attributes whose value a browser loads or runs as a URL.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "xlink:href",
    "background",
    "lowsrc",
    "dynsrc",
    "poster",
    "code",
    "codebase",
    "srcdoc",
    "to",
    "from",
    "values",
    "by",
    "ping",
];
const SCRIPT_SCHEMES: &[&str] = &["javascript:", "vbscript:", "livescript:", "mocha:"];
const SINKS: &[&str] = &[
    "document.cookie",
    "document.write",
    "document.domain",
    "document.location",
    "window.location",
    "location.href",
    "fromcharcode",
    "innerhtml",
    "outerhtml",
    "eval(",
    "settimeout(",
    "setinterval(",
    "new function(",
    "import(",
    "atob(",
    ".constructor(",
];

/// What reading the decoded (not folded) value as HTML found, as rule ids.
pub fn detect(decoded: &str, folded: &str, hits: &mut Vec<u32>) {
    let present = Present::of(folded);
    if present.any(b"<") {
        tags(folded, hits);
    }
    // Every payload below needs one of these: a scheme's colon, a call's parenthesis or
    // backtick, a property's dot, an at-rule or an attribute's equals sign.
    if !present.any(b":(.`@=-") {
        return;
    }
    // Script schemes survive whitespace and control characters inside them.
    let squeezed: String = decoded
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect();
    if contains_any(&squeezed, SCRIPT_SCHEMES)
        || squeezed.contains("data:text/html")
        || squeezed.contains("data:image/svg+xml")
    {
        hits.push(SCRIPT_URL);
    }
    if squeezed.contains("expression(")
        || squeezed.contains("-moz-binding")
        || squeezed.contains("behavior:url")
        || squeezed.contains("@import")
    {
        hits.push(STYLE);
    }
    let sink_words = [
        "document",
        "window",
        "location",
        "fromcharcode",
        "innerhtml",
        "outerhtml",
        "eval",
        "settimeout",
        "setinterval",
        "function",
        "import",
        "atob",
        "constructor",
    ];
    if has_word(folded, &sink_words) && contains_any(&squeezed, SINKS) {
        hits.push(SINK);
    }
    if present.any(b"(`") && calls(&squeezed, &["alert", "confirm", "prompt", "print"], b"`") {
        hits.push(DIALOG);
    }
    if present.any(b"=") && handler_outside_tag(folded) {
        hits.push(HANDLER);
    }
}

/// Every `<name …>` in the value: dangerous elements, event handlers, script URLs in URL
/// attributes, styles that run code.
fn tags(folded: &str, hits: &mut Vec<u32>) {
    let bytes = folded.as_bytes();
    let mut i = 0;
    while let Some(at) = folded[i..].find('<') {
        let start = i + at + 1;
        i = start;
        let mut j = start;
        if bytes.get(j) == Some(&b'/') {
            j += 1;
        }
        let name_start = j;
        while j < bytes.len()
            && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'-' | b':' | b'_'))
        {
            j += 1;
        }
        if j == name_start {
            if matches!(bytes.get(j), Some(b'!' | b'?' | b'%')) {
                hits.push(ANGLE);
            }
            continue;
        }
        if !bytes[name_start].is_ascii_alphabetic() {
            continue;
        }
        hits.push(ANGLE);
        let name = &folded[name_start..j];
        let bare = name.rsplit(':').next().unwrap_or(name);
        let closes = matches!(bytes.get(j), None | Some(b' ' | b'/' | b'>' | b'\t'));
        if !closes {
            continue;
        }
        hits.push(ANY_TAG);
        if DANGEROUS.contains(&bare) {
            hits.push(TAG);
        }
        let end = folded[j..].find('>').map_or(bytes.len(), |e| j + e);
        attributes(&folded[j..end], hits);
        i = j;
    }
}

/// The attributes inside one tag.
fn attributes(inside: &str, hits: &mut Vec<u32>) {
    let bytes = inside.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'/' | b'\t' | b'"' | b'\'') {
            i += 1;
        }
        let name_start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b'/' | b'=' | b'>' | b'\t') {
            i += 1;
        }
        let name = &inside[name_start..i];
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let mut value = "";
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            let (start, stop) = match bytes.get(i) {
                Some(q @ (b'"' | b'\'' | b'`')) => {
                    let stop = inside[i + 1..]
                        .find(*q as char)
                        .map_or(bytes.len(), |e| i + 1 + e);
                    (i + 1, stop)
                }
                _ => {
                    let stop = inside[i..].find([' ', '\t']).map_or(bytes.len(), |e| i + e);
                    (i, stop)
                }
            };
            value = &inside[start..stop];
            i = (stop + 1).min(bytes.len()).max(i + 1);
        }
        if name.len() > 2
            && name.starts_with("on")
            && name[2..].bytes().all(|b| b.is_ascii_alphabetic())
        {
            hits.push(HANDLER);
        }
        if URL_ATTRIBUTES.contains(&name) {
            let squeezed: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            if SCRIPT_SCHEMES.iter().any(|s| squeezed.starts_with(s))
                || squeezed.starts_with("data:")
            {
                hits.push(SCRIPT_URL);
            }
        }
        if name == "style" && (value.contains("expression(") || value.contains("url(")) {
            hits.push(STYLE);
        }
        // No progress (a lone `=` or `>`): step over one character.
        if i == name_start {
            i += inside[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
}

/// An event handler written into an attribute the value lands in: a quote or separator, then
/// `on…=` with a known event's name, as in `" autofocus onfocus="alert(1)`.
fn handler_outside_tag(folded: &str) -> bool {
    const EVENTS: &[&str] = &[
        "load",
        "error",
        "click",
        "dblclick",
        "mouseover",
        "mouseout",
        "mouseenter",
        "mousemove",
        "mousedown",
        "mouseup",
        "focus",
        "focusin",
        "blur",
        "change",
        "submit",
        "keydown",
        "keyup",
        "keypress",
        "input",
        "toggle",
        "animationstart",
        "animationend",
        "transitionend",
        "pageshow",
        "beforeunload",
        "unload",
        "resize",
        "scroll",
        "wheel",
        "pointerover",
        "pointerdown",
        "auxclick",
        "contextmenu",
        "copy",
        "paste",
        "cut",
        "drag",
        "dragstart",
        "drop",
        "play",
        "playing",
        "canplay",
        "loadstart",
        "begin",
        "end",
        "hashchange",
        "message",
        "popstate",
        "start",
        "finish",
        "show",
        "select",
        "search",
        "readystatechange",
        "afterprint",
        "beforeprint",
        "invalid",
        "reset",
    ];
    let bytes = folded.as_bytes();
    folded.match_indices("on").any(|(at, _)| {
        let before_ok = at == 0
            || matches!(
                bytes[at - 1],
                b' ' | b'"' | b'\'' | b'`' | b'/' | b';' | b',' | b'(' | b'\t'
            );
        if !before_ok {
            return false;
        }
        let rest = &folded[at + 2..];
        let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let after = rest[name_len..].trim_start();
        EVENTS.contains(&&rest[..name_len])
            && after.starts_with('=')
            && !after.starts_with("==")
            && (at > 0 || after.len() > 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::normalize::{decode, fold};

    fn rules(value: &str, level: u8) -> Vec<u32> {
        let (decoded, _) = decode(value, true);
        let mut hits = Vec::new();
        detect(&decoded, &fold(&decoded), &mut hits);
        hits.retain(|r| match *r {
            DIALOG | ANY_TAG => level >= 2,
            ANGLE => level >= 3,
            _ => true,
        });
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    #[test]
    fn payloads_are_found_however_spelt() {
        for attack in [
            "<script>alert(1)</script>",
            "<ScRiPt SRC=//evil.example/x.js></sCrIpT>",
            "<img src=x onerror=alert(1)>",
            "<svg/onload=alert(1)>",
            "<body onload=alert(1)>",
            "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
            "<iframe src=\"data:text/html;base64,PHNjcmlwdD4=\">",
            "\" autofocus onfocus=\"alert(1)",
            "'><img src=x onerror=prompt(1)>",
            "%3Cscript%3Ealert(document.cookie)%3C/script%3E",
            "&lt;img src=x onerror=alert(1)&gt;",
            "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e",
            "javascript:alert(1)",
            "<div style=\"width: expression(alert(1))\">",
            "<details open ontoggle=alert(1)>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        ] {
            assert!(!rules(attack, 1).is_empty(), "{attack} not found");
        }
        assert!(!rules("alert('t');", 2).is_empty());
        assert!(!rules("<b>bold</b>", 2).is_empty());
    }

    #[test]
    fn text_passes() {
        for benign in [
            "1 < 2 and 3 > 2",
            "x<y",
            "Tom & Jerry",
            "Meet me at the station; on=time",
            "The concert is on tonight",
            "email me: a@b.example",
            "once=twice",
            "I <3 this",
            "Prices: <10 EUR",
            "<b>bold</b>",
        ] {
            assert_eq!(rules(benign, 1), Vec::<u32>::new(), "{benign} refused");
        }
    }
}
