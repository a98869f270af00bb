# place-order is the system's front door: its end users hold the identity provider's tokens,
# not Google identities, so Cloud Run lets them through (or only a gateway, intake_invoker)
# and the function verifies each token itself (docs/security.md). The one public binding
# the project may hold; packages/infra-policy refuses any other. Like the
# consumers' invoker bindings, it needs the function deployed (functions_deployed).
resource "google_cloud_run_v2_service_iam_member" "intake_invoker" {
  count = var.functions_deployed ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = "place-order"
  role     = "roles/run.invoker"
  member   = var.intake_invoker
}
