//! `tacit model import`: a CTranslate2 Whisper model (faster-whisper) to the
//! legacy ggml file whisper.cpp loads. See `shared/specs/ct2-to-ggml.md`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::ct2::Ct2Model;
use crate::error::TranscribeError;
use crate::{mel, vocab};

/// ggml magic.
const MAGIC: u32 = 0x6767_6d6c;

/// What an import produced.
#[derive(Clone, Debug)]
pub struct ImportReport {
    /// The ggml file written.
    pub out: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Tensors written.
    pub tensors: usize,
    /// Vocabulary size of the model (51864 English-only, ≥ 51865 multilingual).
    pub n_vocab: usize,
    /// Encoder / decoder layers.
    pub layers: (usize, usize),
    /// Model width.
    pub width: usize,
    /// Quantized weights were dequantized (the result is lossy).
    pub dequantized: bool,
    /// CTranslate2 binary version read.
    pub ct2_version: u32,
}

impl ImportReport {
    /// True for a multilingual model.
    pub fn multilingual(&self) -> bool {
        self.n_vocab >= 51_865
    }
}

/// The `model.bin` of a CTranslate2 folder: the file itself, or split parts
/// (`model.bin.part1`, `model.bin.part2`, …) read in order as one stream.
pub fn model_parts(dir: &Path) -> Result<Vec<PathBuf>, TranscribeError> {
    let whole = dir.join("model.bin");
    if whole.is_file() {
        return Ok(vec![whole]);
    }
    let mut parts: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| TranscribeError::io("list", dir, e))?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix("model.bin.part")?.parse::<u32>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    parts.sort();
    if parts.is_empty() {
        return Err(TranscribeError::model("no model.bin (nor model.bin.part1, part2, …) in the CTranslate2 folder", dir));
    }
    for (i, (n, _)) in parts.iter().enumerate() {
        if *n != i as u32 + 1 {
            return Err(TranscribeError::model(format!("split model is missing model.bin.part{}", i + 1), dir));
        }
    }
    Ok(parts.into_iter().map(|(_, p)| p).collect())
}

/// Reads the model of a CTranslate2 folder.
pub fn read_model(dir: &Path) -> Result<Ct2Model, TranscribeError> {
    let parts = model_parts(dir)?;
    let mut reader: Box<dyn Read> = Box::new(std::io::empty());
    for p in &parts {
        let f = File::open(p).map_err(|e| TranscribeError::io("open", p, e))?;
        reader = Box::new(reader.chain(std::io::BufReader::with_capacity(1 << 20, f)));
    }
    Ct2Model::read(reader, &parts[0])
}

/// How weights are stored in the ggml file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightType {
    /// IEEE half: lossless for f16 CTranslate2 models.
    #[default]
    F16,
    /// ggml q8_0: blocks of 32 int8 with one f16 scale (half the size, lossy).
    Q8_0,
}

impl WeightType {
    /// ggml's file type code (with the quantization version for q8_0).
    fn ftype(self) -> usize {
        match self {
            Self::F16 => 1,
            Self::Q8_0 => 7 + 1000 * 2,
        }
    }

    /// Suffix of the model name (`tiny.en-q8_0`).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::F16 => "",
            Self::Q8_0 => "-q8_0",
        }
    }
}

/// What a tensor is, which decides its stored type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Biases, norms, positional embeddings: always f32.
    F32,
    /// Conv kernels: always f16.
    Conv,
    /// Matmul weights and the token embedding: f16 or quantized.
    Weight,
}

struct Tensor {
    name: String,
    dims: Vec<usize>,
    kind: Kind,
    data: Vec<f32>,
}

/// Converts the CTranslate2 model in `dir` to ggml at `out`. Writes
/// `<out>.part` and renames it, so a failure leaves nothing behind.
pub fn import(dir: &Path, out: &Path) -> Result<ImportReport, TranscribeError> {
    import_as(dir, out, WeightType::F16)
}

