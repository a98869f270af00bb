# Cloud Build builds the functions (2nd gen) as this account (the deploy passes
# --build-service-account), not as the default compute or Cloud Build account: it may write
# logs, read the uploaded sources and push images to the functions' repository, no more.

resource "google_service_account" "builder" {
  account_id   = "functions-builder"
  display_name = "Cloud Functions builder"
  description  = "Builds the functions' images in Cloud Build; nothing runs as it."

  depends_on = [google_project_service.api]
}

# The images of the functions (gcloud --docker-repository); the only repository the builder
# may write to.
resource "google_artifact_registry_repository" "functions" {
  repository_id = "functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images of the Cloud Functions, built by functions-builder."

  depends_on = [google_project_service.api]
}

resource "google_artifact_registry_repository_iam_member" "builder_writes_images" {
  repository = google_artifact_registry_repository.functions.name
  location   = google_artifact_registry_repository.functions.location
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder.member
}

locals {
  # The uploaded sources are in a bucket Cloud Functions creates itself
  # (gcf-v2-sources-<number>-<region>), so object reads cannot be granted on it beforehand.
  builder_roles = toset([
    "roles/logging.logWriter",
    "roles/storage.objectViewer",
  ])
}

resource "google_project_iam_member" "builder" {
  for_each = local.builder_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.builder.member
}
