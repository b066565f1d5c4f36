//! The catalog's view of a schema file: the Glue table definition (columns with Hive types,
//! partition keys, location), exactly as Terraform derives it from the same file.

use crate::CompiledSchema;

use serde::{Deserialize, Serialize};

/// A column as the Glue Data Catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogColumn {
    /// Name.
    pub name: String,
    /// Hive/Glue type name (`string`, `bigint`, `timestamp`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Comment.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// A table (Glue: `Table` with a `StorageDescriptor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogTable {
    /// Database.
    pub database: String,
    /// Table name.
    pub name: String,
    /// Data location (folder or `s3://` URI) holding the partition folders.
    pub location: String,
    /// Data columns.
    pub columns: Vec<CatalogColumn>,
    /// Partition keys (all `string`).
    pub partition_keys: Vec<CatalogColumn>,
    /// The schema file the table was created from (so `query` needs no schema argument).
    pub schema_json: String,
}

/// The table for a schema: data columns (partition sources excluded), then the attributes
/// column; partition keys `dt`, `hr`, then the schema's extra keys (all `string`).
pub fn catalog_table(schema: &CompiledSchema, database: &str, location: &str) -> CatalogTable {
    let cols = schema.columns();
    let mut columns: Vec<CatalogColumn> = schema
        .data_columns
        .iter()
        .map(|&i| CatalogColumn {
            name: cols[i].name.clone(),
            kind: cols[i].ty.glue_name().to_owned(),
            comment: cols[i].comment.clone(),
        })
        .collect();
    columns.push(CatalogColumn {
        name: schema.schema.attributes_column.clone(),
        kind: "string".into(),
        comment: "Fields not mapped to a column, as a JSON object".into(),
    });
    let partition_keys = schema
        .schema
        .partition_keys
        .iter()
        .map(|k| CatalogColumn {
            name: k.name.clone(),
            kind: "string".into(),
            comment: k.comment.clone(),
        })
        .collect();
    CatalogTable {
        database: database.to_owned(),
        name: schema.table().to_owned(),
        location: location.to_owned(),
        columns,
        partition_keys,
        schema_json: serde_json::to_string(&schema.schema).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_logs_table() {
        let schema = crate::Schema::default_app_logs()
            .compile("built-in")
            .unwrap();
        let t = catalog_table(&schema, "loglake", "/r/clean/app_logs");
        let names: Vec<_> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"ts"));
        assert_eq!(names.last(), Some(&"attributes"));
        assert_eq!(t.columns[0].kind, "timestamp");
        let keys: Vec<_> = t.partition_keys.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(keys, ["dt", "hr"]);
    }
}
