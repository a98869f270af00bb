# One dashboard of what the alerts of monitoring.tf watch, and the traffic around it: each
# consumer's outcomes, the DLQs and consumer backlogs (from var.topics), the outbox, the
# sagas by status, housekeeping, and the intake.

locals {
  dead_letter_subscriptions = join(", ", [for topic, _ in var.topics : "\"${google_pubsub_subscription.dead_letter[topic].name}\""])
  consumer_subscriptions    = join(", ", [for topic, _ in var.topics : "\"${google_pubsub_subscription.consumer[topic].name}\""])

  # A chart's data set: one filter, aligned and reduced.
  series = {
    for name, query in {
      outcomes      = { filter = "metric.type = \"logging.googleapis.com/user/${google_logging_metric.consumer_outcomes.name}\"", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", by = ["metric.label.consumer", "metric.label.outcome"] }
      dead_letters  = { filter = "${local.subscription_filter}one_of(${local.dead_letter_subscriptions}) AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\"", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", by = ["resource.label.subscription_id"] }
      consumer_age  = { filter = "${local.subscription_filter}one_of(${local.consumer_subscriptions}) AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\"", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", by = ["resource.label.subscription_id"] }
      outbox_unsent = { filter = local.gauge_filter.outbox_unsent, aligner = "ALIGN_DELTA", reducer = "REDUCE_MEAN", by = [] }
      outbox_age    = { filter = local.gauge_filter.outbox_oldest_unsent_age_seconds, aligner = "ALIGN_DELTA", reducer = "REDUCE_MEAN", by = [] }
      outbox_aside  = { filter = local.gauge_filter.outbox_set_aside, aligner = "ALIGN_DELTA", reducer = "REDUCE_MEAN", by = [] }
      sagas_waiting = { filter = local.gauge_filter.sagas_waiting, aligner = "ALIGN_DELTA", reducer = "REDUCE_MEAN", by = ["metric.label.status"] }
      sagas_overdue = { filter = local.gauge_filter.sagas_overdue, aligner = "ALIGN_DELTA", reducer = "REDUCE_MEAN", by = [] }
      sagas_parked  = { filter = local.gauge_filter.sagas_needing_attention, aligner = "ALIGN_DELTA", reducer = "REDUCE_MEAN", by = [] }
      step_failures = { filter = "metric.type = \"logging.googleapis.com/user/${google_logging_metric.housekeeping_step_failures.name}\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", by = ["metric.label.step"] }
      intake_codes  = { filter = "${local.intake_filter} AND metric.type = \"run.googleapis.com/request_count\"", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", by = ["metric.label.response_code_class"] }
      intake_p50    = { filter = "${local.intake_filter} AND metric.type = \"run.googleapis.com/request_latencies\"", aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_50", by = [] }
      intake_p99    = { filter = "${local.intake_filter} AND metric.type = \"run.googleapis.com/request_latencies\"", aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_99", by = [] }
    } :
    name => {
      plotType = "LINE"
      timeSeriesQuery = {
        timeSeriesFilter = {
          filter = query.filter
          aggregation = {
            alignmentPeriod    = "60s"
            perSeriesAligner   = query.aligner
            crossSeriesReducer = query.reducer
            groupByFields      = query.by
          }
        }
      }
    }
  }

  charts = [
    { title = "Deliveries by consumer and outcome (per second)", series = ["outcomes"] },
    { title = "Dead letters waiting, by DLQ subscription", series = ["dead_letters"] },
    { title = "Oldest unacked message (s), by consumer subscription", series = ["consumer_age"] },
    { title = "Outbox: unsent rows, and rows set aside", series = ["outbox_unsent", "outbox_aside"] },
    { title = "Outbox: oldest unsent row (s)", series = ["outbox_age"] },
    { title = "Sagas not yet settled, by status", series = ["sagas_waiting"] },
    { title = "Sagas overdue, and parked in NEEDS_ATTENTION", series = ["sagas_overdue", "sagas_parked"] },
    { title = "Housekeeping steps failed, by step", series = ["step_failures"] },
    { title = "Intake requests by response class (per second)", series = ["intake_codes"] },
    { title = "Intake latency, 50th and 99th percentile (ms)", series = ["intake_p50", "intake_p99"] },
  ]
}

resource "google_monitoring_dashboard" "pipeline" {
  dashboard_json = jsonencode({
    displayName = "Order pipeline"
    mosaicLayout = {
      columns = 12
      tiles = [
        for index, chart in local.charts : {
          xPos   = (index % 2) * 6
          yPos   = floor(index / 2) * 4
          width  = 6
          height = 4
          widget = {
            title   = chart.title
            xyChart = { dataSets = [for name in chart.series : local.series[name]] }
          }
        }
      ]
    }
  })

  depends_on = [google_project_service.api]
}
