//! Numbers as a technician says them, written as digits with units:
//! "이백 암페어" → "200 A", "삼 점 이 밀리" → "3.2 mm", "두 건" → "2건",
//! "세시니까" → "3시니까", "two hundred amps" → "200 A".
//!
//! Whisper writes most numbers as digits already, but not all, and not the
//! same way twice; a dataset that mixes "이백 암페어", "200암페어" and
//! "200 A" cannot be searched or joined with sensor values. This pass runs
//! on a segment's words, so every number keeps its time: words that make
//! one number are merged (their span), a unit keeps its own word.
//!
//! It converts only what it is sure of. A Hangul numeral counts as a
//! number only before a unit or counter, and the short ones that are also
//! everyday words (이 "this", 일 "work", 오일 "oil", 이번, 이분, 이건,
//! 한번, 세상, 네가…) only before a measurement unit or an unambiguous
//! counter. Native numerals (한, 두, 세, 네 … 열두, 스무) take native
//! counters (시, 개, 건, 명 …) and nothing else ("세 장소", "네 차례" stay).

use crate::engine::RawWord;

/// Measurement units: spoken form → symbol, longest first where one is a
/// prefix of another. A symbol stands apart from its number ("200 A").
const UNITS_KO: &[(&str, &str)] = &[
    ("밀리미터", "mm"),
    ("센티미터", "cm"),
    ("킬로미터", "km"),
    ("킬로그램", "kg"),
    ("킬로와트", "kW"),
    ("킬로헤르츠", "kHz"),
    ("메가파스칼", "MPa"),
    ("암페어", "A"),
    ("엠페어", "A"),
    ("헤르츠", "Hz"),
    ("퍼센트", "%"),
    ("프로", "%"),
    ("밀리", "mm"),
    ("센티", "cm"),
    ("미터", "m"),
    ("볼트", "V"),
    ("와트", "W"),
    ("리터", "L"),
    ("그램", "g"),
    ("기압", "atm"),
    ("암페", "A"),
];

/// Counters written right after the number ("3시", "2016년").
const COUNTERS_SINO: &[&str] = &[
    "개월", "호선", "시간", "년", "월", "일", "시", "분", "초", "층", "번", "원", "도", "종", "박", "호", "회", "차", "명", "개", "주",
    "세", "대", "장",
];
/// Counters that a single-syllable numeral (일, 이, 삼 …, 십, 백) may take:
/// those that make no everyday word with it.
const COUNTERS_SINO_SHORT: &[&str] = &["개월", "호선", "년", "월", "층", "박"];
/// After a month ("7월"), a day: "사일" is the 4th, not a word.
const COUNTERS_SINO_DAY: &[&str] = &["개월", "호선", "년", "월", "층", "박", "일"];
/// Native counters that make other words when written together with the
/// numeral ("세대", "역세권", "두벌"): only as a word of their own.
const COUNTERS_NATIVE_APART: &[&str] = &["대", "장", "권", "벌"];
/// What may follow a counter inside its word: particles and endings.
const ENDINGS: &[&str] = &[
    "이니까",
    "입니다",
    "이에요",
    "까지",
    "부터",
    "니까",
    "으로",
    "이나",
    "정도",
    "동안",
    "밖에",
    "이다",
    "예요",
    "이야",
    "하고",
    "마다",
    "짜리",
    "이상",
    "이하",
    "에서",
    "에는",
    "에도",
    "이",
    "가",
    "을",
    "를",
    "은",
    "는",
    "에",
    "의",
    "도",
    "만",
    "로",
    "나",
    "씩",
    "째",
    "쯤",
    "인",
    "야",
    "와",
    "과",
    "간",
    "전",
    "후",
    "내",
    "께",
    "경",
];
/// Counters native numerals take.
const COUNTERS_NATIVE: &[&str] = &["시간", "시", "개", "건", "명", "살", "대", "장", "가지", "군데", "마리", "바퀴", "권", "벌", "번째"];

