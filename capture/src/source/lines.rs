//! Parsers for lines of sensor text: CSV, `key=value` and JSON. A line that
//! does not parse is returned as an error with the reason; the caller keeps it
//! raw beside the stream. Blank lines and `#` comments are skipped.

use tacit_schema::LineFormat;

/// One parsed row.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedLine {
    /// Device time in seconds, when the line carries one.
    pub device_time_s: Option<f64>,
    /// One value per channel (None where the line had no value).
    pub values: Vec<Option<f64>>,
}

/// Where a CSV column goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Column {
    Time,
    Channel(usize),
    Ignore,
}

/// A parser configured for one sensor.
#[derive(Clone, Debug)]
pub struct LineParser {
    format: LineFormat,
    channels: Vec<String>,
    time_field: Option<String>,
    columns: Vec<Column>,
}

impl LineParser {
    /// A parser for `channels` in `format`; `time_field` names the device-time
    /// key (for CSV without a header: `first` means the first column).
    pub fn new(format: LineFormat, channels: Vec<String>, time_field: Option<String>) -> Self {
        let mut columns = Vec::new();
        if time_field.as_deref() == Some("first") {
            columns.push(Column::Time);
        }
        columns.extend((0..channels.len()).map(Column::Channel));
        Self { format, channels, time_field, columns }
    }

    /// Uses a CSV header row to map columns by name (replay files). Columns
    /// that are neither a channel nor the time field are ignored.
    pub fn set_header(&mut self, header: &str) -> Result<(), String> {
        let time = self.time_field.as_deref().unwrap_or("t");
        let mut columns = Vec::new();
        let mut seen = vec![false; self.channels.len()];
        let mut has_time = false;
        for name in header.trim_end_matches(['\r', '\n']).split(',').map(str::trim) {
            if name == time {
                has_time = true;
                columns.push(Column::Time);
            } else if let Some(i) = self.channels.iter().position(|c| c == name) {
                seen[i] = true;
                columns.push(Column::Channel(i));
            } else {
                columns.push(Column::Ignore);
            }
        }
        if !has_time {
            return Err(format!("header has no time column {time:?} (set time_field)"));
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(format!("header has no column for channel {:?}", self.channels[i]));
        }
        self.columns = columns;
        Ok(())
    }

    /// Parses one line. `Ok(None)` for blank lines and comments.
    pub fn parse(&self, line: &str) -> Result<Option<ParsedLine>, String> {
        let line = line.trim_matches(|c: char| c == '\r' || c == '\n' || c.is_whitespace());
        if line.is_empty() || line.starts_with('#') {
            return Ok(None);
        }
        match self.format {
            LineFormat::Csv => self.parse_csv(line),
            LineFormat::Kv => self.parse_kv(line),
            LineFormat::Json => self.parse_json(line),
        }
        .map(Some)
    }

    fn parse_csv(&self, line: &str) -> Result<ParsedLine, String> {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != self.columns.len() {
            return Err(format!("{} fields, expected {}", fields.len(), self.columns.len()));
        }
        let mut out = ParsedLine { device_time_s: None, values: vec![None; self.channels.len()] };
        for (field, column) in fields.iter().zip(&self.columns) {
            match column {
                Column::Time => out.device_time_s = Some(number(field, "time")?),
                Column::Channel(i) if !field.is_empty() => out.values[*i] = Some(number(field, &self.channels[*i])?),
                _ => {}
            }
        }
        Ok(out)
    }

    fn assign(&self, out: &mut ParsedLine, key: &str, value: f64, known: &mut bool) {
        if Some(key) == self.time_field.as_deref() {
            out.device_time_s = Some(value);
            *known = true;
        } else if let Some(i) = self.channels.iter().position(|c| c == key) {
            out.values[i] = Some(value);
            *known = true;
        }
    }

    fn parse_kv(&self, line: &str) -> Result<ParsedLine, String> {
        let mut out = ParsedLine { device_time_s: None, values: vec![None; self.channels.len()] };
        let mut known = false;
        for token in line.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|t| !t.is_empty()) {
            let (key, value) = token.split_once(['=', ':']).ok_or_else(|| format!("{token:?} is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                return Err(format!("{token:?} has no key"));
            }
            let is_ours = Some(key) == self.time_field.as_deref() || self.channels.iter().any(|c| c == key);
            if is_ours {
                let v = number(value, key)?;
                self.assign(&mut out, key, v, &mut known);
            }
        }
        if !known {
            return Err("no known channel in line".into());
        }
        Ok(out)
    }

