//! Events as rows of typed columns: each event type's table, declared by the
//! same `data_struct!` declarations the decoder uses (so a field added to an
//! event is a column of its table too). `shopflow export` writes these
//! tables; feature `arrow` makes them Arrow record batches ([`crate::arrow`]).
//!
//! A table is the envelope (`id`, `type`, `source`, `time`, `subject`), the
//! record's Kafka coordinates (`kafkaTopic`, `kafkaPartition`, `kafkaOffset`,
//! `kafkaTimestamp`), then the event's `data` flattened:
//!
//! - a scalar field is one column named as in the contract (`orderId`);
//!   money and counts are 64-bit integers, times are timestamps, enumerations
//!   their contract spelling;
//! - a nested object's fields are columns `field_sub` (`shippingAddress_city`);
//! - a list of strings, a map of strings and a list of objects (an order's
//!   `items`) are one column each: a list, a map, a list of records;
//! - a field that may be absent is nullable (every column of an object).

use crate::envelope::Envelope;
use crate::events::{Address, Event, OrderItem};
use crate::time::EventTime;
use std::collections::BTreeMap;

/// The type of a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// A signed 64-bit integer (money in minor units, counts, offsets).
    Int,
    /// true or false.
    Bool,
    /// A point in time, nanoseconds since the epoch, UTC.
    Time,
    /// A list of texts.
    TextList,
    /// A map from text to text.
    TextMap,
    /// A list of records, each with these columns.
    Records(Vec<Column>),
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
    /// Whether a row may hold no value.
    pub nullable: bool,
}

impl Column {
    fn new(name: &str, ty: ColumnType, nullable: bool) -> Column {
        Column { name: name.to_string(), ty, nullable }
    }
}

/// Where a row goes: one call per column, in the table's column order.
pub trait Cells {
    /// The column holds no value in this row.
    fn null(&mut self);
    /// A text.
    fn text(&mut self, value: &str);
    /// An integer.
    fn int(&mut self, value: i64);
    /// A boolean.
    fn bool(&mut self, value: bool);
    /// A time.
    fn time(&mut self, value: EventTime);
    /// A list of texts.
    fn text_list(&mut self, value: &[String]);
    /// A map of texts.
    fn text_map(&mut self, value: &BTreeMap<String, String>);
    /// A list of `count` records: `fill` is called for each in turn, with
    /// the cells of that record's columns.
    fn records(&mut self, count: usize, fill: &mut dyn FnMut(usize, &mut dyn Cells));
}

/// A field's type as columns.
pub trait Flat {
    /// Appends the columns of a field called `name`.
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>);
    /// Gives this value's cells.
    fn cells(&self, out: &mut dyn Cells);
    /// Gives the cells of an absent value: one null per column.
    fn nulls(out: &mut dyn Cells) {
        out.null();
    }
}

/// A struct whose fields are columns.
pub trait Record {
    /// Appends its columns, each name after `prefix`.
    fn record_columns(prefix: &str, nullable: bool, out: &mut Vec<Column>);
    /// Gives its cells.
    fn record_cells(&self, out: &mut dyn Cells);
    /// One null per column.
    fn record_nulls(out: &mut dyn Cells);
}

/// `user_id` → `userId`: a Rust field's name as the contract spells it.
pub fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Implements [`Record`] for a struct from its fields' [`Flat`] types.
macro_rules! record {
    ($name:ident { $( $field:ident : $ty:ty ),+ $(,)? }) => {
        impl $crate::columns::Record for $name {
            fn record_columns(prefix: &str, nullable: bool, out: &mut Vec<$crate::columns::Column>) {
                $(
                    let name = format!("{prefix}{}", $crate::columns::camel(stringify!($field)));
                    <$ty as $crate::columns::Flat>::columns(&name, nullable, out);
                )+
            }

            fn record_cells(&self, out: &mut dyn $crate::columns::Cells) {
                $( $crate::columns::Flat::cells(&self.$field, out); )+
            }

            fn record_nulls(out: &mut dyn $crate::columns::Cells) {
                $( <$ty as $crate::columns::Flat>::nulls(out); )+
            }
        }
    };
}
pub(crate) use record;

impl Flat for String {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        out.push(Column::new(name, ColumnType::Text, nullable));
    }
    fn cells(&self, out: &mut dyn Cells) {
        out.text(self);
    }
}