/// `import` with a choice of weight type.
pub fn import_as(dir: &Path, out: &Path, weights: WeightType) -> Result<ImportReport, TranscribeError> {
    let model = read_model(dir)?;
    let words = vocab::load(dir)?;
    let part = out.with_extension(format!("{}part", out.extension().map(|e| format!("{}.", e.to_string_lossy())).unwrap_or_default()));
    let result = write_ggml(&model, &words, &part, weights);
    match result {
        Ok(mut report) => {
            std::fs::rename(&part, out).map_err(|e| TranscribeError::io("rename", out, e))?;
            report.out = out.to_path_buf();
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// Collects ggml tensors from CTranslate2 variables.
struct Builder<'a> {
    model: &'a Ct2Model,
    d: usize,
    tensors: Vec<Tensor>,
    dequantized: bool,
}

impl Builder<'_> {
    /// Adds `src` as `dst` (f16 or f32), with an explicit shape or a row range.
    fn add(
        &mut self,
        src: &str,
        dst: &str,
        f16: bool,
        dims: Option<Vec<usize>>,
        rows: Option<(usize, usize)>,
    ) -> Result<(), TranscribeError> {
        let kind = match (f16, dst.contains(".conv")) {
            (false, _) => Kind::F32,
            (true, true) => Kind::Conv,
            (true, false) => Kind::Weight,
        };
        let var = self.model.need(src)?;
        let (mut data, lossy) = self.model.weights_f32(src)?;
        self.dequantized |= lossy;
        let mut shape = dims.unwrap_or_else(|| var.dims.clone());
        if let Some((from, to)) = rows {
            let per_row: usize = var.dims.iter().skip(1).product::<usize>().max(1);
            if to * per_row > data.len() {
                return Err(TranscribeError::model(
                    format!("{src} has {} rows, expected at least {to}", var.dims.first().copied().unwrap_or(0)),
                    &self.model.path,
                ));
            }
            data = data[from * per_row..to * per_row].to_vec();
            shape[0] = to - from;
        }
        self.tensors.push(Tensor { name: dst.to_string(), dims: shape, kind, data });
        Ok(())
    }

    /// Self-attention (fused qkv split into three) and feed-forward of a layer.
    fn block(&mut self, src: &str, dst: &str) -> Result<(), TranscribeError> {
        let d = self.d;
        self.add(&format!("{src}/self_attention/layer_norm/gamma"), &format!("{dst}.attn_ln.weight"), false, None, None)?;
        self.add(&format!("{src}/self_attention/layer_norm/beta"), &format!("{dst}.attn_ln.bias"), false, None, None)?;
        let qkv_w = format!("{src}/self_attention/linear_0/weight");
        let qkv_b = format!("{src}/self_attention/linear_0/bias");
        self.add(&qkv_w, &format!("{dst}.attn.query.weight"), true, None, Some((0, d)))?;
        self.add(&qkv_w, &format!("{dst}.attn.key.weight"), true, None, Some((d, 2 * d)))?;
        self.add(&qkv_w, &format!("{dst}.attn.value.weight"), true, None, Some((2 * d, 3 * d)))?;
        self.add(&qkv_b, &format!("{dst}.attn.query.bias"), false, None, Some((0, d)))?;
        self.add(&qkv_b, &format!("{dst}.attn.value.bias"), false, None, Some((2 * d, 3 * d)))?;
        self.add(&format!("{src}/self_attention/linear_1/weight"), &format!("{dst}.attn.out.weight"), true, None, None)?;
        self.add(&format!("{src}/self_attention/linear_1/bias"), &format!("{dst}.attn.out.bias"), false, None, None)?;
        self.add(&format!("{src}/ffn/layer_norm/gamma"), &format!("{dst}.mlp_ln.weight"), false, None, None)?;
        self.add(&format!("{src}/ffn/layer_norm/beta"), &format!("{dst}.mlp_ln.bias"), false, None, None)?;
        self.add(&format!("{src}/ffn/linear_0/weight"), &format!("{dst}.mlp.0.weight"), true, None, None)?;
        self.add(&format!("{src}/ffn/linear_0/bias"), &format!("{dst}.mlp.0.bias"), false, None, None)?;
        self.add(&format!("{src}/ffn/linear_1/weight"), &format!("{dst}.mlp.2.weight"), true, None, None)?;
        self.add(&format!("{src}/ffn/linear_1/bias"), &format!("{dst}.mlp.2.bias"), false, None, None)
    }
}

/// ggml q8_0: per block of 32 values, an f16 scale `d = max|x| / 127`
/// followed by `round(x / d)` as 32 int8.
fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks(32) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        for v in block {
            out.push((v * id).round() as i8 as u8);
        }
    }
    out
}

fn layer_count(model: &Ct2Model, prefix: &str) -> usize {
    let set: BTreeSet<usize> = model
        .variables
        .keys()
        .chain(model.aliases.keys())
        .filter_map(|k| k.strip_prefix(prefix)?.split('/').next()?.parse().ok())
        .collect();
    set.len()
}

/// The shape of a Whisper model, as ggml's header states it.
#[derive(Clone, Copy)]
struct Shape {
    d: usize,
    n_mels: usize,
    n_vocab: usize,
    n_audio_ctx: usize,
    n_text_ctx: usize,
    enc_heads: usize,
    dec_heads: usize,
    enc_layers: usize,
    dec_layers: usize,
}

