//! Exporting: a range of topics to files that analytics tools read with no
//! schema of their own — Parquet, Arrow IPC or NDJSON, one dataset per
//! event type, partitioned by the UTC day of the event's time:
//!
//! ```text
//! DIR/Order.Created/day=2026-11-21/part-0.parquet
//! DIR/Order.Created/day=2026-11-22/part-0.parquet
//! DIR/Payment.Completed/day=2026-11-21/part-0.parquet
//! DIR/_export.json            what was read, written and skipped, and the range
//! ```
//!
//! Columns are each type's table ([`shopflow_topics::columns`]): the
//! envelope, the Kafka coordinates and the typed, flattened `data`.
//!
//! Each file holds the distinct events (by `id`) of its type and day, in
//! (`time`, `id`) order. Of several copies of an id the one read at the
//! lowest (topic, partition, offset) is kept, so the same range gives the
//! same rows in the same order and byte-identical files on every run.
//! Records that do not decode are skipped and counted (the pipeline sends
//! them to the dead-letter topic with their reason).

use crate::range::{self, Span};
use crate::source::TimeRange;
use crate::KafkaError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::{ArrowError, DataType};
use rdkafka::message::Message;
use serde_json::{Map, Value};
use shopflow_topics::arrow::TableBuilder;
use shopflow_topics::columns::Coordinates;
use shopflow_topics::hash::id_hash;
use shopflow_topics::{Envelope, EventTime, Topic};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The file format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet, Snappy-compressed.
    Parquet,
    /// The Arrow IPC file format (Feather v2), uncompressed.
    Arrow,
    /// One JSON object per line, the same columns (times as RFC 3339 text).
    Ndjson,
}

impl Format {
    /// The extension of its files.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::Ndjson => "ndjson",
        }
    }

    /// Parses `parquet`, `arrow` or `ndjson`.
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "parquet" => Ok(Format::Parquet),
            "arrow" => Ok(Format::Arrow),
            "ndjson" => Ok(Format::Ndjson),
            other => Err(format!("{other:?} is not a format (parquet, arrow, ndjson)")),
        }
    }
}

/// The name of the summary file an export leaves beside its datasets.
pub const SUMMARY: &str = "_export.json";

/// What to export.
#[derive(Clone, Debug)]
pub struct ExportConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The partitions to read (topics as named on the broker), each with
    /// its contract topic.
    pub spans: Vec<(Span, Topic)>,
    /// Only events whose time lies in this range.
    pub times: TimeRange,
    /// Where the datasets go.
    pub dir: PathBuf,
    /// In which format.
    pub format: Format,
}

/// Errors of an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the topics failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Building a table failed.
    #[error("building {dataset}: {source}")]
    Arrow {
        /// The dataset (`Order.Created/day=2026-11-21`).
        dataset: String,
        /// What went wrong.
        source: ArrowError,
    },
    /// Writing Parquet failed.
    #[error("writing {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: parquet::errors::ParquetError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Records read.
    pub records: u64,
    /// Their bytes (keys and values).
    pub bytes: u64,
    /// Of them, outside the time range.
    pub outside: u64,
    /// Of them, not decodable (dead letters).
    pub malformed: u64,
    /// Of them, further copies of an id already taken.
    pub duplicates: u64,
    /// Rows written, by event type and day (`2026-11-21`).
    pub rows: BTreeMap<(String, String), u64>,
    /// The files written, relative to the export's directory.
    pub files: Vec<PathBuf>,
    /// Per span, the offset after the last one read.
    pub reached: Vec<i64>,
}

