# The analytics dataset, the events table and its dedup view, as packages/analytics defines
# them (bigQuerySchemaScript): infra-policy tests fail when the schema or the view drifts.

resource "google_bigquery_dataset" "warehouse" {
  dataset_id  = var.bigquery_dataset
  location    = var.region
  description = "Domain events of the order pipeline, loaded by analytics-loader."

  depends_on = [google_project_service.api]
}

resource "google_bigquery_table" "events" {
  dataset_id          = google_bigquery_dataset.warehouse.dataset_id
  table_id            = var.bigquery_table
  description         = "Every delivered copy of every domain event; query ${var.bigquery_table}_deduped for one row per event id."
  schema              = file("${path.module}/bigquery/events-schema.json")
  clustering          = ["event_type"]
  deletion_protection = true

  time_partitioning {
    type  = "DAY"
    field = "event_date"
  }
}

resource "google_bigquery_table" "events_deduped" {
  dataset_id          = google_bigquery_dataset.warehouse.dataset_id
  table_id            = "${var.bigquery_table}_deduped"
  description         = "${var.bigquery_table}, first loaded copy of each event id."
  deletion_protection = false

  view {
    use_legacy_sql = false

    query = <<-SQL
      SELECT * FROM `${var.project_id}.${google_bigquery_dataset.warehouse.dataset_id}.${google_bigquery_table.events.table_id}` WHERE TRUE
      QUALIFY ROW_NUMBER() OVER (PARTITION BY event_date, event_id ORDER BY loaded_at) = 1
    SQL
  }
}
