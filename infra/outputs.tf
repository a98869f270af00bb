# What the deploy step and the GitHub repository variables need.

output "project_id" {
  value = var.project_id
}

output "region" {
  value = var.region
}

output "function_service_accounts" {
  description = "Function name => the service account it runs as (gcloud --service-account)."
  value       = { for fn, sa in google_service_account.function : fn => sa.email }
}

output "function_ingress" {
  description = "Function name => gcloud --ingress-settings: consumers take internal traffic only."
  value       = local.function_ingress
}

output "cloud_sql_instance_connection_name" {
  description = "CLOUD_SQL_INSTANCE of the database functions (project:region:instance)."
  value       = google_sql_database_instance.orders.connection_name
}

output "database_name" {
  value = google_sql_database.orders.name
}

output "database_users" {
  description = "Function name => its IAM database user."
  value       = { for fn, user in google_sql_user.function : fn => user.name }
}

output "vpc_connector" {
  description = "gcloud --vpc-connector of the database functions, to reach Cloud SQL's private IP."
  value       = google_vpc_access_connector.functions.id
}

output "bigquery_dataset" {
  value = google_bigquery_dataset.warehouse.dataset_id
}

output "bigquery_location" {
  value = google_bigquery_dataset.warehouse.location
}

output "workload_identity_provider" {
  description = "GitHub repository variable GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "GitHub repository variable GCP_DEPLOYER_SERVICE_ACCOUNT."
  value       = google_service_account.deployer.email
}

output "build_service_account" {
  description = "gcloud --build-service-account of every function (the deploy derives it: functions-builder@<project>)."
  value       = google_service_account.builder.id
}

output "docker_repository" {
  description = "gcloud --docker-repository of every function (the deploy derives it)."
  value       = google_artifact_registry_repository.functions.id
}

output "payment_provider_secret" {
  description = "The Secret Manager secret payment-handler mounts as STRIPE_SECRET_KEY; add its value as a version."
  value       = google_secret_manager_secret.stripe_secret_key.secret_id
}

output "consumer_push_endpoints" {
  description = "Topic => where its subscription pushes (the consumer's deterministic Cloud Run URL)."
  value       = { for topic, subscription in google_pubsub_subscription.consumer : topic => subscription.push_config[0].push_endpoint }
}
