# One service account per function, holding only what that function does.

locals {
  # Event types each function emits; routes give the topics. housekeeping relays outbox rows
  # of any type, so it may publish every event type.
  emitted_events = {
    "place-order"     = ["OrderPlaced"]
    "process-order"   = ["PaymentRequested", "OrderConfirmed", "OrderCancelled", "RefundRequested"]
    "payment-handler" = ["PaymentSucceeded", "PaymentFailed", "PaymentRefunded"]
    housekeeping      = keys(var.routes)
  }

  # analytics-loader writes to BigQuery only; every other function uses PostgreSQL.
  warehouse_functions = toset(["analytics-loader"])
  database_functions  = setsubtract(toset(keys(var.functions)), local.warehouse_functions)

  publish_topics = {
    for fn in keys(var.functions) : fn => distinct(flatten([
      for event in try(local.emitted_events[fn], []) : var.routes[event]
    ]))
  }

  publisher_grants = merge([
    for fn, topics in local.publish_topics : {
      for topic in topics : "${fn}/${topic}" => { function = fn, topic = topic }
    }
  ]...)

  # Logs, and spans when OTEL_TRACES=on: the OTLP endpoint (telemetry.googleapis.com) takes
  # them with telemetry.traces.write, all that roles/telemetry.tracesWriter holds.
  project_roles = ["roles/logging.logWriter", "roles/telemetry.tracesWriter"]

  project_grants = merge([
    for fn in keys(var.functions) : {
      for role in local.project_roles : "${fn}/${role}" => { function = fn, role = role }
    }
  ]...)

  # Consumers reject at the edge: only Pub/Sub's push may reach them.
  function_ingress = {
    for fn, f in var.functions : fn => f.trigger_topic == null ? "all" : "internal-only"
  }
}

resource "google_service_account" "function" {
  for_each = var.functions

  account_id   = "fn-${each.key}"
  display_name = "Cloud Function ${each.key}"
  description  = "Runs ${each.key} (entry point ${each.value.entry_point}); nothing else uses it."

  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "function" {
  for_each = local.project_grants

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.function[each.value.function].member
}

resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.publisher_grants

  topic  = google_pubsub_topic.topic[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = google_service_account.function[each.value.function].member
}

# A consumer dead-letters an event it cannot process to its own topic's DLQ itself.
resource "google_pubsub_topic_iam_member" "consumer_dead_letter_publisher" {
  for_each = var.topics

  topic  = google_pubsub_topic.dead_letter[each.key].name
  role   = "roles/pubsub.publisher"
  member = google_service_account.function[each.value.consumer].member
}

resource "google_project_iam_member" "database_client" {
  for_each = local.database_functions

  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = google_service_account.function[each.key].member
}

resource "google_project_iam_member" "database_instance_user" {
  for_each = local.database_functions

  project = var.project_id
  role    = "roles/cloudsql.instanceUser"
  member  = google_service_account.function[each.key].member
}

resource "google_bigquery_dataset_iam_member" "warehouse_editor" {
  for_each = local.warehouse_functions

  dataset_id = google_bigquery_dataset.warehouse.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.function[each.key].member
}

# Load and query jobs run in the project; the data stays limited to the dataset above.
resource "google_project_iam_member" "warehouse_job_user" {
  for_each = local.warehouse_functions

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.function[each.key].member
}
