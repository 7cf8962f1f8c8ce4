//! An event type's table ([`crate::columns`]) built as an Arrow record
//! batch: text is `Utf8`, integers `Int64`, times `Timestamp(ns, "UTC")`, a
//! list of texts `List<Utf8>`, a map `Map<Utf8, Utf8>`, a list of records
//! `List<Struct>`.

use crate::columns::{self, Cells, Column, ColumnType, Coordinates};
use crate::envelope::Envelope;
use crate::time::EventTime;
use arrow_array::builder::{
    BooleanBuilder, Int64Builder, ListBuilder, MapBuilder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, Field, Fields, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The timezone of every time column.
pub const UTC: &str = "UTC";

/// A column being built.
enum Slot {
    Text(StringBuilder),
    Int(Int64Builder),
    Bool(BooleanBuilder),
    Time(TimestampNanosecondBuilder),
    TextList(ListBuilder<StringBuilder>),
    TextMap(MapBuilder<StringBuilder, StringBuilder>),
    Records { offsets: Vec<i32>, nulls: NullBufferBuilder, children: Vec<Slot>, columns: Vec<Column> },
}

impl Slot {
    fn new(ty: &ColumnType) -> Slot {
        match ty {
            ColumnType::Text => Slot::Text(StringBuilder::new()),
            ColumnType::Int => Slot::Int(Int64Builder::new()),
            ColumnType::Bool => Slot::Bool(BooleanBuilder::new()),
            ColumnType::Time => Slot::Time(TimestampNanosecondBuilder::new().with_timezone(UTC)),
            ColumnType::TextList => Slot::TextList(ListBuilder::new(StringBuilder::new())),
            ColumnType::TextMap => Slot::TextMap(MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())),
            ColumnType::Records(columns) => Slot::Records {
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
                children: columns.iter().map(|c| Slot::new(&c.ty)).collect(),
                columns: columns.clone(),
            },
        }
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Slot::Text(b) => Arc::new(b.finish()),
            Slot::Int(b) => Arc::new(b.finish()),
            Slot::Bool(b) => Arc::new(b.finish()),
            Slot::Time(b) => Arc::new(b.finish()),
            Slot::TextList(b) => Arc::new(b.finish()),
            Slot::TextMap(b) => Arc::new(b.finish()),
            Slot::Records { offsets, nulls, children, columns } => {
                let (fields, arrays) = finish_all(columns, children)?;
                let records = StructArray::try_new(fields, arrays, None)?;
                let item = Arc::new(Field::new("item", records.data_type().clone(), false));
                let offsets = OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(offsets, vec![0])));
                Arc::new(ListArray::try_new(item, offsets, Arc::new(records), nulls.finish())?)
            }
        })
    }
}

/// The fields and arrays of `slots`, built as `columns` say.
fn finish_all(columns: &[Column], slots: &mut [Slot]) -> Result<(Fields, Vec<ArrayRef>), ArrowError> {
    let mut fields = Vec::with_capacity(slots.len());
    let mut arrays = Vec::with_capacity(slots.len());
    for (column, slot) in columns.iter().zip(slots) {
        let array = slot.finish()?;
        fields.push(Field::new(&column.name, array.data_type().clone(), column.nullable));
        arrays.push(array);
    }
    Ok((Fields::from(fields), arrays))
}

/// The next column of a row.
struct Cursor<'a> {
    slots: &'a mut [Slot],
    next: usize,
}

impl Cursor<'_> {
    fn slot(&mut self) -> &mut Slot {
        let slot = &mut self.slots[self.next];
        self.next += 1;
        slot
    }
}

/// A cell the column's type does not take: the table and the cells
/// disagree, which `columns`' tests rule out for every event type.
fn mismatch(what: &str) -> ! {
    panic!("a {what} cell given to a column of another type")
}

impl Cells for Cursor<'_> {
    fn null(&mut self) {
        match self.slot() {
            Slot::Text(b) => b.append_null(),
            Slot::Int(b) => b.append_null(),
            Slot::Bool(b) => b.append_null(),
            Slot::Time(b) => b.append_null(),
            Slot::TextList(b) => b.append_null(),
            Slot::TextMap(b) => b.append(false).expect("keys and values stay aligned"),
            Slot::Records { offsets, nulls, .. } => {
                offsets.push(*offsets.last().expect("offsets start with 0"));
                nulls.append_null();
            }
        }
    }

    fn text(&mut self, value: &str) {
        match self.slot() {
            Slot::Text(b) => b.append_value(value),
            _ => mismatch("text"),
        }
    }

    fn int(&mut self, value: i64) {
        match self.slot() {
            Slot::Int(b) => b.append_value(value),
            _ => mismatch("integer"),
        }
    }

    fn bool(&mut self, value: bool) {
        match self.slot() {
            Slot::Bool(b) => b.append_value(value),
            _ => mismatch("boolean"),
        }
    }

    fn time(&mut self, value: EventTime) {
        match self.slot() {
            Slot::Time(b) => b.append_value(value.0),
            _ => mismatch("time"),
        }
    }

    fn text_list(&mut self, value: &[String]) {
        match self.slot() {
            Slot::TextList(b) => {
                for text in value {
                    b.values().append_value(text);
                }
                b.append(true);
            }
            _ => mismatch("list"),
        }
    }

    fn text_map(&mut self, value: &BTreeMap<String, String>) {
        match self.slot() {
            Slot::TextMap(b) => {
                for (key, text) in value {
                    b.keys().append_value(key);
                    b.values().append_value(text);
                }
                b.append(true).expect("keys and values stay aligned");
            }
            _ => mismatch("map"),
        }
    }

    fn records(&mut self, count: usize, fill: &mut dyn FnMut(usize, &mut dyn Cells)) {
        match self.slot() {
            Slot::Records { offsets, nulls, children, .. } => {
                for i in 0..count {
                    fill(i, &mut Cursor { slots: children, next: 0 });
                }
                let last = *offsets.last().expect("offsets start with 0");
                offsets.push(last + i32::try_from(count).expect("fewer than 2^31 records in a row"));
                nulls.append_non_null();
            }
            _ => mismatch("records"),
        }
    }
}

