//! Tokenizer and recursive-descent parser for OTTL conditions.
//!
//! Grammar (precedence low to high, as in OTTL):
//! ```text
//! condition := and ("or" and)*
//! and       := not ("and" not)*
//! not       := "not" not | compare
//! compare   := term (op term)?
//! term      := "(" condition ")" | literal | ENUM | Func "(" args ")" | path
//! path      := ident ("." ident)* ("[" string "]")?
//! ```

use std::borrow::Cow;

use regex::Regex;

use super::{CmpOp, Condition, Context, Field, Term, TypeTest, Value};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => (out.push(Tok::LParen), i += 1).1,
            b')' => (out.push(Tok::RParen), i += 1).1,
            b'[' => (out.push(Tok::LBracket), i += 1).1,
            b']' => (out.push(Tok::RBracket), i += 1).1,
            b',' => (out.push(Tok::Comma), i += 1).1,
            b'.' => (out.push(Tok::Dot), i += 1).1,
            b'=' | b'!' | b'<' | b'>' => {
                let two = b.get(i + 1) == Some(&b'=');
                let op = match (c, two) {
                    (b'=', true) => CmpOp::Eq,
                    (b'!', true) => CmpOp::Ne,
                    (b'<', true) => CmpOp::Le,
                    (b'>', true) => CmpOp::Ge,
                    (b'<', false) => CmpOp::Lt,
                    (b'>', false) => CmpOp::Gt,
                    _ => return Err(format!("unexpected {:?} at offset {i}", c as char)),
                };
                out.push(Tok::Op(op));
                i += if two { 2 } else { 1 };
            }
            b'"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&c) = b.get(i) else {
                        return Err("unterminated string".into());
                    };
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let Some(&e) = b.get(i + 1) else {
                                return Err("unterminated string".into());
                            };
                            match e {
                                b'n' => v.push('\n'),
                                b't' => v.push('\t'),
                                b'"' => v.push('"'),
                                b'\\' => v.push('\\'),
                                // Keep unknown escapes for regexes (`\d`, `\.`).
                                other => {
                                    v.push('\\');
                                    v.push(other as char);
                                }
                            }
                            i += 2;
                            continue;
                        }
                        _ => {}
                    }
                    // Copy one UTF-8 character.
                    let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
                out.push(Tok::Str(v));
            }
            b'0'..=b'9' | b'-' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'e') {
                    i += 1;
                }
                let text = &s[start..i];
                if text == "-" {
                    return Err(format!("unexpected '-' at offset {start}"));
                }
                out.push(if text.contains(['.', 'e']) {
                    Tok::Float(
                        text.parse()
                            .map_err(|_| format!("invalid number {text:?}"))?,
                    )
                } else {
                    Tok::Int(
                        text.parse()
                            .map_err(|_| format!("invalid number {text:?}"))?,
                    )
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Ident(s[start..i].to_owned()));
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected {ch:?} at offset {i}"));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    ctx: Context,
}

