# Workload Identity Federation: GitHub Actions of var.github_repository (and no other
# repository) exchange their OIDC token for the deployer service account. No JSON keys.

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"

  depends_on = [google_project_service.api]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-oidc"
  display_name                       = "GitHub OIDC"
  attribute_condition                = "assertion.repository == \"${var.github_repository}\""

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  account_id   = "github-deployer"
  display_name = "GitHub Actions deployer"
  description  = "Deploys the functions from ${var.github_repository}; impersonated through Workload Identity Federation."

  depends_on = [google_project_service.api]
}

# Only workflows of the repository's deploy branch may impersonate the deployer.
resource "google_service_account_iam_member" "deployer_workload_identity" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"
}

locals {
  # What `gcloud functions deploy` (gen2: Cloud Functions, Cloud Run, Eventarc, Cloud Build)
  # and the subscription reconcile step need. pubsub.admin because the deploy step sets the
  # dead-letter policy and the service agent's subscriber role on Eventarc's subscriptions.
  deployer_roles = toset([
    "roles/cloudfunctions.developer",
    "roles/run.admin",
    "roles/eventarc.admin",
    "roles/pubsub.admin",
    "roles/artifactregistry.reader",
    "roles/cloudbuild.builds.viewer",
  ])
}

resource "google_project_iam_member" "deployer" {
  for_each = local.deployer_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.deployer.member
}

# The deployer may attach each function's own service account, and no other.
resource "google_service_account_iam_member" "deployer_acts_as_function" {
  for_each = var.functions

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}
