//! The dataset card (`README.md`): YAML configs per split for Hugging Face
//! `datasets`, then what the dataset holds and where it came from.

use super::*;

/// The dataset card: YAML front matter with one config per table and its
/// splits, then provenance for people.
pub(super) fn card(m: &DatasetManifest, name: &str) -> String {
    let mut splits: Vec<&str> = Vec::new();
    for (s, _) in &m.split.parts {
        if m.episodes.iter().any(|e| &e.split == s) {
            splits.push(s);
        }
    }
    let mut b = front_matter(m, name, &splits);
    b += &tables_and_splits(m, name, &splits);
    b += &provenance(m);
    b += "\n## Loading\n\n```python\nfrom datasets import load_dataset\nepisodes = load_dataset(\"path/to/this/folder\", \"episodes\")\n";
    if let Some(c) = m.layout.cameras.first() {
        b += &format!("frames = load_dataset(\"path/to/this/folder\", \"frames-{c}\", split=\"{}\")\n", splits.first().unwrap_or(&"train"));
    }
    b += "```\n\n```sql\n-- DuckDB\nSELECT tier, value, count(*) FROM 'labels/*.parquet' GROUP BY ALL;\n```\n";
    b
}

/// YAML front matter: name, languages, one config per table with its splits.
fn front_matter(m: &DatasetManifest, name: &str, splits: &[&str]) -> String {
    let langs: BTreeSet<&str> = m.episodes.iter().filter_map(|e| e.language.as_deref()).filter(|l| !l.is_empty() && *l != "auto").collect();
    let mut y = String::from("---\n");
    y += &format!("pretty_name: {}\n", yaml_str(name));
    y += "license: other\n";
    if !langs.is_empty() {
        y += "language:\n";
        for l in &langs {
            y += &format!("- {l}\n");
        }
    }
    y += "task_categories:\n- robotics\ntags:\n- tacit\n- skilled-work\n- commentary\nconfigs:\n";
    for t in &m.tables {
        y += &format!("- config_name: {t}\n");
        if t == "episodes" {
            y += "  default: true\n";
        }
        y += "  data_files:\n";
        for s in splits {
            y += &format!("  - split: {s}\n    path: {t}/{s}-*.parquet\n");
        }
    }
    y += "---\n\n";
    y
}

/// What the dataset holds: tables with their rows, splits with their hours.
fn tables_and_splits(m: &DatasetManifest, name: &str, splits: &[&str]) -> String {
    let mut b = format!("# {name}\n\n");
    b += "Recordings of skilled work — cameras, the worker's spoken commentary, process sensors — on one clock, \
          exported by tacit in its own table format: every stream at its native rate.\n\n";
    let hours: f64 = m.episodes.iter().map(|e| e.duration_ns as f64).sum::<f64>() / 3.6e12;
    b += &format!("{} episodes (one per recorded session), {:.2} h recorded.\n\n", m.episodes.len(), hours);
    b += "## Tables\n\n| config | one row per | rows |\n|---|---|---|\n";
    for t in &m.tables {
        let rows: u64 = m.files.iter().filter(|f| &f.table == t).map(|f| f.rows).sum();
        let what = match t.as_str() {
            "episodes" => "session (station, operator, task, split, status)".to_string(),
            "audio" => format!("{} s of a microphone (WAV bytes, sample rate)", m.audio_chunk_s),
            "commentary" => "transcript segment".into(),
            "words" => "transcript word with its time".into(),
            "labels" => "label segment of a trainer (all review statuses)".into(),
            "events" => "recorder event (start, stop, marker, device error)".into(),
            x => match (x.strip_prefix("frames-"), x.strip_prefix("sensors-")) {
                (Some(cam), _) => format!("frame of camera `{cam}` (JPEG as recorded)"),
                (_, Some(sensor)) => format!("reading of sensor `{sensor}` (one column per channel)"),
                _ => x.to_string(),
            },
        };
        b += &format!("| `{t}` | {what} | {rows} |\n");
    }
    b += "\nTimes are `t_ns`/`start_ns`/`end_ns`: nanoseconds since the session's start (its own clock); \
          `timestamp` is the same in seconds. Join tables on `episode_index` (or `session_id`) and time.\n\n";
    b += "## Splits\n\n";
    b += &format!(
        "By session, never by frame: `{}`, grouped by {}, seed {}. A group never spans two splits.\n\n| split | episodes | hours |\n|---|---|---|\n",
        m.split.describe(),
        m.split.group_by.name(),
        m.split.seed
    );
    for s in splits {
        let eps: Vec<&EpisodeEntry> = m.episodes.iter().filter(|e| e.split == *s).collect();
        b += &format!("| {s} | {} | {:.3} |\n", eps.len(), eps.iter().map(|e| e.duration_ns as f64).sum::<f64>() / 3.6e12);
    }
    b
}

/// Where the episodes came from: stations, operators, models, the export.
fn provenance(m: &DatasetManifest) -> String {
    let mut b = String::from("\n## Provenance\n\n");
    let stations: BTreeSet<&str> = m.episodes.iter().map(|e| e.station.as_str()).collect();
    b += &format!("- Stations: {}\n", stations.into_iter().collect::<Vec<_>>().join(", "));
    let operators: BTreeSet<&str> = m.episodes.iter().map(|e| e.operator.as_str()).collect();
    b += &format!("- Operators: {} (pseudonyms)\n", operators.len());
    let models: BTreeSet<(String, String)> = m
        .episodes
        .iter()
        .filter_map(|e| Some((e.transcript_model.clone()?, e.transcript_model_sha256.clone().unwrap_or_default())))
        .collect();
    if models.is_empty() {
        b += "- Transcription: none\n";
    }
    for (model, sha) in &models {
        b += &format!("- Transcribed locally with Whisper `{model}` (ggml, SHA-256 `{}`)\n", sha.get(..16).unwrap_or(sha));
    }
    let batches = m.episodes.iter().map(|e| e.batch).max().unwrap_or(0) + 1;
    b += &format!(
        "- Export: tacit {}, format `tacit` v{}, {} batch(es) (each `--append` adds one; data files are never rewritten), audio in {} s chunks\n\n",
        m.tacit_version, m.format_version, batches, m.audio_chunk_s
    );
    b += "| episode | session | station | operator | task | minutes | split |\n|---|---|---|---|---|---|---|\n";
    for e in &m.episodes {
        b += &format!(
            "| {} | {} | {} | {} | {} | {:.2} | {} |\n",
            e.episode_index,
            e.session_id,
            e.station,
            e.operator,
            e.task.replace('|', "\\|"),
            e.duration_ns as f64 / 6e10,
            e.split
        );
    }
    b
}

pub(super) fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
