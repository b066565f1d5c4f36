variable "name_prefix" {
  description = "Prefix of every resource name (buckets get the account id and region appended for global uniqueness)."
  type        = string
  default     = "loglake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lower-case letters, digits and '-', starting with a letter and not ending with '-' (it becomes part of S3 bucket names)."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1 or us-east-1."
  }
}

variable "raw_prefix" {
  description = "Key prefix of raw log objects in the raw bucket; only objects under it trigger the pipeline. Empty for the whole bucket."
  type        = string
  default     = "raw/"

  validation {
    condition     = var.raw_prefix == "" || (can(regex("^[^*?]+/$", var.raw_prefix)) && !startswith(var.raw_prefix, "/"))
    error_message = "raw_prefix must be empty or a key prefix ending with '/' (e.g. \"raw/\"), without a leading '/' or wildcards."
  }
}

variable "raw_suffixes" {
  description = "Accepted key suffixes of raw log objects (compression is detected by content, the suffix only filters events)."
  type        = list(string)
  default     = [".json", ".json.gz", ".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz", ".log", ".log.gz", ".zst"]

  validation {
    condition     = length(var.raw_suffixes) > 0 && alltrue([for s in var.raw_suffixes : can(regex("^\\.[A-Za-z0-9._-]+$", s))])
    error_message = "raw_suffixes must be a non-empty list of suffixes starting with '.', e.g. [\".json\", \".json.gz\"]."
  }
}

variable "log_retention_days" {
  description = "Retention of the Lambda and Glue CloudWatch log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (confirmation required). Null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address such as ops@example.com, or null."
  }
}

variable "alarm_sns_topic_arn" {
  description = "Existing SNS topic for alarms. Null to create one (name_prefix-alarms)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or null."
  }
}

variable "enable_kms" {
  description = "Encrypt buckets, the ledger, queues, logs and Glue output with a customer-managed KMS key (created here). Off: AWS-managed keys (SSE-S3, AWS owned DynamoDB key)."
  type        = bool
  default     = true
}

variable "glue_version" {
  description = "AWS Glue version of the transform job."
  type        = string
  default     = "5.0"

  validation {
    condition     = contains(["4.0", "5.0"], var.glue_version)
    error_message = "glue_version must be \"5.0\" (Spark 3.5, Python 3.11, Java 17) or \"4.0\"."
  }
}

variable "glue_worker_type" {
  description = "Glue worker type of the transform job."
  type        = string
  default     = "G.1X"

  validation {
    condition     = contains(["G.1X", "G.2X", "G.4X", "G.8X"], var.glue_worker_type)
    error_message = "glue_worker_type must be one of G.1X, G.2X, G.4X, G.8X (G.025X is for Glue streaming jobs only; this is a batch glueetl job)."
  }
}

variable "glue_number_of_workers" {
  description = "Workers per Glue job run (2 is the minimum Glue bills)."
  type        = number
  default     = 2

  validation {
    condition     = var.glue_number_of_workers >= 2 && var.glue_number_of_workers <= 299 && floor(var.glue_number_of_workers) == var.glue_number_of_workers
    error_message = "glue_number_of_workers must be a whole number from 2 to 299."
  }
}

variable "glue_max_concurrent_runs" {
  description = "Maximum concurrent runs of the Glue job; further runs queue (job run queuing) or are retried by the trigger."
  type        = number
  default     = 10

  validation {
    condition     = var.glue_max_concurrent_runs >= 1 && var.glue_max_concurrent_runs <= 1000 && floor(var.glue_max_concurrent_runs) == var.glue_max_concurrent_runs
    error_message = "glue_max_concurrent_runs must be a whole number from 1 to 1000."
  }
}

variable "glue_timeout_minutes" {
  description = "Timeout of one Glue job run, in minutes."
  type        = number
  default     = 60

  validation {
    condition     = var.glue_timeout_minutes >= 1 && var.glue_timeout_minutes <= 2880
    error_message = "glue_timeout_minutes must be between 1 and 2880 (48 hours)."
  }
}

variable "batching_enabled" {
  description = "Batching mode: EventBridge sends object events to an SQS queue that feeds the Lambda in batches (one Glue run per batch). Off: one Lambda invocation and Glue run per object."
  type        = bool
  default     = false
}

variable "batch_window_seconds" {
  description = "Batching mode: how long the event source mapping gathers messages before invoking the Lambda."
  type        = number
  default     = 60

  validation {
    condition     = var.batch_window_seconds >= 0 && var.batch_window_seconds <= 300
    error_message = "batch_window_seconds must be between 0 and 300 (the SQS event source maximum)."
  }
}

variable "batch_size" {
  description = "Batching mode: maximum messages per Lambda invocation (and objects per Glue run)."
  type        = number
  default     = 100

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }

  validation {
    condition     = var.batch_size <= 10 || var.batch_window_seconds >= 1
    error_message = "batch_size over 10 needs batch_window_seconds of at least 1: Lambda rejects an SQS event source mapping with a batch size over 10 and no batching window."
  }
}

variable "batch_maximum_concurrency" {
  description = "Batching mode: the most concurrent Lambda invocations the SQS event source mapping starts (its scaling_config). This, not reserved concurrency, bounds the batch path: an event source mapping does not account for reserved concurrency, and throttled receives count toward the queue's maxReceiveCount."
  type        = number
  default     = 5

  validation {
    condition     = var.batch_maximum_concurrency >= 2 && var.batch_maximum_concurrency <= 1000 && floor(var.batch_maximum_concurrency) == var.batch_maximum_concurrency
    error_message = "batch_maximum_concurrency must be a whole number from 2 to 1000 (the SQS event source mapping's limits)."
  }
}

