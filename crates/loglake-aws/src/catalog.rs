//! The Glue Data Catalog: check that the table Terraform made agrees with the schema file before
//! any data is written (a type mismatch would surface later as Athena's `HIVE_BAD_DATA`), and
//! register the partitions a transform wrote (`BatchCreatePartition`; already registered is fine).

use aws_sdk_glue::types::{PartitionInput, StorageDescriptor};
use loglake_core::catalog::SchemaChange;
use loglake_trigger::handler::{AwsError, ErrorKind, backoff_delay};

use crate::error::aws_error;

/// What the schema file says the table is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTable {
    /// Database.
    pub database: String,
    /// Table.
    pub name: String,
    /// Data columns: name and Hive type, in order.
    pub columns: Vec<(String, String)>,
    /// Partition key names, in order.
    pub partition_keys: Vec<String>,
}

/// A catalog problem.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// A Glue call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The table is not in the catalog.
    #[error(
        "table `{database}.{table}` is not in the Glue Data Catalog\nhint: create it with Terraform (infra/catalog.tf), which reads the same schema file"
    )]
    Missing {
        /// Database.
        database: String,
        /// Table.
        table: String,
    },
    /// A partition path the transform produced is not `k=v/…` (a bug, not a data problem).
    #[error("{message}")]
    BadPartition {
        /// What was wrong, with the path.
        message: String,
    },
    /// The database is not in the catalog.
    #[error(
        "database `{database}` is not in the Glue Data Catalog\nhint: the deployment's database is Terraform's `glue_database` output (`terraform -chdir=infra output glue_database`)"
    )]
    MissingDatabase {
        /// Database.
        database: String,
    },
    /// The catalog table disagrees with the schema file.
    #[error(
        "table `{database}.{table}` in the Glue Data Catalog disagrees with the schema file: {}\nhint: apply Terraform with this schema file (infra/catalog.tf), or pass the schema the table was made from",
        .differences.join("; ")
    )]
    Mismatch {
        /// Database.
        database: String,
        /// Table.
        table: String,
        /// Each difference, named.
        differences: Vec<String>,
    },
}

/// A table found in the catalog, ready for partitions.
#[derive(Debug, Clone)]
pub struct RegisteredTable {
    database: String,
    name: String,
    location: String,
    storage: StorageDescriptor,
}

impl RegisteredTable {
    /// The table's location (`s3://…/clean/<table>`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Its database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A table as the Glue Data Catalog describes it (for queries over it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueTable {
    /// Database.
    pub database: String,
    /// Table.
    pub name: String,
    /// Location of the data (`s3://…`), without a trailing `/`.
    pub location: String,
    /// Data columns: name and Hive type, in order.
    pub columns: Vec<(String, String)>,
    /// Partition keys: name and Hive type, in order.
    pub partition_keys: Vec<(String, String)>,
}

impl GlueTable {
    fn from_glue(database: &str, table: &aws_sdk_glue::types::Table) -> Self {
        let storage = table.storage_descriptor();
        let pair = |c: &aws_sdk_glue::types::Column| {
            (
                c.name().to_owned(),
                c.r#type().unwrap_or_default().to_owned(),
            )
        };
        Self {
            database: database.to_owned(),
            name: table.name().to_owned(),
            location: storage
                .and_then(|s| s.location())
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            columns: storage
                .map(|s| s.columns().iter().map(pair).collect())
                .unwrap_or_default(),
            partition_keys: table.partition_keys().iter().map(pair).collect(),
        }
    }
}

/// A partition as the Glue Data Catalog has it.
#[derive(Debug, Clone)]
pub struct GluePartition {
    /// Values, in partition-key order.
    pub values: Vec<String>,
    /// Its location (the current generation's folder).
    pub location: String,
    /// Its parameters (`loglake.generation`, `loglake.previous_location`,
    /// `loglake.switched_at_ms` once compacted).
    pub parameters: std::collections::HashMap<String, String>,
    storage: StorageDescriptor,
}

impl GluePartition {
    fn from_glue(p: &aws_sdk_glue::types::Partition) -> Self {
        let storage = p
            .storage_descriptor()
            .cloned()
            .unwrap_or_else(|| StorageDescriptor::builder().build());
        Self {
            values: p.values().to_vec(),
            location: storage.location().unwrap_or_default().to_owned(),
            parameters: p.parameters().cloned().unwrap_or_default(),
            storage,
        }
    }

    /// The compaction generation its location holds (0: never compacted).
    pub fn generation(&self) -> u64 {
        self.parameters
            .get(GENERATION)
            .and_then(|g| g.parse().ok())
            .unwrap_or(0)
    }
}

