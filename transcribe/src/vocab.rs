//! The vocabulary ggml wants: token ids 0..=50256 as raw bytes, decoded from
//! GPT-2's byte-level strings in `tokenizer.json` (or `vocabulary.json` /
//! `vocabulary.txt`).

use std::collections::HashMap;
use std::path::Path;

use crate::error::TranscribeError;

/// Entries written (ids 0..=50256), as the official ggml files have.
pub const N_WORDS: usize = 50_257;

/// GPT-2's byte → code point table, inverted.
pub fn char_to_byte() -> HashMap<char, u8> {
    let mut map = HashMap::new();
    let mut n = 0u32;
    for b in 0u32..=255 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            n += 1;
            255 + n
        };
        if let Some(ch) = char::from_u32(c) {
            map.insert(ch, b as u8);
        }
    }
    map
}

/// Token string → raw bytes.
pub fn decode_token(token: &str, table: &HashMap<char, u8>) -> Option<Vec<u8>> {
    token.chars().map(|c| table.get(&c).copied()).collect()
}

/// Reads the vocabulary from a CTranslate2 model folder: id → bytes.
pub fn load(dir: &Path) -> Result<Vec<Vec<u8>>, TranscribeError> {
    let by_id = read_ids(dir)?;
    let table = char_to_byte();
    let mut out = Vec::with_capacity(N_WORDS);
    for id in 0..N_WORDS {
        let token = by_id.get(&id).ok_or_else(|| TranscribeError::model(format!("vocabulary has no token id {id}"), dir))?;
        let bytes = decode_token(token, &table)
            .ok_or_else(|| TranscribeError::model(format!("token {id} ({token:?}) is not GPT-2 byte-level text"), dir))?;
        out.push(bytes);
    }
    Ok(out)
}

fn read_ids(dir: &Path) -> Result<HashMap<usize, String>, TranscribeError> {
    let tokenizer = dir.join("tokenizer.json");
    if tokenizer.is_file() {
        let text = std::fs::read_to_string(&tokenizer).map_err(|e| TranscribeError::io("read", &tokenizer, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| TranscribeError::model(format!("tokenizer.json is not JSON: {e}"), &tokenizer))?;
        let vocab = json
            .pointer("/model/vocab")
            .and_then(|v| v.as_object())
            .ok_or_else(|| TranscribeError::model("tokenizer.json has no model.vocab", &tokenizer))?;
        return Ok(vocab.iter().filter_map(|(k, v)| Some((v.as_u64()? as usize, k.clone()))).collect());
    }
    let json_path = dir.join("vocabulary.json");
    if json_path.is_file() {
        let text = std::fs::read_to_string(&json_path).map_err(|e| TranscribeError::io("read", &json_path, e))?;
        let list: Vec<String> = serde_json::from_str(&text)
            .map_err(|e| TranscribeError::model(format!("vocabulary.json is not a list of strings: {e}"), &json_path))?;
        return Ok(list.into_iter().enumerate().collect());
    }
    let txt = dir.join("vocabulary.txt");
    if txt.is_file() {
        let text = std::fs::read_to_string(&txt).map_err(|e| TranscribeError::io("read", &txt, e))?;
        return Ok(text.lines().map(str::to_string).enumerate().collect());
    }
    Err(TranscribeError::model("no tokenizer.json, vocabulary.json or vocabulary.txt", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_decoding() {
        let t = char_to_byte();
        assert_eq!(t.len(), 256);
        assert_eq!(decode_token("Ġgazed", &t).unwrap(), b" gazed");
        assert_eq!(decode_token("Ċ", &t).unwrap(), b"\n");
        assert_eq!(decode_token("Ġ", &t).unwrap(), b" ");
        // Korean "키" as GPT-2 bytes (UTF-8 ED 82 A4).
        assert_eq!(decode_token("íĤ¤", &t).unwrap(), "키".as_bytes());
        assert!(decode_token("\u{4e00}", &t).is_none());
    }
}
