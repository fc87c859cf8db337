"""The evaluation discipline: audit a grader, evaluate models, gate a rollout, check readiness."""
