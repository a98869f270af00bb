# serviceusage and cloudresourcemanager must be enabled by hand before the first apply
# (see docs/deploying.md, Terraform): Terraform needs them to enable the rest.
locals {
  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    # Spans go to the Telemetry API (OTLP); Cloud Trace stores them, and drops what the
    # Telemetry API receives while the Cloud Trace API is disabled.
    "cloudtrace.googleapis.com",
    "telemetry.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "sts.googleapis.com",
    "vpcaccess.googleapis.com",
  ])
}

resource "google_project_service" "api" {
  for_each = local.apis

  service            = each.value
  disable_on_destroy = false
}
