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