impl Exported {
    /// Rows written in all.
    pub fn events(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// Progress while reading.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Records read so far.
    pub records: u64,
    /// Records the range is expected to hold (from the end offsets reported at start).
    pub expected: u64,
}

/// Where a row was read: (span, offset). Spans are in (topic, partition)
/// order, so the lowest of these is the lowest (topic, partition, offset).
type At = (u32, i64);

/// The rows of one event type and day, as read.
struct Dataset {
    table: TableBuilder,
    keys: Vec<(EventTime, u128, At)>,
}

/// Exports the range `config` names; `progress` is told every 10,000 records.
pub fn export(config: &ExportConfig, mut progress: impl FnMut(Progress)) -> Result<Exported, ExportError> {
    let spans: Vec<Span> = config.spans.iter().map(|(span, _)| span.clone()).collect();
    debug_assert!(spans.windows(2).all(|w| (&w[0].0, w[0].1) < (&w[1].0, w[1].1)), "spans in order");
    let consumer = range::reader(&config.brokers, "shopflow-export")?;
    let expected: u64 = range::ends(&consumer, &spans)?
        .iter()
        .zip(&spans)
        .map(|(end, (_, _, start, _))| (end - start.unwrap_or(0)).max(0) as u64)
        .sum();

    let mut done = Exported::default();
    let mut datasets: BTreeMap<(&'static str, i64), Dataset> = BTreeMap::new();
    let mut first_copy: HashMap<u128, At> = HashMap::new();
    done.reached = range::read(&consumer, &spans, |i, message| {
        done.records += 1;
        done.bytes += (message.key_len() + message.payload_len()) as u64;
        if done.records.is_multiple_of(10_000) {
            progress(Progress { records: done.records, expected });
        }
        let topic = config.spans[i].1;
        let decoded = Envelope::decode_record(topic.name(), message.key(), message.payload().unwrap_or_default());
        let Ok(envelope) = decoded else {
            done.malformed += 1;
            return Ok(());
        };
        if !config.times.contains(envelope.time) {
            done.outside += 1;
            return Ok(());
        }
        let at: At = (i as u32, message.offset());
        let hash = id_hash(&envelope.id);
        match first_copy.entry(hash) {
            std::collections::hash_map::Entry::Occupied(mut first) => {
                done.duplicates += 1;
                if at >= *first.get() {
                    return Ok(());
                }
                // An earlier copy read later (partitions interleave): it wins; the row
                // already taken is dropped when its dataset is written.
                first.insert(at);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(at);
            }
        }
        let type_name = envelope.type_name();
        let dataset = datasets.entry((type_name, envelope.time.day_number())).or_insert_with(|| Dataset {
            table: TableBuilder::new(type_name).expect("a decoded event's type has a table"),
            keys: Vec::new(),
        });
        let timestamp = message.timestamp().to_millis().map(EventTime::from_millis);
        let coordinates =
            Coordinates { topic: message.topic(), partition: message.partition(), offset: message.offset(), timestamp };
        dataset.table.push(&envelope, coordinates);
        dataset.keys.push((envelope.time, hash, at));
        Ok(())
    })?;
    progress(Progress { records: done.records, expected });

    for ((type_name, day_number), mut dataset) in datasets {
        let day = EventTime(day_number * EventTime::DAY).day();
        let name = format!("{type_name}/day={day}");
        let arrow = |source| ExportError::Arrow { dataset: name.clone(), source };
        let batch = dataset.table.finish().map_err(arrow)?;
        let ids = batch.column(0).as_string::<i32>();
        let mut rows: Vec<u32> = (0..batch.num_rows() as u32)
            .filter(|&row| {
                let (_, hash, at) = dataset.keys[row as usize];
                first_copy.get(&hash) == Some(&at)
            })
            .collect();
        rows.sort_by(|&a, &b| {
            let (ka, kb) = (&dataset.keys[a as usize], &dataset.keys[b as usize]);
            (ka.0, ids.value(a as usize)).cmp(&(kb.0, ids.value(b as usize)))
        });
        let batch = arrow_select::take::take_record_batch(&batch, &UInt32Array::from(rows)).map_err(arrow)?;
        let file = PathBuf::from(format!("{name}/part-0.{}", config.format.extension()));
        write(&config.dir.join(&file), &batch, config.format)?;
        done.rows.insert((type_name.to_string(), day), batch.num_rows() as u64);
        done.files.push(file);
    }
    Ok(done)
}

/// Writes `batch` to `path` in `format`, through a temporary file renamed
/// into place once complete.
fn write(path: &Path, batch: &RecordBatch, format: Format) -> Result<(), ExportError> {
    let dir = path.parent().expect("a dataset file has a directory");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let partial = path.with_extension(format!("{}.partial", format.extension()));
    let file = std::fs::File::create(&partial).map_err(io(&partial))?;
    let mut out = BufWriter::new(file);
    let arrow = |source| ExportError::Arrow { dataset: path.display().to_string(), source };
    match format {
        Format::Parquet => {
            let properties = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .build();
            let parquet = |source| ExportError::Parquet { path: path.to_path_buf(), source };
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).map_err(parquet)?;
            writer.write(batch).map_err(parquet)?;
            writer.close().map_err(parquet)?;
        }
        Format::Arrow => {
            let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut out, &batch.schema()).map_err(arrow)?;
            writer.write(batch).map_err(arrow)?;
            writer.finish().map_err(arrow)?;
        }
        Format::Ndjson => {
            let schema = batch.schema();
            let columns: Vec<(&String, &dyn Array)> =
                schema.fields().iter().map(|f| f.name()).zip(batch.columns().iter().map(|c| c.as_ref())).collect();
            for row in 0..batch.num_rows() {
                let mut object = Map::new();
                for (name, column) in &columns {
                    object.insert((*name).clone(), cell(*column, row));
                }
                serde_json::to_writer(&mut out, &object).map_err(|e| io(&partial)(e.into()))?;
                out.write_all(b"\n").map_err(io(&partial))?;
            }
        }
    }
    out.flush().map_err(io(&partial))?;
    drop(out);
    std::fs::rename(&partial, path).map_err(io(path))
}