/// Native numerals, longest first; "한" is left out before 시 and 번
/// ("한시적", "한 번" = once).
const NATIVE: &[(&str, u64)] = &[
    ("열하나", 11),
    ("열한", 11),
    ("열둘", 12),
    ("열두", 12),
    ("열셋", 13),
    ("열세", 13),
    ("열넷", 14),
    ("열네", 14),
    ("다섯", 5),
    ("여섯", 6),
    ("일곱", 7),
    ("여덟", 8),
    ("아홉", 9),
    ("스무", 20),
    ("스물", 20),
    ("서른", 30),
    ("마흔", 40),
    ("하나", 1),
    ("한", 1),
    ("둘", 2),
    ("두", 2),
    ("셋", 3),
    ("세", 3),
    ("넷", 4),
    ("네", 4),
    ("열", 10),
    ("쉰", 50),
];

/// Larger values are not numbers anyone says (a decoder stuck repeating
/// "hundred" or "억"): left as they are.
const MAX_SAID: u64 = 1_000_000_000_000_000;

fn sino_digit(c: char) -> Option<u64> {
    Some(match c {
        '영' | '공' => 0,
        '일' => 1,
        '이' => 2,
        '삼' => 3,
        '사' => 4,
        '오' => 5,
        '육' | '륙' => 6,
        '칠' => 7,
        '팔' => 8,
        '구' => 9,
        _ => return None,
    })
}

fn sino_unit(c: char) -> Option<u64> {
    Some(match c {
        '십' => 10,
        '백' => 100,
        '천' => 1_000,
        '만' => 10_000,
        '억' => 100_000_000,
        _ => return None,
    })
}

/// A Sino-Korean numeral at the start of `s`: (value, decimal digits,
/// chars used, strong). Strong: two or more syllables with 십/백/천/만/억,
/// or a decimal — too long to be an everyday word.
fn sino_prefix(s: &str) -> Option<(u64, String, usize, bool)> {
    let chars: Vec<char> = s.chars().collect();
    let (mut total, mut section, mut digit): (u64, u64, Option<u64>) = (0, 0, None);
    let (mut last_big, mut last_small) = (u64::MAX, u64::MAX);
    let mut used = 0;
    let mut has_unit = false;
    while used < chars.len() {
        let c = chars[used];
        if let Some(d) = sino_digit(c).filter(|_| used > 0 || !matches!(c, '영' | '공')) {
            if digit.is_some() {
                break; // "이삼" (two or three) is not one number
            }
            digit = Some(d);
        } else if let Some(u) = sino_unit(c) {
            // Units only fall: 천 after 백 or 억 after 만 starts no number.
            let (falls, big) = (u < if u >= 10_000 { last_big } else { last_small }, u >= 10_000);
            if !falls {
                break;
            }
            if big {
                last_big = u;
                last_small = u64::MAX;
            } else {
                last_small = u;
            }
            has_unit = true;
            let d = digit.take();
            if u >= 10_000 {
                total = total.saturating_add((section + d.unwrap_or(0)).max(1).saturating_mul(u));
                section = 0;
            } else {
                section += d.unwrap_or(1) * u;
            }
        } else {
            break;
        }
        used += 1;
    }
    if used == 0 {
        return None;
    }
    let value = total.saturating_add(section).saturating_add(digit.unwrap_or(0));
    if value > MAX_SAID {
        return None;
    }
    // 점 / 쩜 and digits: a decimal.
    let mut decimals = String::new();
    if used + 1 < chars.len() && matches!(chars[used], '점' | '쩜') {
        let mut j = used + 1;
        while j < chars.len() {
            match sino_digit(chars[j]) {
                Some(d) => decimals.push(char::from(b'0' + d as u8)),
                None => break,
            }
            j += 1;
        }
        if !decimals.is_empty() {
            used = j;
        }
    }
    let strong = (used >= 2 && has_unit) || !decimals.is_empty();
    Some((value, decimals, used, strong))
}

fn native_prefix(s: &str) -> Option<(u64, usize)> {
    NATIVE.iter().find(|(w, _)| s.starts_with(w)).map(|&(w, v)| (v, w.chars().count()))
}

/// The unit or counter `rest` starts with: (spoken, written, is a symbol).
fn unit_at<'a>(rest: &str, counters: &[&'a str]) -> Option<(&'a str, &'a str, bool)> {
    if let Some(&(spoken, symbol)) = UNITS_KO.iter().find(|(w, _)| rest.starts_with(w)) {
        return Some((spoken, symbol, true));
    }
    counters.iter().find(|c| rest.starts_with(**c)).map(|&c| (c, c, false))
}

