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

/// How a schema file differs from the table already registered for it, by the one rule for
/// schema changes (README, "Schema changes"): files written earlier must stay readable through
/// the table, and Parquet is read by column name, so a column may be **added** (older files
/// read it as null) but not removed or retyped, and partition keys never change. Names compare
/// case-insensitively, as Glue and Athena do; column order does not matter.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// Columns the schema adds to the table: name and type, in the schema's order.
    pub added: Vec<(String, String)>,
    /// Changes no table can take, each with what to do instead.
    pub refused: Vec<String>,
}

impl SchemaChange {
    /// Compares a registered table (`columns` as name and Hive type, `keys` its partition keys)
    /// with the table a schema file defines.
    pub fn between(
        registered: &[(String, String)],
        registered_keys: &[String],
        wanted: &[(String, String)],
        wanted_keys: &[String],
    ) -> Self {
        let find = |cols: &[(String, String)], name: &str| {
            cols.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, t)| t.clone())
        };
        let mut change = Self::default();
        for (name, ty) in wanted {
            match find(registered, name) {
                None => change.added.push((name.clone(), ty.clone())),
                Some(old) if !old.eq_ignore_ascii_case(ty) => change.refused.push(format!(
                    "column `{name}` is `{old}` in the table but `{ty}` in the schema: a column's type \
                     cannot change, since the files already written hold `{old}` values (Athena \
                     would fail with HIVE_BAD_DATA); keep `{old}`, or add a column under a new name"
                )),
                Some(_) => {}
            }
        }
        for (name, old) in registered {
            if find(wanted, name).is_none() {
                change.refused.push(format!(
                    "column `{name}` (`{old}`) is in the table but not in the schema: a column \
                     cannot be removed, since the files already written hold it; keep it in the \
                     schema (it reads as null where no field feeds it), or write to a new table"
                ));
            }
        }
        let lower = |keys: &[String]| -> Vec<String> {
            keys.iter().map(|k| k.to_ascii_lowercase()).collect()
        };
        if lower(registered_keys) != lower(wanted_keys) {
            change.refused.push(format!(
                "partition keys are [{}] in the table but [{}] in the schema: partition keys \
                 cannot change, since they name the folders of every file written; write to a \
                 new table (a new `table` name) for the new layout",
                registered_keys.join(", "),
                wanted_keys.join(", ")
            ));
        }
        change
    }

    /// Whether the schema defines exactly the registered table (up to order and case).
    pub fn is_none(&self) -> bool {
        self.added.is_empty() && self.refused.is_empty()
    }
}

impl CatalogTable {
    /// Data columns as (name, type).
    pub fn column_types(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.kind.clone()))
            .collect()
    }

    /// Partition key names.
    pub fn key_names(&self) -> Vec<String> {
        self.partition_keys.iter().map(|c| c.name.clone()).collect()
    }

    /// How `wanted` (this table as a schema file now defines it) changes this registered one.
    pub fn change_to(&self, wanted: &CatalogTable) -> SchemaChange {
        SchemaChange::between(
            &self.column_types(),
            &self.key_names(),
            &wanted.column_types(),
            &wanted.key_names(),
        )
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

    fn cols(spec: &[(&str, &str)]) -> Vec<(String, String)> {
        spec.iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn added_columns_are_allowed_the_rest_refused_with_what_to_do() {
        let keys = vec!["dt".to_owned(), "hr".to_owned()];
        let old = cols(&[
            ("ts", "timestamp"),
            ("status", "int"),
            ("attributes", "string"),
        ]);
        let same = SchemaChange::between(
            &old,
            &keys,
            &cols(&[
                ("attributes", "string"),
                ("TS", "timestamp"),
                ("status", "INT"),
            ]),
            &keys,
        );
        assert!(same.is_none(), "order and case do not matter: {same:?}");

        let added = cols(&[
            ("ts", "timestamp"),
            ("status", "int"),
            ("region", "string"),
            ("attributes", "string"),
        ]);
        let change = SchemaChange::between(&old, &keys, &added, &keys);
        assert_eq!(change.added, cols(&[("region", "string")]));
        assert!(change.refused.is_empty());

        let retyped_and_removed = cols(&[("ts", "timestamp"), ("status", "string")]);
        let change = SchemaChange::between(&old, &keys, &retyped_and_removed, &keys[..1]);
        assert!(change.added.is_empty());
        assert_eq!(change.refused.len(), 3, "{change:?}");
        assert!(
            change.refused[0]
                .starts_with("column `status` is `int` in the table but `string` in the schema")
        );
        assert!(change.refused[0].contains("add a column under a new name"));
        assert!(
            change.refused[1].starts_with(
                "column `attributes` (`string`) is in the table but not in the schema"
            )
        );
        assert!(
            change.refused[2]
                .starts_with("partition keys are [dt, hr] in the table but [dt] in the schema")
        );
    }
}
