//! Unit tests of the format language: parsing, needs, and rendering of hand-built
//! exchanges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::decode::Endpoint;
use crate::exchange::{CloseOriginator, Exchange, Needs, Position, Protocol, Retention};
use crate::time::Timestamp;

/// c_ka_reuse_A, first exchange (times from its kitchen output).
const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: jn-corpus-client/1.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: MiniHTTP/0.1\r\nContent-Type: text/html\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello";

fn t(micros: i64) -> Timestamp {
    Timestamp(micros * 1_000)
}

/// An exchange like the first one of c_ka_reuse_A, with the given bytes.
fn exchange<'a>(request: &'a [u8], response: &'a [u8]) -> Exchange<'a> {
    let opening = 1_795_479_586_956_681;
    Exchange {
        id: 0,
        client: Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            port: 60853,
        },
        server: Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            port: 39111,
        },
        position: Position::Start,
        close_originator: None,
        streams: 1,
        session_requests: 1,
        first: true,
        opening: t(opening),
        open: Some(t(opening + 181)),
        request_first: Some(t(opening + 260)),
        request_last: Some(t(opening + 260)),
        response_first: Some(t(opening + 1_210)),
        response_last: Some(t(opening + 1_210)),
        print: Some(t(opening + 251_556)),
        close: None,
        last_activity: Some(t(opening + 1_210)),
        request,
        response,
        request_size: request.len() as u64,
        response_size: response.len() as u64,
        request_header_len: None,
        response_header_len: None,
        request_fields: Default::default(),
        response_fields: Default::default(),
        protocol: Protocol::None,
        index: 1,
        pipelined: None,
        complete: None,
        gap: 0,
        request_body_size: None,
        response_body_size: None,
        interim: None,
        previous_end: Some(t(opening + 181)),
        tls: None,
        connection: None,
        h2: None,
        h2_stream: None,
        ws: None,
        ws_message: None,
        tunnel: None,
    }
}

fn render_with(format: &str, ex: &Exchange<'_>, opts: &RenderOptions) -> String {
    std::env::set_var("TZ", "UTC");
    let template = Template::parse(format).unwrap_or_else(|e| panic!("{format}: {e}"));
    let mut out = Vec::new();
    template.render(ex, opts, &mut out);
    String::from_utf8(out).expect("utf-8 output")
}

fn render(format: &str, ex: &Exchange<'_>) -> String {
    render_with(format, ex, &RenderOptions::default())
}

fn error(format: &str) -> String {
    Template::parse(format).expect_err(format).to_string()
}

// ---- parsing -------------------------------------------------------------------

#[test]
fn unknown_keyword_error_quotes_up_to_a_space_or_paren() {
    assert_eq!(error("%foo bar"), "unknown keyword '%foo'");
    assert_eq!(
        error("x %request.header.x() y"),
        "unknown keyword '%request.header.x'; did you mean %request.header.value(x)?"
    );
    assert_eq!(
        error("%source.ipX_def"),
        "unknown keyword '%source.ipX_def'; did you mean %source.ip%-X_def?"
    );
    assert_eq!(
        error("abc%"),
        "unknown keyword '%'; write %% for a percent sign"
    );
    assert_eq!(
        error("%%abc"),
        "unknown keyword '%%abc'; did you mean %%%-abc?"
    );
}

#[test]
fn a_misspelt_keyword_gets_the_nearest_name() {
    assert_eq!(
        error("%request.urll"),
        "unknown keyword '%request.urll'; did you mean %request.url?"
    );
    assert_eq!(
        error("%dst.ip %source.ip"),
        "unknown keyword '%dst.ip'; did you mean %dest.ip?"
    );
    assert_eq!(
        error("%Request.URL"),
        "unknown keyword '%Request.URL'; did you mean %request.url?"
    );
    // A transposition counts as one edit.
    assert_eq!(
        error("%reqeust.method"),
        "unknown keyword '%reqeust.method'; did you mean %request.method?"
    );
    assert_eq!(
        error("%request.header.hots"),
        "unknown keyword '%request.header.hots'; did you mean %request.header.host?"
    );
    // Too far from every name: no guess.
    assert_eq!(error("%bogus"), "unknown keyword '%bogus'");
}