fn format_value(value: u64, decimals: &str) -> String {
    if decimals.is_empty() && value >= 10_000 && value.is_multiple_of(10_000) && value < 100_000_000 {
        return format!("{}만", value / 10_000);
    }
    let digits = value.to_string();
    let grouped = if value >= 10_000 {
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        digits
    };
    if decimals.is_empty() {
        grouped
    } else {
        format!("{grouped}.{decimals}")
    }
}

/// Leading punctuation of a word (quotes, brackets) and the rest.
fn split_lead(w: &str) -> (&str, &str) {
    let at = w.find(|c: char| c.is_alphanumeric()).unwrap_or(w.len());
    w.split_at(at)
}

/// Rewrites spoken numbers in `words`; `None` when nothing changed.
pub fn normalize(words: &[RawWord], language: &str) -> Option<Vec<RawWord>> {
    let out = match language {
        "ko" => korean(words),
        "en" => english(words),
        _ => {
            // Detected or mixed: a word in Hangul goes the Korean way.
            let hangul = words.iter().any(|w| w.text.chars().any(|c| ('\u{ac00}'..='\u{d7a3}').contains(&c)));
            if hangul {
                korean(words)
            } else {
                english(words)
            }
        }
    };
    (out.len() != words.len() || out.iter().zip(words).any(|(a, b)| a.text != b.text)).then_some(out)
}

/// The words as one line of text.
pub fn join(words: &[RawWord]) -> String {
    words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
}

fn merged(words: &[RawWord], text: String) -> RawWord {
    let p = words.iter().map(|w| w.probability).sum::<f32>() / words.len().max(1) as f32;
    RawWord { text, start: words[0].start, end: words[words.len() - 1].end, probability: p }
}

fn korean(words: &[RawWord]) -> Vec<RawWord> {
    let mut out: Vec<RawWord> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let after_month = out.last().is_some_and(|w| {
            let t = w.text.trim_end_matches(|c: char| !c.is_alphanumeric());
            t.ends_with('월') && t.starts_with(|c: char| c.is_ascii_digit())
        });
        if let Some((n, replacement)) = korean_at(&words[i..], after_month) {
            out.extend(replacement);
            i += n;
        } else {
            out.push(words[i].clone());
            i += 1;
        }
    }
    out
}

/// A number starting at `words[0]`: how many words it takes, and what
/// replaces them.
fn korean_at(words: &[RawWord], after_month: bool) -> Option<(usize, Vec<RawWord>)> {
    let (lead, text) = split_lead(&words[0].text);
    // Digits Whisper already wrote, with a spoken unit: "200 암페어", "3밀리".
    let digits_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(text.len());
    if digits_len > 0 && text[..digits_len].chars().next().is_some_and(|c| c.is_ascii_digit()) {
        let (num, rest) = text.split_at(digits_len);
        if !rest.is_empty() {
            let (spoken, symbol, is_symbol) = unit_at(rest, &[])?;
            let tail = &rest[spoken.len()..];
            return (is_symbol && tail_is_ending(tail)).then(|| (1, with_unit(&words[..1], false, format!("{lead}{num}"), symbol, tail)));
        }
        // The unit as the next word.
        let next = words.get(1)?;
        let (spoken, symbol, is_symbol) = unit_at(&next.text, &[])?;
        let tail = &next.text[spoken.len()..];
        if !is_symbol || !tail_is_ending(tail) {
            return None;
        }
        return Some((2, with_unit(&words[..2], true, format!("{lead}{num}"), symbol, tail)));
    }

    // A Sino-Korean numeral, possibly over several words ("이천 십육 년").
    if let Some(found) = sino_words(words, lead, after_month) {
        return Some(found);
    }
    // A native numeral and its counter.
    let (value, used) = native_prefix(text)?;
    let rest: String = text.chars().skip(used).collect();
    let is_han = value == 1 && used == 1;
    let counters: Vec<&str> = COUNTERS_NATIVE.iter().copied().filter(|c| !(is_han && matches!(*c, "시" | "번째"))).collect();
    if !rest.is_empty() {
        let attached: Vec<&str> = counters.iter().copied().filter(|c| !COUNTERS_NATIVE_APART.contains(c)).collect();
        let (spoken, _, is_symbol) = unit_at(&rest, &attached)?;
        if is_symbol {
            return None; // "두 밀리" is not said; "세미터" is more likely a word
        }
        let tail = &rest[spoken.len()..];
        // "한 시" + 적 = 한시적; "두 개" + 골 = 두개골: only endings may follow.
        if !tail_is_ending(tail) {
            return None;
        }
        return Some((1, vec![merged(&words[..1], format!("{lead}{value}{spoken}{tail}"))]));
    }
    let next = words.get(1)?;
    let (spoken, _, is_symbol) = unit_at(&next.text, &counters)?;
    let tail = &next.text[spoken.len()..];
    if is_symbol || !tail_is_ending(tail) || (is_han && spoken == "번") {
        return None;
    }
    Some((2, vec![merged(&words[..2], format!("{lead}{value}{spoken}{tail}"))]))
}