/// The model's shape, refused where ggml cannot represent it.
fn shape(model: &Ct2Model) -> Result<Shape, TranscribeError> {
    let p = &model.path;
    let conv1 = model.need("encoder/conv1/weight")?;
    if conv1.dims.len() != 3 {
        return Err(TranscribeError::model(format!("encoder/conv1/weight has shape {:?}, expected [d, n_mels, 3]", conv1.dims), p));
    }
    let (d, n_mels) = (conv1.dims[0], conv1.dims[1]);
    let emb = model.need("decoder/embeddings/weight")?;
    let n_vocab = emb.dims[0];
    let n_audio_ctx = model.need("encoder/position_encodings/encodings")?.dims[0];
    let n_text_ctx = model.need("decoder/position_encodings/encodings")?.dims[0];
    let text_state = emb.dims.get(1).copied().unwrap_or(0);
    if text_state != d {
        return Err(TranscribeError::model(format!("encoder width {d} differs from decoder width {text_state}; ggml needs them equal"), p));
    }
    if model.get("decoder/projection/bias").is_some() {
        return Err(TranscribeError::model(
            "decoder/projection/bias exists: ggml has no output projection bias, so this model cannot be represented",
            p,
        ));
    }
    if model.get("decoder/projection/weight").is_some() && !model.tied("decoder/projection/weight", "decoder/embeddings/weight") {
        return Err(TranscribeError::model("decoder/projection/weight is not tied to decoder/embeddings/weight: ggml computes logits from the token embedding, so this model cannot be represented", p));
    }
    let heads = |name: &str| model.get(name).and_then(|v| v.scalar_i64()).map(|h| h as usize).unwrap_or(d / 64);
    let (enc_heads, dec_heads) = (heads("encoder/num_heads"), heads("decoder/num_heads"));
    for h in [enc_heads, dec_heads] {
        if h == 0 || d % h != 0 {
            return Err(TranscribeError::model(format!("width {d} is not divisible by {h} heads"), p));
        }
    }
    let (enc_layers, dec_layers) = (layer_count(model, "encoder/layer_"), layer_count(model, "decoder/layer_"));
    if enc_layers == 0 || dec_layers == 0 {
        return Err(TranscribeError::model("no encoder or decoder layers found", p));
    }
    Ok(Shape { d, n_mels, n_vocab, n_audio_ctx, n_text_ctx, enc_heads, dec_heads, enc_layers, dec_layers })
}

/// Every tensor under its ggml name, in ggml's order; and whether quantized
/// weights had to be dequantized.
fn ggml_tensors(model: &Ct2Model, shape: &Shape) -> Result<(Vec<Tensor>, bool), TranscribeError> {
    let (p, d, enc_layers, dec_layers) = (&model.path, shape.d, shape.enc_layers, shape.dec_layers);
    let mut b = Builder { model, d, tensors: Vec::new(), dequantized: false };
    // Encoder and decoder globals (11 tensors).
    b.add("encoder/conv1/weight", "encoder.conv1.weight", true, None, None)?;
    b.add("encoder/conv1/bias", "encoder.conv1.bias", false, Some(vec![d, 1]), None)?;
    b.add("encoder/conv2/weight", "encoder.conv2.weight", true, None, None)?;
    b.add("encoder/conv2/bias", "encoder.conv2.bias", false, Some(vec![d, 1]), None)?;
    b.add("encoder/position_encodings/encodings", "encoder.positional_embedding", false, None, None)?;
    b.add("encoder/layer_norm/gamma", "encoder.ln_post.weight", false, None, None)?;
    b.add("encoder/layer_norm/beta", "encoder.ln_post.bias", false, None, None)?;
    b.add("decoder/embeddings/weight", "decoder.token_embedding.weight", true, None, None)?;
    b.add("decoder/position_encodings/encodings", "decoder.positional_embedding", false, None, None)?;
    b.add("decoder/layer_norm/gamma", "decoder.ln.weight", false, None, None)?;
    b.add("decoder/layer_norm/beta", "decoder.ln.bias", false, None, None)?;
    for i in 0..enc_layers {
        b.block(&format!("encoder/layer_{i}"), &format!("encoder.blocks.{i}"))?;
    }
    for i in 0..dec_layers {
        let (src, dst) = (format!("decoder/layer_{i}"), format!("decoder.blocks.{i}"));
        b.block(&src, &dst)?;
        b.add(&format!("{src}/attention/layer_norm/gamma"), &format!("{dst}.cross_attn_ln.weight"), false, None, None)?;
        b.add(&format!("{src}/attention/layer_norm/beta"), &format!("{dst}.cross_attn_ln.bias"), false, None, None)?;
        b.add(&format!("{src}/attention/linear_0/weight"), &format!("{dst}.cross_attn.query.weight"), true, None, None)?;
        b.add(&format!("{src}/attention/linear_0/bias"), &format!("{dst}.cross_attn.query.bias"), false, None, None)?;
        let kv_w = format!("{src}/attention/linear_1/weight");
        b.add(&kv_w, &format!("{dst}.cross_attn.key.weight"), true, None, Some((0, d)))?;
        b.add(&kv_w, &format!("{dst}.cross_attn.value.weight"), true, None, Some((d, 2 * d)))?;
        b.add(&format!("{src}/attention/linear_1/bias"), &format!("{dst}.cross_attn.value.bias"), false, None, Some((d, 2 * d)))?;
        b.add(&format!("{src}/attention/linear_2/weight"), &format!("{dst}.cross_attn.out.weight"), true, None, None)?;
        b.add(&format!("{src}/attention/linear_2/bias"), &format!("{dst}.cross_attn.out.bias"), false, None, None)?;
    }
    let Builder { tensors, dequantized, .. } = b;
    let expected = 11 + 15 * enc_layers + 24 * dec_layers;
    if tensors.len() != expected {
        return Err(TranscribeError::model(format!("built {} tensors, expected {expected}", tensors.len()), p));
    }
    Ok((tensors, dequantized))
}

