# Workload Identity Federation: the deploy job of var.github_deploy_workflow, run on
# var.github_branch of one repository (by id, not by name) in its var.github_environment
# environment, exchanges its OIDC token for the deployer service account. No JSON keys.

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"

  depends_on = [google_project_service.api]
}

locals {
  github_deploy_ref = "refs/heads/${var.github_branch}"
  # GitHub's subject of a job that names an environment: repo:OWNER/REPO:environment:NAME
  # (not ref:refs/heads/..., which only jobs without an environment get).
  github_deploy_subject = "repo:${var.github_repository}:environment:${var.github_environment}"
}

# Ids, not names: a repository or owner renamed, deleted and recreated by someone else keeps its
# name but not its id. The ref and the workflow pin the one job that deploys.
resource "google_iam_workload_identity_pool_provider" "github" {
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github-oidc"
  display_name                       = "GitHub OIDC"
  attribute_condition                = <<-CEL
    assertion.repository_id == "${var.github_repository_id}" &&
    assertion.repository_owner_id == "${var.github_repository_owner_id}" &&
    assertion.ref == "${local.github_deploy_ref}" &&
    assertion.workflow_ref == "${var.github_repository}/${var.github_deploy_workflow}@${local.github_deploy_ref}" &&
    assertion.environment == "${var.github_environment}"
  CEL

  attribute_mapping = {
    "google.subject"                = "assertion.sub"
    "attribute.repository"          = "assertion.repository"
    "attribute.repository_id"       = "assertion.repository_id"
    "attribute.repository_owner_id" = "assertion.repository_owner_id"
    "attribute.ref"                 = "assertion.ref"
    "attribute.workflow_ref"        = "assertion.workflow_ref"
    "attribute.environment"         = "assertion.environment"
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

# Only the deploy job (environment var.github_environment) may impersonate the deployer.
resource "google_service_account_iam_member" "deployer_workload_identity" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/${local.github_deploy_subject}"
}

locals {
  # What `gcloud functions deploy` needs, and no more: the functions' push subscriptions,
  # invoker bindings, dead-letter grants and secrets are Terraform's (pubsub.tf,
  # service-accounts.tf, secrets.tf), so the deployer holds no Pub/Sub, Eventarc, Cloud Run
  # or IAM administration. Build status is readable to report a failed build.
  deployer_roles = toset([
    "roles/cloudfunctions.developer",
    "roles/cloudbuild.builds.viewer",
  ])
}

resource "google_project_iam_member" "deployer" {
  for_each = local.deployer_roles

  project = var.project_id
  role    = each.value
  member  = google_service_account.deployer.member
}

# The deployer may attach each function's own service account (--service-account) ...
resource "google_service_account_iam_member" "deployer_acts_as_function" {
  for_each = var.functions

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}

# ... and the build account (--build-service-account), and no other.
resource "google_service_account_iam_member" "deployer_acts_as_builder" {
  service_account_id = google_service_account.builder.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer.member
}