/// The words of `span` as a number and its unit symbol. A unit spoken as
/// the last word of its own (`apart`) keeps that word and its time ("200"
/// "A"); otherwise ("이백암페어로"), and for "%" and "°" that are written
/// onto the number ("30%"), number and unit are one word over the span.
fn with_unit(span: &[RawWord], apart: bool, number: String, symbol: &str, tail: &str) -> Vec<RawWord> {
    match span.split_last() {
        Some((unit, num_words)) if apart && !num_words.is_empty() && !matches!(symbol, "%" | "°") => {
            vec![merged(num_words, number), RawWord { text: format!("{symbol}{tail}"), ..unit.clone() }]
        }
        _ => vec![merged(span, with_symbol(&number, symbol, tail))],
    }
}

/// Whether what follows a counter inside a word is a particle or an
/// ending (so the counter really is one: "세시니까", not "세상", "두개골").
fn tail_is_ending(tail: &str) -> bool {
    let t = tail.trim_end_matches(|c: char| !c.is_alphanumeric());
    t.is_empty() || ENDINGS.iter().any(|e| t.starts_with(e))
}

/// How a symbol follows its number: "30%", "300°", "200 A".
fn with_symbol(number: &str, symbol: &str, tail: &str) -> String {
    if matches!(symbol, "%" | "°") {
        format!("{number}{symbol}{tail}")
    } else {
        format!("{number} {symbol}{tail}")
    }
}

fn sino_words(words: &[RawWord], lead: &str, after_month: bool) -> Option<(usize, Vec<RawWord>)> {
    // Collect numeral-only words ("이천", "십육"), then the word with the
    // counter (attached: "십육년", or alone: "년").
    let mut text = String::new();
    let mut n = 0;
    while n < words.len().min(4) {
        let t = if n == 0 { split_lead(&words[0].text).1 } else { words[n].text.as_str() };
        let all_numeral = sino_prefix(t).is_some_and(|(_, _, used, _)| used == t.chars().count());
        if !all_numeral {
            break;
        }
        // "점" alone between two numeral words: "삼 점 이".
        text.push_str(t);
        n += 1;
        if words.get(n).is_some_and(|w| matches!(w.text.as_str(), "점" | "쩜")) && words.get(n + 1).is_some() {
            text.push('점');
            n += 1;
        }
    }
    // The word holding the counter: the next one, or the last numeral word
    // itself with the counter attached ("십육년").
    let (value, decimals, strong, rest, take) = if n > 0 {
        let (v, d, used, strong) = sino_prefix(&text)?;
        if used != text.chars().count() {
            return None;
        }
        let next = words.get(n)?;
        let (_, _, used2, strong2) = sino_prefix(&next.text).unwrap_or((0, String::new(), 0, false));
        if used2 > 0 && used2 < next.text.chars().count() && d.is_empty() {
            // "이천 십육년": the counter's word starts with more numeral.
            let all = format!("{text}{}", next.text.chars().take(used2).collect::<String>());
            let (v3, d3, u3, s3) = sino_prefix(&all)?;
            if u3 == all.chars().count() {
                let rest: String = next.text.chars().skip(used2).collect();
                (v3, d3, s3 || strong2, rest, n + 1)
            } else {
                return None;
            }
        } else {
            (v, d, strong, next.text.clone(), n + 1)
        }
    } else {
        let t = split_lead(&words[0].text).1;
        let (v, d, used, strong) = sino_prefix(t)?;
        let rest: String = t.chars().skip(used).collect();
        (v, d, strong, rest, 1)
    };
    if rest.is_empty() {
        return None;
    }
    let counters: &[&str] = match (strong, after_month) {
        (true, _) => COUNTERS_SINO,
        (false, true) => COUNTERS_SINO_DAY,
        (false, false) => COUNTERS_SINO_SHORT,
    };
    let (spoken, written, is_symbol) = unit_at(&rest, counters)?;
    let tail = &rest[spoken.len()..];
    // "이 볼트" is "this bolt": a short numeral does not take 볼트.
    if !tail_is_ending(tail) || (!strong && spoken == "볼트") {
        return None;
    }
    // A lone 만 or 천 … is "only"/"thousand"; a lone digit syllable before
    // a unit is still a number ("삼 밀리").
    let number = format!("{lead}{}", format_value(value, &decimals));
    let span = &words[..take];
    if is_symbol {
        let apart = take > 1 && words[take - 1].text.starts_with(spoken);
        return Some((take, with_unit(span, apart, number, written, tail)));
    }
    Some((take, vec![merged(span, format!("{number}{written}{tail}"))]))
}

