# The housekeeping tick: outbox relay, stuck-saga timeouts and retention run from it.
resource "google_cloud_scheduler_job" "housekeeping_tick" {
  name      = "housekeeping-tick"
  region    = var.region
  schedule  = var.housekeeping_schedule
  time_zone = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.topic[var.functions.housekeeping.trigger_topic].id
    data       = base64encode(jsonencode({ job = var.functions.housekeeping.trigger_topic }))
  }

  depends_on = [google_project_service.api]
}
