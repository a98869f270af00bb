# Every trigger topic of the topology, its dead-letter topic, and the push subscription that
# feeds its consumer, with the delivery settings of the topology: Terraform owns the whole
# path from topic to function, so the deploy needs no Pub/Sub rights at all.

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

  # A function's Cloud Run URL is known before it is deployed (the deterministic form
  # https://SERVICE-PROJECT_NUMBER.REGION.run.app; a 2nd gen function's service is named
  # after it).
  function_url = {
    for fn in keys(var.functions) : fn => "https://${fn}-${data.google_project.this.number}.${var.region}.run.app"
  }
}

# Each topic's subscription is named after its consumer and pushes to it as the consumer's
# own service account (an OIDC token the service agent mints). The path /projects/P/topics/T
# lets functions-framework turn the push into a CloudEvent.
resource "google_pubsub_subscription" "consumer" {
  for_each = var.topics

  name                 = each.value.consumer
  topic                = google_pubsub_topic.topic[each.key].id
  ack_deadline_seconds = each.value.ack_deadline_seconds

  push_config {
    push_endpoint = "${local.function_url[each.value.consumer]}/projects/${var.project_id}/topics/${each.key}"

    oidc_token {
      service_account_email = google_service_account.function[each.value.consumer].email
      audience              = local.function_url[each.value.consumer]
    }
  }

  retry_policy {
    minimum_backoff = "${each.value.minimum_backoff_seconds}s"
    maximum_backoff = "${each.value.maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }
}

# Pub/Sub itself forwards a message that ran out of delivery attempts to the DLQ topic ...
resource "google_pubsub_topic_iam_member" "service_agent_dead_letter_publisher" {
  for_each = var.topics

  topic  = google_pubsub_topic.dead_letter[each.key].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

# ... and acknowledges it on the subscription it came from.
resource "google_pubsub_subscription_iam_member" "service_agent_dead_letter_subscriber" {
  for_each = var.topics

  subscription = google_pubsub_subscription.consumer[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The service agent mints each push's OIDC token as the consumer's account: only on those
# accounts, never project-wide.
resource "google_service_account_iam_member" "service_agent_push_token_creator" {
  for_each = var.topics

  service_account_id = google_service_account.function[each.value.consumer].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# The consumer's account may invoke its own function, and no other. The function's Cloud Run
# service must exist: the very first apply sets functions_deployed = false (docs/deploying.md).
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = var.functions_deployed ? var.topics : {}

  project  = var.project_id
  location = var.region
  name     = each.value.consumer
  role     = "roles/run.invoker"
  member   = google_service_account.function[each.value.consumer].member
}
