"""The service-management processes on the graph: the rules that decide deadlines,
escalations, approvals and knowledge, each using what the CI graph says."""
