"""Parses every line of `northstar export --format otlp` strictly as OpenTelemetry's
ExportLogsServiceRequest (the protobuf definitions from the opentelemetry-proto package):
unknown fields or wrongly typed values fail. Usage: validate_otlp.py FILE EXPECTED_RECORDS"""
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

path, expected = sys.argv[1], int(sys.argv[2])
records = 0
with open(path) as f:
    for n, line in enumerate(f, 1):
        try:
            msg = json_format.Parse(line, ExportLogsServiceRequest())
        except json_format.ParseError as e:
            sys.exit(f"{path}:{n}: not an OTLP ExportLogsServiceRequest: {e}")
        records += sum(len(s.log_records) for r in msg.resource_logs for s in r.scope_logs)
if records != expected:
    sys.exit(f"{path}: {records} log records, expected {expected}")
print(f"OTLP export: {records} log records parse as ExportLogsServiceRequest")