impl Flat for i64 {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        out.push(Column::new(name, ColumnType::Int, nullable));
    }
    fn cells(&self, out: &mut dyn Cells) {
        out.int(*self);
    }
}

impl Flat for bool {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        out.push(Column::new(name, ColumnType::Bool, nullable));
    }
    fn cells(&self, out: &mut dyn Cells) {
        out.bool(*self);
    }
}

impl Flat for EventTime {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        out.push(Column::new(name, ColumnType::Time, nullable));
    }
    fn cells(&self, out: &mut dyn Cells) {
        out.time(*self);
    }
}

impl Flat for Vec<String> {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        out.push(Column::new(name, ColumnType::TextList, nullable));
    }
    fn cells(&self, out: &mut dyn Cells) {
        out.text_list(self);
    }
}

impl Flat for BTreeMap<String, String> {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        out.push(Column::new(name, ColumnType::TextMap, nullable));
    }
    fn cells(&self, out: &mut dyn Cells) {
        out.text_map(self);
    }
}

impl<T: Flat> Flat for Option<T> {
    fn columns(name: &str, _nullable: bool, out: &mut Vec<Column>) {
        T::columns(name, true, out);
    }
    fn cells(&self, out: &mut dyn Cells) {
        match self {
            Some(value) => value.cells(out),
            None => T::nulls(out),
        }
    }
    fn nulls(out: &mut dyn Cells) {
        T::nulls(out);
    }
}

/// An address is flattened: `shippingAddress_street`, `shippingAddress_city`, ...
impl Flat for Address {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        Address::record_columns(&format!("{name}_"), nullable, out);
    }
    fn cells(&self, out: &mut dyn Cells) {
        self.record_cells(out);
    }
    fn nulls(out: &mut dyn Cells) {
        Address::record_nulls(out);
    }
}

record!(Address { street: String, city: String, state: Option<String>, zipcode: String, country: String });
record!(OrderItem { product_id: String, vendor_id: String, quantity: i64, unit_price: i64 });

/// An order's items: one column, a list of records.
impl Flat for Vec<OrderItem> {
    fn columns(name: &str, nullable: bool, out: &mut Vec<Column>) {
        let mut fields = Vec::new();
        OrderItem::record_columns("", false, &mut fields);
        out.push(Column::new(name, ColumnType::Records(fields), nullable));
    }
    fn cells(&self, out: &mut dyn Cells) {
        out.records(self.len(), &mut |i, cells| self[i].record_cells(cells));
    }
}

/// The columns every table starts with: the envelope, then the record's
/// Kafka coordinates.
pub fn envelope_columns() -> Vec<Column> {
    vec![
        Column::new("id", ColumnType::Text, false),
        Column::new("type", ColumnType::Text, false),
        Column::new("source", ColumnType::Text, false),
        Column::new("time", ColumnType::Time, false),
        Column::new("subject", ColumnType::Text, false),
        Column::new("kafkaTopic", ColumnType::Text, false),
        Column::new("kafkaPartition", ColumnType::Int, false),
        Column::new("kafkaOffset", ColumnType::Int, false),
        Column::new("kafkaTimestamp", ColumnType::Time, true),
    ]
}

/// Where a record was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coordinates<'a> {
    /// The topic as named on the broker.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp, when it has one.
    pub timestamp: Option<EventTime>,
}

/// The table of event type `type_name` (`Order.Created`): the envelope
/// columns, then its `data`'s; `None` for a type the contract does not name.
pub fn table(type_name: &str) -> Option<Vec<Column>> {
    let mut columns = envelope_columns();
    let envelope = columns.len();
    Event::data_columns(type_name, &mut columns)?;
    for i in envelope..columns.len() {
        if columns[..envelope].iter().any(|c| c.name == columns[i].name) {
            columns[i].name = format!("data_{}", columns[i].name);
        }
    }
    Some(columns)
}

