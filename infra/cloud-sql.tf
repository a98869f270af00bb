# PostgreSQL on a private IP only: the functions reach it through the Cloud SQL connector with
# IAM database authentication (no passwords), over the VPC's private service access.

resource "google_compute_network" "private" {
  name                    = "orders-private"
  auto_create_subnetworks = false

  depends_on = [google_project_service.api]
}

resource "google_compute_global_address" "private_service_access" {
  name          = "orders-private-service-access"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.private.id
}

resource "google_service_networking_connection" "private_service_access" {
  network                 = google_compute_network.private.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_service_access.name]
}

# The functions' egress into the VPC (gcloud --vpc-connector), to reach the private IP.
resource "google_vpc_access_connector" "functions" {
  name          = "orders-functions"
  region        = var.region
  network       = google_compute_network.private.name
  ip_cidr_range = "10.8.0.0/28"
  min_instances = 2
  max_instances = 3
}

resource "google_sql_database_instance" "orders" {
  name                = "orders"
  database_version    = "POSTGRES_15"
  region              = var.region
  deletion_protection = true

  settings {
    tier                        = var.database_tier
    availability_type           = "REGIONAL"
    deletion_protection_enabled = true

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.private.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "02:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = 14
      }
    }

    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }
  }

  depends_on = [google_service_networking_connection.private_service_access]
}

resource "google_sql_database" "orders" {
  name     = var.database_name
  instance = google_sql_database_instance.orders.name
}

# IAM database users are named after the service account email without its
# `.gserviceaccount.com` suffix; that name is the database user the connector logs in as.
resource "google_sql_user" "function" {
  for_each = local.database_functions

  name     = trimsuffix(google_service_account.function[each.key].email, ".gserviceaccount.com")
  instance = google_sql_database_instance.orders.name
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}
