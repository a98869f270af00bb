# Generated values arrive through topology.auto.tfvars.json (`pnpm generate`), written from
# packages/events/src/topology.ts: topic names and delivery settings are never copied by hand.

variable "topics" {
  description = "Each trigger topic: its consumer function, dead-letter topic and delivery settings."
  type = map(object({
    consumer                = string
    dead_letter_topic       = string
    ack_deadline_seconds    = number
    minimum_backoff_seconds = number
    maximum_backoff_seconds = number
    max_delivery_attempts   = number
  }))
}

variable "functions" {
  description = "Each deployable function: its entry point and trigger topic (null for HTTP)."
  type = map(object({
    entry_point   = string
    trigger_topic = string
  }))
}

variable "routes" {
  description = "Which topics each event type is published to."
  type        = map(list(string))
}