#[test]
fn edit_distance_counts_edits_up_to_a_limit() {
    use super::edit_distance;
    assert_eq!(edit_distance("request.url", "request.url", 2), 0);
    assert_eq!(edit_distance("request.urll", "request.url", 2), 1);
    assert_eq!(edit_distance("reqeust", "request", 2), 1);
    assert_eq!(edit_distance("dst.ip", "dest.ip", 2), 1);
    assert_eq!(edit_distance("abc", "xyz", 2), 3);
    assert_eq!(edit_distance("a", "abcdef", 2), 3);
    assert_eq!(edit_distance("", "ab", 2), 2);
}

#[test]
fn keyword_followed_by_a_name_character_does_not_match() {
    assert!(Template::parse("%source.ip_x").is_err());
    assert!(Template::parse("%source.ip.x").is_err());
    assert!(Template::parse("%tabx").is_err());
    assert_eq!(
        render("%dest.port-x %source.ip:", &exchange(b"", b"")),
        "39111-x 127.0.0.2:\n"
    );
}

#[test]
fn percent_escapes_and_break() {
    let ex = exchange(b"", b"");
    assert_eq!(render("100%% %%%-x %%)", &ex), "100% %x %)\n");
    assert_eq!(
        render("%response.size%-ms|%tab|%newline|%-", &ex),
        "0ms|\t|\n|\n"
    );
    assert_eq!(render("%-abc", &ex), "abc\n");
}

#[test]
fn parameters_nest_and_unclosed_ones_are_literal() {
    // args_punct, first record of c_ka_reuse_A.
    let format = "%source.ip(x)%-abc%%%tab%newline|%request.header.accept-charset|%request.url(|%connection.time((x))|%request.header.cookie(a(b)c)|%%%%%-%-%%";
    let ex = exchange(REQUEST, RESPONSE);
    assert_eq!(
        render(format, &ex),
        "127.0.0.2(x)abc%\t\n|-|/index.html(|0.000181|a(b)c|%%%\n"
    );
    let later = Exchange {
        first: false,
        ..exchange(REQUEST, RESPONSE)
    };
    assert!(render(format, &later).contains("|(x)|"));
}

#[test]
fn longest_keyword_wins_unless_a_name_character_follows() {
    // args_longest_keyword on syn_headers_A's first request.
    let request = b"GET / HTTP/1.1\r\nAccept: text/html\r\nAccept-Charset: utf-8\r\nAccept-Encoding: gzip, br\r\n\r\n";
    let format = "%request.header.accept-charset(NC)|%request.header.accept-encoding%-x|%request.header.accept-language.|%request.header.accept-charsetX|%request.header.accept-(x)";
    assert_eq!(
        render(format, &exchange(request, b"")),
        "utf-8|gzip, brx|text/html-language.|text/html-charsetX|text/html-(x)\n"
    );
}

#[test]
fn required_parameters_are_enforced() {
    for keyword in [
        "%request.grep",
        "%response.grep",
        "%request.header.grep",
        "%response.header.grep",
        "%request.header.value",
        "%response.header.value",
        "%python",
    ] {
        let missing = error(keyword);
        assert!(
            missing.starts_with(&format!(
                "unknown keyword '{keyword}'; it takes a parameter: {keyword}("
            )),
            "{missing}"
        );
        let unclosed = error(&format!("{keyword}(unclosed"));
        assert!(
            unclosed.starts_with(&format!(
                "unknown keyword '{keyword}'; it takes a parameter"
            )) && unclosed.ends_with("and the '(' after it is never closed"),
            "{unclosed}"
        );
        assert!(
            Template::parse(&format!("{keyword}(x)")).is_ok(),
            "{keyword}(x)"
        );
    }
}

