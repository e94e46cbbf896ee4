//! The UI's two languages. Every string on screen goes through [`tr`] with its
//! English text as the key; a test checks that each one the app uses has a
//! Korean translation.

use serde::{Deserialize, Serialize};

/// A UI language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Korean (한국어).
    Ko,
}

impl Lang {
    /// `TACIT_LANG`, else the system locale (`LC_ALL`, `LC_MESSAGES`, `LANG`): Korean when it starts with `ko`.
    pub fn from_env() -> Self {
        for var in ["TACIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if v.is_empty() {
                    continue;
                }
                return if v.to_ascii_lowercase().starts_with("ko") { Lang::Ko } else { Lang::En };
            }
        }
        Lang::En
    }
}

/// `en` in `lang` (English text is the key; untranslated text stays English).
pub fn tr(lang: Lang, en: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Ko => ko(en).unwrap_or(en),
    }
}

/// The Korean text for an English UI string.
pub fn ko(en: &str) -> Option<&'static str> {
    Some(match en {
        "Library" => "라이브러리",
        "Record" => "녹화",
        "Review" => "검토",
        "Export" => "내보내기",
        "Language" => "언어",
        "Library folder" => "라이브러리 폴더",
        "Refresh" => "새로 고침",
        "Filter" => "필터",
        "Session" => "세션",
        "Station" => "스테이션",
        "Operator" => "작업자",
        "Task" => "작업",
        "Date" => "날짜",
        "Duration" => "길이",
        "Status" => "상태",
        "Transcribed" => "전사됨",
        "Labeled" => "라벨됨",
        "Reviewed" => "검토됨",
        "Open" => "열기",
        "Recover" => "복구",
        "recording" => "녹화 중",
        "interrupted" => "중단됨",
        "complete" => "완료",
        "recovered" => "복구됨",
        "yes" => "예",
        "no" => "아니요",
        "Sessions that cannot be read (each with what is wrong):" => "읽을 수 없는 세션 (각각 무엇이 잘못되었는지):",
        "No sessions yet. Record one in Record, or run `tacit demo`." => {
            "아직 세션이 없습니다. 녹화 화면에서 녹화하거나 `tacit demo`를 실행하세요."
        }
        "Station profile" => "스테이션 프로필",
        "Operator (pseudonym)" => "작업자 (가명)",
        "The operator agrees to be recorded" => "작업자가 녹화에 동의했습니다",
        "Start recording" => "녹화 시작",
        "Stop recording" => "녹화 중지",
        "Starting…" => "시작 중…",
        "Stopping…" => "중지 중…",
        "Sending finished sessions to the site store…" => "끝난 세션을 사이트 저장소로 보내는 중…",
        "Site store" => "사이트 저장소",
        "Elapsed" => "경과 시간",
        "Disk left" => "남은 디스크",
        "Markers" => "마커",
        "Audio level" => "오디오 레벨",
        "Streams" => "스트림",
        "rate" => "속도",
        "drops" => "누락",
        "errors" => "오류",
        "failing" => "장애",
        "Saved" => "저장됨",
        "Play" => "재생",
        "Pause" => "일시 정지",
        "Speed" => "속도",
        "Zoom" => "확대",
        "Transcript" => "전사",
        "Labels" => "라벨",
        "Tier" => "계층",
        "Mark in" => "시작 표시",
        "Mark out" => "끝 표시",
        "Delete" => "삭제",
        "Undo" => "실행 취소",
        "Redo" => "다시 실행",
        "Note" => "메모",
        "Add note" => "메모 추가",
        "Edit" => "편집",
        "Save" => "저장",
        "Cancel" => "취소",
        "edited" => "수정됨",
        "Mark reviewed" => "검토 완료로 표시",
        "Marked reviewed" => "검토 완료됨",
        "Open a session from the Library." => "라이브러리에서 세션을 여세요.",
        "Loading…" => "불러오는 중…",
        "No camera" => "카메라 없음",
        "No audio output on this machine: playback is silent." => "이 컴퓨터에 오디오 출력이 없어 소리 없이 재생합니다.",
        "Keys: Space play/pause, Left/Right frame, I/O mark in/out, 1–9 label, Ctrl+Z/Ctrl+Y undo/redo" => {
            "키: Space 재생/정지, Left/Right 프레임, I/O 시작/끝 표시, 1–9 라벨, Ctrl+Z/Ctrl+Y 실행 취소/다시 실행"
        }
        "Format" => "형식",
        "Frames per second" => "초당 프레임",
        "Reviewed sessions only" => "검토된 세션만",
        "Splits" => "분할",
        "Output folder" => "출력 폴더",
        "Replace an existing dataset" => "기존 데이터셋 바꾸기",
        "Start export" => "내보내기 시작",
        "Sessions to export" => "내보낼 세션",
        "Written to" => "저장 위치",
        "episodes" => "에피소드",
        "frames" => "프레임",
        "Failed" => "실패",
        "Cancelled" => "취소됨",
        "No Hangul font found: install fonts-nanum or fonts-noto-cjk, or set TACIT_FONT." => {
            "한글 글꼴이 없습니다: fonts-nanum 또는 fonts-noto-cjk를 설치하거나 TACIT_FONT를 지정하세요."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("…")` in the app's screens has a Korean translation.
    #[test]
    fn every_ui_string_has_korean() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("library_view.rs"),
            include_str!("record_view.rs"),
            include_str!("review/mod.rs"),
            include_str!("review/playback.rs"),
            include_str!("review/timeline.rs"),
            include_str!("review/labeling.rs"),
            include_str!("review/transcript_view.rs"),
            include_str!("export_view.rs"),
        ];
        let mut missing = Vec::new();
        let mut seen = 0;
        for src in sources {
            let mut rest = src;
            while let Some(at) = rest.find("t(\"") {
                let before = rest[..at].chars().last();
                let part = &rest[at + 3..];
                rest = part;
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue; // e.g. id_salt("…")
                }
                let Some(end) = part.find("\")") else { continue };
                let en = &part[..end];
                seen += 1;
                if ko(en).is_none() {
                    missing.push(en.to_string());
                }
            }
        }
        assert!(seen > 40, "only {seen} strings found");
        assert!(missing.is_empty(), "no Korean for: {missing:?}");
    }

    #[test]
    fn language_from_the_environment_value() {
        assert_eq!(tr(Lang::Ko, "Record"), "녹화");
        assert_eq!(tr(Lang::En, "Record"), "Record");
        assert_eq!(tr(Lang::Ko, "not a UI string"), "not a UI string");
    }
}