/// Partition parameter: the compaction generation of its location.
pub const GENERATION: &str = "loglake.generation";
/// Partition parameter: the location before the last switch (deleted after the grace period).
pub const PREVIOUS_LOCATION: &str = "loglake.previous_location";
/// Partition parameter: when the last switch happened (epoch milliseconds).
pub const SWITCHED_AT_MS: &str = "loglake.switched_at_ms";

/// The Glue Data Catalog.
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
}

/// Compares the catalog's table with the schema's by the one rule for schema changes
/// ([`SchemaChange`]); each difference named with what to do. A column the schema adds is a
/// difference here too: Terraform defines the Glue table from the same schema file, so the
/// job waits for `terraform apply` rather than writing files the table cannot show yet.
pub fn differences(
    expected: &ExpectedTable,
    columns: &[(String, String)],
    partition_keys: &[String],
) -> Vec<String> {
    let change = SchemaChange::between(
        columns,
        partition_keys,
        &expected.columns,
        &expected.partition_keys,
    );
    let added = change.added.iter().map(|(name, ty)| {
        format!(
            "column `{name}` (`{ty}`) is in the schema but not yet in the Glue table: apply \
             infra/ (Terraform defines the table from this schema file) before running the job"
        )
    });
    added.chain(change.refused).collect()
}

impl GlueCatalog {
    /// Wraps a client.
    pub fn new(client: aws_sdk_glue::Client) -> Self {
        Self { client }
    }

    /// A client from the standard AWS environment.
    pub async fn from_env() -> Self {
        Self::new(aws_sdk_glue::Client::new(&crate::sdk_config().await))
    }

    /// Reads the table and checks it against the schema.
    pub async fn check(&self, expected: &ExpectedTable) -> Result<RegisteredTable, CatalogError> {
        let Some(table) = self.get_table(&expected.database, &expected.name).await? else {
            return Err(CatalogError::Missing {
                database: expected.database.clone(),
                table: expected.name.clone(),
            });
        };
        let described = GlueTable::from_glue(&expected.database, &table);
        let keys: Vec<String> = described
            .partition_keys
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        let columns = &described.columns;
        let differences = differences(expected, columns, &keys);
        if !differences.is_empty() {
            return Err(CatalogError::Mismatch {
                database: expected.database.clone(),
                table: expected.name.clone(),
                differences,
            });
        }
        Ok(RegisteredTable {
            database: expected.database.clone(),
            name: expected.name.clone(),
            location: described.location,
            storage: table
                .storage_descriptor
                .unwrap_or_else(|| StorageDescriptor::builder().build()),
        })
    }