#[test]
fn invalid_regex_is_an_error_naming_the_keyword() {
    let err = Template::parse("a %request.grep([a-z) b").unwrap_err();
    match &err {
        FormatError::InvalidRegex { keyword, .. } => assert_eq!(keyword, "%request.grep([a-z)"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "invalid regular expression in '%request.grep([a-z)': unclosed character class \
         (character 1)"
    );
    assert_eq!(
        error("%response.code(a[)"),
        "invalid regular expression in '%response.code(a[)': unclosed character class \
         (character 2)"
    );
    assert_eq!(
        error("%request.method(x{99999999})"),
        "invalid regular expression in '%request.method(x{99999999})': compiled regex exceeds \
         size limit of 1048576 bytes"
    );
    // The '(' of the grep is never closed (the inner one takes the ')'): no parameter.
    assert_eq!(
        error("%request.grep(([)"),
        "unknown keyword '%request.grep'; it takes a parameter, %request.grep(RE), and the '(' \
         after it is never closed"
    );
    for format in [
        "%request.grep((?P<a>x)(?P<a>y))",
        "%response.header.grep(\\)",
        "%request.url(*)",
    ] {
        let message = error(format);
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn huge_regex_is_refused_at_start_up() {
    assert!(Template::parse("%request.grep((?:\\w{1000}){1000})").is_err());
}

#[test]
fn keywords_without_parameters_leave_parentheses_as_text() {
    let ex = exchange(REQUEST, RESPONSE);
    assert_eq!(
        render("%request.size(x)%connection(y)%streams()", &ex),
        format!("{}(x)start(y)1()\n", REQUEST.len())
    );
    assert_eq!(render("%tab(x)", &ex), "\t(x)\n");
}

#[test]
fn template_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<RenderOptions>();
}

#[test]
fn empty_format_prints_empty_records() {
    assert_eq!(render("", &exchange(REQUEST, RESPONSE)), "\n");
}

#[test]
fn every_keyword_parses_and_is_in_the_help() {
    let help = keywords_help();
    for (usage, meaning) in help {
        assert!(!meaning.is_empty());
        // Turn the usage into a valid occurrence: optional `[...]` parts dropped.
        let mut occurrence = usage.to_string();
        while let (Some(a), Some(b)) = (occurrence.find('['), occurrence.find(']')) {
            occurrence.replace_range(a..=b, "");
        }
        assert!(Template::parse(&occurrence).is_ok(), "{occurrence}");
    }
    assert!(help
        .iter()
        .any(|(u, _)| u.starts_with("%request.header.accept-charset")));
    assert!(help.len() > 90);
}

#[test]
fn default_format_is_the_apache_like_one() {
    let ex = exchange(REQUEST, RESPONSE);
    assert_eq!(
        render(DEFAULT_FORMAT, &ex),
        "127.0.0.2 - - [24/Nov/2026:00:19:46 +0000] \"GET /index.html HTTP/1.1\" 200 5 \"\" \"jn-corpus-client/1.0\"\n"
    );
}

// ---- needs ---------------------------------------------------------------------

#[test]
fn default_format_needs_headers_only() {
    let needs = Template::parse(DEFAULT_FORMAT).unwrap().needs();
    let header = Retention {
        all: false,
        header: true,
        prefix: 0,
    };
    assert_eq!(
        needs,
        Needs {
            request: header,
            response: header
        }
    );
}

#[test]
fn needs_follow_the_keywords() {
    let needs = |f: &str| Template::parse(f).unwrap().needs();
    assert_eq!(
        needs("%source.ip %request.size %response.time %request.timestamp"),
        Needs::default()
    );
    assert!(needs("%request").request.all && !needs("%request").response.all);
    assert!(needs("%response.body").response.all);
    assert!(needs("%response.grep(x)").response.all);
    let hg = needs("%response.header.grep(x)").response;
    assert!(hg.header && !hg.all);
    assert!(needs("%response.code").response.header);
    assert!(needs("%request.header.value(X)").request.header);
    assert_eq!(
        needs("%tls.sni").request,
        Retention {
            all: false,
            header: false,
            prefix: 1024
        }
    );
    assert_eq!(needs("%tls.version").response, Retention::default());
}

#[test]
fn python_keyword_is_reported_and_renders_not_found() {
    let template = Template::parse("a %python(mod:Cls) b").unwrap();
    assert!(template.uses_python());
    assert_eq!(template.python_handlers().collect::<Vec<_>>(), ["mod:Cls"]);
    assert!(!Template::parse("%source.ip").unwrap().uses_python());
    assert_eq!(
        render("a %python(mod:Cls) b", &exchange(b"", b"")),
        "a - b\n"
    );
}

#[test]
fn each_python_keyword_prints_its_own_slot_encoded_like_the_rest() {
    let template = Template::parse("%python(a)|%python(b:C)|%python(c)").unwrap();
    let slots = [Some(b"one".to_vec()), None];
    let mut out = Vec::new();
    let opts = RenderOptions {
        encoding: crate::format::Encoding::Unprintable,
        ..RenderOptions::default()
    };
    template.render_with(&exchange(b"", b""), &opts, &slots, &mut out);
    assert_eq!(out, b"one|-|-\n");
    out.clear();
    template.render_with(
        &exchange(b"", b""),
        &opts,
        &[Some(b"x\x01".to_vec())],
        &mut out,
    );
    assert_eq!(out, b"x.|-|-\n");
}

// ---- values --------------------------------------------------------------------

#[test]
fn durations_print_six_decimals_from_microseconds() {
    let ex = exchange(REQUEST, RESPONSE);
    assert_eq!(
        render("%connection.time %idle.time.0 %request.time %response.time %response.time.begin %response.time.end %idle.time.1 %session.time %close.time", &ex),
        "0.000181 0.000079 0.000000 0.000950 0.000950 0.000000 0.250346 0.001210 -\n"
    );
    let backwards = Exchange {
        response_last: Some(t(1_795_479_586_956_681 + 260 - 500_300)),
        ..ex.clone()
    };
    assert_eq!(render("%response.time", &backwards), "-0.500300\n");
    let long = Exchange {
        response_last: Some(t(1_795_479_586_956_681 + 260 + 7_200_001_284)),
        ..ex
    };
    assert_eq!(render("%response.time", &long), "7200.001284\n");
}

#[test]
fn not_found_overrides_apply_to_time_header_and_originator_keywords() {
    let later = Exchange {
        first: false,
        position: Position::Continue,
        response_first: None,
        response_last: None,
        ..exchange(REQUEST, b"")
    };
    assert_eq!(
        render("%connection.time(NA) %idle.time.1(none) %close.originator(NC) %request.header.referer() %response.header.server(S) %tls.sni(NOSNI) %close.timestamp2(C)", &later),
        "NA none NC  S NOSNI C\n"
    );
    let opts = RenderOptions {
        not_found: Vec::new(),
        ..RenderOptions::default()
    };
    assert_eq!(render_with("[%connection.time] [%response.header.via] [%request.header.referer(R)] [%close.originator]", &later, &opts), "[] [] [R] []\n");
}

#[test]
fn identity_values() {
    let closed = Exchange {
        position: Position::Unique,
        close_originator: Some(CloseOriginator::Server),
        close: Some(t(1_795_479_586_956_681 + 2_000)),
        streams: 7,
        session_requests: 3,
        ..exchange(REQUEST, RESPONSE)
    };
    assert_eq!(
        render("%source.ip %source.port %dest.ip %dest.port %connection %close.originator %session.requests %streams %close.time", &closed),
        "127.0.0.2 60853 127.0.0.1 39111 unique server 3 7 0.000790\n"
    );
    let v6 = Exchange {
        client: Endpoint {
            ip: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
            port: 1,
        },
        ..closed
    };
    assert_eq!(render("%source.ip", &v6), "fd00::2\n");
}

/// What a typed value prints: the text renderer's output for the same keyword.
fn value_text(value: Value<'_>, not_found: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match value {
        Value::Missing => out.extend_from_slice(not_found),
        Value::Uint(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Micros(us) | Value::Instant(us) => {
            let sign = if us < 0 { "-" } else { "" };
            let abs = us.unsigned_abs();
            let text = format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000);
            out.extend_from_slice(text.as_bytes());
        }
        Value::Ip(ip) => out.extend_from_slice(ip.to_string().as_bytes()),
        Value::Word(word) => out.extend_from_slice(word.as_bytes()),
        Value::Bytes(bytes) => out.extend_from_slice(bytes),
        Value::Bool(yes) => out.extend_from_slice(if yes { b"yes" } else { b"no" }),
        Value::Text => return None,
    }
    Some(out)
}

#[test]
fn typed_values_print_as_the_keywords_text() {
    let base = exchange(REQUEST, RESPONSE);
    let closed = Exchange {
        position: Position::Last,
        close_originator: Some(CloseOriginator::Client),
        close: Some(t(1_795_479_586_956_681 + 2_000)),
        protocol: Protocol::Http11,
        pipelined: Some(2),
        complete: Some(false),
        gap: 17,
        request_body_size: Some(0),
        response_body_size: Some(5),
        interim: Some(1),
        request_header_len: Some(REQUEST.len() - 2),
        ..exchange(REQUEST, RESPONSE)
    };
    let v6 = Exchange {
        client: Endpoint {
            ip: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
            port: 0,
        },
        complete: Some(true),
        request_first: None,
        response_first: None,
        ..exchange(b"  GET\t/a?b=c  HTTP/1.0 extra\rX", b"HTTP/1.1\r\n\r\n")
    };
    let odd = exchange(b"\x01GET\x0b/\x7f \xff\r\nHost:\r\n\r\n", b"");
    let tls = exchange(b"\x16\x03\x01\x00\x05hello", b"\x16\x03\x03");
    let mut checked = 0;
    for ex in [&base, &closed, &v6, &odd, &tls] {
        for kw in keywords::KEYWORDS {
            if kw.key.param() == keywords::Param::Required {
                continue;
            }
            let template = Template::parse(&format!("%{}", kw.name)).unwrap();
            let Some(typed) = value_text(template.op_renderer(ex).value(0), b"NF") else {
                continue;
            };
            let opts = RenderOptions {
                not_found: b"NF".to_vec(),
                newline: false,
                ..RenderOptions::default()
            };
            let mut text = Vec::new();
            template.render(ex, &opts, &mut text);
            assert_eq!(
                String::from_utf8_lossy(&typed),
                String::from_utf8_lossy(&text),
                "%{}",
                kw.name
            );
            checked += 1;
        }
    }
    // Most keywords are typed (the rest are rendered as text by their callers).
    assert!(checked > 5 * 40, "{checked}");
}

#[test]
fn timestamps_default_custom_and_epoch_forms() {
    let ex = exchange(REQUEST, RESPONSE);
    assert_eq!(
        render("%request.timestamp|%request.timestamp(%Y-%m-%d %T)|%request.timestamp(%Y-%m-%d %H:%M:%S)|%request.timestamp()|%request.timestamp2|%connection.timestamp(%s)", &ex),
        "2026-11-24 00:19:46.956941|2026-11-24 00:19:46.956941|2026-11-24 00:19:46||1795479586.956941|1795479586\n"
    );
    let later = Exchange { first: false, ..ex };
    assert_eq!(
        render(
            "%connection.timestamp|%connection.timestamp(%F)|%close.timestamp2|%close.timestamp",
            &later
        ),
        "-|-|-|-\n"
    );
}

#[test]
fn long_strftime_expansions_are_printed_in_full() {
    let ex = exchange(REQUEST, RESPONSE);
    assert_eq!(
        render(
            "%request.timestamp(%Y-%m-%d %H:%M:%S and some long text)|",
            &ex
        ),
        "2026-11-24 00:19:46 and some long text|\n"
    );
    assert_eq!(
        render("%request.timestamp(%Y-%m-%d %H:%M:%S 123456789)|", &ex),
        "2026-11-24 00:19:46 123456789|\n"
    );
}

#[test]
fn payload_line_header_and_body() {
    let ex = exchange(REQUEST, RESPONSE);
    assert_eq!(
        render("[%request.line][%response.line]", &ex),
        "[GET /index.html HTTP/1.1][HTTP/1.1 200 OK]\n"
    );
    assert_eq!(
        render("[%response.body][%request.body]", &ex),
        "[hello][]\n"
    );
    assert!(render("%request.header", &ex).ends_with("Connection: keep-alive\r\n\n"));
    assert_eq!(
        render("%request%response", &ex),
        format!(
            "{}{}\n",
            String::from_utf8_lossy(REQUEST),
            String::from_utf8_lossy(RESPONSE)
        )
    );
    let empty = exchange(b"", b"");
    assert_eq!(
        render(
            "[%request.line][%response.header][%response.body][%request]",
            &empty
        ),
        "[][][][]\n"
    );
}

#[test]
fn words_of_odd_first_lines() {
    // l_line_A and syn_server_first_A.
    let words = "%request.method|%request.url|%request.protocol|%response.protocol|%response.code|%response.message";
    assert_eq!(
        render(words, &exchange(b"SET color blue\r\n", b"+OK\r\n")),
        "SET|color|blue|+OK|-|-\n"
    );
    assert_eq!(
        render(words, &exchange(b"PING\r\n", b":1\r\n")),
        "PING|-|-|:1|-|-\n"
    );
    assert_eq!(
        render(words, &exchange(b"", b"250 OK\r\n")),
        "-|-|-|250|OK|-\n"
    );
    assert_eq!(
        render(
            words,
            &exchange(b"", b"220 mail.example.test ESMTP ready\r\n")
        ),
        "-|-|-|220|mail.example.test|ESMTP ready\n"
    );
    assert_eq!(
        render(
            "%response.code|%response.message",
            &exchange(b"", b"HTTP/1.1 404 Not Found\nServer: x\n\nnope")
        ),
        "404|Not Found\nServer: x\n\nnope\n"
    );
}

#[test]
fn word_keywords_take_a_regex_replacing_the_default() {
    // syn_grep_A, grep2.
    let request = b"GET /search?user=alice&id=12345&lang=it HTTP/1.1\r\nHost: x\r\n\r\n";
    let ex = exchange(request, b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(
        render("q=[%request.method(^(\\w)\\w*)] r=[%request.url(\\?(.*)$)] s=[%request.url([&?]id=(\\d+))] t=[%response.code(^HTTP/1\\.1 (2)\\d\\d)] u=[%response.message(OK|Created)] v=[%request.protocol(NOPE)]", &ex),
        "q=[G] r=[user=alice&id=12345&lang=it HTTP/1.1] s=[12345] t=[2] u=[OK] v=[-]\n"
    );
}

#[test]
fn header_lookup_edge_cases() {
    // syn_headers_A: decoys, case, tabs, empty values, duplicates.
    let request = b"GET /h HTTP/1.1\r\nX-Host: decoy.example.test\r\nhost: real.example.test\r\nUSER-AGENT:\t \tTabbed Agent/1.0  \r\nReferer:\r\nCookie: first=1\r\ncookie: second=2\r\n\r\nhello";
    let response =
        b"HTTP/1.1 200 OK\r\nServer:\r\nContent-Language: en\r\nContent-Laguage: typo\r\n\r\n";
    let ex = exchange(request, response);
    assert_eq!(
        render("[%request.header.host][%request.header.user-agent][%request.header.referer][%request.header.cookie][%response.header.server][%response.header.content-language]", &ex),
        "[real.example.test][Tabbed Agent/1.0  ][-][first=1][-][en]\n"
    );
    assert_eq!(
        render("a=[%request.header.value(X-Host)] b=[%request.header.value(host)] d=[%request.header.value(Referer)] f=[%request.header.value(Missing)] h=[%response.header.value(server)] i=[%response.header.value(Content-Laguage)]", &ex),
        "a=[decoy.example.test] b=[real.example.test] d=[] f=[] h=[] i=[typo]\n"
    );
}

#[test]
fn header_lookup_on_lf_only_lines_and_body_text() {
    let request = b"GET /lf-only HTTP/1.1\nHost: lf.example.test\nUser-Agent: lf-agent\n\n";
    let ex = exchange(
        request,
        b"HTTP/1.1 404 Not Found\nContent-Length: 4\nServer: lf-server\n\nnope",
    );
    assert_eq!(
        render("%request.header.host|%request.header.user-agent|%response.header.server|%response.header.content-length|[%request.body]", &ex),
        "lf.example.test|lf-agent|lf-server|4|[]\n"
    );
    // A header-like line in the body is not a header.
    let split = exchange(
        b"POST / HTTP/1.1\r\nContent-Length: 26\r\n\r\nbody line with\r\nHost: evil\n",
        b"",
    );
    assert_eq!(render("%request.header.host", &split), "-\n");
}

#[test]
fn grep_prints_the_highest_group_of_the_first_match() {
    // syn_grep_A, grep1.
    let request = b"GET /search?user=alice&id=12345 HTTP/1.1\r\nHost: www.example.test\r\nX-Custom: Value With Spaces\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nX-Request-Time: 12ms\r\n\r\n{\"token\":\"T0K3N\"}\n";
    let ex = exchange(request, response);
    let format = "a=[%request.grep((GET|POST) (/[a-z]+))] b=[%request.grep((zzz)|(GET|POST))] c=[%request.grep((GET)|(zzz))] d=[%request.grep(((\\w+)=(\\w+)))] e=[%request.grep(user=\\w+)] f=[%request.grep(HOST:\\s*(\\S+))] g=[%request.grep(x-custom:\\s*(.*?)\\r)] h=[%response.grep(\"token\":\"([^\"]+)\")] i=[%response.grep(^X-Request-Time: (\\d+)ms)] l=[%request.grep([[:digit:]]{3,})] w=[%request.grep(^$)]";
    assert_eq!(
        render(format, &ex),
        "a=[/search] b=[GET] c=[-] d=[alice] e=[user=alice] f=[www.example.test] g=[Value With Spaces] h=[T0K3N] i=[12] l=[12345] w=[-]\n"
    );
}

#[test]
fn header_grep_searches_the_header_block_only() {
    let ex = exchange(
        b"GET / HTTP/1.1\r\nCookie: session=beef\r\n\r\nsession=cafe",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    );
    assert_eq!(
        render("%request.header.grep(session=([0-9a-f]+))|%request.header.grep(cafe)|%response.header.grep(content-type:\\s*(\\w+)/(\\w+))", &ex),
        "beef|-|plain\n"
    );
}

#[test]
fn grep_dot_matches_newline_and_lines_end_at_crlf() {
    let ex = exchange(b"A: 1\r\nB: 2\r\n\r\n", b"");
    assert_eq!(
        render(
            "%request.grep(A:(.)*B)|%request.grep(^a: (.*?)$)|%request.grep(^B: (\\d)$)",
            &ex
        ),
        "\n|1|2\n"
    );
}

#[test]
fn tls_sni_and_version_from_a_client_hello() {
    let mut hello = vec![0x16, 0x03, 0x01, 0, 0, 0x01, 0, 0, 0, 0x03, 0x03];
    hello.extend_from_slice(&[7; 32]); // random
    hello.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]); // session id, suites, compression
    let name = b"api.example.test";
    let mut exts = vec![
        0,
        0,
        0,
        (name.len() + 5) as u8,
        0,
        (name.len() + 3) as u8,
        0,
        0,
        name.len() as u8,
    ];
    exts.extend_from_slice(name);
    exts.extend_from_slice(&[0, 0x2b, 0, 5, 4, 0x03, 0x04, 0x03, 0x03]);
    hello.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    hello.extend_from_slice(&exts);
    let hs_len = hello.len() - 9;
    hello[6..9].copy_from_slice(&[0, (hs_len >> 8) as u8, hs_len as u8]);
    let rec_len = hello.len() - 5;
    hello[3..5].copy_from_slice(&(rec_len as u16).to_be_bytes());

    let ex = exchange(&hello, b"\x16\x03\x03");
    assert_eq!(
        render("%tls.sni %tls.version %tls.sni(N)", &ex),
        "api.example.test TLS_1.3 api.example.test\n"
    );
    assert_eq!(
        render(
            "%tls.sni %tls.version %tls.sni(NOSNI)",
            &exchange(REQUEST, b"")
        ),
        "- - NOSNI\n"
    );
    // A hello that starts after the first 1024 bytes is not looked for.
    let mut late = vec![b'x'; 1100];
    late.extend_from_slice(&hello);
    assert_eq!(render("%tls.sni", &exchange(&late, b"")), "-\n");
}