/// Parses one condition for `ctx`.
///
/// # Errors
/// A syntax error, or a path, function or enum this context does not have, as a message.
pub fn parse(ctx: Context, s: &str) -> Result<Condition, String> {
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
        ctx,
    };
    let c = p.or()?;
    if let Some(t) = p.toks.get(p.pos) {
        return Err(format!("unexpected {t:?} after a complete condition"));
    }
    Ok(c)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(i)) if i == k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            Some(got) => Err(format!("expected {t:?}, found {got:?}")),
            None => Err(format!("expected {t:?}, found the end")),
        }
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut v = vec![self.and()?];
        while self.keyword("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Condition::Or(v)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut v = vec![self.not()?];
        while self.keyword("and") {
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Condition::And(v)
        })
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.keyword("not") {
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        let a = self.term()?;
        if let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            self.pos += 1;
            let b = self.term()?;
            return Ok(Condition::Cmp(a, op, b));
        }
        match &a {
            Term::Lit(Value::Bool(_))
            | Term::Field(_)
            | Term::IsMatch(..)
            | Term::IsType(..)
            | Term::HasDataPointAttr(..)
            | Term::Group(_) => Ok(Condition::Truthy(a)),
            Term::Lit(v) => Err(format!("{v:?} is not a condition")),
        }
    }

    fn term(&mut self) -> Result<Term, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let c = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(Term::Group(Box::new(c)))
            }
            Some(Tok::Str(s)) => Ok(Term::Lit(Value::Str(Cow::Owned(s)))),
            Some(Tok::Int(i)) => Ok(Term::Lit(Value::Int(i))),
            Some(Tok::Float(f)) => Ok(Term::Lit(Value::Double(f))),
            Some(Tok::Ident(id)) => {
                if id == "true" || id == "false" {
                    return Ok(Term::Lit(Value::Bool(id == "true")));
                }
                if id == "nil" {
                    return Ok(Term::Lit(Value::Nil));
                }
                if let Some(n) = enum_value(&id) {
                    return Ok(Term::Lit(Value::Int(n)));
                }
                if id.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                    if self.peek() == Some(&Tok::LParen) {
                        return self.call(&id);
                    }
                    return Err(format!("unknown enum {id}"));
                }
                self.path(id)
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end of condition".into()),
        }
    }

    fn args(&mut self) -> Result<Vec<Term>, String> {
        self.expect(Tok::LParen)?;
        let mut args = Vec::new();
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.term()?);
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::RParen) => return Ok(args),
                other => return Err(format!("expected ',' or ')', found {other:?}")),
            }
        }
    }

    fn call(&mut self, name: &str) -> Result<Term, String> {
        let mut args = self.args()?;
        let arity = |n: usize, args: &Vec<Term>| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{name} takes {n} argument(s), got {}", args.len()))
            }
        };
        let lit_str = |t: &Term| match t {
            Term::Lit(Value::Str(s)) => Ok(s.to_string()),
            _ => Err(format!("{name}: expected a string literal")),
        };
        match name {
            "IsMatch" => {
                arity(2, &args)?;
                let pattern = lit_str(&args[1])?;
                let re =
                    Regex::new(&pattern).map_err(|e| format!("IsMatch: invalid regex: {e}"))?;
                Ok(Term::IsMatch(Box::new(args.swap_remove(0)), re))
            }
            "IsString" | "IsInt" | "IsDouble" | "IsBool" => {
                arity(1, &args)?;
                let ty = match name {
                    "IsString" => TypeTest::String,
                    "IsInt" => TypeTest::Int,
                    "IsDouble" => TypeTest::Double,
                    _ => TypeTest::Bool,
                };
                Ok(Term::IsType(Box::new(args.remove(0)), ty))
            }
            "HasAttrKeyOnDatapoint" | "HasAttrOnDatapoint" if self.ctx == Context::Metric => {
                let with_value = name == "HasAttrOnDatapoint";
                arity(if with_value { 2 } else { 1 }, &args)?;
                let key = lit_str(&args[0])?;
                let value = if with_value {
                    Some(lit_str(&args[1])?)
                } else {
                    None
                };
                Ok(Term::HasDataPointAttr(key, value))
            }
            "HasAttrKeyOnDatapoint" | "HasAttrOnDatapoint" => {
                Err(format!("{name} is only available in the metric context"))
            }
            _ => Err(format!("unsupported function {name}")),
        }
    }

    fn path(&mut self, first: String) -> Result<Term, String> {
        let mut segs = vec![first];
        while self.peek() == Some(&Tok::Dot) {
            self.pos += 1;
            match self.next() {
                Some(Tok::Ident(i)) => segs.push(i),
                other => return Err(format!("expected a name after '.', found {other:?}")),
            }
        }
        let key = if self.peek() == Some(&Tok::LBracket) {
            self.pos += 1;
            let k = match self.next() {
                Some(Tok::Str(k)) => k,
                other => return Err(format!("expected a string key, found {other:?}")),
            };
            self.expect(Tok::RBracket)?;
            Some(k)
        } else {
            None
        };
        resolve(self.ctx, &segs, key).map(Term::Field)
    }
}

