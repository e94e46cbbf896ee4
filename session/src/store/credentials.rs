//! Keys from the AWS shared credentials file (`~/.aws/credentials`, or
//! `AWS_SHARED_CREDENTIALS_FILE`): the profile the AWS CLI and boto3 read.

use std::path::PathBuf;

/// One profile's keys.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// Where the shared credentials file is.
pub(crate) fn shared_file() -> PathBuf {
    if let Some(f) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        return PathBuf::from(f);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".aws").join("credentials")
}

/// `profile`'s keys in `file`, if it has both.
pub(crate) fn read(file: &std::path::Path, profile: &str) -> Option<Keys> {
    parse(&std::fs::read_to_string(file).ok()?, profile)
}

/// The INI format of the file: `[profile]` sections of `key = value` lines,
/// `#` and `;` comments.
fn parse(text: &str, profile: &str) -> Option<Keys> {
    let mut section = String::new();
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if section != profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    Some(Keys { access_key_id: id?, secret_access_key: secret?, session_token: token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles() {
        let text =
            "# site keys\n[default]\naws_access_key_id = A\naws_secret_access_key=B\n\n[bay-3]\naws_access_key_id = C\n; no secret\n";
        assert_eq!(parse(text, "default"), Some(Keys { access_key_id: "A".into(), secret_access_key: "B".into(), session_token: None }));
        assert_eq!(parse(text, "bay-3"), None);
        assert_eq!(parse(text, "missing"), None);
    }
}