/// Rows of one event type's table, built into a record batch.
pub struct TableBuilder {
    columns: Vec<Column>,
    slots: Vec<Slot>,
    rows: usize,
}

impl TableBuilder {
    /// A builder for the table of `type_name` (`None`: not a contract type).
    pub fn new(type_name: &str) -> Option<TableBuilder> {
        let columns = columns::table(type_name)?;
        let slots = columns.iter().map(|c| Slot::new(&c.ty)).collect();
        Some(TableBuilder { columns, slots, rows: 0 })
    }

    /// Adds `envelope`, read at `at`, as a row. It must be of this table's type.
    pub fn push(&mut self, envelope: &Envelope, at: Coordinates<'_>) {
        let mut cursor = Cursor { slots: &mut self.slots, next: 0 };
        columns::row(envelope, at, &mut cursor);
        debug_assert_eq!(cursor.next, self.columns.len(), "one cell per column");
        self.rows += 1;
    }

    /// Rows added since the last [`TableBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was added since the last [`TableBuilder::finish`].
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows added so far as a record batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let (fields, arrays) = finish_all(&self.columns, &mut self.slots)?;
        self.rows = 0;
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampNanosecondType};

    fn fixture(type_name: &str) -> Envelope {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/valid/{type_name}.json"));
        Envelope::decode(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn every_fixture_becomes_a_batch_of_its_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
        for entry in std::fs::read_dir(dir).unwrap() {
            let envelope = Envelope::decode(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            let mut table = TableBuilder::new(envelope.type_name()).unwrap();
            let at = Coordinates { topic: "shop.x", partition: 1, offset: 7, timestamp: Some(envelope.time) };
            table.push(&envelope, at);
            table.push(&envelope, Coordinates { offset: 8, timestamp: None, ..at });
            let batch = table.finish().unwrap();
            assert_eq!(batch.num_rows(), 2, "{}", envelope.type_name());
            assert_eq!(batch.num_columns(), columns::table(envelope.type_name()).unwrap().len());
            assert!(table.is_empty());
        }
    }

    #[test]
    fn money_stays_integer_times_are_utc_timestamps_items_are_records() {
        let envelope = fixture("Order.Created");
        let mut table = TableBuilder::new("Order.Created").unwrap();
        table.push(&envelope, Coordinates { topic: "shop.orders", partition: 0, offset: 3, timestamp: None });
        let batch = table.finish().unwrap();
        let crate::events::Event::OrderCreated(order) = &envelope.event else { panic!() };
        let total = batch.column_by_name("total").unwrap().as_primitive::<Int64Type>();
        assert_eq!(total.value(0), order.total);
        let time = batch.column_by_name("time").unwrap().as_primitive::<TimestampNanosecondType>();
        assert_eq!(time.value(0), envelope.time.0);
        assert_eq!(time.timezone(), Some(UTC));
        assert!(batch.column_by_name("kafkaTimestamp").unwrap().is_null(0));
        let city = batch.column_by_name("shippingAddress_city").unwrap().as_string::<i32>();
        assert_eq!(city.value(0), order.shipping_address.city);
        let items = batch.column_by_name("items").unwrap().as_list::<i32>();
        let first = items.value(0);
        let first = first.as_struct();
        assert_eq!(first.len(), order.items.len());
        let price = first.column_by_name("unitPrice").unwrap().as_primitive::<Int64Type>();
        assert_eq!(price.value(0), order.items[0].unit_price);
    }

    #[test]
    fn an_absent_object_is_null_in_each_of_its_columns() {
        let mut envelope = fixture("User.Registered");
        let crate::events::Event::UserRegistered(user) = &mut envelope.event else { panic!() };
        user.address = None;
        let mut table = TableBuilder::new("User.Registered").unwrap();
        table.push(&envelope, Coordinates { topic: "shop.users", partition: 0, offset: 0, timestamp: None });
        let batch = table.finish().unwrap();
        for name in ["address_street", "address_city", "address_state", "address_zipcode", "address_country"] {
            assert!(batch.column_by_name(name).unwrap().is_null(0), "{name}");
        }
    }
}
