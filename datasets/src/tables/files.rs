//! Writing one batch of sessions: per split, one `TableFiles` per table, rolling
//! parts past [`PART_BYTES`], each sealed by a background writer.

use super::*;

/// Writes one batch of sessions into `root`; adds episodes and files to the manifest.
pub(super) fn write_batch(
    root: &Path,
    sessions: &[&Session],
    splits: &[String],
    units: &[Unit],
    manifest: &mut DatasetManifest,
    batch: u32,
    progress: &dyn Progress,
) -> Result<Vec<FileEntry>, DatasetError> {
    let layout = manifest.layout.clone();
    let total: u64 = sessions.iter().map(|s| s.streams(StreamKind::Camera).map(|c| c.count).sum::<u64>()).sum();
    progress.start("exporting", total);
    let mut new_files = Vec::new();
    let mut next_episode = manifest.episodes.len() as u64;
    let spec = manifest.split.clone();
    for (split_name, _) in &spec.parts {
        let members: Vec<usize> = (0..sessions.len()).filter(|&i| &splits[i] == split_name).collect();
        if members.is_empty() {
            continue;
        }
        let mut tables = Tables::new(root, &layout, split_name, batch)?;
        for i in members {
            let s = sessions[i];
            let entry = EpisodeEntry::of(s, next_episode, split_name.clone(), units[i].group.clone(), batch);
            write_session(s, &entry, &layout, manifest.audio_chunk_s, &mut tables, progress)?;
            manifest.episodes.push(entry);
            next_episode += 1;
        }
        new_files.extend(tables.finish()?);
    }
    progress.finish();
    manifest.files.extend(new_files.iter().cloned());
    Ok(new_files)
}

/// A table's files for one split and batch, rolling to a new part past [`PART_BYTES`].
pub(super) struct TableFiles {
    pub(super) name: String,
    pub(super) schema: SchemaRef,
    pub(super) props: WriterProperties,
    pub(super) root: PathBuf,
    pub(super) split: String,
    pub(super) batch: u32,
    pub(super) part: u32,
    /// The open part: its writer thread, path, rows, and batches since the size was last asked.
    pub(super) writer: Option<(BackgroundWriter, String, u64, u32)>,
    /// Parts sealing in the background.
    pub(super) closing: Vec<(Closing, FileEntry)>,
    pub(super) done: Vec<FileEntry>,
}

impl TableFiles {
    pub(super) fn rel(&self) -> String {
        format!("{}/{}-{:03}-{:03}.parquet", self.name, self.split, self.batch, self.part)
    }

    pub(super) fn open(&mut self) -> Result<(), DatasetError> {
        let rel = self.rel();
        let w = BackgroundWriter::create(&self.root.join(&rel), self.schema.clone(), self.props.clone(), Some(ROW_GROUP_BYTES), None)?;
        self.writer = Some((w, rel, 0, 0));
        Ok(())
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetError> {
        if self.writer.is_none() {
            self.open()?;
        }
        let Some((w, _, rows, since)) = self.writer.as_mut() else { return Ok(()) };
        *rows += batch.num_rows() as u64;
        w.write(batch.clone())?;
        *since += 1;
        // Asking the size waits for the queue: do it now and then.
        if *since >= 16 {
            *since = 0;
            if w.bytes_written()? > PART_BYTES {
                self.close()?;
                self.part += 1;
            }
        }
        Ok(())
    }

    pub(super) fn close(&mut self) -> Result<(), DatasetError> {
        if let Some((w, rel, rows, _)) = self.writer.take() {
            let entry = FileEntry { table: self.name.clone(), split: self.split.clone(), batch: self.batch, path: rel, rows, bytes: 0 };
            self.closing.push((w.close(), entry));
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<Vec<FileEntry>, DatasetError> {
        if self.done.is_empty() && self.writer.is_none() {
            self.open()?; // every split has every table, even with no rows
        }
        self.close()?;
        for (c, mut entry) in std::mem::take(&mut self.closing) {
            c.wait()?;
            entry.bytes = std::fs::metadata(self.root.join(&entry.path)).map(|m| m.len()).unwrap_or(0);
            self.done.push(entry);
        }
        Ok(self.done)
    }
}

impl TableSink for TableFiles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetError> {
        TableFiles::write(self, batch)
    }
}

impl Sinks for Tables {
    fn get(&mut self, name: &str) -> Result<&mut dyn TableSink, DatasetError> {
        match self.files.get_mut(name) {
            Some(t) => Ok(t),
            None => Err(DatasetError::Options(format!("no table {name}"))),
        }
    }
}

/// The writers of one split and batch.
pub(super) struct Tables {
    pub(super) files: BTreeMap<String, TableFiles>,
}

impl Tables {
    pub(super) fn new(root: &Path, layout: &TableLayout, split: &str, batch: u32) -> Result<Self, DatasetError> {
        let mut files = BTreeMap::new();
        for name in layout.tables() {
            let schema = table_schema(&name, layout)?;
            let props = table_props(&schema);
            files.insert(
                name.clone(),
                TableFiles {
                    name,
                    schema,
                    props,
                    root: root.to_path_buf(),
                    split: split.into(),
                    batch,
                    part: 0,
                    writer: None,
                    closing: Vec::new(),
                    done: Vec::new(),
                },
            );
        }
        Ok(Self { files })
    }

    pub(super) fn finish(self) -> Result<Vec<FileEntry>, DatasetError> {
        let mut out = Vec::new();
        for (_, t) in self.files {
            out.extend(t.finish()?);
        }
        Ok(out)
    }
}