    /// The tables of `database` (only `table`, when given), as the catalog describes them.
    pub async fn tables(
        &self,
        database: &str,
        table: Option<&str>,
    ) -> Result<Vec<GlueTable>, CatalogError> {
        if let Some(name) = table {
            return match self.get_table(database, name).await? {
                Some(t) => Ok(vec![GlueTable::from_glue(database, &t)]),
                None => {
                    // Say which is missing: the database or only the table.
                    self.database_exists(database).await?;
                    Err(CatalogError::Missing {
                        database: database.to_owned(),
                        table: name.to_owned(),
                    })
                }
            };
        }
        let mut tables = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_tables()
                .database_name(database)
                .set_next_token(token.take())
                .send()
                .await;
            let out = match out {
                Ok(o) => o,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_entity_not_found_exception()) =>
                {
                    return Err(CatalogError::MissingDatabase {
                        database: database.to_owned(),
                    });
                }
                Err(e) => {
                    return Err(aws_error("glue", "GetTables", database.to_owned(), e).into());
                }
            };
            tables.extend(
                out.table_list()
                    .iter()
                    .map(|t| GlueTable::from_glue(database, t)),
            );
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(tables)
    }

    /// `GetTable`; `None` when the table (or its database) is not in the catalog.
    async fn get_table(
        &self,
        database: &str,
        name: &str,
    ) -> Result<Option<aws_sdk_glue::types::Table>, CatalogError> {
        let out = self
            .client
            .get_table()
            .database_name(database)
            .name(name)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.table),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error("glue", "GetTable", format!("{database}.{name}"), e).into()),
        }
    }

    async fn database_exists(&self, database: &str) -> Result<(), CatalogError> {
        match self.client.get_database().name(database).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_entity_not_found_exception()) =>
            {
                Err(CatalogError::MissingDatabase {
                    database: database.to_owned(),
                })
            }
            Err(e) => Err(aws_error("glue", "GetDatabase", database.to_owned(), e).into()),
        }
    }

    /// Every partition of a table (`GetPartitions`, all pages).
    pub async fn partitions(
        &self,
        database: &str,
        table: &str,
    ) -> Result<Vec<GluePartition>, CatalogError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_partitions()
                .database_name(database)
                .table_name(table)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    aws_error("glue", "GetPartitions", format!("{database}.{table}"), e)
                })?;
            out.extend(page.partitions().iter().map(GluePartition::from_glue));
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// One partition (`GetPartition`); `None` when it is not registered.
    pub async fn partition(
        &self,
        database: &str,
        table: &str,
        values: &[String],
    ) -> Result<Option<GluePartition>, CatalogError> {
        let out = self
            .client
            .get_partition()
            .database_name(database)
            .table_name(table)
            .set_partition_values(Some(values.to_vec()))
            .send()
            .await;
        match out {
            Ok(o) => Ok(o.partition.as_ref().map(GluePartition::from_glue)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => {
                Err(aws_error("glue", "GetPartition", format!("{database}.{table}"), e).into())
            }
        }
    }

    /// The atomic step of compaction on AWS: one `UpdatePartition` sets the partition's
    /// location (and its parameters: generation, the previous location, when it switched), so
    /// Athena and `query --glue` read the old folder or the new one.
    pub async fn switch_partition(
        &self,
        database: &str,
        table: &str,
        partition: &GluePartition,
        location: &str,
        parameters: std::collections::HashMap<String, String>,
    ) -> Result<(), CatalogError> {
        let mut storage = partition.storage.clone();
        storage.location = Some(location.to_owned());
        let input = PartitionInput::builder()
            .set_values(Some(partition.values.clone()))
            .storage_descriptor(storage)
            .set_parameters(Some(parameters))
            .build();
        self.client
            .update_partition()
            .database_name(database)
            .table_name(table)
            .set_partition_value_list(Some(partition.values.clone()))
            .partition_input(input)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                aws_error("glue", "UpdatePartition", format!("{database}.{table}"), e).into()
            })
    }

    /// Registers partitions (`dt=…/hr=…[/k=v]` paths under the table's location) with the
    /// table's storage descriptor. Already registered ones are fine; throttling is retried.
    /// Returns how many were new.
    pub async fn add_partitions(
        &self,
        table: &RegisteredTable,
        partitions: &[String],
    ) -> Result<usize, CatalogError> {
        let target = format!("{}.{}", table.database, table.name);
        let mut added = 0;
        for chunk in partitions.chunks(100) {
            let inputs = chunk
                .iter()
                .map(|p| {
                    // The catalog holds raw values; the location keeps the escaped path.
                    let values = loglake_core::partition::PartitionPath::parse(p)
                        .map_err(|message| CatalogError::BadPartition { message })?
                        .values();
                    let mut storage = table.storage.clone();
                    storage.location = Some(format!("{}/{p}", table.location));
                    Ok(PartitionInput::builder()
                        .set_values(Some(values))
                        .storage_descriptor(storage)
                        .build())
                })
                .collect::<Result<Vec<PartitionInput>, CatalogError>>()?;
            let mut attempt = 0;
            let out = loop {
                let out = self
                    .client
                    .batch_create_partition()
                    .database_name(&table.database)
                    .table_name(&table.name)
                    .set_partition_input_list(Some(inputs.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("glue", "BatchCreatePartition", target.clone(), e));
                match out {
                    Err(e) if e.kind != ErrorKind::Permanent && attempt < 5 => {
                        tokio::time::sleep(backoff_delay(attempt, u64::from(attempt) * 7919)).await;
                        attempt += 1;
                    }
                    other => break other?,
                }
            };
            let mut failed = Vec::new();
            for e in out.errors() {
                let code = e
                    .error_detail()
                    .and_then(|d| d.error_code())
                    .unwrap_or_default();
                if code != "AlreadyExistsException" {
                    let message = e
                        .error_detail()
                        .and_then(|d| d.error_message())
                        .unwrap_or_default();
                    failed.push(format!("{:?}: {code} {message}", e.partition_values()));
                }
            }
            if !failed.is_empty() {
                return Err(AwsError::new(
                    "glue",
                    "BatchCreatePartition",
                    target,
                    failed.join("; "),
                    ErrorKind::Permanent,
                )
                .into());
            }
            added += chunk.len() - out.errors().len();
        }
        Ok(added)
    }
}