/// Gives the cells of one row of `envelope`'s table.
pub fn row(envelope: &Envelope, at: Coordinates<'_>, out: &mut dyn Cells) {
    out.text(&envelope.id);
    out.text(envelope.type_name());
    out.text(&envelope.source);
    out.time(envelope.time);
    out.text(&envelope.subject);
    out.text(at.topic);
    out.int(i64::from(at.partition));
    out.int(at.offset);
    match at.timestamp {
        Some(time) => out.time(time),
        None => out.null(),
    }
    envelope.event.data_cells(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    /// Cells as JSON: each column's value under its name.
    struct Json<'a> {
        columns: &'a [Column],
        next: usize,
        out: Map<String, Value>,
    }

    impl Json<'_> {
        fn put(&mut self, value: Value) {
            let name = self.columns[self.next].name.clone();
            self.next += 1;
            self.out.insert(name, value);
        }
    }

    impl Cells for Json<'_> {
        fn null(&mut self) {
            self.put(Value::Null);
        }
        fn text(&mut self, value: &str) {
            self.put(json!(value));
        }
        fn int(&mut self, value: i64) {
            self.put(json!(value));
        }
        fn bool(&mut self, value: bool) {
            self.put(json!(value));
        }
        fn time(&mut self, value: EventTime) {
            self.put(json!(value.to_string()));
        }
        fn text_list(&mut self, value: &[String]) {
            self.put(json!(value));
        }
        fn text_map(&mut self, value: &BTreeMap<String, String>) {
            self.put(json!(value));
        }
        fn records(&mut self, count: usize, fill: &mut dyn FnMut(usize, &mut dyn Cells)) {
            let ColumnType::Records(fields) = &self.columns[self.next].ty else { panic!("not a records column") };
            let mut list = Vec::new();
            for i in 0..count {
                let mut record = Json { columns: fields, next: 0, out: Map::new() };
                fill(i, &mut record);
                assert_eq!(record.next, fields.len(), "every field of a record gets a cell");
                list.push(Value::Object(record.out));
            }
            self.put(Value::Array(list));
        }
    }

    /// `data` as the table has it: nested objects flattened, absent fields null.
    fn flattened(data: &Value, columns: &[Column]) -> Map<String, Value> {
        let mut out = Map::new();
        for column in columns {
            let name = column.name.strip_prefix("data_").unwrap_or(&column.name);
            let mut value = data.get(name).cloned();
            if value.is_none() {
                if let Some((outer, inner)) = name.split_once('_') {
                    value = data.get(outer).and_then(|o| o.get(inner)).cloned();
                }
            }
            out.insert(column.name.clone(), value.unwrap_or(Value::Null));
        }
        out
    }

    fn fixtures() -> Vec<Envelope> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
        let mut envelopes = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            envelopes.push(Envelope::decode(&bytes).unwrap());
        }
        envelopes
    }

    #[test]
    fn every_type_has_a_table_with_distinct_column_names() {
        for type_name in Event::TYPE_NAMES {
            let columns = table(type_name).unwrap();
            let mut names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), columns.len(), "{type_name}: a column name repeats");
        }
        assert!(table("Order.Shredded").is_none());
    }

    #[test]
    fn a_row_holds_the_events_data_under_its_contract_names() {
        let envelopes = fixtures();
        assert!(envelopes.len() >= 20, "fixtures cover the event types");
        for envelope in envelopes {
            let columns = table(envelope.type_name()).unwrap();
            let at = Coordinates { topic: "t.shop.x", partition: 3, offset: 42, timestamp: None };
            let mut cells = Json { columns: &columns, next: 0, out: Map::new() };
            row(&envelope, at, &mut cells);
            assert_eq!(cells.next, columns.len(), "{}: one cell per column", envelope.type_name());
            let data = envelope.event.data_json();
            let data_columns = &columns[envelope_columns().len()..];
            let expected = flattened(&data, data_columns);
            let got: Map<String, Value> = cells
                .out
                .iter()
                .filter(|(k, _)| expected.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, expected, "{}", envelope.type_name());
            // Every field of the data is a column (none is lost in flattening).
            for key in data.as_object().unwrap().keys() {
                assert!(
                    data_columns.iter().any(|c| {
                        let name = c.name.strip_prefix("data_").unwrap_or(&c.name);
                        name == key || name.starts_with(&format!("{key}_"))
                    }),
                    "{}: {key} has no column",
                    envelope.type_name()
                );
            }
            assert_eq!(cells.out["id"], json!(envelope.id));
            assert_eq!(cells.out["kafkaOffset"], json!(42));
            assert_eq!(cells.out["kafkaTimestamp"], Value::Null);
        }
    }

    #[test]
    fn names_are_camel_case() {
        assert_eq!(camel("user_id"), "userId");
        assert_eq!(camel("totp_secret_sealed"), "totpSecretSealed");
        assert_eq!(camel("price"), "price");
    }
}