/// One cell of a table as JSON: times as RFC 3339 text, maps as objects,
/// lists of records as arrays of objects.
fn cell(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(row)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(row)),
        DataType::Boolean => Value::from(array.as_boolean().value(row)),
        DataType::Timestamp(..) => {
            Value::from(EventTime(array.as_primitive::<TimestampNanosecondType>().value(row)).to_string())
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            Value::Array((0..items.len()).map(|i| cell(items.as_ref(), i)).collect())
        }
        DataType::Struct(fields) => {
            let record = array.as_struct();
            let mut object = Map::new();
            for (field, column) in fields.iter().zip(record.columns()) {
                object.insert(field.name().clone(), cell(column.as_ref(), row));
            }
            Value::Object(object)
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let (keys, values) = (entries.column(0).as_string::<i32>(), entries.column(1));
            Value::Object((0..entries.len()).map(|i| (keys.value(i).to_string(), cell(values.as_ref(), i))).collect())
        }
        other => unreachable!("no table has a column of type {other}"),
    }
}

/// Removes what an earlier export left in `dir`: its datasets (directories
/// named after an event type) and its summary. Anything else stays.
pub fn clear(dir: &Path) -> Result<(), ExportError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if shopflow_topics::Event::TYPE_NAMES.contains(&name.as_str()) && path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        } else if name == SUMMARY {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_their_extension_and_a_clear_refusal() {
        for format in [Format::Parquet, Format::Arrow, Format::Ndjson] {
            assert_eq!(Format::parse(format.extension()), Ok(format));
        }
        assert!(Format::parse("csv").unwrap_err().contains("parquet, arrow, ndjson"));
    }

    #[test]
    fn clearing_removes_datasets_and_the_summary_only() {
        let dir = std::env::temp_dir().join(format!("shopflow-export-clear-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("Order.Created/day=2026-11-21")).unwrap();
        std::fs::write(dir.join("Order.Created/day=2026-11-21/part-0.parquet"), b"x").unwrap();
        std::fs::write(dir.join(SUMMARY), b"{}").unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        clear(&dir).unwrap();
        assert!(!dir.join("Order.Created").exists());
        assert!(!dir.join(SUMMARY).exists());
        assert!(dir.join("notes.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
