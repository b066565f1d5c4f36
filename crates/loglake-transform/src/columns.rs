//! The Arrow side of the schema: field types and the column builders rows are appended to.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, PrimitiveBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};
use loglake_core::{Cell, ColumnType, CompiledSchema, Row};

/// Arrow type of a schema column type. Timestamps are microseconds with a `UTC` zone, which
/// Parquet stores as `TIMESTAMP(MICROS, isAdjustedToUTC=true)`: what Athena and Spark read as
/// `timestamp`.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::String => DataType::Utf8,
        ColumnType::Int => DataType::Int32,
        ColumnType::Bigint => DataType::Int64,
        ColumnType::Double => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// The Arrow schema of the Parquet files: the data columns (partition sources excluded), then
/// the attributes column. Every column is nullable except the event timestamp.
pub fn arrow_schema(schema: &CompiledSchema) -> SchemaRef {
    let cols = schema.columns();
    let mut fields: Vec<Field> = schema
        .data_columns
        .iter()
        .map(|&i| {
            Field::new(
                cols[i].name.clone(),
                arrow_type(cols[i].ty),
                i != schema.timestamp_column,
            )
        })
        .collect();
    fields.push(Field::new(
        schema.schema.attributes_column.clone(),
        DataType::Utf8,
        true,
    ));
    Arc::new(ArrowSchema::new(fields))
}

enum Builder {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
}

/// Column builders for one batch of rows, in the Arrow schema's order.
pub(crate) struct BatchBuilder {
    schema: SchemaRef,
    /// Schema column index per data builder.
    columns: Vec<usize>,
    builders: Vec<Builder>,
    attributes: StringBuilder,
    rows: usize,
    /// The lineage column's position among the builders, and the source's name it holds.
    lineage: Option<(usize, Arc<str>)>,
}

impl BatchBuilder {
    /// Empty builders for a schema; `source` fills the lineage column, if the schema has one.
    pub(crate) fn new(schema: &CompiledSchema, capacity: usize, source: &str) -> Self {
        let cols = schema.columns();
        let builders = schema
            .data_columns
            .iter()
            .map(|&i| match cols[i].ty {
                ColumnType::String => {
                    Builder::Str(StringBuilder::with_capacity(capacity, capacity * 16))
                }
                ColumnType::Int => Builder::I32(Int32Builder::with_capacity(capacity)),
                ColumnType::Bigint => Builder::I64(Int64Builder::with_capacity(capacity)),
                ColumnType::Double => Builder::F64(Float64Builder::with_capacity(capacity)),
                ColumnType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
                ColumnType::Timestamp => Builder::Ts(
                    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
                ),
            })
            .collect();
        Self {
            schema: arrow_schema(schema),
            columns: schema.data_columns.clone(),
            builders,
            attributes: StringBuilder::with_capacity(capacity, capacity * 32),
            rows: 0,
            lineage: schema.lineage_column.and_then(|c| {
                let at = schema.data_columns.iter().position(|&d| d == c)?;
                Some((at, Arc::from(source)))
            }),
        }
    }

    /// Rows appended since the last [`BatchBuilder::finish`].
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Whether no rows are buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one normalised row.
    pub(crate) fn append(&mut self, row: &Row<'_>) {
        for (b, &col) in self.builders.iter_mut().zip(&self.columns) {
            match (b, &row.cells[col]) {
                (Builder::Str(b), Cell::Str(s)) => b.append_value(s),
                (Builder::I32(b), Cell::Int(v)) => b.append_option(i32::try_from(*v).ok()),
                (Builder::I64(b), Cell::Int(v)) => b.append_value(*v),
                (Builder::F64(b), Cell::Double(v)) => b.append_value(*v),
                (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
                (Builder::Ts(b), Cell::Ts(v)) => b.append_value(*v),
                (Builder::Str(b), _) => b.append_null(),
                (Builder::I32(b), _) => b.append_null(),
                (Builder::I64(b), _) => b.append_null(),
                (Builder::F64(b), _) => b.append_null(),
                (Builder::Bool(b), _) => b.append_null(),
                (Builder::Ts(b), _) => b.append_null(),
            }
        }
        self.attributes.append_option(row.attributes());
        self.rows += 1;
    }

    /// Finishes the buffered rows into a batch and leaves empty builders sized like this batch,
    /// so the next one is appended without growing (and copying) its buffers step by step.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let rows = self.rows;
        let mut arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Str(b) => Arc::new(finish_sized(b, rows)),
                    Builder::I32(b) => Arc::new(finish_primitive(b, rows)),
                    Builder::I64(b) => Arc::new(finish_primitive(b, rows)),
                    Builder::F64(b) => Arc::new(finish_primitive(b, rows)),
                    Builder::Bool(b) => {
                        Arc::new(std::mem::replace(b, BooleanBuilder::with_capacity(rows)).finish())
                    }
                    Builder::Ts(b) => Arc::new(finish_primitive(b, rows)),
                }
            })
            .collect();
        arrays.push(Arc::new(finish_sized(&mut self.attributes, rows)));
        if let Some((at, source)) = &self.lineage {
            // The record never fills it (the schema gives it no route): one value per row.
            arrays[*at] = Arc::new(arrow_array::StringArray::from_iter_values(
                std::iter::repeat_n(&**source, rows),
            ));
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

/// Finishes a primitive builder, replacing it with one of the same type with room for `rows`.
fn finish_primitive<T: ArrowPrimitiveType>(
    b: &mut PrimitiveBuilder<T>,
    rows: usize,
) -> PrimitiveArray<T> {
    let array = b.finish();
    *b = PrimitiveBuilder::with_capacity(rows).with_data_type(array.data_type().clone());
    array
}

/// Finishes a string builder, replacing it with one that has room for as many rows and bytes.
fn finish_sized(b: &mut StringBuilder, rows: usize) -> arrow_array::StringArray {
    let next = StringBuilder::with_capacity(rows, b.values_slice().len());
    std::mem::replace(b, next).finish()
}
