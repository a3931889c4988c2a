"""The CRM contract as files: JSON Schemas in docs/schemas/, the AsyncAPI document in docs/asyncapi.yaml."""
