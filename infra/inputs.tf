# Settings of one environment. The topology (topics, functions, routes) is not here: it arrives
# generated, through variables.tf and topology.auto.tfvars.json.

variable "project_id" {
  description = "The Google Cloud project that runs the pipeline."
  type        = string
}

variable "region" {
  description = "Region of the functions, Cloud SQL, the scheduler job and the BigQuery dataset."
  type        = string
  default     = "europe-west1"
}

variable "github_repository" {
  description = "The only GitHub repository (owner/name) allowed to deploy, through Workload Identity Federation."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "github_branch" {
  description = "The branch whose workflows may deploy."
  type        = string
  default     = "main"
}

variable "database_tier" {
  description = "Cloud SQL machine tier."
  type        = string
  default     = "db-custom-1-3840"
}

variable "database_name" {
  description = "The PostgreSQL database the functions use."
  type        = string
  default     = "orders"
}

variable "bigquery_dataset" {
  description = "The analytics dataset (BIGQUERY_DATASET of analytics-loader)."
  type        = string
  default     = "orders"
}

variable "bigquery_table" {
  description = "The events table (BIGQUERY_TABLE of analytics-loader); its dedup view is <table>_deduped."
  type        = string
  default     = "events"
}

variable "housekeeping_schedule" {
  description = "Cron schedule (UTC) of the housekeeping tick."
  type        = string
  default     = "* * * * *"
}