    fn parse_json(&self, line: &str) -> Result<ParsedLine, String> {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let object = value.as_object().ok_or("JSON line is not an object")?;
        let mut out = ParsedLine { device_time_s: None, values: vec![None; self.channels.len()] };
        let mut known = false;
        for (key, v) in object {
            let is_ours = Some(key.as_str()) == self.time_field.as_deref() || self.channels.iter().any(|c| c == key);
            if !is_ours || v.is_null() {
                continue;
            }
            let n = v.as_f64().filter(|n| n.is_finite()).ok_or_else(|| format!("{key}: {v} is not a number"))?;
            self.assign(&mut out, key, n, &mut known);
        }
        if !known {
            return Err("no known channel in line".into());
        }
        Ok(out)
    }
}

fn number(text: &str, what: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{what}: {text:?} is not a finite number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels() -> Vec<String> {
        vec!["current".into(), "voltage".into()]
    }

    #[test]
    fn csv_table() {
        let p = LineParser::new(LineFormat::Csv, channels(), None);
        let t = LineParser::new(LineFormat::Csv, channels(), Some("first".into()));
        assert_eq!(p.parse("120.5, 22.1\r\n").unwrap().unwrap().values, vec![Some(120.5), Some(22.1)]);
        assert_eq!(p.parse("120.5,").unwrap().unwrap().values, vec![Some(120.5), None]);
        assert_eq!(t.parse("1.25,1,2").unwrap().unwrap().device_time_s, Some(1.25));
        assert_eq!(p.parse("").unwrap(), None);
        assert_eq!(p.parse("   ").unwrap(), None);
        assert_eq!(p.parse("# header").unwrap(), None);
        let bad = [
            ("1", "1 fields"),
            ("1,2,3", "3 fields"),
            ("abc,2", "current"),
            ("1,2x", "voltage"),
            ("NaN,1", "finite"),
            ("inf,1", "finite"),
            ("1;2", "1 fields"),
            ("\u{FFFD}\u{0}", "1 fields"),
            (",,,,", "5 fields"),
        ];
        for (line, want) in bad {
            let err = p.parse(line).unwrap_err();
            assert!(err.contains(want), "{line:?}: {err}");
        }
        assert!(t.parse("x,1,2").unwrap_err().contains("time"));
    }

    #[test]
    fn kv_table() {
        let p = LineParser::new(LineFormat::Kv, channels(), Some("t".into()));
        let row = p.parse("t=0.5 current=100 voltage=20.5").unwrap().unwrap();
        assert_eq!(row.device_time_s, Some(0.5));
        assert_eq!(row.values, vec![Some(100.0), Some(20.5)]);
        assert_eq!(p.parse("current:1, other=9").unwrap().unwrap().values, vec![Some(1.0), None]);
        let bad = [
            ("current", "not key=value"),
            ("=5", "no key"),
            ("other=1", "no known channel"),
            ("current=abc", "current"),
            ("current=1 voltage=", "voltage"),
            ("t=x current=1", "t"),
        ];
        for (line, want) in bad {
            let err = p.parse(line).unwrap_err();
            assert!(err.contains(want), "{line:?}: {err}");
        }
    }

    #[test]
    fn json_table() {
        let p = LineParser::new(LineFormat::Json, channels(), Some("t".into()));
        let row = p.parse(r#"{"t": 2, "current": 150, "voltage": null, "x": "y"}"#).unwrap().unwrap();
        assert_eq!(row.device_time_s, Some(2.0));
        assert_eq!(row.values, vec![Some(150.0), None]);
        let bad = [
            ("{", "not JSON"),
            ("[1,2]", "not an object"),
            (r#"{"current": "high"}"#, "not a number"),
            (r#"{"x": 1}"#, "no known channel"),
            ("current=1", "not JSON"),
        ];
        for (line, want) in bad {
            let err = p.parse(line).unwrap_err();
            assert!(err.contains(want), "{line:?}: {err}");
        }
    }

    #[test]
    fn header_maps_columns_by_name() {
        let mut p = LineParser::new(LineFormat::Csv, channels(), Some("time".into()));
        p.set_header("voltage,extra,time,current").unwrap();
        let row = p.parse("20,x,1.5,100").unwrap().unwrap();
        assert_eq!(row.device_time_s, Some(1.5));
        assert_eq!(row.values, vec![Some(100.0), Some(20.0)]);
        assert!(p.set_header("voltage,current").unwrap_err().contains("time"));
        assert!(p.set_header("time,current").unwrap_err().contains("voltage"));
    }
}
