# Every trigger topic of the topology and its dead-letter topic. The push subscriptions that
# feed the consumers are created by the functions' Eventarc triggers at deploy time, and the
# deploy step sets their dead-letter policy and backoff from the same topology.

resource "google_pubsub_topic" "topic" {
  for_each = var.topics

  name = each.key

  depends_on = [google_project_service.api]
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = var.topics

  name = each.value.dead_letter_topic

  depends_on = [google_project_service.api]
}

# Operators read and replay dead letters from here (`pnpm dlq`); a week is the longest
# Pub/Sub keeps them.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = var.topics

  name                       = each.value.dead_letter_topic
  topic                      = google_pubsub_topic.dead_letter[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Pub/Sub itself forwards a message that ran out of delivery attempts to the DLQ topic.
resource "google_pubsub_topic_iam_member" "service_agent_dead_letter_publisher" {
  for_each = var.topics

  topic  = google_pubsub_topic.dead_letter[each.key].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

# Push subscriptions authenticate to the functions with OIDC tokens the service agent mints.
resource "google_project_iam_member" "service_agent_token_creator" {
  project = var.project_id
  role    = "roles/iam.serviceAccountTokenCreator"
  member  = local.pubsub_service_agent
}
