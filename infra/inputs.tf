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

variable "github_repository_id" {
  description = "Numeric id of var.github_repository (GitHub's repository_id claim): survives renames, and a repository recreated under the same name gets another."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.github_repository_id))
    error_message = "github_repository_id must be the repository's numeric id (gh api repos/OWNER/REPO --jq .id)."
  }
}

variable "github_repository_owner_id" {
  description = "Numeric id of the repository's owner (GitHub's repository_owner_id claim)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.github_repository_owner_id))
    error_message = "github_repository_owner_id must be the owner's numeric id (gh api repos/OWNER/REPO --jq .owner.id)."
  }
}

variable "github_branch" {
  description = "The branch whose deploy workflow may deploy."
  type        = string
  default     = "main"
}

variable "github_environment" {
  description = "The GitHub environment of the deploy job: its OIDC subject is repo:OWNER/REPO:environment:<this>."
  type        = string
  default     = "production"
}

variable "github_deploy_workflow" {
  description = "Path of the only workflow that may deploy."
  type        = string
  default     = ".github/workflows/deploy.yml"
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

variable "functions_deployed" {
  description = "Whether `pnpm run deploy` has deployed the functions: their invoker bindings need their Cloud Run services. false only for the first apply of a new project."
  type        = bool
  default     = true
}

variable "intake_invoker" {
  description = "Who may reach place-order through Cloud Run: \"allUsers\" (every request reaches the function, which verifies each end user's token itself) or the member of a gateway that forwards the user's token, such as \"serviceAccount:gateway@my-project.iam.gserviceaccount.com\". Nothing else is ever public."
  type        = string
  default     = "allUsers"

  validation {
    condition     = var.intake_invoker == "allUsers" || startswith(var.intake_invoker, "serviceAccount:")
    error_message = "intake_invoker must be \"allUsers\" or a serviceAccount: member."
  }
}

variable "notification_channels" {
  description = "Where every alert of monitoring.tf notifies: ids of notification channels (projects/P/notificationChannels/N), made in the console or with google_monitoring_notification_channel. Empty: incidents open in Cloud Monitoring and notify no one."
  type        = list(string)
  default     = []
}

variable "alert_consumer_backlog_seconds" {
  description = "Age of the oldest unacknowledged message on a consumer's subscription that alerts (delivery retries end after about four minutes)."
  type        = number
  default     = 600
}

variable "alert_outbox_age_seconds" {
  description = "Age of the oldest unsent outbox row that alerts (the relay runs every tick)."
  type        = number
  default     = 600
}

variable "alert_intake_5xx_percent" {
  description = "Share of place-order's requests answered 5xx, over 5 minutes, that alerts."
  type        = number
  default     = 1
}

variable "alert_intake_p99_ms" {
  description = "place-order's 99th percentile latency, over 5 minutes, that alerts."
  type        = number
  default     = 2000
}
