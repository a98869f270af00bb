# The payment provider's API key. Terraform declares the secret, never its value: add a
# version by hand (docs/deploying.md), and payment-handler mounts `latest` as
# STRIPE_SECRET_KEY (gcloud --set-secrets).

resource "google_secret_manager_secret" "stripe_secret_key" {
  secret_id = "stripe-secret-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

# payment-handler's account reads it; no other account may.
resource "google_secret_manager_secret_iam_member" "payment_handler_reads_stripe_key" {
  secret_id = google_secret_manager_secret.stripe_secret_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function["payment-handler"].member
}
