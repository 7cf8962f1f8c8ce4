//! Arrow schemas of what `shopflow export` writes, so files read the same in
//! any Arrow-speaking tool.

use arrow_schema::{DataType, Field, Schema, TimeUnit};

/// The schema of the `events` relation: one row per distinct event.
pub fn events_schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("subject", DataType::Utf8, false),
        Field::new("data", DataType::Utf8, false),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_schema_has_the_audit_columns_in_order() {
        let schema = super::events_schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "type", "time", "topic", "partition", "offset", "subject", "data"]);
    }
}