/// The ggml file: header, mel filters, vocabulary, tensors; fsynced.
fn write_file(path: &Path, s: &Shape, words: &[Vec<u8>], tensors: &[Tensor], weights: WeightType) -> Result<u64, TranscribeError> {
    let Shape { d, n_mels, n_vocab, n_audio_ctx, n_text_ctx, enc_heads, dec_heads, enc_layers, dec_layers } = *s;
    let file = File::create(path).map_err(|e| TranscribeError::io("create", path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let io = |e| TranscribeError::io("write", path, e);
    let i32s = |w: &mut BufWriter<File>, values: &[usize]| -> Result<(), TranscribeError> {
        for v in values {
            let v = i32::try_from(*v).map_err(|_| TranscribeError::model(format!("value {v} does not fit ggml's i32"), path))?;
            w.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        Ok(())
    };
    w.write_all(&MAGIC.to_le_bytes()).map_err(io)?;
    i32s(&mut w, &[n_vocab, n_audio_ctx, d, enc_heads, enc_layers, n_text_ctx, d, dec_heads, dec_layers, n_mels, weights.ftype()])?;
    i32s(&mut w, &[n_mels, mel::N_FFT_BINS])?;
    for f in mel::filters(n_mels) {
        w.write_all(&f.to_le_bytes()).map_err(io)?;
    }
    i32s(&mut w, &[words.len()])?;
    for word in words {
        w.write_all(&(word.len() as u32).to_le_bytes()).map_err(io)?;
        w.write_all(word).map_err(io)?;
    }
    for t in tensors {
        let ne: Vec<usize> = t.dims.iter().rev().copied().collect();
        // ggml type codes: 0 f32, 1 f16, 8 q8_0.
        let quantize = t.kind == Kind::Weight && weights == WeightType::Q8_0 && ne[0].is_multiple_of(32);
        let ttype = match t.kind {
            Kind::F32 => 0,
            _ if quantize => 8,
            _ => 1,
        };
        i32s(&mut w, &[t.dims.len(), t.name.len(), ttype])?;
        i32s(&mut w, &ne)?;
        w.write_all(t.name.as_bytes()).map_err(io)?;
        let bytes: Vec<u8> = match ttype {
            0 => t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            8 => quantize_q8_0(&t.data),
            _ => t.data.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
        };
        w.write_all(&bytes).map_err(io)?;
    }
    let file = w.into_inner().map_err(|e| TranscribeError::io("write", path, e.into_error()))?;
    file.sync_all().map_err(|e| TranscribeError::io("sync", path, e))?;
    let bytes = file.metadata().map_err(|e| TranscribeError::io("stat", path, e))?.len();
    Ok(bytes)
}

fn write_ggml(model: &Ct2Model, words: &[Vec<u8>], path: &Path, weights: WeightType) -> Result<ImportReport, TranscribeError> {
    let s = shape(model)?;
    let (tensors, dequantized) = ggml_tensors(model, &s)?;
    let bytes = write_file(path, &s, words, &tensors, weights)?;
    if dequantized {
        tracing::warn!("quantized weights were dequantized to f16: the imported model is lossy");
    }
    Ok(ImportReport {
        out: path.to_path_buf(),
        bytes,
        tensors: tensors.len(),
        n_vocab: s.n_vocab,
        layers: (s.enc_layers, s.dec_layers),
        width: s.d,
        dequantized,
        ct2_version: model.version,
    })
}