// ---- encodings -----------------------------------------------------------------

#[test]
fn encodings_apply_to_every_byte_including_literal_text() {
    let ex = exchange(b"GET /\xff\r\n", b"");
    let u = RenderOptions {
        encoding: Encoding::Unprintable,
        ..RenderOptions::default()
    };
    let x = RenderOptions {
        encoding: Encoding::Hex,
        ..RenderOptions::default()
    };
    assert_eq!(
        render_with("é%tab%request.line%request|", &ex, &u),
        "..\tGET /.GET /..\n|\n"
    );
    assert_eq!(
        render_with("é%tab%request|", &ex, &x),
        "[0xc3][0xa9]\tGET /[0xff][0xd]\n|\n"
    );
}

#[test]
fn no_newline_option_and_buffer_reuse() {
    let ex = exchange(REQUEST, RESPONSE);
    let opts = RenderOptions {
        newline: false,
        ..RenderOptions::default()
    };
    let template = Template::parse("%request.url;").unwrap();
    let mut out = b"previous".to_vec();
    template.render(&ex, &opts, &mut out);
    template.render(&ex, &opts, &mut out);
    assert_eq!(out, b"previous/index.html;/index.html;");
}

// ---- robustness ----------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    /// The kitchen format of the corpus: every keyword.
    const KITCHEN: &str = "%source.ip:%source.port>%dest.ip:%dest.port conn=%connection orig=%close.originator(NC) ct=%connection.time(NA) cts=[%connection.timestamp] rqts=[%request.timestamp] rsts=%response.timestamp(%d/%b/%Y) clt=%close.time i0=%idle.time.0 i1=%idle.time.1 rqt=%request.time rst=%response.time rsb=%response.time.begin rse=%response.time.end st=%session.time sr=%session.requests streams=%streams rqsz=%request.size line=[%request.line] m=%request.method u=%request.url p=%request.protocol rline=[%response.line] code=%response.code msg=[%response.message] rproto=%response.protocol sni=%tls.sni ver=%tls.version rq.host=[%request.header.host] rs.server=[%response.header.server] hv=[%request.header.value(User-Agent)] hg=%request.header.grep(host:\\s*([^\\r\\n]+)) rg=%request.grep(^([A-Z]+)\\s) rsg=%response.grep(HTTP/1\\.([01])) [%request.header][%response.header][%request.body][%response.body][%request][%response]";

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        // Bias towards the bytes the analyzers care about.
        prop::collection::vec(
            prop_oneof![
                Just(b'\r'),
                Just(b'\n'),
                Just(b' '),
                Just(b':'),
                Just(0x16),
                Just(0x03),
                any::<u8>()
            ],
            0..400,
        )
    }

    proptest! {
        #[test]
        fn rendering_arbitrary_bytes_never_panics(request in bytes(), response in bytes()) {
            let ex = exchange(&request, &response);
            for encoding in [Encoding::Plain, Encoding::Unprintable, Encoding::Hex] {
                let opts = RenderOptions { encoding, ..RenderOptions::default() };
                let mut out = Vec::new();
                Template::parse(KITCHEN).unwrap().render(&ex, &opts, &mut out);
                prop_assert!(out.ends_with(b"\n"));
            }
        }

        #[test]
        fn parsing_arbitrary_formats_never_panics(format in "[%a-z.()\\\\ 0-9-]{0,40}") {
            let _ = Template::parse(&format);
        }

        #[test]
        fn default_words_equal_justniffer_default_regexes(line in "[ a\\t\\x0bb\\r\\nc]{0,12}") {
            let line = line.as_bytes();
            let re = |p: &str| regex::bytes::Regex::new(p).unwrap();
            let group = |p: &str| -> Vec<u8> {
                re(p).captures(line).and_then(|c| c.get(1)).map(|m| m.as_bytes().to_vec()).unwrap_or_default()
            };
            prop_assert_eq!(crate::exchange::http::word(line, 0), &group(r"(?-u)(^[^\s]*)")[..]);
            prop_assert_eq!(crate::exchange::http::word(line, 1), &group(r"(?-u)^[^\s]*\s*([^\s]*)")[..]);
            prop_assert_eq!(crate::exchange::http::word(line, 2), &group(r"(?-u)^[^\s]*\s*[^\s]*\s*([^\s]*)")[..]);
            prop_assert_eq!(crate::exchange::http::after_second_word(line), &group(r"(?-u)^[^\s]*\s*[^\s]*\s*([^\r]*)")[..]);
            let words = crate::exchange::http::first_words(line, 3);
            let first = crate::exchange::http::first_line(line);
            for (n, word) in words.into_iter().enumerate() {
                prop_assert_eq!(word, crate::exchange::http::word(first, n));
            }
        }

        #[test]
        fn http_analyzers_never_panic(data in bytes(), name in "[A-Za-z-]{0,8}") {
            use crate::exchange::http;
            let (h, b) = http::header_split(&data);
            prop_assert!(h <= b && b <= data.len());
            let _ = http::header_value(http::header_block(&data), name.as_bytes());
            let _ = (http::first_line(&data), http::body(&data), http::word(&data, 2), http::after_second_word(&data));
        }

        #[test]
        fn first_words_are_the_words_of_the_first_line(
            data in prop::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'\t'), Just(0x0b), Just(0x01), Just(b'a'), any::<u8>()],
                0..60,
            )
        ) {
            let first = crate::exchange::http::first_line(&data);
            for count in 0..=3 {
                let words = crate::exchange::http::first_words(&data, count);
                for (n, word) in words.into_iter().enumerate() {
                    let expected: &[u8] = if n < count { crate::exchange::http::word(first, n) } else { &[] };
                    prop_assert_eq!(word, expected);
                }
            }
        }

        #[test]
        fn tls_parser_never_panics(data in bytes()) {
            let _ = crate::exchange::tls::parse_client_hello(&data);
        }
    }
}

#[test]
fn pathological_formats_parse_in_linear_time() {
    let started = std::time::Instant::now();
    let unclosed = "%request.url(".repeat(50_000);
    assert!(Template::parse(&unclosed).is_ok());
    let nested = format!(
        "%request.header.host{}{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(Template::parse(&nested).is_ok());
    assert!(started.elapsed().as_secs() < 10);
}

#[test]
fn grep_patterns_may_hold_non_ascii_text() {
    // Patterns match bytes: a literal é matches its UTF-8 form, `.` one byte.
    let ex = exchange("GET /café HTTP/1.1\r\n\r\n".as_bytes(), b"");
    assert_eq!(render("%request.grep(/(café))", &ex), "café\n");
    let template = Template::parse("%request.grep(/(caf.))").unwrap();
    let mut out = Vec::new();
    template.render(&ex, &RenderOptions::default(), &mut out);
    assert_eq!(out, b"caf\xc3\n");
}
