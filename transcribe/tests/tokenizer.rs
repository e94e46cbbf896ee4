//! The prompt tokenizer gives the ids of the model's own tokenizer
//! (`tokenizer.json` through Hugging Face `tokenizers`, ids recorded below)
//! for Korean, English, numbers and units, on the multilingual vocabulary.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use tacit_transcribe::tokenizer::Tokenizer;

#[test]
fn prompt_ids_match_the_models_tokenizer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/base-ct2");
    assert!(dir.join("tokenizer.json").is_file(), "run scripts/setup: it fetches the base model into {}", dir.display());
    let t = Tokenizer::new(tacit_transcribe::vocab::load(&dir).unwrap());
    let cases: [(&str, &[i32]); 3] = [
        (
            " keyhole, undercut, porosity, root pass, 키홀, 언더컷, 기공, 이면 비드.",
            &[
                2141, 14094, 11, 833, 6672, 11, 1515, 20373, 11, 5593, 1320, 11, 21959, 4644, 37404, 11, 44014, 19666, 13302, 115, 11,
                7047, 14913, 11, 2892, 2708, 24241, 7087, 13,
            ],
        ),
        (
            " 이백 암페어로 삼 밀리 판을 용접합니다.",
            &[2892, 36922, 1298, 242, 42031, 6540, 1955, 32391, 2391, 34374, 35008, 1638, 33622, 27309, 10267, 13],
        ),
        (" It's 200 A at 3 mm.", &[467, 311, 2331, 316, 412, 805, 11169, 13]),
    ];
    for (text, ids) in cases {
        assert_eq!(t.encode(text), ids, "{text:?}");
        assert_eq!(t.decode(ids), text.as_bytes());
    }
}