// ---------------------------------------------------------------- English

const UNITS_EN: &[(&str, &str)] = &[
    ("amps", "A"),
    ("amp", "A"),
    ("amperes", "A"),
    ("ampere", "A"),
    ("volts", "V"),
    ("volt", "V"),
    ("millimeters", "mm"),
    ("millimeter", "mm"),
    ("millimetres", "mm"),
    ("millimetre", "mm"),
    ("centimeters", "cm"),
    ("centimeter", "cm"),
    ("centimetres", "cm"),
    ("centimetre", "cm"),
    ("meters", "m"),
    ("meter", "m"),
    ("metres", "m"),
    ("metre", "m"),
    ("kilowatts", "kW"),
    ("kilowatt", "kW"),
    ("watts", "W"),
    ("watt", "W"),
    ("hertz", "Hz"),
    ("percent", "%"),
    ("inches", "in"),
    ("inch", "in"),
    ("liters", "L"),
    ("liter", "L"),
    ("litres", "L"),
    ("litre", "L"),
    ("kilograms", "kg"),
    ("kilogram", "kg"),
    ("grams", "g"),
    ("gram", "g"),
    ("degrees", "°"),
    ("degree", "°"),
    ("psi", "psi"),
    ("bar", "bar"),
];

fn en_small(w: &str) -> Option<u64> {
    const ONES: &[&str] = &[
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: &[&str] = &["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    if let Some(i) = ONES.iter().position(|o| *o == w) {
        return Some(i as u64);
    }
    if let Some(i) = TENS.iter().position(|t| *t == w) {
        return Some(20 + 10 * i as u64);
    }
    // "twenty-five"
    let (a, b) = w.split_once('-')?;
    let t = TENS.iter().position(|t| *t == a)?;
    let o = ONES.iter().position(|o| *o == b).filter(|&o| (1..10).contains(&o))?;
    Some(20 + 10 * t as u64 + o as u64)
}

/// Lower-case letters of a word and its trailing punctuation.
fn en_core(w: &str) -> (String, &str) {
    let end = w.rfind(|c: char| c.is_alphanumeric()).map_or(0, |i| i + w[i..].chars().next().map_or(1, char::len_utf8));
    (w[..end].to_lowercase(), &w[end..])
}

fn en_unit(w: &str) -> Option<(&'static str, &str)> {
    let (core, trail) = en_core(w);
    UNITS_EN.iter().find(|(s, _)| *s == core).map(|&(_, sym)| (sym, trail))
}

/// A spelled-out English number over words: (value, decimals, words used).
fn en_number(words: &[RawWord]) -> Option<(u64, String, usize)> {
    let (mut total, mut current, mut n, mut any) = (0u64, 0u64, 0, false);
    let (mut hundred, mut thousand) = (false, false);
    while n < words.len() {
        let (core, trail) = en_core(&words[n].text);
        let core = core.as_str();
        if let Some(v) = en_small(core) {
            // "twenty five" is one number; "five twenty" and "one two" are not.
            let fits = current % 100 == 0 || (current % 100 >= 20 && current % 10 == 0 && v < 10);
            if !fits {
                break;
            }
            current = current.saturating_add(v);
        } else if core == "hundred" && any && !hundred {
            hundred = true;
            current = current.max(1).saturating_mul(100);
        } else if core == "thousand" && any && !thousand {
            thousand = true;
            hundred = false;
            total = total.saturating_add(current.max(1).saturating_mul(1_000));
            current = 0;
        } else if core == "a" && !any && words.get(n + 1).is_some_and(|w| matches!(en_core(&w.text).0.as_str(), "hundred" | "thousand")) {
            current = 1;
        } else if core == "and" && any && words.get(n + 1).is_some_and(|w| en_small(&en_core(&w.text).0).is_some()) {
        } else {
            break;
        }
        any = true;
        n += 1;
        if !trail.is_empty() {
            break; // "two, three" are two numbers
        }
    }
    if !any {
        return None;
    }
    let value = total.saturating_add(current);
    if value > MAX_SAID {
        return None; // "hundred hundred hundred …": a decoder loop, not a number
    }
    // "three point two"
    let mut decimals = String::new();
    if words.get(n).is_some_and(|w| en_core(&w.text).0 == "point") {
        let mut j = n + 1;
        while let Some(d) = words.get(j).and_then(|w| en_small(&en_core(&w.text).0)).filter(|d| *d < 10) {
            decimals.push(char::from(b'0' + d as u8));
            j += 1;
        }
        if !decimals.is_empty() {
            n = j;
        }
    }
    Some((value, decimals, n))
}

fn english(words: &[RawWord]) -> Vec<RawWord> {
    let mut out: Vec<RawWord> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        // "200 amps", "3.2 millimeters"
        let (core, _) = en_core(&w.text);
        let is_digits = !core.is_empty() && core.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',');
        if is_digits {
            if let Some((sym, trail)) = words.get(i + 1).and_then(|u| en_unit(&u.text)) {
                out.push(w.clone());
                out.push(RawWord { text: format!("{sym}{trail}"), ..words[i + 1].clone() });
                i += 2;
                continue;
            }
        }
        if let Some((value, decimals, n)) = en_number(&words[i..]) {
            if let Some((sym, trail)) = words.get(i + n).and_then(|u| en_unit(&u.text)) {
                let number = if decimals.is_empty() { value.to_string() } else { format!("{value}.{decimals}") };
                out.push(merged(&words[i..i + n], number));
                out.push(RawWord { text: format!("{sym}{trail}"), ..words[i + n].clone() });
                i += n + 1;
                continue;
            }
        }
        out.push(w.clone());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<RawWord> {
        text.split_whitespace()
            .enumerate()
            .map(|(i, w)| RawWord { text: w.into(), start: i * 1000, end: i * 1000 + 900, probability: 0.5 })
            .collect()
    }

    fn ko(text: &str) -> String {
        normalize(&words(text), "ko").map_or_else(|| text.to_string(), |w| join(&w))
    }

    fn en(text: &str) -> String {
        normalize(&words(text), "en").map_or_else(|| text.to_string(), |w| join(&w))
    }

    #[test]
    fn korean_numbers_with_units_become_digits() {
        assert_eq!(ko("전류는 이백 암페어로 맞추고"), "전류는 200 A로 맞추고");
        assert_eq!(ko("갭은 삼 밀리"), "갭은 3 mm");
        assert_eq!(ko("삼 점 이 밀리 용접봉"), "3.2 mm 용접봉");
        assert_eq!(ko("이십사 볼트에서"), "24 V에서");
        assert_eq!(ko("200암페어, 3밀리."), "200 A, 3 mm.");
        assert_eq!(ko("이백암페어"), "200 A");
        assert_eq!(ko("200 암페어"), "200 A");
        assert_eq!(ko("삼십 퍼센트를"), "30%를");
        assert_eq!(ko("백프로"), "100%");
        assert_eq!(ko("이십사 볼트"), "24 V");
        assert_eq!(ko("백미터 앞에서"), "100 m 앞에서");
        assert_eq!(ko("가스 유량은 십오 리터"), "가스 유량은 15 L");
    }

    #[test]
    fn korean_counters_and_dates() {
        assert_eq!(ko("이천십육년 칠월 사일"), "2016년 7월 4일");
        assert_eq!(ko("이천 십육 년"), "2016년");
        assert_eq!(ko("십이월 이십오일,"), "12월 25일,");
        assert_eq!(ko("백십사년 전에"), "114년 전에");
        assert_eq!(ko("육백오십이번 버스"), "652번 버스");
        assert_eq!(ko("칠호선 반포역"), "7호선 반포역");
        assert_eq!(ko("지하 일층에"), "지하 1층에");
        assert_eq!(ko("육개월 어학연수"), "6개월 어학연수");
        assert_eq!(ko("오월 십칠일 기준"), "5월 17일 기준");
        assert_eq!(ko("칠십만 원이고"), "70만원이고");
        assert_eq!(ko("만육천명 이상이"), "16,000명 이상이");
        assert_eq!(ko("이십육쩜칠개인"), "26.7개인");
        // Native numerals with their counters.
        assert_eq!(ko("오후 세시니까"), "오후 3시니까");
        assert_eq!(ko("아침 일곱시부터 여덟시까지"), "아침 7시부터 8시까지");
        assert_eq!(ko("두 건 이상의"), "2건 이상의");
        assert_eq!(ko("단추가 두개나"), "단추가 2개나");
        assert_eq!(ko("열두시에"), "12시에");
        assert_eq!(ko("두 시간 동안"), "2시간 동안");
    }

    #[test]
    fn everyday_words_are_left_alone() {
        for s in [
            "이번에는 이분이 이건 이상의",
            "엔진 오일을 갈고",
            "세 장소에서 네 차례",
            "한 번 더",
            "한시적으로",
            "네가 세상을",
            "일이 많아요",
            "이 분",
            "정말 만 다음은",
            "두개골",
            "일종의",
            "사이사이에",
            "구부려",
            "오전 아홉",
            "이 볼트를 조이고",
            "이 프로그램",
            "세대 차이",
            "역세권",
            "이천 공장에서",
            "천천히",
            "엔진 오일",
            "일일이",
        ] {
            assert_eq!(ko(s), s);
        }
    }

    #[test]
    fn english_numbers_with_units() {
        assert_eq!(en("set it to two hundred amps"), "set it to 200 A");
        assert_eq!(en("a three point two millimeter rod."), "a 3.2 mm rod.");
        assert_eq!(en("about twenty-four volts, steady"), "about 24 V, steady");
        assert_eq!(en("200 amps and 3 millimeters"), "200 A and 3 mm");
        assert_eq!(en("fifteen liters per minute"), "15 L per minute");
        assert_eq!(en("one hundred and twenty amps"), "120 A");
        assert_eq!(en("a hundred amps"), "100 A");
        for s in ["one pass at a time", "two of them", "a bar of steel", "the second meter"] {
            assert_eq!(en(s), s);
        }
    }

    #[test]
    fn decoder_loops_are_not_numbers() {
        let loop_en = format!("{} amps", vec!["hundred"; 40].join(" "));
        assert_eq!(en(&format!("one {loop_en}")), format!("one {loop_en}"));
        let loop_ko = format!("{}원", "억".repeat(40));
        assert_eq!(ko(&loop_ko), loop_ko);
        assert_eq!(ko(&"구".repeat(500)), "구".repeat(500));
    }

    #[test]
    fn merged_words_keep_their_span() {
        let w = words("이천 십육 년 이백 암페어");
        let out = normalize(&w, "ko").unwrap();
        assert_eq!(join(&out), "2016년 200 A");
        assert_eq!((out[0].start, out[0].end), (0, 2900));
        assert_eq!((out[1].start, out[1].end), (3000, 3900));
        assert_eq!((out[2].start, out[2].end), (4000, 4900));
    }
}
