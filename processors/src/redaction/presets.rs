//! Built-in, opt-in patterns for secrets commonly seen in infrastructure telemetry, selected
//! with `presets:`. Each is a key pattern (the whole value of a matching key is masked) or a
//! value pattern (the named group `secret`, or the whole match, is masked).

/// Where a preset's pattern applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// To attribute keys, like `blocked_key_patterns`.
    Key,
    /// To values, like `blocked_values`.
    Value,
}

/// One built-in pattern.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// The name used in `presets:`.
    pub name: &'static str,
    /// What it catches.
    pub doc: &'static str,
    /// Key or value pattern.
    pub applies: Applies,
    /// The regex (Rust `regex` syntax).
    pub pattern: &'static str,
    /// A further check of the matched text (the Luhn checksum of card numbers).
    pub check: Option<fn(&str) -> bool>,
}

/// Every preset; `secrets` selects them all.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "credential_keys",
        doc: "keys whose last component names a credential: `password`, `passwd`, `pwd`, \
              `passphrase`, `token`, `*_token`, `api_key`, `access_key`, `secret_key`, \
              `private_key`, `client_secret`, `authorization`, `cookie`, `set-cookie`, \
              `credential(s)` (as in `db.password`, `http.request.header.authorization`)",
        applies: Applies::Key,
        pattern: r"(?i)(?:^|[._-])(?:password|passwd|pwd|passphrase|token|(?:auth|access|refresh|id|session|bearer)[_-]?token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret|(?:proxy[_-]?)?authorization|(?:set[_-]?)?cookie|credentials?)$",
        check: None,
    },
    Preset {
        name: "bearer_tokens",
        doc: "the token (8 characters or more) of `Bearer <token>` (HTTP `Authorization` values)",
        applies: Applies::Value,
        pattern: r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)",
        check: None,
    },
    Preset {
        name: "basic_auth",
        doc: "the credentials (8 base64 characters or more) of `Basic <base64>` (HTTP `Authorization` values)",
        applies: Applies::Value,
        pattern: r"\b(?:Basic|BASIC)\s+(?P<secret>[A-Za-z0-9+/]{8,}={0,2})",
        check: None,
    },
    Preset {
        name: "url_credentials",
        doc: "the password of `scheme://user:password@host` URLs",
        applies: Applies::Value,
        pattern: r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:(?P<secret>[^/\s@]+)@",
        check: None,
    },
    Preset {
        name: "query_secrets",
        doc: "the values of URL query (or form) parameters named `password`, `passwd`, `pwd`, \
              `secret`, `client_secret`, `token`, `access_token`, `api_key`, `apikey`, \
              `sig`, `signature`, `X-Amz-Signature`, `X-Amz-Credential`",
        applies: Applies::Value,
        pattern: r"(?i)[?&;](?:password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|api_key|apikey|sig|signature|x-amz-signature|x-amz-credential)=(?P<secret>[^&#\s]+)",
        check: None,
    },
    Preset {
        name: "private_keys",
        doc: "PEM private key blocks (`-----BEGIN ... PRIVATE KEY-----` to `END`)",
        applies: Applies::Value,
        pattern: r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
        check: None,
    },
    Preset {
        name: "cloud_keys",
        doc: "AWS access key ids (`AKIA…`, `ASIA…`), Google API keys (`AIza…`), GitHub tokens \
              (`ghp_…`, `gho_…`, `ghs_…`, `ghu_…`, `ghr_…`, `github_pat_…`), Slack tokens \
              (`xox[abprs]-…`)",
        applies: Applies::Value,
        pattern: r"\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z\-_]{35}|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}|xox[abprs]-[A-Za-z0-9\-]{10,})\b",
        check: None,
    },
    Preset {
        name: "jwt",
        doc: "JSON Web Tokens (`eyJ….eyJ….…`)",
        applies: Applies::Value,
        pattern: r"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
        check: None,
    },
    Preset {
        name: "card_numbers",
        doc: "payment card numbers: 13–19 digits, optionally grouped by spaces or dashes, \
              starting with 2–6, that pass the Luhn checksum",
        applies: Applies::Value,
        pattern: r"\b[2-6](?:[ \-]?[0-9]){12,18}\b",
        check: Some(luhn),
    },
];

/// The name that selects every preset.
pub const ALL: &str = "secrets";

/// True when the digits of `s` (spaces and dashes ignored) pass the Luhn checksum.
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 13 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The presets a name selects (`secrets` → all).
pub fn select(name: &str) -> Option<Vec<&'static Preset>> {
    if name == ALL {
        return Some(PRESETS.iter().collect());
    }
    PRESETS.iter().find(|p| p.name == name).map(|p| vec![p])
}
