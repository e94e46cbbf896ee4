//! Text → Whisper token ids, exactly as OpenAI's tokenizer (tiktoken) does
//! it: the pre-tokenizer's pattern splits text into words, then each word's
//! UTF-8 bytes are merged pair by pair, always the pair whose joined bytes
//! have the lowest rank, and a token's rank is its id.
//!
//! whisper.cpp's own `whisper_tokenize` matches the longest vocabulary entry
//! greedily inside words found by a `std::regex` that does not know Hangul
//! as letters, so its ids for Korean text are not the ones the model saw in
//! training. Prompts are therefore tokenized here and handed to whisper.cpp
//! as ids (tested against the model's `tokenizer.json`). On the Korean dev
//! set this alone did not lower the error: the damage a prompt did there came
//! from a missing timestamp rule (see `engine`), fixed separately.
//!
//! ```
//! use tacit_transcribe::tokenizer::Tokenizer;
//! // A toy vocabulary: the 256 single bytes, then "ab" and " ab".
//! let mut vocab: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b]).collect();
//! vocab.push(b"ab".to_vec());
//! vocab.push(b" ab".to_vec());
//! let t = Tokenizer::new(vocab);
//! assert_eq!(t.encode("ab ab"), vec![256, 257]);
//! assert_eq!(t.decode(&t.encode("ab ab")), b"ab ab");
//! ```

use std::collections::HashMap;

/// A byte-level BPE tokenizer whose merge ranks are the token ids.
pub struct Tokenizer {
    ranks: HashMap<Vec<u8>, u32>,
    vocab: Vec<Vec<u8>>,
}

impl Tokenizer {
    /// From the text vocabulary (token id = index), without special tokens.
    pub fn new(vocab: Vec<Vec<u8>>) -> Self {
        let mut ranks = HashMap::with_capacity(vocab.len());
        for (id, bytes) in vocab.iter().enumerate() {
            // The first id of a byte string wins (a vocabulary may repeat one).
            ranks.entry(bytes.clone()).or_insert(id as u32);
        }
        Self { ranks, vocab }
    }

    /// Token ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<i32> {
        let mut out = Vec::new();
        for word in pre_tokenize(text) {
            let bytes = word.as_bytes();
            if let Some(&id) = self.ranks.get(bytes) {
                out.push(id as i32);
                continue;
            }
            // A vocabulary without every single byte: a byte it lacks is
            // skipped rather than sent as an id the model does not have.
            out.extend(self.merge(bytes).into_iter().filter_map(|part| self.ranks.get(part)).map(|&id| id as i32));
        }
        out
    }

    /// The text vocabulary: each token's bytes, by id.
    pub fn vocab(&self) -> &[Vec<u8>] {
        &self.vocab
    }

    /// The bytes of `ids` (ids outside the vocabulary are skipped).
    pub fn decode(&self, ids: &[i32]) -> Vec<u8> {
        ids.iter().filter_map(|&id| usize::try_from(id).ok().and_then(|i| self.vocab.get(i))).flatten().copied().collect()
    }

    /// Splits `bytes` into the pieces byte-pair merging by rank leaves.
    fn merge<'a>(&self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        // Boundaries between pieces; start with one piece per byte.
        let mut bounds: Vec<usize> = (0..=bytes.len()).collect();
        let rank_of = |bounds: &[usize], i: usize| -> Option<u32> {
            (i + 2 < bounds.len()).then(|| self.ranks.get(&bytes[bounds[i]..bounds[i + 2]]).copied()).flatten()
        };
        let mut pair_ranks: Vec<Option<u32>> = (0..bounds.len().saturating_sub(1)).map(|i| rank_of(&bounds, i)).collect();
        loop {
            let best = pair_ranks.iter().enumerate().filter_map(|(i, r)| r.map(|r| (r, i))).min();
            let Some((_, i)) = best else { break };
            // Join pieces i and i + 1.
            bounds.remove(i + 1);
            pair_ranks.remove(i + 1);
            pair_ranks[i] = rank_of(&bounds, i);
            if i > 0 {
                pair_ranks[i - 1] = rank_of(&bounds, i - 1);
            }
        }
        bounds.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
    }
}

/// Splits text the way Whisper's tiktoken pattern does:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
/// Letters and numbers are Rust's `char::is_alphabetic` and `is_numeric`.
pub fn pre_tokenize(text: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Letter,
        Number,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphabetic() {
            Class::Letter
        } else if c.is_numeric() {
            Class::Number
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        // Contractions.
        if c == '\'' {
            let rest = &text[chars[i].0 + 1..];
            if let Some(n) = ["re", "ve", "ll", "s", "t", "m", "d"].iter().find(|s| rest.starts_with(**s)).map(|s| s.len()) {
                let end = chars[i].0 + 1 + n;
                out.push(&text[chars[i].0..end]);
                while i < chars.len() && chars[i].0 < end {
                    i += 1;
                }
                continue;
            }
        }
        // An optional single space, then a run of one class.
        let (body, start) = if c == ' ' && chars.get(i + 1).is_some_and(|&(_, n)| class(n) != Class::Space) { (i + 1, i) } else { (i, i) };
        let k = class(chars[body].1);
        if k != Class::Space {
            let mut j = body + 1;
            while j < chars.len() && class(chars[j].1) == k {
                j += 1;
            }
            out.push(&text[at(start)..at(j)]);
            i = j;
            continue;
        }
        // Whitespace: the run, less its last character when a word follows.
        let mut j = i + 1;
        while j < chars.len() && class(chars[j].1) == Class::Space {
            j += 1;
        }
        if j < chars.len() && j - i > 1 {
            j -= 1;
        }
        out.push(&text[at(i)..at(j)]);
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tokenizer_follows_the_pattern() {
        assert_eq!(pre_tokenize("Hello, world!"), ["Hello", ",", " world", "!"]);
        assert_eq!(pre_tokenize("키홀, 언더컷 200A"), ["키홀", ",", " 언더컷", " 200", "A"]);
        assert_eq!(pre_tokenize("it's  3 mm\n"), ["it", "'s", " ", " 3", " mm", "\n"]);
        assert_eq!(pre_tokenize("a\nb"), ["a", "\n", "b"]);
        assert_eq!(pre_tokenize(" , x  "), [" ,", " x", "  "]);
    }

    #[test]
    fn merges_go_by_rank() {
        // "abc": "bc" (256) ranks before "ab" (257), so the result is a + bc.
        let mut vocab: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b]).collect();
        vocab.push(b"bc".to_vec());
        vocab.push(b"ab".to_vec());
        let t = Tokenizer::new(vocab);
        assert_eq!(t.encode("abc"), vec![i32::from(b'a'), 256]);
        assert_eq!(t.encode("abd"), vec![257, i32::from(b'd')]);
    }
}
