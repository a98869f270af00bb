# What an operator is told: log-based metrics of the lines the functions write (housekeeping's
# gauges each tick, each consumer's outcome per delivery, housekeeping's failed steps), alert
# policies over them and over Pub/Sub's and Cloud Run's own metrics, each linking the runbook
# in docs/runbooks/ that says what it means and which command repairs it. The per-topic
# alerts come from var.topics like the DLQs do: a new topic gets its alerts with its DLQ.
# packages/infra-policy refuses a DLQ without an alert and an alert without a runbook.

locals {
  # The runbooks of this repository, on its deploying branch.
  runbooks = "https://github.com/${var.github_repository}/blob/${var.github_branch}/docs/runbooks"

  # The function the Cloud Scheduler tick triggers.
  housekeeping = var.topics[var.functions.housekeeping.trigger_topic].consumer

  # The gauges housekeeping logs each tick, one line each whatever LOG_LEVEL says
  # (functions/housekeeping/src/gauges.ts):
  # {"message": "housekeeping gauge", "gauge": <name>, "value": <n>[, "status": <status>]}.
  # Each gauge's labels, by the field each is extracted from. A test of functions/housekeeping
  # holds these metrics against the lines a real tick writes.
  gauges = {
    outbox_unsent                    = { unit = "1", labels = {}, description = "Outbox rows not yet published to every topic of their routes." }
    outbox_oldest_unsent_age_seconds = { unit = "s", labels = {}, description = "Age of the oldest outbox row not yet published (0 when none)." }
    outbox_set_aside                 = { unit = "1", labels = {}, description = "Outbox rows set aside: they can never be published." }
    sagas_overdue                    = { unit = "1", labels = {}, description = "Sagas whose deadline passed more than SAGA_OVERDUE_SECONDS ago." }
    sagas_needing_attention          = { unit = "1", labels = {}, description = "Sagas parked in NEEDS_ATTENTION." }
    sagas_waiting                    = { unit = "1", labels = { status = "EXTRACT(jsonPayload.status)" }, description = "Sagas not yet settled (waiting for a deadline, or parked), by status." }
  }

  # Pub/Sub's metrics of one subscription.
  subscription_filter = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = "
  # A gauge's metric, as an alert's filter names it. A gauge is a distribution of the values
  # logged (one a tick): ALIGN_DELTA then REDUCE_MEAN gives their exact mean over a period.
  gauge_filter  = { for name, _ in local.gauges : name => "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.gauge[name].name}\"" }
  intake_filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"place-order\""
}

resource "google_logging_metric" "gauge" {
  for_each = local.gauges

  name        = "gauge/${each.key}"
  description = each.value.description
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.housekeeping}\" AND jsonPayload.message=\"housekeeping gauge\" AND jsonPayload.gauge=\"${each.key}\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = each.value.unit

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = "The line's ${labels.key}."
      }
    }
  }

  value_extractor  = "EXTRACT(jsonPayload.value)"
  label_extractors = each.value.labels

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.api]
}

# One line per delivery whatever LOG_LEVEL says (packages/runtime/src/consumer.ts): handled,
# duplicate, dead-lettered or retried. A test of packages/infra-policy holds this metric
# against the lines a real consumer writes.
resource "google_logging_metric" "consumer_outcomes" {
  name        = "consumer/outcomes"
  description = "Deliveries each consumer took, by outcome."
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.outcome:* AND jsonPayload.consumer:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "consumer"
      value_type  = "STRING"
      description = "The consuming function."
    }
    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "handled, duplicate, dead-lettered or retried."
    }
  }

  label_extractors = {
    consumer = "EXTRACT(jsonPayload.consumer)"
    outcome  = "EXTRACT(jsonPayload.outcome)"
  }

  depends_on = [google_project_service.api]
}

# A housekeeping step that failed (packages/runtime/src/scheduled-job.ts logs it at error with
# the step's name).
resource "google_logging_metric" "housekeeping_step_failures" {
  name        = "housekeeping/step-failures"
  description = "Housekeeping steps that failed, by step."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.housekeeping}\" AND severity>=ERROR AND jsonPayload.job=\"${local.housekeeping}\" AND jsonPayload.step:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "step"
      value_type  = "STRING"
      description = "The step that failed."
    }
  }

  label_extractors = {
    step = "EXTRACT(jsonPayload.step)"
  }

  depends_on = [google_project_service.api]
}