variable "compaction_enabled" {
  description = "Compact settled partitions on a schedule (the Glue job in its compaction mode): a partition's files are rewritten into a few large ones and switched in with one UpdatePartition."
  type        = bool
  default     = true
}

variable "compaction_schedule" {
  description = "When the compaction run starts: an EventBridge Scheduler expression, rate(...) or cron(...)."
  type        = string
  default     = "rate(1 hour)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.compaction_schedule))
    error_message = "compaction_schedule must be an EventBridge Scheduler expression: rate(1 hour) or cron(15 * * * ? *)."
  }
}

variable "compaction_settle_minutes" {
  description = "A partition is compacted once its hour ended this many minutes ago (late objects after that land in its current folder and are visible at once)."
  type        = number
  default     = 60

  validation {
    condition     = var.compaction_settle_minutes >= 0 && var.compaction_settle_minutes <= 10080
    error_message = "compaction_settle_minutes must be between 0 and 10080 (a week)."
  }
}

variable "compaction_min_files" {
  description = "A partition is compacted once its current folder holds this many files written by transforms."
  type        = number
  default     = 8

  validation {
    condition     = var.compaction_min_files >= 2 && var.compaction_min_files <= 100000
    error_message = "compaction_min_files must be between 2 and 100000."
  }
}

variable "compaction_target_file_mib" {
  description = "Target size of a compacted Parquet file in MiB (Athena's guidance is 128 MB or more)."
  type        = number
  default     = 128

  validation {
    condition     = var.compaction_target_file_mib >= 16 && var.compaction_target_file_mib <= 1024
    error_message = "compaction_target_file_mib must be between 16 and 1024."
  }
}

variable "compaction_grace_minutes" {
  description = "An old generation folder is deleted this many minutes after its partition switched (longer than the longest Athena query: the DML timeout defaults to 30 minutes)."
  type        = number
  default     = 60

  validation {
    condition     = var.compaction_grace_minutes >= 30
    error_message = "compaction_grace_minutes must be at least 30, longer than a default Athena DML query may run."
  }
}

variable "ledger_ttl_days" {
  description = "Days a ledger item (one per object version) is kept before DynamoDB expires it."
  type        = number
  default     = 90

  validation {
    condition     = var.ledger_ttl_days >= 1 && var.ledger_ttl_days <= 3650
    error_message = "ledger_ttl_days must be between 1 and 3650."
  }
}

variable "lambda_architecture" {
  description = "CPU architecture of the trigger Lambda; must match the built bootstrap (scripts/package.sh)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"x86_64\" or \"arm64\"."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of the trigger Lambda; null (the default) reserves none. A reservation must leave the account at least 100 unreserved, or the apply fails; in batching mode it must be at least batch_maximum_concurrency."
  type        = number
  default     = null

  validation {
    condition     = var.lambda_reserved_concurrency == null || (try(var.lambda_reserved_concurrency >= 1 && var.lambda_reserved_concurrency <= 1000 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency, false))
    error_message = "lambda_reserved_concurrency must be null (no reservation) or a whole number from 1 to 1000."
  }

  validation {
    condition     = var.lambda_reserved_concurrency == null || !var.batching_enabled || try(var.lambda_reserved_concurrency >= var.batch_maximum_concurrency, false)
    error_message = "In batching mode lambda_reserved_concurrency must be at least batch_maximum_concurrency: otherwise Lambda throttles the event source mapping's invocations and the throttled messages count toward the queue's maxReceiveCount."
  }
}

variable "lambda_zip_path" {
  description = "Path of the trigger Lambda package built by scripts/package.sh (a zip with an executable `bootstrap`)."
  type        = string
  default     = null
}

variable "glue_script_path" {
  description = "Path of the Glue entry script uploaded to the code bucket."
  type        = string
  default     = null
}

variable "glue_binary_path" {
  description = "Path of the Linux x86_64 `loglake` binary built by scripts/package.sh, shipped to Glue with --extra-files."
  type        = string
  default     = null
}

variable "schema_path" {
  description = "Path of the table schema (JSON) shared with the transform: the Glue table columns come from it."
  type        = string
  default     = null
}

variable "clean_retention_days" {
  description = "Days clean Parquet objects are kept (0 keeps them forever)."
  type        = number
  default     = 0

  validation {
    condition     = var.clean_retention_days >= 0
    error_message = "clean_retention_days must be 0 (keep forever) or a positive number of days."
  }
}

variable "raw_transition_days" {
  description = "Days after which raw objects move to STANDARD_IA."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_transition_days >= 30
    error_message = "raw_transition_days must be at least 30 (S3 does not move objects to STANDARD_IA earlier)."
  }
}

variable "raw_expiration_days" {
  description = "Days after which raw objects expire (they are reprocessable until then)."
  type        = number
  default     = 365

  validation {
    condition     = var.raw_expiration_days >= 31
    error_message = "raw_expiration_days must be at least 31, after the STANDARD_IA transition."
  }
}

variable "tags" {
  description = "Tags added to every resource (merged over the defaults Project=loglake, ManagedBy=terraform)."
  type        = map(string)
  default     = {}
}
