//! htpasswd entries as Apache's `htpasswd` writes them: bcrypt (`$2y$`, `-B`), Apache MD5
//! (`$apr1$`, the default), SHA-1 (`{SHA}`, `-s`), and plain text.

use std::collections::HashMap;

use base64::Engine as _;

/// Users and their password hashes.
#[derive(Debug, Default)]
pub struct Htpasswd(HashMap<String, String>);

impl Htpasswd {
    /// Parses `user:hash` lines (empty lines and `#` comments skipped).
    ///
    /// # Errors
    /// A line without `:`, or a hash with an unsupported scheme (`$1$`, `$5$`, `$6$`, crypt),
    /// named by its line number (never its content).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| format!("htpasswd line {}: expected user:hash", i + 1))?;
            if ["$1$", "$5$", "$6$"].iter().any(|p| hash.starts_with(p)) {
                return Err(format!(
                    "htpasswd line {}: unsupported hash scheme (use bcrypt -B, Apache MD5 -m or SHA -s)",
                    i + 1
                ));
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        Ok(Htpasswd(users))
    }

    /// The hash of `user`.
    pub fn get(&self, user: &str) -> Option<&str> {
        self.0.get(user).map(String::as_str)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True without users.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Equality without an early exit: the SHA-256 digests of both sides are compared with every
/// byte looked at, so the time taken says nothing about where a guess goes wrong.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let da = ring::digest::digest(&ring::digest::SHA256, a);
    let db = ring::digest::digest(&ring::digest::SHA256, b);
    da.as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Whether `password` matches the htpasswd `hash`.
pub fn verify(hash: &str, password: &str) -> bool {
    if hash.starts_with("$2a$")
        || hash.starts_with("$2b$")
        || hash.starts_with("$2y$")
        || hash.starts_with("$2x$")
    {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    if let Some(rest) = hash.strip_prefix("$apr1$") {
        let salt = rest.split('$').next().unwrap_or("");
        return ct_eq(
            apr1(password.as_bytes(), salt.as_bytes()).as_bytes(),
            hash.as_bytes(),
        );
    }
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
        let mine = base64::engine::general_purpose::STANDARD.encode(d.as_ref());
        return ct_eq(mine.as_bytes(), b64.as_bytes());
    }
    ct_eq(hash.as_bytes(), password.as_bytes())
}

/// Apache's MD5-based crypt (`$apr1$salt$hash`, apr_md5.c `apr_md5_encode`).
pub fn apr1(pw: &[u8], salt: &[u8]) -> String {
    use md5::{Digest, Md5};
    let salt = &salt[..salt.len().min(8)];
    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(b"$apr1$");
    ctx.update(salt);
    let mut alt = Md5::new();
    alt.update(pw);
    alt.update(salt);
    alt.update(pw);
    let alt = alt.finalize();
    let mut n = pw.len();
    while n > 0 {
        ctx.update(&alt[..n.min(16)]);
        n = n.saturating_sub(16);
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for i in 0..1000 {
        let mut c = Md5::new();
        if i & 1 == 1 {
            c.update(pw);
        } else {
            c.update(fin);
        }
        if i % 3 != 0 {
            c.update(salt);
        }
        if i % 7 != 0 {
            c.update(pw);
        }
        if i & 1 == 1 {
            c.update(fin);
        } else {
            c.update(pw);
        }
        fin = c.finalize();
    }
    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = format!("$apr1${}$", String::from_utf8_lossy(salt));
    let mut to64 = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(
            (u32::from(fin[a]) << 16) | (u32::from(fin[b]) << 8) | u32::from(fin[c]),
            4,
        );
    }
    to64(u32::from(fin[11]), 2);
    out
}