# Dead letters wait on each <topic>-dlq subscription until an operator replays or drops them.
resource "google_monitoring_alert_policy" "dead_letters" {
  for_each = var.topics

  display_name = "Dead letters on ${each.value.dead_letter_topic}"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "${each.value.dead_letter_topic} holds messages"
    condition_threshold {
      filter          = "${local.subscription_filter}\"${google_pubsub_subscription.dead_letter[each.key].name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages wait on ${each.value.dead_letter_topic}: ${each.value.consumer} refused them for good or Pub/Sub gave up after ${each.value.max_delivery_attempts} attempts. Runbook: ${local.runbooks}/dead-letters.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

# A consumer that falls behind or keeps failing: its subscription's oldest message ages.
resource "google_monitoring_alert_policy" "consumer_backlog" {
  for_each = var.topics

  display_name = "${each.value.consumer} is behind on ${each.key}"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "oldest unacked message on ${each.value.consumer} older than ${var.alert_consumer_backlog_seconds}s"
    condition_threshold {
      filter          = "${local.subscription_filter}\"${google_pubsub_subscription.consumer[each.key].name}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_consumer_backlog_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages wait longer than ${var.alert_consumer_backlog_seconds}s on ${each.value.consumer}'s subscription to ${each.key}. Runbook: ${local.runbooks}/consumer-backlog.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "outbox_behind" {
  display_name = "Outbox relay behind"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "oldest unsent outbox row older than ${var.alert_outbox_age_seconds}s"
    condition_threshold {
      filter          = local.gauge_filter.outbox_oldest_unsent_age_seconds
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_outbox_age_seconds
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_MEAN"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An event written to the outbox has not reached every topic of its routes for ${var.alert_outbox_age_seconds}s. Runbook: ${local.runbooks}/outbox.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "outbox_set_aside" {
  display_name = "Outbox rows set aside"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "an outbox row is set aside"
    condition_threshold {
      filter          = local.gauge_filter.outbox_set_aside
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_MEAN"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The relay set an outbox row aside: it can never be published as it is. Runbook: ${local.runbooks}/outbox.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "sagas_overdue" {
  display_name = "Sagas overdue"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "a saga's deadline passed and housekeeping has not moved it"
    condition_threshold {
      filter          = local.gauge_filter.sagas_overdue
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_MEAN"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Sagas are past their deadline (a payment or a refund that never answered) and the housekeeping sweep does not move them. Runbook: ${local.runbooks}/sagas-overdue.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "saga_parked" {
  display_name = "Saga parked in NEEDS_ATTENTION"
  combiner     = "OR"
  severity     = "CRITICAL"

  conditions {
    display_name = "a saga is parked"
    condition_threshold {
      filter          = local.gauge_filter.sagas_needing_attention
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "120s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_MEAN"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A saga gave up on a compensation (money or stock it owes back) and waits for an operator. Runbook: ${local.runbooks}/sagas-parked.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "housekeeping_failing" {
  display_name = "Housekeeping failing"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "a housekeeping step fails"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.housekeeping_step_failures.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.step"]
      }
    }
  }

  conditions {
    display_name = "no housekeeping tick for 10 minutes"
    condition_absent {
      filter   = local.gauge_filter.outbox_unsent
      duration = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_MEAN"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Housekeeping (outbox relay, saga deadlines, key expiry, stalled orders, gauges) fails, or has stopped ticking. Runbook: ${local.runbooks}/housekeeping.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "intake_errors" {
  display_name = "Intake answers 5xx"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "more than ${var.alert_intake_5xx_percent}% of place-order's requests answer 5xx"
    condition_threshold {
      filter                  = "${local.intake_filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter      = "${local.intake_filter} AND metric.type = \"run.googleapis.com/request_count\""
      comparison              = "COMPARISON_GT"
      threshold_value         = var.alert_intake_5xx_percent / 100
      duration                = "300s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "place-order answers 5xx to more than ${var.alert_intake_5xx_percent}% of its requests. Runbook: ${local.runbooks}/intake.md"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "intake_latency" {
  display_name = "Intake slow"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "place-order's 99th percentile latency above ${var.alert_intake_p99_ms} ms"
    condition_threshold {
      filter          = "${local.intake_filter} AND metric.type = \"run.googleapis.com/request_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_intake_p99_ms
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_99"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "place-order's 99th percentile latency is above ${var.alert_intake_p99_ms} ms. Runbook: ${local.runbooks}/intake.md#latency"
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.api]
}
