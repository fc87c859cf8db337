"""The embedded default task: a small dataset, its grader, and example answers to grade."""