/// Resolves a path to a field of `ctx`.
fn resolve(ctx: Context, segs: &[String], key: Option<String>) -> Result<Field, String> {
    let shown = {
        let mut p = segs.join(".");
        if let Some(k) = &key {
            p.push_str(&format!("[{k:?}]"));
        }
        p
    };
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    // Common to every context.
    match (s.as_slice(), &key) {
        (["resource", "attributes"], Some(k)) => return Ok(Field::ResourceAttr(k.clone())),
        (["instrumentation_scope" | "scope", "name"], None) => return Ok(Field::ScopeName),
        (["instrumentation_scope" | "scope", "version"], None) => return Ok(Field::ScopeVersion),
        _ => {}
    }
    // `span.name` in the span context is `name`.
    let own: &[&str] = match s.split_first() {
        Some((first, rest)) if *first == ctx.prefix() && !rest.is_empty() => rest,
        _ => &s,
    };
    let field = match (ctx, own, key) {
        (Context::Span | Context::SpanEvent | Context::Metric, ["name"], None) => Field::Name,
        (Context::Span, ["kind"], None) => Field::Kind,
        (Context::Span, ["status", "code"], None) => Field::StatusCode,
        (Context::Span, ["status", "message"], None) => Field::StatusMessage,
        (
            Context::Span | Context::SpanEvent | Context::DataPoint | Context::Log,
            ["attributes"],
            Some(k),
        ) => Field::Attr(k),
        (Context::SpanEvent, ["span", "name"], None) => Field::ParentName,
        (Context::SpanEvent, ["span", "attributes"], Some(k)) => Field::ParentAttr(k),
        (Context::Metric, ["type"], None) | (Context::DataPoint, ["metric", "type"], None) => {
            Field::MetricType
        }
        (Context::Metric, ["unit"], None) | (Context::DataPoint, ["metric", "unit"], None) => {
            Field::Unit
        }
        (Context::Metric, ["description"], None)
        | (Context::DataPoint, ["metric", "description"], None) => Field::Description,
        (Context::DataPoint, ["metric", "name"], None) => Field::ParentName,
        (Context::DataPoint, ["value_int"], None) => Field::ValueInt,
        (Context::DataPoint, ["value_double"], None) => Field::ValueDouble,
        (Context::Log, ["body"], None) => Field::Body,
        (Context::Log, ["severity_number"], None) => Field::SeverityNumber,
        (Context::Log, ["severity_text"], None) => Field::SeverityText,
        _ => {
            return Err(format!(
                "unknown path {} in the {} context",
                shown,
                ctx.prefix()
            ));
        }
    };
    Ok(field)
}

/// The OTTL enums: span kinds, status codes, severity numbers and metric data types
/// (`SEVERITY_NUMBER_WARN2` → 14, per the log data model).
pub fn enum_value(id: &str) -> Option<i64> {
    const SEVERITIES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    Some(match id {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        "METRIC_DATA_TYPE_NONE" => 0,
        "METRIC_DATA_TYPE_GAUGE" => 1,
        "METRIC_DATA_TYPE_SUM" => 2,
        "METRIC_DATA_TYPE_HISTOGRAM" => 3,
        "METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM" => 4,
        "METRIC_DATA_TYPE_SUMMARY" => 5,
        "SEVERITY_NUMBER_UNSPECIFIED" => 0,
        _ => {
            let rest = id.strip_prefix("SEVERITY_NUMBER_")?;
            let (name, step) = match rest.char_indices().last() {
                Some((i, c @ '2'..='4')) => (&rest[..i], i64::from(c as u8 - b'1')),
                _ => (rest, 0),
            };
            let base = SEVERITIES.iter().position(|s| *s == name)? as i64;
            1 + base * 4 + step
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_enums_follow_the_log_data_model() {
        assert_eq!(enum_value("SEVERITY_NUMBER_TRACE"), Some(1));
        assert_eq!(enum_value("SEVERITY_NUMBER_TRACE4"), Some(4));
        assert_eq!(enum_value("SEVERITY_NUMBER_DEBUG"), Some(5));
        assert_eq!(enum_value("SEVERITY_NUMBER_INFO"), Some(9));
        assert_eq!(enum_value("SEVERITY_NUMBER_WARN"), Some(13));
        assert_eq!(enum_value("SEVERITY_NUMBER_ERROR2"), Some(18));
        assert_eq!(enum_value("SEVERITY_NUMBER_FATAL4"), Some(24));
        assert_eq!(enum_value("SEVERITY_NUMBER_LOUD"), None);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let e = |ctx, s| parse(ctx, s).unwrap_err();
        assert!(
            e(Context::Span, "severity_number > 3")
                .contains("unknown path severity_number in the span context")
        );
        assert!(e(Context::Span, "Truncate(name, 3)").contains("unsupported function Truncate"));
        assert!(e(Context::Span, "kind == SPAN_KIND_WHATEVER").contains("unknown enum"));
        assert!(e(Context::Span, "name == \"x").contains("unterminated string"));
        assert!(e(Context::Span, "name == ").contains("unexpected end"));
        assert!(e(Context::Span, "IsMatch(name, \"(\")").contains("invalid regex"));
        assert!(e(Context::Span, "\"x\"").contains("is not a condition"));
        assert!(
            e(Context::Log, "HasAttrOnDatapoint(\"a\", \"b\")")
                .contains("only available in the metric context")
        );
        assert!(e(Context::Span, "name == \"a\" \"b\"").contains("after a complete condition"));
    }

    #[test]
    fn precedence_is_not_and_or() {
        // a or b and c  ==  a or (b and c)
        let c = parse(
            Context::Span,
            "name == \"a\" or name == \"b\" and kind == 2",
        )
        .unwrap();
        match c {
            Condition::Or(v) => {
                assert_eq!(v.len(), 2);
                assert!(matches!(v[1], Condition::And(_)));
            }
            other => panic!("{other:?}"),
        }
    }
}
