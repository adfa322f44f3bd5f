output "spans_log_group_name" {
  description = "CloudWatch Logs group X-Ray stores every ingested span in."
  value       = "aws/spans"
}

output "destination" {
  description = "Where X-Ray sends trace segments and spans (CloudWatchLogs once applied)."
  value       = aws_xray_trace_segment_destination.this.destination
}
